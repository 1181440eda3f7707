//! Runs that survive: resume, corrupt checkpoints, divergence.

use biornn_numerics::npz::{read_npz, NpyArray};
use biornn_train::config::RunConfig;
use biornn_train::trainer::{self, TrainOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn cfg() -> RunConfig {
    let mut c = RunConfig::default();
    c.model.n_rec = 16;
    c.task.rules = vec!["fdgo".into(), "delaygo".into()];
    c.train.max_steps = 30;
    c.train.batch_size = 8;
    c.train.eval_every = 5;
    c.train.eval_trials = 16;
    c.train.checkpoint_every = 1;
    c.model.dale.enabled = true; // raw and effective weights differ: resume must restore the raw ones
    c
}

fn final_arrays(dir: &Path) -> BTreeMap<String, NpyArray> {
    let mut m = read_npz(&dir.join("model.npz")).unwrap();
    m.remove("state_wall_s");
    m.remove("checksum");
    m
}

fn metrics_without_time(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("biornn-survive-{}-{name}", std::process::id()))
}

/// A copy of a finished run as it was when the checkpoint at `step` had just been written.
fn rewind(full: &Path, to: &Path, step: usize) {
    std::fs::create_dir_all(to.join("checkpoints")).unwrap();
    std::fs::copy(full.join("config.toml"), to.join("config.toml")).unwrap();
    // metrics as they stood, plus a half-written line from the crash
    let mut m = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    m.push_str("35,280,0.1");
    std::fs::write(to.join("metrics.csv"), m).unwrap();
    for s in (0..=step).step_by(5) {
        let name = format!("step_{s:08}.npz");
        let src = full.join("checkpoints").join(&name);
        if src.exists() {
            std::fs::copy(src, to.join("checkpoints").join(&name)).unwrap();
        }
    }
}

fn ckpt_path(dir: &Path, step: usize) -> PathBuf {
    dir.join("checkpoints").join(format!("step_{step:08}.npz"))
}

