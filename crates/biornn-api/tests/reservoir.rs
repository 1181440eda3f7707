//! A second learning rule, unlike BPTT: a reservoir whose readout learns at every time step by
//! recursive least squares, with state carried between updates. It goes through the same entry
//! point, driver, run directory and analysis as the CTRNN.

use biornn_api::inspect::{self, AnalyzeSpec};
use biornn_api::{Config, RunOptions};

#[test]
fn a_reservoir_run_trains_evaluates_and_is_analysed_through_the_shared_pieces() {
    let dir = std::env::temp_dir().join(format!("biornn-api-force-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_toml(
        "[network]\nkind = \"reservoir\"\nn_rec = 60\n[task]\nperiod_steps = 300\n\
         [train]\nmax_steps = 3000\neval_every = 500\neval_steps = 300\n",
    )
    .unwrap();
    let f = biornn_api::train(&cfg, &dir, &RunOptions::default()).unwrap();
    assert_eq!(f.steps, 3000);
    // the free-running network reproduces most of the target after ten periods of learning
    let r2 = f.scores.iter().find(|s| s.0 == "eval r2").unwrap().1;
    assert!(r2 > 0.5, "r2 {r2}");
    // metrics.csv has a row per evaluation with the learner's columns
    let metrics = std::fs::read_to_string(f.dir.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("step,train_loss,eval_mse,eval_r2,wall_s\n"),
        "{metrics}"
    );
    assert_eq!(metrics.lines().count(), 1 + 7);
    let spec = AnalyzeSpec {
        what: "pca,fixed-points".into(),
        task: None,
        inits: 16,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let (a, written, _, page) = inspect::report(&f.dir, &spec).unwrap();
    assert_eq!(a.loaded_step, 3000);
    let fp = a.fixed_points.as_ref().unwrap();
    assert!(!fp.result.points.is_empty());
    // every point's Jacobian is the network's: 60 by 60
    assert!(fp
        .result
        .points
        .iter()
        .all(|p| p.lin.jacobian.len() == 60 * 60));
    assert!(a.pca.is_some() && written >= 4 && page.exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// K networks at once: three reservoirs side by side in one run, each the network its seed trains
/// alone, summarised by their trimmed mean; each can be analysed.
#[test]
fn reservoirs_side_by_side_are_each_the_run_of_their_seed() {
    let base = std::env::temp_dir().join(format!("biornn-api-force3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let text = |seed: u64, networks: usize| {
        format!(
            "seed = {seed}\n[network]\nkind = \"reservoir\"\nn_rec = 40\n[task]\nperiod_steps = 200\n\
             [train]\nmax_steps = 800\neval_every = 400\neval_steps = 200\nnetworks = {networks}\n"
        )
    };
    let three = Config::from_toml(&text(1, 3)).unwrap();
    let f = biornn_api::train(&three, &base.join("three"), &RunOptions::default()).unwrap();
    let metrics = std::fs::read_to_string(f.dir.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with(
            "step,train_loss,eval_r2_trimmed_mean,eval_r2_min,eval_r2_max,net0_eval_r2,net1_eval_r2,net2_eval_r2,wall_s\n"
        ),
        "{metrics}"
    );
    // none diverged, so none was retired (a diverged reservoir would be named here)
    let summary = std::fs::read_to_string(f.dir.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(
        summary["retired_networks"],
        serde_json::json!([]),
        "{summary}"
    );
    let model = biornn_numerics::npz::read_npz(&f.dir.join("model.npz")).unwrap();
    let alone = Config::from_toml(&text(2, 1)).unwrap();
    let g = biornn_api::train(&alone, &base.join("seed2"), &RunOptions::default()).unwrap();
    let single = biornn_numerics::npz::read_npz(&g.dir.join("model.npz")).unwrap();
    let mut compared = 0;
    for (name, a) in &single {
        // the driver's counters, the seal and the config text are the run's, not the network's
        if name.starts_with("state_") || name == "checksum" || name == "config_toml" {
            continue;
        }
        assert_eq!(model.get(&format!("net1/{name}")), Some(a), "{name}");
        compared += 1;
    }
    assert!(compared >= 3, "{compared}");
    let r2 =
        |f: &biornn_api::Finished, label: &str| f.scores.iter().find(|s| s.0 == label).unwrap().1;
    let (lo, hi) = (r2(&f, "eval r2, min"), r2(&f, "eval r2, max"));
    assert!(lo <= r2(&g, "eval r2") && r2(&g, "eval r2") <= hi);
    let spec = AnalyzeSpec {
        what: "fixed-points".into(),
        task: None,
        inits: 8,
        seed: 0,
        lesions: vec![],
        net: Some(2),
    };
    let (a, _, _, out) = inspect::analyze(&f.dir, &spec).unwrap();
    assert!(a.fixed_points.is_some());
    // each network's analysis has a folder of its own
    assert!(out.ends_with("analysis/net2") && out.join("fixed_points.npz").exists());
    let err = inspect::analyze(
        &f.dir,
        &AnalyzeSpec {
            net: Some(3),
            ..spec
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("--net") && err.contains("0 to 2"), "{err}");
    std::fs::remove_dir_all(&base).ok();
}

/// The closed-loop rule-reversal task as an online environment: a reservoir whose readout learns by
/// RLS at every step while its own answers decide the feedback it sees, stopped in the middle of a
/// sequence and resumed bit for bit.
#[test]
fn an_online_rule_runs_on_the_closed_loop_reversal_task_and_resumes_mid_sequence() {
    use biornn_core::{Arrays, Learner, Online, Phase, Stateful};
    use biornn_numerics::Streams;
    use biornn_reservoir::{Reservoir, ReservoirConfig, Rls, RlsConfig};
    use biornn_tasks::reversal::{ReversalEnv, ReversalTask, N_INPUT, N_OUTPUT};

    let fresh = || {
        let net = Reservoir::new(
            &ReservoirConfig {
                n_rec: 50,
                ..Default::default()
            },
            N_INPUT,
            N_OUTPUT,
            &Streams::new(4),
        )
        .unwrap();
        Online {
            rule: Rls::new(&RlsConfig::default(), net.n).unwrap(),
            net,
            env: ReversalEnv::new(ReversalTask::default(), 50.0, Streams::new(5)),
            eval_steps: 200,
        }
    };
    let phase = Phase {
        stage: None,
        lr_factor: 1.0,
        lr_scale: 1.0,
    };
    let mut a = fresh();
    // 1.3 sequences of about 230 steps: the stop falls inside the second sequence
    for step in 0..300 {
        a.update(step, &phase).unwrap();
    }
    assert_eq!(a.env.position().1, 1);
    let mut saved = Arrays::new();
    a.save_state("", &mut saved);
    let mut b = fresh();
    b.load_state("", &saved).unwrap();
    let mut losses = (vec![], vec![]);
    for step in 300..700 {
        losses.0.push(a.update(step, &phase).unwrap().to_bits());
        losses.1.push(b.update(step, &phase).unwrap().to_bits());
    }
    assert_eq!(losses.0, losses.1);
    let (mut sa, mut sb) = (Arrays::new(), Arrays::new());
    a.save_state("", &mut sa);
    b.save_state("", &mut sb);
    assert_eq!(sa, sb);
    assert!(a.all_finite());
    // the evaluation runs copies forward and leaves the run where it was
    let before = a.env.position();
    a.evaluate(700, None).unwrap();
    assert_eq!(a.env.position(), before);
}
