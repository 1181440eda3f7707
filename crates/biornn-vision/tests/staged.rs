//! Stages 1b to 4 of the staged training: the folded CNN equals the CNN with batch norm, stage 2's
//! gradient equals finite differences and a hand-worked case, stage 4's slope schedule is the
//! reference's.

mod common;

use biornn_numerics::Streams;
use biornn_vision::cnn::CompatCnn;
use biornn_vision::staged::{anneal_slope, fold, inverse_loss_and_grad, INVERSE_PENALTY};
use biornn_vision::{CordsNet, CordsNetShape};

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Streams::new(seed).stream("test", 0);
    (0..n).map(|_| r.normal()).collect()
}

fn shape(depth: usize) -> CordsNetShape {
    CordsNetShape {
        depth,
        in_channels: 2,
        image: (13, 11),
        widths: [3, 2, 3, 2],
        classes: 4,
    }
}

/// A compatibility CNN with its norms' gains, shifts and running statistics away from their
/// initial 1, 0, 0, 1.
fn trained_cnn(depth: usize) -> (CompatCnn, Vec<f64>, Vec<f64>) {
    let cnn = CompatCnn::new(&shape(depth)).unwrap();
    let (mut theta, mut buffers): (Vec<f64>, Vec<f64>) = cnn.init(&Streams::new(3));
    for (t, d) in theta.iter_mut().zip(random(cnn.layout.len, 5)) {
        *t += 0.3 * d;
    }
    for tensor in &cnn.buffers.tensors {
        let draws = random(tensor.range.len(), 7 + tensor.range.start as u64);
        for (b, d) in buffers[tensor.range.clone()].iter_mut().zip(draws) {
            *b = match tensor.name.ends_with("running_var") {
                true => 0.5 + d * d,
                false => 0.4 * d,
            };
        }
    }
    (cnn, theta, buffers)
}

#[test]
fn the_folded_cnn_equals_the_cnn_with_batch_norm() {
    // depth 4 has a skip with its own norm (area 3), depth 2 only the stem's
    for depth in [2, 4] {
        let (cnn, theta, mut buffers) = trained_cnn(depth);
        let net = CordsNet::new(&shape(depth)).unwrap();
        let init: Vec<f64> = net.init(&Streams::new(9));
        let folded = fold(&net, &cnn, &theta, &buffers, &init).unwrap();
        let n = 3;
        let images = random(n * 2 * 13 * 11, 11);
        let want = cnn.forward(&theta, &mut buffers, &images, n, false).logits;
        let pass = folded.forward(&net, &images, n);
        assert_eq!(want.len(), pass.logits.len());
        for (a, b) in want.iter().zip(&pass.logits) {
            assert!(
                (a - b).abs() < 1e-10 * (1.0 + a.abs()),
                "depth {depth}: {a} against {b}"
            );
        }
        // the recurrent convs are left as initialised, the per-unit biases zero, and the stem's
        // bias reaches area 0 with a border that the zero-padded pool shrinks
        for tensor in &net.layout.tensors {
            let got = &folded.theta[tensor.range.clone()];
            if tensor.name.starts_with("area_conv") {
                assert_eq!(got, &init[tensor.range.clone()]);
            }
            if tensor.name.starts_with("conv_bias") {
                assert!(got.iter().all(|v| *v == 0.0));
            }
        }
        let a0 = &folded.area_bias[0];
        let plane = net.areas[0].h * net.areas[0].w;
        assert!(a0[..plane].iter().any(|v| (v - a0[plane / 2]).abs() > 1e-9));
    }
}

#[test]
fn the_fold_refuses_a_cnn_of_another_shape() {
    let (cnn, theta, buffers) = trained_cnn(2);
    let net = CordsNet::new(&shape(4)).unwrap();
    let init: Vec<f64> = net.init(&Streams::new(1));
    let err = fold(&net, &cnn, &theta, &buffers, &init).unwrap_err();
    assert!(err.to_string().contains("network.from"), "{err}");
}

