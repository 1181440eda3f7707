//! R2N2, a rule that learns by replay: it goes through the same entry point, driver, run directory,
//! resume and analysis as the CTRNN.

use biornn_api::inspect::{self, AnalyzeSpec};
use biornn_api::{Config, RunOptions};

const ANBN: &str = "[network]\nkind = \"r2n2\"\nn_hidden = 16\n[task]\nkind = \"anbn\"\nm = 1\n\
                    [train]\nmax_steps = 2000\neval_every = 400\ncheckpoint_every = 1\n";

#[test]
fn an_r2n2_run_trains_resumes_and_is_analysed_through_the_shared_pieces() {
    let dir = std::env::temp_dir().join(format!("biornn-api-r2n2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_toml(ANBN).unwrap();
    assert_eq!(cfg.kind(), biornn_api::Kind::R2n2Replay);
    let f = biornn_api::train(&cfg, &dir.join("whole"), &RunOptions::default()).unwrap();
    assert_eq!(f.steps, 2000);
    let metrics = std::fs::read_to_string(f.dir.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with(
            "step,train_loss,train_success,eval_loss,eval_success,replay_error,wall_s\n"
        ),
        "{metrics}"
    );
    assert_eq!(metrics.lines().count(), 1 + 6);
    // the loss falls from the untrained network's
    let eval_loss = |line: &str| line.split(',').nth(3).unwrap().parse::<f64>().unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert!(eval_loss(lines[6]) < 0.9 * eval_loss(lines[1]), "{metrics}");

    // half the budget, then resumed to the whole: the same weights bit for bit
    let mut half = cfg.clone();
    half.set_max_steps(1200).unwrap();
    let h = biornn_api::train(&half, &dir.join("half"), &RunOptions::default()).unwrap();
    let r = biornn_api::resume_to(&h.dir, Some(2000), &RunOptions::default()).unwrap();
    assert_eq!(r.steps, 2000);
    let read = |d: &std::path::Path| biornn_numerics::npz::read_npz(&d.join("model.npz")).unwrap();
    let (a, b) = (read(&f.dir), read(&r.dir));
    for name in ["w_I2A", "w_B2A", "w_A2B", "w_B2O", "wFA_A2B"] {
        assert_eq!(a[name], b[name], "{name}");
    }

    // resuming the finished run repeats its last evaluation and ends there: the summary it
    // rewrites says what the run's own said (the training loss and success since the previous
    // evaluation included), apart from the clock
    let summary = |d: &std::path::Path| {
        let text = std::fs::read_to_string(d.join("summary.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut()
            .unwrap()
            .retain(|k, _| !k.contains("wall"));
        v
    };
    let before = summary(&f.dir);
    assert!(before["train_success"].is_number(), "{before}");
    biornn_api::resume(&f.dir, &RunOptions::default()).unwrap();
    assert_eq!(summary(&f.dir), before);

    let spec = AnalyzeSpec {
        what: "pca,fixed-points".into(),
        task: None,
        inits: 16,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let (an, written, _, page) = inspect::report(&f.dir, &spec).unwrap();
    assert_eq!(an.loaded_step, 2000);
    let fp = an.fixed_points.as_ref().unwrap();
    assert!(!fp.result.points.is_empty());
    // the state is both populations: 2 x 16
    assert!(fp.result.points.iter().all(|p| p.x.len() == 32));
    assert!(an.pca.is_some() && written >= 4 && page.exists());
    // `eval` scores CTRNN and long-term runs: this one gets a sentence saying so, not a
    // checkpoint reader's complaint about a missing array
    let e = inspect::evaluate_run(&f.dir, 16, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("r2n2 network trained by r2n2") && e.contains("metrics.csv"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The rules R2N2 is compared with, through the same pieces: RFLO and the echo-state network (a
/// leaky RNN whose recurrent weights stay frozen).
#[test]
fn rflo_and_echo_state_runs_train_resume_and_are_analysed() {
    let dir = std::env::temp_dir().join(format!("biornn-api-rflo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for kind in ["rflo", "esn"] {
        let text = format!(
            "[network]\nkind = \"leaky_rnn\"\nn_rec = 24\n[rule]\nkind = \"{kind}\"\n\
             [train]\nmax_steps = 800\neval_every = 200\ncheckpoint_every = 1\n"
        );
        let cfg = Config::from_toml(&text).unwrap();
        let f = biornn_api::train(&cfg, &dir.join(kind), &RunOptions::default()).unwrap();
        assert_eq!(f.steps, 800);
        let mut half = cfg.clone();
        half.set_max_steps(400).unwrap();
        let h = biornn_api::train(
            &half,
            &dir.join(format!("{kind}-half")),
            &RunOptions::default(),
        )
        .unwrap();
        let r = biornn_api::resume_to(&h.dir, Some(800), &RunOptions::default()).unwrap();
        let read =
            |d: &std::path::Path| biornn_numerics::npz::read_npz(&d.join("model.npz")).unwrap();
        let (a, b) = (read(&f.dir), read(&r.dir));
        for name in ["w_in", "w_rec", "w_out"] {
            assert_eq!(a[name], b[name], "{kind} {name}");
        }
        // the echo-state network never changes its recurrent weights
        let first = biornn_reservoir::RfloLearner::new(match &cfg {
            Config::Rflo(c) => c,
            _ => unreachable!(),
        })
        .unwrap();
        let trained = match &a["w_rec"].data {
            biornn_numerics::npz::NpyData::F64(v) => v.clone(),
            other => panic!("w_rec is {other:?}"),
        };
        assert_eq!(first.net.w_rec == trained, kind == "esn", "{kind}");
        let spec = AnalyzeSpec {
            what: "pca,fixed-points".into(),
            task: None,
            inits: 8,
            seed: 0,
            lesions: vec![],
            net: None,
        };
        let (an, _, _, page) = inspect::report(&f.dir, &spec).unwrap();
        assert!(an.fixed_points.is_some() && page.exists());
    }
    std::fs::remove_dir_all(&dir).ok();
}