#[test]
fn resumed_runs_end_bit_identical_and_bad_checkpoints_are_skipped() {
    let base = tmp("resume");
    let c = cfg();
    let full = trainer::create_run_dir(&base, "full").unwrap();
    trainer::train(&c, &full, &TrainOptions::default()).unwrap();
    // checkpoints kept: the newest three (20, 25, 30)
    let want = final_arrays(&full);

    // resume from step 20
    let part = base.join("part");
    rewind(&full, &part, 20);
    trainer::resume(&part, &TrainOptions::default()).unwrap();
    assert_eq!(final_arrays(&part), want);
    assert_eq!(metrics_without_time(&part), metrics_without_time(&full));

    // the newest checkpoint corrupted, the next truncated: falls back to the oldest good one
    let bad = base.join("bad");
    rewind(&full, &bad, 30);
    let newest = ckpt_path(&bad, 30);
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5A;
    std::fs::write(&newest, bytes).unwrap();
    let second = ckpt_path(&bad, 25);
    let len = std::fs::metadata(&second).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    // the errors name the file and the problem
    let e = biornn_train::checkpoint::load_training(&newest)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("step_00000030.npz"), "{e}");
    assert!(
        e.contains("checksum") || e.contains("corrupt") || e.contains("not a valid"),
        "{e}"
    );
    let e = biornn_train::checkpoint::load_training(&second)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("truncated") || e.contains("not a valid"), "{e}");
    trainer::resume(&bad, &TrainOptions::default()).unwrap();
    assert_eq!(final_arrays(&bad), want);

    // nothing to resume from
    let empty = base.join("empty");
    std::fs::create_dir_all(empty.join("checkpoints")).unwrap();
    let e = trainer::resume(&empty, &TrainOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no readable checkpoint"), "{e}");

    // metrics.csv under other columns than the run's (as a config edited between the kill and
    // the resume makes them for the runs that read config.toml) is refused, not appended to
    let edited = base.join("edited");
    rewind(&full, &edited, 20);
    let metrics = std::fs::read_to_string(edited.join("metrics.csv")).unwrap();
    let changed = metrics.replacen("perf_delaygo,", "", 1);
    assert_ne!(changed, metrics);
    std::fs::write(edited.join("metrics.csv"), changed).unwrap();
    let e = trainer::resume(&edited, &TrainOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("columns") && e.contains("config changed"), "{e}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_nan_rolls_back_and_lowers_the_learning_rate() {
    let base = tmp("nan");
    let c = cfg();
    let dir = trainer::create_run_dir(&base, "nan").unwrap();
    let opts = TrainOptions {
        inject_nan_at_step: Some(12),
        ..Default::default()
    };
    let s = trainer::train(&c, &dir, &opts).unwrap();
    assert_eq!(s.steps, 30);
    let m = read_npz(&dir.join("model.npz")).unwrap();
    assert_eq!(m["state_divergences"].to_real::<f64>().unwrap()[0], 1.0);
    assert_eq!(m["state_lr_scale"].to_real::<f64>().unwrap()[0], 0.5);
    // the rollback went to step 10 and steps 10..12 were redone: one metrics row per evaluation
    let steps: Vec<String> = metrics_without_time(&dir)
        .iter()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["0", "5", "10", "15", "20", "25", "30"]);
    // a run that may not roll back stops with a clear message and no NaN on disk
    let mut strict = c.clone();
    strict.train.max_divergences = 0;
    let dir = trainer::create_run_dir(&base, "strict").unwrap();
    let e = trainer::train(&strict, &dir, &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("diverged") && e.contains("model.npz"), "{e}");
    let m = read_npz(&dir.join("model.npz")).unwrap();
    for (k, a) in &m {
        if let Ok(v) = a.to_real::<f64>() {
            assert!(v.iter().all(|x| x.is_finite()), "{k} has a NaN");
        }
    }
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn an_unwritable_run_directory_fails_at_once() {
    let base = tmp("ro");
    std::fs::create_dir_all(&base).unwrap();
    let file = base.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let e = trainer::create_run_dir(&file, "r")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not-a-dir"), "{e}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn resuming_a_finished_run_does_not_train_further() {
    let base = tmp("finished");
    let mut c = cfg();
    c.train.target_perf = 0.0; // reached at the first evaluation
    let dir = trainer::create_run_dir(&base, "f").unwrap();
    let s = trainer::train(&c, &dir, &TrainOptions::default()).unwrap();
    assert_eq!(s.steps, 0);
    let before = final_arrays(&dir);
    // killed after the checkpoint, before model.npz: resuming must stop at once, with the same result
    std::fs::remove_file(dir.join("model.npz")).unwrap();
    let s = trainer::resume(&dir, &TrainOptions::default()).unwrap();
    assert_eq!(s.steps, 0);
    assert!(s.reached_target);
    assert_eq!(final_arrays(&dir), before);
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn frozen_weights_stay_put_under_weight_regularisers() {
    let base = tmp("frozen");
    let mut c = cfg();
    c.model.trainable.w_in = false;
    c.train.l1_weight = 1e-2;
    c.train.l2_weight = 1e-2;
    c.train.max_steps = 10;
    let dir = trainer::create_run_dir(&base, "z").unwrap();
    trainer::train(&c, &dir, &TrainOptions::default()).unwrap();
    let first = read_npz(&dir.join("checkpoints/step_00000000.npz")).unwrap();
    let last = read_npz(&dir.join("model.npz")).unwrap();
    assert_eq!(first["W_in"], last["W_in"]);
    assert_ne!(first["W_rec"], last["W_rec"]);
    std::fs::remove_dir_all(&base).ok();
}

/// Networks on the sparse recurrent kernels (a ring of radius 2 stored by diagonals, and a
/// probabilistic local graph stored by rows) resume bit for bit and do not depend on the thread
/// count: the sweeps that use them rely on both.
#[test]
fn sparse_kernel_runs_resume_bit_identically_at_any_thread_count() {
    use biornn_model::mask::{LocalRule, Metric};
    use biornn_model::{Ctrnn, MaskSpec};
    let local = |radius: f64, rule: LocalRule, lambda: f64| MaskSpec::Local {
        width: None,
        radius,
        periodic: true,
        metric: Metric::Euclidean,
        rule,
        lambda,
    };
    for (name, n_rec, mask, banded) in [
        ("ring", 64, local(2.0, LocalRule::Hard, 0.0), true),
        ("graph", 128, local(0.0, LocalRule::Gaussian, 1.0), false),
    ] {
        let mut c = cfg();
        c.model.n_rec = n_rec;
        c.model.mask.recurrent = mask;
        let net = Ctrnn::<f32>::new(&c.model, 4, 3, 20.0, &biornn_numerics::Streams::new(c.seed))
            .unwrap();
        assert!(net.runs_sparse(), "{name}: not on the sparse kernels");
        let shape = biornn_model::sparse::pattern_shape(&net.mask_rec, n_rec);
        assert_eq!(shape.1, banded, "{name}: stored by the wrong layout");
        let base = tmp(&format!("sparse-{name}"));
        let in_pool = |threads: usize, dir: &Path| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| trainer::train(&c, dir, &TrainOptions::default()).unwrap());
            final_arrays(dir)
        };
        let one = trainer::create_run_dir(&base, "one").unwrap();
        let two = trainer::create_run_dir(&base, "two").unwrap();
        let want = in_pool(1, &one);
        // the summary says which kernel ran ("auto" chose it by the mask)
        let summary = std::fs::read_to_string(one.join("summary.json")).unwrap();
        assert!(
            summary.contains("\"recurrent_kernel\": \"sparse\""),
            "{name}: {summary}"
        );
        assert_eq!(in_pool(2, &two), want, "{name}: thread count");
        let part = base.join("part");
        rewind(&one, &part, 20);
        trainer::resume(&part, &TrainOptions::default()).unwrap();
        assert_eq!(final_arrays(&part), want, "{name}: resumed");
        assert_eq!(metrics_without_time(&part), metrics_without_time(&one));
        std::fs::remove_dir_all(&base).ok();
    }
}
