//! Mod-Cog end to end: every task dumps; a small network trains on class targets with the
//! cross-entropy loss, reports decision-step accuracy per task, and is analysed.

use biornn_api::inspect::{self, AnalyzeSpec, DumpSpec, TrialsSpec};
use biornn_api::{Config, RunOptions};

/// Two trials of a task of `battery`, seed 1, at `dt`, timing drawn per trial.
fn two_trials(battery: &str, task: &str, dt: f64, no_noise: bool) -> TrialsSpec {
    TrialsSpec {
        battery: battery.into(),
        task: task.into(),
        batch: 2,
        seed: 1,
        index: 0,
        no_noise,
        dt,
        per_trial_timing: true,
        easy: false,
        modcog: Default::default(),
    }
}

#[test]
fn every_modcog_task_dumps_to_npz() {
    let dir = std::env::temp_dir().join(format!("biornn-modcog-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let batteries = inspect::batteries(Some("modcog")).unwrap();
    assert_eq!(batteries[0].tasks.len(), 126);
    for t in &batteries[0].tasks {
        let spec = DumpSpec {
            trials: two_trials("modcog", &t.name, 100.0, true),
            out: dir.join("t.npz"),
        };
        let (n, name, steps) = inspect::dump_task(&spec).unwrap();
        assert_eq!((n, name.as_str()), (2, t.name.as_str()));
        assert!((4..=40).contains(&steps), "{name}: {steps} steps");
        let a = biornn_numerics::npz::read_npz(&spec.out).unwrap();
        // 33 observations and the one-hot of the whole battery; a class per step
        assert_eq!(a["x"].shape, vec![steps, 2, 33 + 126]);
        assert_eq!(a["class"].shape, vec![steps, 2]);
    }
    // Mod-Cog's noise is its tasks' own (dm's stimuli, delay-match's ring), drawn with the trial
    // either way; the input noise `--no-noise` leaves out is Yang's, which Mod-Cog does not add
    for task in ["dlygo", "dm1", "dms"] {
        let dump = |no_noise: bool| {
            let spec = DumpSpec {
                trials: two_trials("modcog", task, 100.0, no_noise),
                out: dir.join("n.npz"),
            };
            inspect::dump_task(&spec).unwrap();
            biornn_numerics::npz::read_npz(&spec.out).unwrap()["x"].clone()
        };
        assert_eq!(dump(false), dump(true), "{task}");
    }
    let bad = DumpSpec {
        trials: two_trials("modcog", "go", 30.0, true),
        out: dir.join("t.npz"),
    };
    let err = inspect::dump_task(&bad).unwrap_err().to_string();
    assert!(err.contains("--dt") && err.contains("100 ms"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn modcog_options_reach_the_dumped_trials() {
    let trials = |battery: &str, settings: &[&str]| {
        let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let spec = TrialsSpec {
            modcog: inspect::modcog_options(&settings)?,
            ..two_trials(battery, "go", 100.0, true)
        };
        inspect::task_arrays(&spec)
    };
    let corrected = trials("modcog", &[]).unwrap();
    let faithful = trials("modcog", &["faithful_go_delay"]).unwrap();
    let spelled_out = trials("modcog", &["faithful_go_delay = true", "ring_order=random"]).unwrap();
    // the reference's go takes dlygo's 500 ms delay: five more 100 ms steps, in its delay epoch
    assert_eq!(faithful.steps, corrected.steps + 5);
    let delay_steps = |t: &inspect::TrialArrays| {
        let on = t.arrays["epoch_delay_on"].to_real::<f64>().unwrap();
        let off = t.arrays["epoch_delay_off"].to_real::<f64>().unwrap();
        off[0] - on[0]
    };
    assert_eq!(delay_steps(&faithful), 5.0);
    assert_eq!(delay_steps(&corrected), 0.0);
    assert_eq!(spelled_out.steps, faithful.steps);
    let off = trials("modcog", &["faithful_go_delay=false"]).unwrap();
    assert_eq!(off.arrays["x"], corrected.arrays["x"]);
    // a misspelt name, a wrong value and another battery are refused by name
    let err = |settings: &[&str], battery: &str| {
        trials(battery, settings)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = err(&["faithful_go_dealy"], "modcog");
    assert!(e.contains("faithful_go_dealy"), "{e}");
    let e = err(&["ring_order=sideways"], "modcog");
    assert!(
        e.contains("ring_order=sideways") && e.contains("random"),
        "{e}"
    );
    let e = err(&["faithful_go_delay=yes"], "modcog");
    assert!(e.contains("faithful_go_delay=yes"), "{e}");
    let e = err(&["faithful_shared_seed", "ring_order=random"], "modcog");
    assert!(
        e.starts_with("--modcog") && e.contains("task.modcog.ring_order") && !e.contains("--dt"),
        "{e}"
    );
    let e = err(&["=true"], "modcog");
    assert!(e.contains("--modcog"), "{e}");
    let e = err(&["faithful_go_delay"], "yang20");
    assert!(
        e.contains("faithful_go_delay = true") && e.contains("--battery modcog"),
        "{e}"
    );
}

#[test]
fn a_modcog_run_reports_decision_accuracy_and_is_analysed() {
    let dir = std::env::temp_dir().join(format!("biornn-modcog-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_toml(
        "[task]\nbattery = \"modcog\"\nrules = [\"dlygo\", \"dmsseqr\"]\ndt = 100.0\nsigma_x = 0.0\n\
         [model]\nn_rec = 24\nreadout = \"logits\"\n\
         [model.mask]\nrecurrent = { kind = \"local\", radius = 2.0 }\n\
         [train]\nloss = \"cross_entropy\"\nbatch_size = 8\nmax_steps = 6\neval_every = 3\n\
         eval_trials = 8\ncriterion = \"mean_acc\"\ntarget_perf = 1.0\n",
    )
    .unwrap();
    assert!(
        cfg.describe().unwrap().contains("recurrent density 20.83%"),
        "{}",
        cfg.describe().unwrap()
    );
    let f = biornn_api::train(&cfg, &dir, &RunOptions::default()).unwrap();
    let metrics = std::fs::read_to_string(f.dir.join("metrics.csv")).unwrap();
    let header = metrics.lines().next().unwrap();
    assert!(
        header.ends_with(
            "perf_dlygo,perf_dmsseqr,min_perf,mean_perf,acc_dlygo,acc_dmsseqr,min_acc,mean_acc,wall_s"
        ),
        "{header}"
    );
    assert_eq!(metrics.lines().count(), 1 + 3);
    assert!(f.scores.iter().any(|s| s.0 == "mean acc"));
    let summary = std::fs::read_to_string(f.dir.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"accuracy\"") && summary.contains("\"mean_acc\""),
        "{summary}"
    );
    // the step criterion needs tasks that score steps
    let err = Config::from_toml("[train]\ncriterion = \"mean_acc\"\n")
        .and_then(|c| c.validate())
        .unwrap_err()
        .to_string();
    assert!(err.contains("train.criterion"), "{err}");
    let spec = AnalyzeSpec {
        what: "fixed-points,pca,variance".into(),
        task: Some("dmsseqr".into()),
        inits: 8,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let (a, _, written, _) = inspect::analyze(&f.dir, &spec).unwrap();
    assert!(a.pca.is_some() && a.fixed_points.is_some() && !written.is_empty());
    // the example trials carry the class targets and the network's classes, step by step, and
    // the outputs as class probabilities
    for ex in &a.examples {
        let (target, chosen) = ex.classes.as_ref().unwrap();
        assert_eq!((target.len(), chosen.len()), (ex.steps, ex.steps));
        assert!(
            target[..ex.epochs[0].2].iter().all(|c| *c == 0),
            "fixate first"
        );
        for row in ex.output.chunks_exact(ex.n_out) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_autapse_network_is_analysed_unit_by_unit() {
    let dir = std::env::temp_dir().join(format!("biornn-autapse-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_toml(
        "[task]\nrules = [\"delaygo\"]\n[model]\nn_rec = 12\n\
         [model.mask]\nrecurrent = { kind = \"autapse_only\" }\n\
         [train]\nbatch_size = 8\nmax_steps = 4\neval_every = 2\neval_trials = 8\n",
    )
    .unwrap();
    let f = biornn_api::train(&cfg, &dir, &RunOptions::default()).unwrap();
    let spec = AnalyzeSpec {
        what: "pca".into(),
        task: None,
        inits: 8,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let (a, figs, _, out) = inspect::analyze(&f.dir, &spec).unwrap();
    let au = a
        .autapse
        .as_ref()
        .expect("a diagonal network gets the autapse analysis");
    assert_eq!(au.epoch, "delay1");
    assert_eq!(au.gain.len(), 12);
    for u in 0..12 {
        assert!((au.gain[u] - au.self_weight[u] * au.slope[u]).abs() < 1e-12);
    }
    assert!(figs.iter().any(|f| f.name == "autapse"));
    let csv = std::fs::read_to_string(out.join("autapse.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
    std::fs::remove_dir_all(&dir).ok();
}
