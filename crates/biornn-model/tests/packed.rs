//! The per-step recurrent products of f32 networks run on packed panels (`biornn_numerics::packed`)
//! up to `packed_max_units()` units. A network through them equals the same network in f64 (faer's
//! products, whose gradients the finite-difference checks cover) to f32 rounding, forward and
//! backward, with and without skips through time.

use biornn_model::config::*;
use biornn_model::ctrnn::packed_max_units;
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
    let big = Ctrnn::<f32>::new(
        &config(packed_max_units() + 1),
        2,
        2,
        20.0,
        &Streams::new(1),
    )
    .unwrap();
    assert!(!big.runs_packed());
    assert_eq!(big.recurrent_kernel(), "dense");
    let small =
        Ctrnn::<f32>::new(&config(packed_max_units()), 2, 2, 20.0, &Streams::new(1)).unwrap();
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
    assert_eq!(sparse.recurrent_kernel(), "sparse");
    let want = packed::active().map_or("dense".to_string(), |isa| format!("packed-{}", isa.name()));
    assert_eq!(small.recurrent_kernel(), want);
}

/// A pass on an input the caller keeps (`forward_on`, `backward_on`: K networks reading one
/// shared batch) equals the pass on a copy in the trajectory bit for bit, with noise and a skip,
/// and leaves the trajectory's own input untouched.
#[test]
fn a_pass_on_a_shared_input_equals_the_pass_on_a_copy_bit_for_bit() {
    let (n, ni, no, steps, batch) = (23, 4, 3, 30, 5);
    let mut cfg = config(n);
    cfg.noise.sigma = 0.1;
    let net = Ctrnn::<f32>::new(&cfg, ni, no, 20.0, &Streams::new(8)).unwrap();
    let mut rng = Streams::new(9).stream("probe", 0);
    let tb = steps * batch;
    let input: Vec<f32> = (0..ni * tb).map(|_| rng.normal() as f32).collect();
    let d_out: Vec<f32> = (0..no * tb).map(|_| rng.normal() as f32).collect();
    let d_rate: Vec<f32> = (0..n * tb).map(|_| 0.1 * rng.normal() as f32).collect();
    let plan = TimePlan {
        skip: Some(Skip {
            kind: SkipKind::Dasc,
            theta: 4,
            beta: 0.5,
            derivative: Default::default(),
        }),
        segments: vec![0, 9],
        grad_start: 2,
        trial_spans: vec![],
    };
    let run = |shared: bool| {
        let mut traj = Trajectory::default();
        net.sample_noise(
            &mut traj,
            steps,
            batch,
            &mut Streams::new(3).stream("noise", 0),
        );
        let mut grads = Grads::zeros(ni, n, no);
        let mut d = d_out.clone();
        if shared {
            net.forward_on(&input, steps, batch, true, &plan, &mut traj);
            assert!(traj.input.is_empty(), "the input is not copied");
            net.readout_backward(&traj, &mut d);
            net.backward_on(&input, &mut traj, &d, Some(&d_rate), &mut grads);
        } else {
            net.forward_with(&input, steps, batch, true, &plan, &mut traj);
            net.readout_backward(&traj, &mut d);
            net.backward(&mut traj, &d, Some(&d_rate), &mut grads);
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let g: Vec<u32> = grads.tensors().iter().flat_map(|t| bits(t)).collect();
        (bits(&traj.output), bits(&traj.rate), g)
    };
    let (own, shared) = (run(false), run(true));
    assert_eq!(own, shared);
    assert!(
        own.2.iter().any(|b| *b != 0),
        "the gradient is not all zero"
    );
}
