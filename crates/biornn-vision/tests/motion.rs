//! A CordsNet trained on random-dot movies (`task.dataset = "dots"`): its config's checks, a start
//! from a model of another task, and training on movies.

use biornn_core::{Learner, Phase};
use biornn_numerics::Streams;
use biornn_vision::{checkpoint, CordsNet, CordsNetLearner, CordsNetRunConfig, CordsNetShape};

fn dots_config(from: &str) -> CordsNetRunConfig {
    let mut cfg = CordsNetRunConfig::default();
    cfg.network.widths = [4, 4, 4, 4];
    cfg.network.from = from.into();
    cfg.rule.batch_size = 4;
    cfg.rule.learning_rate = 0.01;
    let t = &mut cfg.task;
    t.dataset = "dots".into();
    (t.image_size, t.dots, t.train_images, t.test_images) = (12, 6, 16, 8);
    (t.spontaneous_steps, t.stimulus_steps, t.loss_steps) = (4, 6, 3);
    (t.offset_steps, t.penalty_steps) = (0, 0);
    cfg
}

fn refused(cfg: &CordsNetRunConfig, field: &str) {
    let err = cfg.validate().expect_err(field).to_string();
    assert!(err.contains(field), "{err}");
}

#[test]
fn bad_dots_settings_are_refused_by_name() {
    let good = dots_config("");
    good.validate().unwrap();
    let mut cnn = good.clone();
    cnn.network.form = "cnn".into();
    refused(&cnn, "task.dataset");
    let mut c = good.clone();
    c.task.coherences = vec![0.5, 1.5];
    refused(&c, "task.coherences");
    c.task.coherences = vec![];
    refused(&c, "task.coherences");
    let mut c = good.clone();
    c.task.dots = 0;
    refused(&c, "task.dots");
    // more dots than half the field's pixels would leave no unlit pixel to normalise by
    c.task.dots = 12 * 12 / 2 + 1;
    refused(&c, "task.dots");
    c.task.dots = 12 * 12 / 2;
    c.validate().unwrap();
    c.task.image_size = 3;
    refused(&c, "task.image_size");
    c.task.train_images = 10_000_001;
    c.task.image_size = 12;
    refused(&c, "task.train_images/test_images");
    let mut c = good.clone();
    c.task.dot_speed = f64::NAN;
    refused(&c, "task.dot_speed");
    let mut c = good;
    c.task.test_images = 0;
    refused(&c, "task.train_images/test_images");
}

/// Started from a model of ten classes, a two-way direction classifier takes every weight but the
/// readout from it (the readout as a fresh network's), then trains on movies.
#[test]
fn a_dots_network_starts_from_another_tasks_model_but_its_readout_and_trains() {
    let dir = std::env::temp_dir().join(format!("biornn_motion_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shape = CordsNetShape {
        depth: 2,
        in_channels: 1,
        image: (12, 12),
        widths: [4, 4, 4, 4],
        classes: 10,
    };
    let other = CordsNet::new(&shape).unwrap();
    let theta: Vec<f32> = other.init(&Streams::new(9));
    let file = dir.join("fashion.npz");
    biornn_numerics::npz::write_npz(&file, &checkpoint::save(&other, &theta)).unwrap();

    // the file's weights as a reader folds them (g v / |v|)
    let arrays = biornn_numerics::tensors::read_arrays(&file).unwrap();
    let theta: Vec<f32> = checkpoint::load(&other, &checkpoint::network_tensors(&arrays)).unwrap();

    let cfg = dots_config(file.to_str().unwrap());
    let mut learner = CordsNetLearner::new(&cfg).unwrap();
    assert_eq!(learner.net.shape.classes, 2);
    let fresh: Vec<f32> = learner.net.init(&Streams::new(cfg.seed));
    for t in &learner.net.layout.tensors {
        let mine = &learner.theta[t.range.clone()];
        if t.name.starts_with("out_fc.") {
            assert_eq!(mine, &fresh[t.range.clone()], "{}", t.name);
        } else {
            let from = other.layout.get(&t.name).unwrap();
            assert_eq!(mine, &theta[from.range.clone()], "{}", t.name);
        }
    }
    let before = learner.theta.clone();
    let phase = Phase {
        stage: None,
        lr_factor: 1.0,
        lr_scale: 1.0,
    };
    for step in 0..3 {
        let loss = learner.update(step, &phase).unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{loss}");
    }
    assert_ne!(learner.theta, before);
    let (accuracy, loss) = learner.test_scores();
    assert!((0.0..=1.0).contains(&accuracy) && loss.is_finite() && loss > 0.0);
    // the share right at each coherence, beside the overall one: they make it up, weighted by
    // how many test movies each coherence drew
    let columns = learner.columns();
    let levels = ["0.5", "0.8", "1"].map(|c| format!("test_accuracy_coh_{c}"));
    assert_eq!(columns[3..], levels);
    let e = learner.evaluate(3, None).unwrap();
    let value = |k: &str| -> f64 {
        e.values
            .iter()
            .find(|(c, _)| c.as_str() == k)
            .map(|(_, v)| *v)
            .unwrap()
    };
    let drawn = learner
        .images
        .motion
        .as_ref()
        .unwrap()
        .test
        .coherences_drawn()
        .to_vec();
    let weighted: f64 = [0.5, 0.8, 1.0]
        .iter()
        .zip(&levels)
        .map(|(c, k)| {
            let n = drawn.iter().filter(|d| *d == c).count();
            if n == 0 {
                0.0
            } else {
                value(k) * n as f64
            }
        })
        .sum();
    assert!((weighted / drawn.len() as f64 - value("test_accuracy")).abs() < 1e-12);
    assert_eq!(value("test_accuracy"), accuracy);
    // the movies' frames hold the normalisation the model file will carry
    let stats = &learner.images.stats;
    let p = 1.0 - (1.0 - 1.0 / 144.0f64).powi(6);
    assert!((stats[0].0 - p).abs() < 1e-12);
    std::fs::remove_dir_all(&dir).ok();
}
