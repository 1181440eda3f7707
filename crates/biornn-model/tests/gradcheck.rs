//! Every backward pass is checked against central finite differences in f64.

use biornn_model::config::*;
use biornn_model::ctrnn::PARAM_NAMES;
use biornn_model::{
    Activation, Ctrnn, DascDerivative, Grads, MaskSpec, Skip, SkipKind, TimePlan, Trajectory,
};
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
fn loss(
    net: &Ctrnn<f64>,
    p: &Probe,
    traj: &mut Trajectory<f64>,
    noisy: bool,
    plan: &TimePlan,
) -> f64 {
    net.forward_with(&p.input, STEPS, BATCH, noisy, plan, traj);
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
    check_plan(cfg, label, &TimePlan::plain())
}

fn check_plan(cfg: ModelConfig, label: &str, plan: &TimePlan) {
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
    loss(&net, &probe, &mut traj, noisy, plan);
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
            let fd = (loss(&plus, &probe, &mut traj.clone(), noisy, plan)
                - loss(&minus, &probe, &mut traj.clone(), noisy, plan))
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
    // The inputs' gradient, what an upstream network trains on.
    let du = net.input_gradient(&traj);
    for k in 0..probe.input.len() {
        let (mut plus, mut minus) = (probe.input.clone(), probe.input.clone());
        plus[k] += h;
        minus[k] -= h;
        let at = |input: Vec<f64>| Probe {
            input,
            out_weight: probe.out_weight.clone(),
            rate_weight: probe.rate_weight.clone(),
        };
        let fd = (loss(&net, &at(plus), &mut traj.clone(), noisy, plan)
            - loss(&net, &at(minus), &mut traj.clone(), noisy, plan))
            / (2.0 * h);
        assert!(
            (fd - du[k]).abs() < 1e-6 * (1.0 + fd.abs()),
            "{label}: d/dinput[{k}] analytic {} vs finite difference {fd}",
            du[k]
        );
    }
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

/// Input and readout spans that start past unit 0, of one unit, and of every unit: the products
/// then run over a block of rows (or columns), one row taking faer's vector path.
#[test]
fn input_and_readout_spans_anywhere_and_of_one_unit() {
    for (input, readout) in [([2, 5], [3, 4]), ([4, 5], [0, 1]), ([0, 5], [1, 5])] {
        let cfg = ModelConfig {
            mask: MaskConfig {
                input_units: Some(input),
                readout_units: Some(readout),
                ..Default::default()
            },
            ..base(5)
        };
        check(cfg, &format!("input {input:?}, readout {readout:?}"));
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
        for kind in [NoiseKind::White, NoiseKind::Ou, NoiseKind::OuEuler] {
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

fn skip(kind: SkipKind, theta: usize, beta: f64, derivative: DascDerivative) -> Option<Skip> {
    Some(Skip {
        kind,
        theta,
        beta,
        derivative,
    })
}

#[test]
fn skip_connections_through_time() {
    use DascDerivative::*;
    use SkipKind::*;
    let plans = [
        (skip(Sctt, 2, 0.3, BlockStart), vec![]),
        (skip(Sctt, 2, 0.3, BlockStart), vec![3]),
        (skip(Sctt, 3, 0.0, BlockStart), vec![]),
        (skip(Dasc, 2, 0.3, BlockStart), vec![]),
        (skip(Dasc, 3, 0.0, BlockStart), vec![]),
        (skip(Dasc, 2, 0.4, Stale), vec![]),
        (skip(Dasc, 2, 0.4, Stale), vec![1, 5]),
    ];
    for (sk, segments) in plans {
        for state in [StateConvention::Rate, StateConvention::Current] {
            for placement in [NoisePlacement::Inside, NoisePlacement::Outside] {
                let cfg = ModelConfig {
                    state,
                    activation: Activation::Softplus,
                    noise: NoiseConfig {
                        sigma: 0.1,
                        placement,
                        kind: NoiseKind::Ou,
                        tau_ou: 40.0,
                    },
                    ..base(4)
                };
                let plan = TimePlan {
                    skip: sk,
                    segments: segments.clone(),
                    grad_start: 0,
                    trial_spans: vec![],
                };
                check_plan(
                    cfg,
                    &format!("{sk:?} {segments:?} {state:?} {placement:?}"),
                    &plan,
                );
            }
        }
    }
}

/// A one-unit tanh network (dt 20 ms, tau 50 ms), six inputs, and its plain Euler step by hand.
fn one_unit_network() -> (Ctrnn<f64>, [f64; 6], impl Fn(f64, f64) -> f64) {
    let cfg = ModelConfig {
        activation: Activation::Tanh,
        ..base(1)
    };
    let mut net = Ctrnn::<f64>::new(&cfg, 1, 1, 20.0, &Streams::new(3)).unwrap();
    let mut p = net.params.clone();
    p.w_rec = vec![0.9];
    p.w_in = vec![1.0];
    p.b_rec = vec![0.1];
    p.init_state = vec![0.2];
    net.set_params(p);
    let a = 20.0 / 50.0;
    let step = move |s: f64, u: f64| (1.0 - a) * s + a * (0.9 * s + u + 0.1f64).tanh();
    (net, [0.5, -0.3, 0.8, 0.1, 0.4, -0.6], step)
}

/// Mixing by hand: SCTT and both DASC derivatives on a 1-unit network give the states worked out
/// from the plain network's Euler steps.
#[test]
fn skip_mixing_by_hand() {
    let (net, input, step) = one_unit_network();
    let run = |kind, deriv| {
        let mut traj = Trajectory::default();
        let plan = TimePlan {
            skip: skip(kind, 2, 0.25, deriv),
            ..Default::default()
        };
        net.forward_with(&input, 6, 1, false, &plan, &mut traj);
        traj.state.clone()
    };
    // blocks (0, 2), (2, 4), (4, 6)
    let mix = |fine: f64, target: f64| 0.25 * fine + 0.75 * target;
    for (kind, deriv) in [
        (SkipKind::Sctt, DascDerivative::BlockStart),
        (SkipKind::Dasc, DascDerivative::BlockStart),
        (SkipKind::Dasc, DascDerivative::Stale),
    ] {
        let got = run(kind, deriv);
        let mut s = vec![0.2];
        let mut last_fine = f64::NAN;
        for block in 0..3 {
            let t0 = 2 * block;
            let s0 = s[t0];
            let s1 = step(s0, input[t0]);
            let f2 = step(s1, input[t0 + 1]);
            let target = match (kind, deriv) {
                (SkipKind::Sctt, _) => s0,
                (SkipKind::Dasc, DascDerivative::Stale) if block > 0 => {
                    s0 + 2.0 * (last_fine - s[t0 - 1])
                }
                (SkipKind::Dasc, _) => s0 + 2.0 * (s1 - s0),
            };
            last_fine = f2;
            s.push(s1);
            s.push(mix(f2, target));
        }
        for (t, (g, w)) in got.iter().zip(&s).enumerate() {
            assert!(
                (g - w).abs() < 1e-14,
                "{kind:?} {deriv:?} state {t}: {g} vs {w}"
            );
        }
    }
    // beta = 1: the plain network, bit for bit
    let mut plain = Trajectory::default();
    net.forward(&input, 6, 1, false, &mut plain);
    let mut one = Trajectory::default();
    let plan = TimePlan {
        skip: skip(SkipKind::Dasc, 2, 1.0, DascDerivative::BlockStart),
        ..Default::default()
    };
    net.forward_with(&input, 6, 1, false, &plan, &mut one);
    assert_eq!(plain.state, one.state);
    assert_eq!(plain.output, one.output);
}

/// With a gradient start g, the gradient is that of a run that starts at the state reached at g,
/// with blocks and trial-level spans starting at g.
#[test]
fn gradient_start_treats_the_earlier_state_as_given() {
    let g0 = 3;
    for state in [StateConvention::Rate, StateConvention::Current] {
        let cfg = ModelConfig {
            state,
            activation: Activation::Softplus,
            ..base(4)
        };
        let streams = Streams::new(5);
        let mut net = Ctrnn::<f64>::new(&cfg, N_IN, N_OUT, 20.0, &streams).unwrap();
        let mut rng = streams.stream("t", 0);
        let mut p = net.params.clone();
        for t in p.tensors_mut() {
            t.iter_mut().for_each(|v| *v += 0.3 * rng.normal());
        }
        net.set_params(p);
        let input: Vec<f64> = (0..N_IN * STEPS).map(|_| rng.normal()).collect();
        let plan = TimePlan {
            skip: skip(SkipKind::Dasc, 2, 0.5, DascDerivative::BlockStart),
            segments: vec![g0],
            grad_start: g0,
            // a span ending inside the block (3, 5), then one starting inside it
            trial_spans: vec![(g0, g0 + 1), (g0 + 1, STEPS)],
        };
        let mut full = Trajectory::default();
        net.forward_with(&input, STEPS, 1, false, &plan, &mut full);
        // the tail as a run of its own, from the state at g0
        let mut tail_net = net.clone();
        let mut tp = tail_net.params.clone();
        tp.init_state = full.state[4 * g0..4 * (g0 + 1)].to_vec();
        tail_net.set_params(tp);
        let tail_plan = TimePlan {
            skip: plan.skip,
            segments: vec![],
            grad_start: 0,
            trial_spans: vec![(0, 1), (1, STEPS - g0)],
        };
        let mut tail = Trajectory::default();
        tail_net.forward_with(
            &input[N_IN * g0..],
            STEPS - g0,
            1,
            false,
            &tail_plan,
            &mut tail,
        );
        assert_eq!(&full.output[N_OUT * g0..], &tail.output[..]);
        // the loss weighs only steps from g0 on
        let mut d = vec![0.0; N_OUT * STEPS];
        for (k, v) in d.iter_mut().enumerate().skip(N_OUT * g0) {
            *v = ((k * 7) % 5) as f64 - 2.0;
        }
        let mut g_full = Grads::zeros(N_IN, 4, N_OUT);
        net.backward(&mut full, &d, None, &mut g_full);
        let mut g_tail = Grads::zeros(N_IN, 4, N_OUT);
        tail_net.backward(&mut tail, &d[N_OUT * g0..], None, &mut g_tail);
        for (name, a, b) in [
            ("w_rec", &g_full.w_rec, &g_tail.w_rec),
            ("w_in", &g_full.w_in, &g_tail.w_in),
            ("w_out", &g_full.w_out, &g_tail.w_out),
            ("b_rec", &g_full.b_rec, &g_tail.b_rec),
        ] {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() < 1e-12, "{state:?} {name}: {x} vs {y}");
            }
        }
        assert!(g_full.init_state.iter().all(|v| *v == 0.0));
    }
}

/// The trial-level skip (spans mixed with their start state at the skip's beta), alone and where
/// its ends fall on block ends, with noise inside the nonlinearity.
#[test]
fn trial_level_skip_gradients() {
    use DascDerivative::*;
    use SkipKind::*;
    let plans = [
        // theta 1: no blocks, only the trial-level skip
        (skip(Sctt, 1, 0.3, BlockStart), vec![], vec![(0, 3), (3, 6)]),
        // both mixes at states 3 and 6
        (
            skip(Sctt, 3, 0.4, BlockStart),
            vec![3],
            vec![(0, 3), (3, 6)],
        ),
        (skip(Dasc, 2, 0.5, BlockStart), vec![], vec![(1, 4), (4, 6)]),
        (skip(Dasc, 2, 0.5, Stale), vec![], vec![(0, 2), (2, 5)]),
        // a span ending inside a block, then one running across blocks
        (skip(Dasc, 2, 0.5, BlockStart), vec![], vec![(0, 1), (1, 6)]),
    ];
    for (sk, segments, spans) in plans {
        for state in [StateConvention::Rate, StateConvention::Current] {
            let cfg = ModelConfig {
                state,
                activation: Activation::Softplus,
                noise: NoiseConfig {
                    sigma: 0.1,
                    placement: NoisePlacement::Inside,
                    kind: NoiseKind::Ou,
                    tau_ou: 40.0,
                },
                ..base(4)
            };
            let plan = TimePlan {
                skip: sk,
                segments: segments.clone(),
                grad_start: 0,
                trial_spans: spans.clone(),
            };
            check_plan(
                cfg,
                &format!("{sk:?} {segments:?} {spans:?} {state:?}"),
                &plan,
            );
        }
    }
}

/// On a one-unit network: block mixes first, then the trial-level mix with the span's start state.
#[test]
fn trial_level_skip_by_hand() {
    let (net, input, step) = one_unit_network();
    let plan = TimePlan {
        skip: skip(SkipKind::Sctt, 2, 0.25, DascDerivative::BlockStart),
        segments: vec![],
        grad_start: 0,
        trial_spans: vec![(1, 4), (4, 5)],
    };
    let mut traj = Trajectory::default();
    net.forward_with(&input, 6, 1, false, &plan, &mut traj);
    let mix = |x: f64, start: f64| 0.25 * x + 0.75 * start;
    let mut s = vec![0.2];
    s.push(step(s[0], input[0])); // 1
    s.push(mix(step(s[1], input[1]), s[0])); // 2: block (0, 2)
    s.push(step(s[2], input[2])); // 3
    let block = mix(step(s[3], input[3]), s[2]); // 4: block (2, 4), then span (1, 4)
    s.push(mix(block, s[1]));
    s.push(mix(step(s[4], input[4]), s[4])); // 5: span (4, 5)
    s.push(mix(step(s[5], input[5]), s[4])); // 6: block (4, 6)
    for (t, (g, w)) in traj.state.iter().zip(&s).enumerate() {
        assert!((g - w).abs() < 1e-14, "state {t}: {g} vs {w}");
    }
    // beta = 1 switches the trial-level skip off too
    let one = TimePlan {
        skip: skip(SkipKind::Sctt, 2, 1.0, DascDerivative::BlockStart),
        ..plan.clone()
    };
    let mut plain = Trajectory::default();
    net.forward(&input, 6, 1, false, &mut plain);
    net.forward_with(&input, 6, 1, false, &one, &mut traj);
    assert_eq!(plain.state, traj.state);
}

/// A pass run in pieces, whose later input is rewritten from the readout at a pause, gives the
/// states, outputs and gradients of a straight pass on the rewritten input.
#[test]
fn closed_loop_pass_equals_a_straight_pass_on_its_input() {
    let cfg = ModelConfig {
        activation: Activation::Softplus,
        noise: NoiseConfig {
            sigma: 0.1,
            placement: NoisePlacement::Inside,
            kind: NoiseKind::Ou,
            tau_ou: 40.0,
        },
        ..base(4)
    };
    let streams = Streams::new(8);
    let net = Ctrnn::<f64>::new(&cfg, N_IN, N_OUT, 20.0, &streams).unwrap();
    let mut rng = streams.stream("t", 0);
    let input: Vec<f64> = (0..N_IN * STEPS * BATCH).map(|_| rng.normal()).collect();
    let plan = TimePlan {
        skip: skip(SkipKind::Dasc, 2, 0.5, DascDerivative::BlockStart),
        segments: vec![],
        grad_start: 1,
        trial_spans: vec![(1, 4)],
    };
    let mut closed = Trajectory::default();
    net.sample_noise(&mut closed, STEPS, BATCH, &mut rng);
    net.forward_start(&input, STEPS, BATCH, true, &plan, &mut closed);
    net.forward_advance(&mut closed, 3);
    let mut out = vec![0.0; N_OUT * BATCH];
    net.readout_at(&closed, 2, &mut out);
    net.forward_advance(&mut closed, 3);
    // feedback: which output is larger, on channel 0 or 1, for steps 3 and 4
    for col in 0..BATCH {
        let larger = usize::from(out[col * N_OUT + 1] > out[col * N_OUT]);
        let mut u = vec![0.0; N_IN];
        u[larger] = 1.0;
        for t in 3..5 {
            net.rewrite_input(&mut closed, t, col, &u);
        }
    }
    net.forward_advance(&mut closed, STEPS);
    net.forward_finish(&mut closed);
    let rewritten = closed.input.clone();
    assert_ne!(rewritten, input);
    let mut straight = Trajectory::default();
    straight.noise = closed.noise.clone();
    net.forward_with(&rewritten, STEPS, BATCH, true, &plan, &mut straight);
    // the readout read at the pause is the pass's own output there
    for (k, v) in out.iter().enumerate() {
        assert!((v - straight.out_pre[N_OUT * BATCH * 2 + k]).abs() < 1e-12);
    }
    for (name, a, b) in [
        ("state", &closed.state, &straight.state),
        ("output", &closed.output, &straight.output),
    ] {
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((x - y).abs() < 1e-12, "{name}: {x} vs {y}");
        }
    }
    let d: Vec<f64> = (0..N_OUT * STEPS * BATCH).map(|_| rng.normal()).collect();
    let mut g_closed = Grads::zeros(N_IN, 4, N_OUT);
    net.backward(&mut closed, &d, None, &mut g_closed);
    let mut g_straight = Grads::zeros(N_IN, 4, N_OUT);
    net.backward(&mut straight, &d, None, &mut g_straight);
    for (ti, name) in PARAM_NAMES.iter().enumerate() {
        for (x, y) in g_closed.tensors()[ti]
            .iter()
            .zip(g_straight.tensors()[ti].iter())
        {
            assert!((x - y).abs() < 1e-10, "{name}: {x} vs {y}");
        }
    }
}

/// The sparse recurrent kernels (a local mask run over its entries only): the gradient matches
/// finite differences, with Dale's law and both conventions, and equals the dense kernels' to
/// rounding.
#[test]
fn sparse_recurrent_kernels() {
    use biornn_model::mask::{LocalRule, Metric};
    use biornn_model::sparse::SparseKernels;
    let local = MaskSpec::Local {
        width: None,
        radius: 1.0,
        periodic: false,
        metric: Metric::Euclidean,
        rule: LocalRule::Hard,
        lambda: 0.0,
    };
    for state in [StateConvention::Rate, StateConvention::Current] {
        for dale in [false, true] {
            let cfg = |kernels| ModelConfig {
                state,
                activation: Activation::Softplus,
                dale: DaleConfig {
                    enabled: dale,
                    excitatory_fraction: 0.6,
                    ..Default::default()
                },
                init: InitConfig {
                    w_rec: RecInit::Randgauss,
                    ..Default::default()
                },
                mask: MaskConfig {
                    recurrent: local.clone(),
                    sparse_kernels: kernels,
                    ..Default::default()
                },
                ..base(8)
            };
            let label = format!("sparse {state:?} dale {dale}");
            check(cfg(SparseKernels::On), &label);
            // the same network through sparse and dense kernels
            let streams = Streams::new(3);
            let sparse =
                Ctrnn::<f64>::new(&cfg(SparseKernels::On), N_IN, N_OUT, 20.0, &streams).unwrap();
            let dense =
                Ctrnn::<f64>::new(&cfg(SparseKernels::Off), N_IN, N_OUT, 20.0, &streams).unwrap();
            assert!(sparse.runs_sparse() && !dense.runs_sparse());
            let mut rng = streams.stream("probe", 0);
            let tb = STEPS * BATCH;
            let input: Vec<f64> = (0..N_IN * tb).map(|_| rng.normal()).collect();
            let d_out: Vec<f64> = (0..N_OUT * tb).map(|_| rng.normal()).collect();
            let mut result = vec![];
            for net in [&sparse, &dense] {
                let mut traj = Trajectory::default();
                net.forward_with(&input, STEPS, BATCH, false, &TimePlan::plain(), &mut traj);
                let mut d = d_out.clone();
                net.readout_backward(&traj, &mut d);
                let mut grads = Grads::zeros(N_IN, 8, N_OUT);
                net.backward(&mut traj, &d, None, &mut grads);
                result.push((traj.output.clone(), grads));
            }
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
            };
            assert!(close(&result[0].0, &result[1].0), "{label}: outputs");
            for (a, b) in result[0].1.tensors().iter().zip(result[1].1.tensors()) {
                assert!(close(a, b), "{label}: gradients");
            }
        }
    }
}
