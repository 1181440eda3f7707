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
