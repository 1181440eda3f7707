use biornn_model::config::{DaleConfig, DaleMode};
use biornn_model::{Ctrnn, Grads, MaskSpec, Readout};
use biornn_numerics::Streams;
use biornn_tasks::yang::{YangRule, YangTask};
use biornn_tasks::{generate, BatchSpec, Timing};
use biornn_train::config::{LossKind, RunConfig, TrainConfig, DEFAULT_CONFIG_TOML};
use biornn_train::engine::Engine;
use biornn_train::{checkpoint, trainer};

fn small_batch(rule: YangRule, per_trial: bool) -> biornn_tasks::TaskBatch {
    let spec = BatchSpec {
        dt: 100.0,
        batch_size: 4,
        timing: if per_trial {
            Timing::PerTrial
        } else {
            Timing::PerBatch
        },
        input_noise_std: 0.05,
    };
    generate(&YangTask { rule, easy: false }, &spec, &Streams::new(3), 0)
}

/// Finite differences of the engine's total loss against its gradient, in f64, for every parameter.
fn check(cfg: &RunConfig, rule: YangRule, per_trial: bool, label: &str) {
    let mut net = Ctrnn::<f64>::new(&cfg.model, 85, 33, 100.0, &Streams::new(5)).unwrap();
    let mut rng = Streams::new(6).stream("perturb", 0);
    let mut p = net.params.clone();
    for t in p.tensors_mut() {
        t.iter_mut().for_each(|v| *v += 0.2 * rng.normal());
    }
    net.set_params(p);
    let batch = small_batch(rule, per_trial);
    let noise = Streams::new(8);
    let mut engine = Engine::<f64>::default();
    let mut grads = Grads::zeros(85, cfg.model.n_rec, 33);
    let total = |net: &Ctrnn<f64>| {
        let mut g = Grads::zeros(85, net.n_rec, 33);
        Engine::<f64>::default()
            .loss_and_grad(net, &batch, &cfg.train, Some((&noise, 0)), &mut g)
            .total
    };
    engine.loss_and_grad(&net, &batch, &cfg.train, Some((&noise, 0)), &mut grads);
    let h = 1e-6;
    for ti in 0..6 {
        let len = net.params.tensors()[ti].len();
        // every entry of small tensors, a spread of the input weights
        let stride = if len > 200 { 7 } else { 1 };
        for k in (0..len).step_by(stride) {
            let base = net.params.tensors()[ti][k];
            let mut plus = net.clone();
            plus.params.tensors_mut()[ti][k] = base + h;
            plus.refresh();
            let mut minus = net.clone();
            minus.params.tensors_mut()[ti][k] = base - h;
            minus.refresh();
            let fd = (total(&plus) - total(&minus)) / (2.0 * h);
            let an = grads.tensors()[ti][k];
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + fd.abs()),
                "{label}: tensor {ti}[{k}]: analytic {an} vs fd {fd}"
            );
        }
    }
}

fn cfg(loss: LossKind) -> RunConfig {
    let mut c = RunConfig::default();
    c.task.dt = 100.0;
    c.model.n_rec = 6;
    c.model.trainable.init_state = true;
    c.model.readout = if loss == LossKind::CrossEntropy {
        Readout::Logits
    } else {
        Readout::Sigmoid
    };
    c.train = TrainConfig {
        loss,
        batch_chunks: 2,
        batch_size: 4,
        ..Default::default()
    };
    c
}

#[test]
fn gradient_of_every_loss() {
    for loss in [
        LossKind::Lsq,
        LossKind::LsqNormalized,
        LossKind::CrossEntropy,
    ] {
        check(&cfg(loss), YangRule::DelayDm1, false, &format!("{loss:?}"));
        check(
            &cfg(loss),
            YangRule::DmsNogo,
            true,
            &format!("{loss:?} padded"),
        );
    }
}

#[test]
fn gradient_of_every_regularizer() {
    let mut c = cfg(LossKind::Lsq);
    c.train.l1_rate = 0.3;
    c.train.l2_rate = 0.02;
    c.train.l1_weight = 0.1;
    c.train.l2_weight = 0.05;
    check(&c, YangRule::FdGo, true, "regularisers");
    let mut c = c.clone();
    c.model.dale = DaleConfig {
        enabled: true,
        mode: DaleMode::Reparam,
        nonneg_input: true,
        ..Default::default()
    };
    c.model.mask.recurrent = MaskSpec::Random { density: 0.5 };
    check(&c, YangRule::Dm1, false, "regularisers + Dale + mask");
}

