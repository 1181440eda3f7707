//! ELiSe through the shared pieces: trained by the same entry point and driver, replayed with its
//! disruptions, and reported.

use biornn_api::inspect::{self, AnalyzeSpec, ReplaySpec};
use biornn_api::{Config, RunOptions};

const SMALL: &str = "[network]\nkind = \"elise\"\nn_latent = 8\n[train]\nmax_steps = 21\n";

#[test]
fn an_elise_run_trains_replays_and_is_reported() {
    let dir = std::env::temp_dir().join(format!("biornn-api-elise-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_toml(SMALL).unwrap();
    assert_eq!(cfg.kind(), biornn_api::Kind::EliseUrbanczikSenn);
    let f = biornn_api::train(&cfg, &dir, &RunOptions::default()).unwrap();
    assert_eq!(f.steps, 21);
    let metrics = std::fs::read_to_string(f.dir.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with(
            "step,cycles,free_mse,free_correlation,nudged_mse,nudged_correlation,wall_s\n"
        ),
        "{metrics}"
    );
    // the last validation cycle's rates travel with the weights
    let model = biornn_numerics::npz::read_npz(&f.dir.join("model.npz")).unwrap();
    assert_eq!(model["free_rates"].shape, vec![1250, 13]);
    assert_eq!(model["W_dend"].shape, vec![21, 21]);

    // too short for the cued variant (silenced in cycle 4, cued in 5, recovery scored in 6)
    let short = ReplaySpec {
        cycles: 7,
        nudged: 3,
        variants: vec!["none".into(), "full".into(), "cued".into()],
    };
    let e = inspect::replay(&f.dir, &short).unwrap_err().to_string();
    assert!(e.contains("--cycles") && e.contains("at least 8"), "{e}");
    let late = ReplaySpec {
        cycles: 8,
        nudged: 5,
        variants: vec!["full".into()],
    };
    let e = inspect::replay(&f.dir, &late).unwrap_err().to_string();
    assert!(e.contains("--nudged") && e.contains("at most 4"), "{e}");
    let spec = ReplaySpec { cycles: 8, ..short };
    let (variants, out) = inspect::replay(&f.dir, &spec).unwrap();
    assert_eq!(variants.len(), 3);
    // free cycles 3 to 6 can slide into the next one; 7 is the last
    assert_eq!(variants[0].scores.len(), 4);
    assert!(out.join("replay.csv").exists() && out.join("replay_rates.npz").exists());
    let bad = ReplaySpec {
        variants: vec!["flood".into()],
        ..spec
    };
    let e = inspect::replay(&f.dir, &bad).unwrap_err().to_string();
    assert!(
        e.contains("--disruption") && e.contains("small_offset"),
        "{e}"
    );

    let page = inspect::elise_report(&f.dir).unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("data-figures-expected=\"3\""),
        "three figures"
    );
    assert!(html.contains("Replay and disruptions"));
    // the dynamical-systems analysis of a CTRNN does not apply: the error says what does
    let spec = AnalyzeSpec {
        what: "pca".into(),
        task: None,
        inits: 4,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let e = inspect::analyze(&f.dir, &spec).err().unwrap().to_string();
    assert!(e.contains("biornn replay"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