#[test]
fn the_inverse_gradient_equals_finite_differences() {
    let net = CordsNet::new(&shape(2)).unwrap();
    let mut theta: Vec<f64> = net.init(&Streams::new(2));
    common::random_biases(&net, &mut theta, 13, 1.0);
    let n = 2;
    let u: Vec<Vec<f64>> = net
        .areas
        .iter()
        .enumerate()
        .map(|(l, a)| random(n * a.units(), 20 + l as u64))
        .collect();
    let t: Vec<Vec<f64>> = net
        .areas
        .iter()
        .enumerate()
        .map(|(l, a)| random(n * a.units(), 30 + l as u64))
        .collect();
    let loss = |theta: &[f64]| {
        let mut g = vec![0.0; theta.len()];
        let (fit, pen) = inverse_loss_and_grad(&net, theta, &u, &t, n, &mut g);
        fit + INVERSE_PENALTY * pen
    };
    let mut grad = vec![0.0; theta.len()];
    let (_, penalty) = inverse_loss_and_grad(&net, &theta, &u, &t, n, &mut grad);
    assert!(penalty > 0.0);
    let eps = 1e-6;
    for tensor in &net.layout.tensors {
        let trained = tensor.name.starts_with("area_conv") || tensor.name.starts_with("conv_bias");
        for j in tensor.range.clone().step_by(3) {
            if !trained {
                assert_eq!(grad[j], 0.0, "{} is frozen", tensor.name);
                continue;
            }
            let fd = common::central_difference(&loss, &theta, j, eps);
            assert!(
                (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{} [{j}]: fd {fd} against {}",
                tensor.name,
                grad[j]
            );
        }
    }
}

#[test]
fn with_no_recurrence_the_steady_state_is_the_drive() {
    // W = 0: s_3 = b + u and W^3 (b + u) = 0, so the loss is the mean squared gap between b + u
    // and the target, and b's gradient is 2 (b + u - t) summed over the images / (units L)
    let net = CordsNet::new(&CordsNetShape {
        depth: 2,
        in_channels: 1,
        image: (4, 4),
        widths: [1, 1, 1, 1],
        classes: 2,
    })
    .unwrap();
    // 4 x 4 -> stem 2 x 2 -> pool 1 x 1: one unit an area
    assert_eq!(net.units(), 2);
    let mut theta = vec![0.0f64; net.layout.len];
    let b0 = net.layout.get("conv_bias.0").unwrap().range.start;
    let b1 = net.layout.get("conv_bias.1").unwrap().range.start;
    theta[b0] = 0.5;
    theta[b1] = -1.0;
    let u = vec![vec![1.0, 2.0], vec![0.0, 3.0]];
    let t = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
    let mut grad = vec![0.0; theta.len()];
    let (fit, penalty) = inverse_loss_and_grad(&net, &theta, &u, &t, 2, &mut grad);
    // area 0: b + u = 1.5, 2.5 -> errors 0.5, 1.5 -> mean 1.25; area 1: -1, 2 -> 2, 1 -> 2.5
    assert!((fit - (1.25 + 2.5) / 2.0).abs() < 1e-15, "{fit}");
    assert_eq!(penalty, 0.0);
    // d/db0 = (2 * 0.5 + 2 * 1.5) / 2 / 2 = 1; d/db1 = (2 * -2 + 2 * 1) / 2 / 2 = -0.5
    assert!((grad[b0] - 1.0).abs() < 1e-15, "{}", grad[b0]);
    assert!((grad[b1] + 0.5).abs() < 1e-15, "{}", grad[b1]);
}

#[test]
fn the_prelu_slope_anneals_as_the_reference() {
    // class_rnn_4_parametric: max(0, 0.95 - 0.05 epoch) over 20 epochs
    for epoch in 0..25u64 {
        let want = (0.95 - 0.05 * epoch as f64).max(0.0);
        assert!((anneal_slope(epoch, 20) - want).abs() < 1e-12, "{epoch}");
    }
    assert_eq!(anneal_slope(0, 1), 0.0);
    assert_eq!(anneal_slope(1, 4), 0.5);
}