#[test]
fn linear_readout_and_current_state() {
    let mut c = cfg(LossKind::Lsq);
    c.model.readout = Readout::Linear;
    c.model.state = biornn_model::StateConvention::Current;
    c.model.activation = biornn_model::Activation::Tanh;
    check(&c, YangRule::ReactAnti, false, "linear/current/tanh");
}

#[test]
fn default_config_text_is_the_default() {
    let parsed = RunConfig::from_toml(DEFAULT_CONFIG_TOML).unwrap();
    assert_eq!(parsed, RunConfig::default());
    // and the resolved form written into run directories (the battery's input noise written
    // out) reads back as the same run
    let written = RunConfig::from_toml(&parsed.to_toml()).unwrap();
    assert_eq!(written.task.sigma_x, Some(0.01));
    assert_eq!(written.to_toml(), parsed.to_toml());
    assert_eq!(RunConfig::from_toml("").unwrap(), RunConfig::default());
}

#[test]
fn bad_configs_name_field_value_and_what_is_allowed() {
    let cases: &[(&str, &[&str])] = &[
        ("[model]\nn_rek = 3", &["n_rek", "did you mean `n_rec`"]),
        (
            "[train]\nlearning_rate = -1.0",
            &["train.learning_rate", "-1", "positive"],
        ),
        ("[task]\ndt = 200.0", &["task.dt", "200", "model.tau"]),
        // a step so small its trials could not be held, or so large an epoch floors to nothing
        ("[task]\ndt = 1e-300", &["task.dt", "0.1 to 500"]),
        (
            "[model]\ntau = 3000.0\n[task]\ndt = 3000.0",
            &["task.dt", "3000", "0.1 to 500"],
        ),
        (
            "[task]\nrules = [\"fdgoo\"]",
            &["task.rules[0]", "fdgoo", "did you mean `fdgo`"],
        ),
        (
            "[model.dale]\nexcitatory_fraction = 1.5",
            &["model.dale.excitatory_fraction", "1.5", "[0, 1]"],
        ),
        (
            "[model]\nactivation = \"relux\"",
            &["line 2", "activation", "relux", "relu"],
        ),
        (
            "[train]\nloss = \"cross_entropy\"",
            &["model.readout", "logits"],
        ),
        (
            "[model.mask]\nrecurrent = { kind = \"ring\", radius = 500 }",
            &["model.mask.recurrent.radius", "500"],
        ),
        ("[train]\nbatch_size = 0", &["train.batch_size", "0"]),
        (
            "[task]\nrule_weights = { dm1 = 2.0 }",
            &["task.rule_weights.dm1", "not in task.rules"],
        ),
        ("seed = \"x\"", &["line 1", "seed"]),
        ("[model]\ntau = 50.0", &[]), // a partial section keeps the other defaults (checked below)
    ];
    let partial = RunConfig::from_toml("[model]\ntau = 50.0\n[task]\ndt = 10.0").unwrap();
    assert_eq!(partial.model.n_rec, RunConfig::default().model.n_rec);
    assert_eq!(partial.task.rules, RunConfig::default().task.rules);
    for (text, wanted) in cases.iter().filter(|(_, w)| !w.is_empty()) {
        let err = RunConfig::from_toml(text).unwrap_err().to_string();
        for w in *wanted {
            assert!(
                err.contains(w),
                "config {text:?}: error {err:?} should mention {w:?}"
            );
        }
    }
}

fn tiny_run(max_steps: usize) -> RunConfig {
    let mut c = RunConfig::default();
    c.model.n_rec = 16;
    c.task.rules = vec!["fdgo".into(), "dmsgo".into()];
    c.train.max_steps = max_steps;
    c.train.batch_size = 8;
    c.train.eval_every = 5;
    c.train.eval_trials = 16;
    c.train.checkpoint_every = 1;
    c.model.dale = DaleConfig {
        enabled: true,
        mode: DaleMode::Project,
        ..Default::default()
    };
    c.model.mask.recurrent = MaskSpec::Random { density: 0.5 };
    c
}

