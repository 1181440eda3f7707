//! Runs, checkpoints and configs written before the run layer still load, evaluate, analyse and
//! resume, and the resumed run ends where the old code ended (to f32's last bits: see below).

use biornn_api::inspect::{self, AnalyzeSpec};
use biornn_api::{Config, RunOptions};
use biornn_numerics::npz::{read_npz, NpyArray, NpyData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The arrays, but the clock, the checksum, the stored config text (which gains the `[network]`
/// and `[rule]` sections) and the last evaluation's training loss (kept since).
fn weights(path: &Path) -> BTreeMap<String, NpyArray> {
    let mut m = read_npz(path).unwrap();
    for k in [
        "state_wall_s",
        "checksum",
        "config_toml",
        "state_last_train_loss",
    ] {
        m.remove(k);
    }
    m
}

#[test]
fn a_run_from_before_the_run_layer_loads_evaluates_analyses_and_resumes() {
    let dir = std::env::temp_dir().join(format!("biornn-old-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&fixtures().join("old-run"), &dir);

    // its config is read as a CTRNN trained by BPTT
    let cfg = Config::load(&dir.join("config.toml")).unwrap();
    assert_eq!(cfg.kind(), biornn_api::Kind::CtrnnBptt);

    // the checkpoint evaluates and analyses while the run is unfinished
    let e = inspect::evaluate_run(&dir, 16, None).unwrap();
    assert_eq!(e.step, 20);
    assert_eq!(e.tasks.len(), 2);
    let spec = AnalyzeSpec {
        what: "pca,fixed-points".into(),
        task: None,
        inits: 8,
        seed: 0,
        lesions: vec![],
        net: None,
    };
    let (a, _, written, _) = inspect::analyze(&dir, &spec).unwrap();
    assert_eq!(a.loaded_step, 20);
    assert!(a.pca.is_some() && !written.is_empty());

    // resumed, it ends where the old code's uninterrupted run ended: bit for bit until the CTRNN's
    // passes flushed subnormal floats to zero (issue 18), to the last bits of f32 since (the
    // softplus of a very negative drive is subnormal, and now zero)
    let f = biornn_api::resume(&dir, &RunOptions::default()).unwrap();
    assert_eq!(f.steps, 40);
    let (got, want) = (
        weights(&dir.join("model.npz")),
        weights(&fixtures().join("old-run-final-model.npz")),
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!(g.shape, w.shape, "{k}");
        match (&g.data, &w.data) {
            (NpyData::F32(g), NpyData::F32(w)) => {
                for (a, b) in g.iter().zip(w) {
                    assert!(
                        (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                        "{k}: {a} against {b}"
                    );
                }
            }
            _ => assert_eq!(g, w, "{k}"),
        }
    }
    // the old metrics rows stay, the torn one is dropped, and the run's rows follow
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let steps: Vec<&str> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["0", "10", "20", "30", "40"]);
    std::fs::remove_dir_all(&dir).ok();
}
