//! Many networks at once, through the one entry point, for every kind of run.

use biornn_api::{Config, RunOptions};
use biornn_numerics::npz::{read_npz, NpyArray};
use std::collections::BTreeMap;
use std::path::Path;

fn final_arrays(dir: &Path) -> BTreeMap<String, NpyArray> {
    let mut m = read_npz(&dir.join("model.npz")).unwrap();
    m.remove("state_wall_s");
    m.remove("checksum");
    m
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("biornn-api-{}-{name}", std::process::id()))
}

#[test]
fn networks_trained_together_equal_networks_trained_alone() {
    let base = tmp("seeds");
    let cfg = Config::from_toml(
        r#"
seed = 40
[task]
rules = ["fdgo", "dmsgo"]
[model]
n_rec = 16
[model.dale]
enabled = true
mode = "project"
[model.mask]
recurrent = { kind = "random", density = 0.5 }
[train]
max_steps = 6
batch_size = 8
eval_every = 5
eval_trials = 16
checkpoint_every = 1
"#,
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (many, results) = pool.install(|| biornn_api::train_seeds(&cfg, &base, 3).unwrap());
    assert_eq!(
        results.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![40, 41, 42]
    );
    let mut alone = cfg.clone();
    alone.set_seed(41);
    let solo = biornn_api::train(&alone, &base.join("alone"), &RunOptions::default()).unwrap();
    assert_eq!(final_arrays(&many.join("seed-41")), final_arrays(&solo.dir));
    // a reservoir too
    let force = Config::from_toml(
        "[network]\nkind = \"reservoir\"\nn_rec = 20\n[train]\nmax_steps = 300\neval_every = 100\neval_steps = 50\n",
    )
    .unwrap();
    let (many, results) = biornn_api::train_seeds(&force, &base, 2).unwrap();
    assert_eq!(results.len(), 2);
    let mut alone = force.clone();
    alone.set_seed(2);
    let solo = biornn_api::train(&alone, &base.join("alone"), &RunOptions::default()).unwrap();
    assert_eq!(final_arrays(&many.join("seed-2")), final_arrays(&solo.dir));
    std::fs::remove_dir_all(&base).ok();
}
