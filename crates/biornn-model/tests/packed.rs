//! The per-step recurrent products of f32 networks run on packed panels (`biornn_numerics::packed`)
//! up to `PACKED_MAX_UNITS` units. A network through them equals the same network in f64 (faer's
//! products, whose gradients the finite-difference checks cover) to f32 rounding, forward and
//! backward, with and without skips through time.

use biornn_model::config::*;
use biornn_model::ctrnn::PACKED_MAX_UNITS;
use biornn_model::{Activation, Ctrnn, Grads, Skip, SkipKind, TimePlan, Trajectory};
use biornn_numerics::{packed, Streams};

fn config(n_rec: usize) -> ModelConfig {
    ModelConfig {
        n_rec,
        tau: 100.0,
        activation: Activation::Softplus,
        init: InitConfig {
            w_rec: RecInit::Randgauss,
            ..Default::default()
        },
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

/// Outputs and gradients of one pass with a loss on every output and every rate.
fn pass<T: biornn_numerics::Real>(
    net: &Ctrnn<T>,
    input: &[T],
    d_out: &[T],
    d_rate: &[T],
    (steps, batch): (usize, usize),
    plan: &TimePlan,
) -> (Vec<f64>, Vec<f64>) {
    let mut traj = Trajectory::default();
    net.forward_with(input, steps, batch, false, plan, &mut traj);
    let mut d = d_out.to_vec();
    net.readout_backward(&traj, &mut d);
    let mut grads = Grads::zeros(net.n_in, net.n_rec, net.n_out);
    net.backward(&mut traj, &d, Some(d_rate), &mut grads);
    let out = traj.output.iter().map(|v| v.to_f64()).collect();
    let g = grads
        .tensors()
        .iter()
        .flat_map(|t| t.iter().map(|v| v.to_f64()))
        .collect();
    (out, g)
}

#[test]
fn packed_f32_networks_equal_their_f64_twins() {
    let (n, ni, no, steps, batch) = (37, 3, 2, 40, 7);
    let cfg = config(n);
    let net = Ctrnn::<f32>::new(&cfg, ni, no, 20.0, &Streams::new(5)).unwrap();
    assert_eq!(net.runs_packed(), packed::active().is_some());
    let twin: Ctrnn<f64> = net.convert();
    assert!(!twin.runs_packed(), "f64 networks use faer");
    let mut rng = Streams::new(6).stream("probe", 0);
    let tb = steps * batch;
    let input: Vec<f32> = (0..ni * tb).map(|_| rng.normal() as f32).collect();
    let d_out: Vec<f32> = (0..no * tb).map(|_| rng.normal() as f32).collect();
    let d_rate: Vec<f32> = (0..n * tb).map(|_| 0.1 * rng.normal() as f32).collect();
    let wide = |v: &[f32]| v.iter().map(|x| *x as f64).collect::<Vec<f64>>();
    let dasc = TimePlan {
        skip: Some(Skip {
            kind: SkipKind::Dasc,
            theta: 5,
            beta: 0.5,
            derivative: Default::default(),
        }),
        segments: vec![0, 12],
        grad_start: 3,
        trial_spans: vec![],
    };
    for plan in [TimePlan::plain(), dasc] {
        let (out32, g32) = pass(&net, &input, &d_out, &d_rate, (steps, batch), &plan);
        let (out64, g64) = pass(
            &twin,
            &wide(&input),
            &wide(&d_out),
            &wide(&d_rate),
            (steps, batch),
            &plan,
        );
        let scale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in out32.iter().zip(&out64) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "output {a} against {b}"
            );
        }
        for (a, b) in g32.iter().zip(&g64) {
            assert!((a - b).abs() <= 1e-4 * scale, "gradient {a} against {b}");
        }
    }
}

#[test]
fn only_small_dense_f32_networks_run_packed() {
    let big =
        Ctrnn::<f32>::new(&config(PACKED_MAX_UNITS + 1), 2, 2, 20.0, &Streams::new(1)).unwrap();
    assert!(!big.runs_packed());
    let small = Ctrnn::<f32>::new(&config(PACKED_MAX_UNITS), 2, 2, 20.0, &Streams::new(1)).unwrap();
    assert_eq!(small.runs_packed(), packed::active().is_some());
    let mut sparse_cfg = config(64);
    sparse_cfg.mask.recurrent = biornn_model::MaskSpec::Local {
        width: None,
        radius: 1.0,
        periodic: true,
        metric: biornn_model::mask::Metric::Euclidean,
        rule: biornn_model::mask::LocalRule::Hard,
        lambda: 0.0,
    };
    sparse_cfg.mask.sparse_kernels = biornn_model::sparse::SparseKernels::On;
    let sparse = Ctrnn::<f32>::new(&sparse_cfg, 2, 2, 20.0, &Streams::new(1)).unwrap();
    assert!(sparse.runs_sparse() && !sparse.runs_packed());
}
