//! Every backward pass is checked against central finite differences in f64.

use biornn_model::config::*;
use biornn_model::ctrnn::PARAM_NAMES;
use biornn_model::{Activation, Ctrnn, Grads, MaskSpec, Trajectory};
use biornn_numerics::Streams;

const N_IN: usize = 3;
const N_OUT: usize = 2;
const STEPS: usize = 6;
const BATCH: usize = 2;

struct Probe {
    input: Vec<f64>,
    out_weight: Vec<f64>,
    rate_weight: Vec<f64>,
}

/// L = sum(out_weight * y) + sum(rate_weight * r): exercises both gradient entry points.
fn loss(net: &Ctrnn<f64>, p: &Probe, traj: &mut Trajectory<f64>, noisy: bool) -> f64 {
    net.forward(&p.input, STEPS, BATCH, noisy, traj);
    let n = net.n_rec;
    let y: f64 = traj
        .output
        .iter()
        .zip(&p.out_weight)
        .map(|(a, b)| a * b)
        .sum();
    let r: f64 = traj.rate[n * BATCH..]
        .iter()
        .zip(&p.rate_weight)
        .map(|(a, b)| a * b)
        .sum();
    y + r
}

fn check(cfg: ModelConfig, label: &str) {
    let streams = Streams::new(11);
    let mut net = Ctrnn::<f64>::new(&cfg, N_IN, N_OUT, 20.0, &streams).unwrap();
    let mut rng = streams.stream("test", 0);
    // Move every parameter away from zero and from its init so every path carries gradient.
    let mut params = net.params.clone();
    for t in params.tensors_mut() {
        for v in t.iter_mut() {
            *v += 0.3 * rng.normal();
        }
    }
    net.set_params(params);
    let n = net.n_rec;
    let tb = STEPS * BATCH;
    let probe = Probe {
        input: (0..N_IN * tb).map(|_| rng.normal()).collect(),
        out_weight: (0..N_OUT * tb).map(|_| rng.normal()).collect(),
        rate_weight: (0..n * tb).map(|_| rng.normal()).collect(),
    };
    let noisy = net.noise.sigma > 0.0;
    let mut traj = Trajectory::default();
    if noisy {
        net.sample_noise(&mut traj, STEPS, BATCH, &mut rng);
    }
    loss(&net, &probe, &mut traj, noisy);
    let mut d_out = probe.out_weight.clone();
    net.readout_backward(&traj, &mut d_out);
    let mut grads = Grads::zeros(N_IN, n, N_OUT);
    net.backward(&mut traj, &d_out, Some(&probe.rate_weight), &mut grads);

    let h = 1e-6;
    let mut checked = 0;
    for (ti, name) in PARAM_NAMES.iter().enumerate() {
        let len = net.params.tensors()[ti].len();
        for k in 0..len {
            let base = net.params.tensors()[ti][k];
            let analytic = grads.tensors()[ti][k];
            // Entries pinned at zero by a mask or by projection have no finite difference to take.
            let mut plus = net.clone();
            plus.params.tensors_mut()[ti][k] = base + h;
            plus.refresh();
            let mut minus = net.clone();
            minus.params.tensors_mut()[ti][k] = base - h;
            minus.refresh();
            let fd = (loss(&plus, &probe, &mut traj.clone(), noisy)
                - loss(&minus, &probe, &mut traj.clone(), noisy))
                / (2.0 * h);
            let tol = 1e-6 * (1.0 + fd.abs());
            assert!(
                (fd - analytic).abs() < tol,
                "{label}: d/d{name}[{k}] analytic {analytic} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
    // The masked entries have zero gradient and zero effective weight.
    for (k, m) in net.mask_rec.iter().enumerate() {
        if *m == 0.0 {
            assert_eq!(grads.w_rec[k], 0.0, "{label}");
            assert_eq!(net.effective().w_rec[k], 0.0, "{label}");
        }
    }
}

fn base(n_rec: usize) -> ModelConfig {
    ModelConfig {
        n_rec,
        tau: 50.0,
        noise: NoiseConfig {
            sigma: 0.0,
            ..Default::default()
        },
        trainable: Trainable {
            init_state: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn every_activation_both_conventions_every_readout() {
    for act in Activation::ALL {
        for state in [StateConvention::Rate, StateConvention::Current] {
            for readout in [Readout::Sigmoid, Readout::Linear, Readout::Logits] {
                let cfg = ModelConfig {
                    activation: act,
                    state,
                    readout,
                    ..base(5)
                };
                check(cfg, &format!("{act:?}/{state:?}/{readout:?}"));
            }
        }
    }
}

#[test]
fn dale_both_modes_with_masks_and_per_unit_tau() {
    for mode in [DaleMode::Reparam, DaleMode::Project] {
        for state in [StateConvention::Rate, StateConvention::Current] {
            let cfg = ModelConfig {
                state,
                activation: Activation::Softplus,
                tau_inhibitory: Some(30.0),
                dale: DaleConfig {
                    enabled: true,
                    excitatory_fraction: 0.6,
                    mode,
                    nonneg_input: true,
                    readout_from_excitatory: true,
                },
                init: InitConfig {
                    w_rec: RecInit::Randgauss,
                    ..Default::default()
                },
                mask: MaskConfig {
                    recurrent: MaskSpec::Random { density: 0.6 },
                    input: MaskSpec::Random { density: 0.7 },
                    input_units: Some([0, 4]),
                    readout_units: Some([1, 5]),
                    ..Default::default()
                },
                ..base(5)
            };
            check(cfg, &format!("dale {mode:?}/{state:?}"));
        }
    }
}

#[test]
fn masks_of_every_kind() {
    for spec in [
        MaskSpec::NoAutapse,
        MaskSpec::AutapseOnly,
        MaskSpec::Ring { radius: 1 },
        MaskSpec::Sheet {
            width: 2,
            radius: 1.0,
        },
        MaskSpec::Blocks {
            sizes: vec![2, 2],
            between: 0.3,
        },
    ] {
        let cfg = ModelConfig {
            mask: MaskConfig {
                recurrent: spec.clone(),
                ..Default::default()
            },
            ..base(4)
        };
        check(cfg, &format!("{spec:?}"));
    }
}

#[test]
fn with_noise_of_every_kind() {
    for placement in [NoisePlacement::Inside, NoisePlacement::Outside] {
        for kind in [NoiseKind::White, NoiseKind::Ou] {
            for state in [StateConvention::Rate, StateConvention::Current] {
                let cfg = ModelConfig {
                    state,
                    noise: NoiseConfig {
                        sigma: 0.1,
                        placement,
                        kind,
                        tau_ou: 40.0,
                    },
                    ..base(4)
                };
                check(cfg, &format!("noise {placement:?}/{kind:?}/{state:?}"));
            }
        }
    }
}

#[test]
fn frozen_parameters_get_zero_gradient() {
    let cfg = ModelConfig {
        trainable: Trainable {
            w_rec: false,
            b_out: false,
            ..Default::default()
        },
        ..base(4)
    };
    let net = Ctrnn::<f64>::new(&cfg, N_IN, N_OUT, 20.0, &Streams::new(1)).unwrap();
    let mut traj = Trajectory::default();
    let input = vec![0.5; N_IN * STEPS * BATCH];
    net.forward(&input, STEPS, BATCH, false, &mut traj);
    let d = vec![1.0; N_OUT * STEPS * BATCH];
    let mut g = Grads::zeros(N_IN, 4, N_OUT);
    net.backward(&mut traj, &d, None, &mut g);
    assert!(g.w_rec.iter().all(|v| *v == 0.0));
    assert!(g.b_out.iter().all(|v| *v == 0.0));
    assert!(g.w_out.iter().any(|v| *v != 0.0));
}
