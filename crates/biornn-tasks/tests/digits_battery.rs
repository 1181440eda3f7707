//! The digits battery (BPTT on the CTRNN): trials from the training split, evaluations from the
//! test split, the class at the last step alone, and a clear error when the images are missing.

use biornn_numerics::Streams;
use biornn_tasks::config::TaskConfig;
use biornn_tasks::digits::{DigitsOptions, CLASSES, SIDE};
use biornn_tasks::{generate, BatchSpec, Task, Timing};
use std::path::{Path, PathBuf};

/// 20 images a class in the npm package's layout (the first 16 train, the last 4 test): class d
/// lights pixel d of row 10; test images also light the last pixel of row 27.
fn fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("biornn-digits-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for d in 0..CLASSES {
        let mut data = vec![];
        for i in 0..20 {
            let mut img = vec![0.0; SIDE * SIDE];
            img[10 * SIDE + d] = 1.0;
            if i >= 16 {
                img[27 * SIDE + 27] = 1.0;
            }
            data.extend(img);
        }
        std::fs::write(
            dir.join(format!("{d}.json")),
            format!("{{\"data\": {data:?}}}"),
        )
        .unwrap();
    }
    dir
}

fn config(path: &Path) -> TaskConfig {
    TaskConfig {
        battery: "digits".into(),
        rules: vec!["digits".into()],
        dt: 1.0,
        sigma_x: Some(0.0),
        timing: Timing::PerTrial,
        digits: DigitsOptions {
            path: path.to_path_buf(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn trials_train_on_the_training_split_and_evaluations_score_the_test_split() {
    let dir = fixture("split");
    let cfg = config(&dir);
    cfg.validate().unwrap();
    assert_eq!(cfg.sizes().unwrap(), (SIDE, CLASSES));
    let task = cfg.tasks().unwrap().remove(0);
    let spec = BatchSpec {
        dt: 1.0,
        batch_size: 64,
        timing: Timing::PerTrial,
        input_noise_std: 0.0,
    };
    let check = |task: &dyn Task, test: bool| {
        let b = generate(task, &spec, &Streams::new(3), 0);
        assert_eq!(b.steps, 18, "rows 10 to 27");
        let mut labels = vec![];
        for j in 0..b.batch {
            let at = |t: usize, c: usize| b.x[(t * b.batch + j) * SIDE + c];
            let label = (0..CLASSES).find(|&d| at(0, d) == 1.0).unwrap();
            labels.push(label);
            assert_eq!(
                at(17, 27),
                test as u8 as f32,
                "trial {j}: the split's marker"
            );
            // the class is the last step's target and the only step that costs
            assert_eq!(b.class[17 * b.batch + j], label as i32, "trial {j}");
            assert_eq!(b.y[(17 * b.batch + j) * CLASSES + label], 1.0);
            for t in 0..17 {
                assert_eq!(
                    b.cost[(t * b.batch + j) * CLASSES],
                    0.0,
                    "step {t} is not scored"
                );
            }
            assert!(b.cost[(17 * b.batch + j) * CLASSES] > 0.0);
        }
        labels.sort();
        labels.dedup();
        assert!(labels.len() >= 8, "images drawn across classes: {labels:?}");
    };
    check(&*task, false);
    let held_out = task.evaluation().expect("the digits have a test split");
    check(&*held_out, true);
    assert!(held_out.evaluation().is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_images_are_an_error_naming_the_path_field() {
    let cfg = config(Path::new("/nonexistent/digits"));
    let e = cfg.validate().unwrap_err().to_string();
    assert!(
        e.contains("task.digits.path") && e.contains("0.json"),
        "{e}"
    );
    let e = cfg.tasks().err().unwrap().to_string();
    assert!(e.contains("task.digits.path"), "{e}");
    let mut cfg = config(Path::new("/nonexistent/digits"));
    cfg.digits.first_row = 28;
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("task.digits.first_row"), "{e}");
}
