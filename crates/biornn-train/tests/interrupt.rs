//! A run stopped by the user (Ctrl-C, or Python's KeyboardInterrupt) saves its last evaluation
//! whole, the wall clock included. Its own test binary: the interrupt check is process-wide.

use biornn_numerics::npz::read_npz;
use biornn_train::config::RunConfig;
use biornn_train::trainer::{self, TrainOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn an_interrupted_run_saves_the_clock_of_its_last_evaluation() {
    let mut c = RunConfig::default();
    c.model.n_rec = 16;
    c.task.rules = vec!["fdgo".into()];
    c.train.max_steps = 40;
    c.train.batch_size = 8;
    c.train.eval_every = 5;
    c.train.eval_trials = 16;
    c.train.checkpoint_every = 4;
    let dir = std::env::temp_dir().join(format!("biornn-interrupt-{}", std::process::id()));
    let run = trainer::create_run_dir(&dir, "run").unwrap();
    // asked before every update: stop before the 13th (after the evaluation at step 10, which the
    // checkpoint policy alone would not have saved)
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    biornn_run::progress::set_interrupt(Some(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst) >= 12
    })));
    let e = trainer::train(&c, &run, &TrainOptions::default()).unwrap_err();
    biornn_run::progress::set_interrupt(None);
    assert!(e.to_string().contains("at step 10"), "{e}");
    let saved = read_npz(&run.join("checkpoints/step_00000010.npz")).unwrap();
    let clock: Vec<f64> = saved["state_wall_s"].to_real().unwrap();
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let row = metrics.lines().find(|l| l.starts_with("10,")).unwrap();
    let logged: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
    assert!(clock[0] > 0.0, "the clock was not saved: {}", clock[0]);
    assert!(
        (clock[0] - logged).abs() <= 0.006,
        "{} against {logged}",
        clock[0]
    );
    std::fs::remove_dir_all(&dir).ok();
}