/// Every array of a run's final checkpoint except the wall-clock time (and the checksum over it).
fn final_arrays(
    dir: &std::path::Path,
) -> std::collections::BTreeMap<String, biornn_numerics::npz::NpyArray> {
    let mut m = biornn_numerics::npz::read_npz(&dir.join("model.npz")).unwrap();
    m.remove("state_wall_s");
    m.remove("checksum");
    assert!(m.contains_key("W_rec") && m.contains_key("opt_m_w_rec"));
    m
}

fn run_in_pool(
    c: &RunConfig,
    threads: usize,
    dir: &std::path::Path,
) -> std::collections::BTreeMap<String, biornn_numerics::npz::NpyArray> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        trainer::train(c, dir, &trainer::TrainOptions::default()).unwrap();
    });
    final_arrays(dir)
}

#[test]
fn training_is_bit_identical_whatever_the_thread_count() {
    let tmp = std::env::temp_dir().join(format!("biornn-det-{}", std::process::id()));
    let c = tiny_run(12);
    let a = trainer::create_run_dir(&tmp, "a").unwrap();
    let b = trainer::create_run_dir(&tmp, "b").unwrap();
    let one = run_in_pool(&c, 1, &a);
    let two = run_in_pool(&c, 2, &b);
    assert_eq!(one, two);
    // metrics agree apart from wall-clock time
    let strip = |p: std::path::PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(strip(a.join("metrics.csv")), strip(b.join("metrics.csv")));
    // a different seed gives different weights
    let mut c2 = c.clone();
    c2.seed = 99;
    let d = trainer::create_run_dir(&tmp, "c").unwrap();
    assert_ne!(run_in_pool(&c2, 2, &d), one);
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn run_directory_checkpoints_and_constraints() {
    let tmp = std::env::temp_dir().join(format!("biornn-run-{}", std::process::id()));
    let c = tiny_run(10);
    let dir = trainer::create_run_dir(&tmp, "r").unwrap();
    let s = trainer::train(&c, &dir, &trainer::TrainOptions::default()).unwrap();
    assert_eq!(s.steps, 10);
    for f in ["config.toml", "metrics.csv", "model.npz", "summary.json"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(metrics.starts_with(
        "step,trials,train_loss,eval_loss,perf_fdgo,perf_dmsgo,min_perf,mean_perf,wall_s"
    ));
    assert_eq!(metrics.lines().count(), 1 + 3); // steps 0, 5, 10
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for k in ["steps", "wall_s", "perf", "min_perf", "mean_perf"] {
        assert!(json.get(k).is_some(), "{k}");
    }
    let loaded = checkpoint::load(&dir.join("model.npz")).unwrap();
    assert_eq!(loaded.config, c);
    assert_eq!(loaded.step, 10);
    // masked weights are exactly zero, signs follow Dale's law
    let e = loaded.net.effective();
    let n = loaded.net.n_rec;
    for i in 0..n {
        for j in 0..n {
            let w = e.w_rec[i * n + j];
            if loaded.net.mask_rec[i * n + j] == 0.0 {
                assert_eq!(w, 0.0);
            }
            assert!(
                w * loaded.net.sign[j] >= 0.0,
                "Dale violated at ({i},{j}): {w}"
            );
        }
    }
    // reloading reproduces the saved arrays exactly
    let again = checkpoint::to_arrays(&loaded.net, &loaded.config, loaded.step);
    let saved = biornn_numerics::npz::read_npz(&dir.join("model.npz")).unwrap();
    for k in [
        "W_in",
        "W_rec",
        "W_out",
        "b_rec",
        "b_out",
        "rec_connectivity",
        "Dale_rec",
    ] {
        assert_eq!(again[k], saved[k], "{k}");
    }
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn a_corrupt_checkpoint_is_an_error() {
    let tmp = std::env::temp_dir().join(format!("biornn-bad-{}.npz", std::process::id()));
    std::fs::write(&tmp, b"PK\x03\x04 not really").unwrap();
    let e = checkpoint::load(&tmp).err().unwrap().to_string();
    assert!(e.contains(&tmp.display().to_string()), "{e}");
    std::fs::remove_file(&tmp).ok();
}
