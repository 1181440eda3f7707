//! RFLO against exact gradients: with the full trace and B = W_out^T it is RTRL (checked against
//! an RTRL written here and against finite differences); the local rule and the reference's
//! timing worked by hand on a one-unit network.

use biornn_numerics::Streams;
use biornn_reservoir::rflo::{
    Feedback, LeakyRnn, LeakyRnnShape, Rates, RfloOptions, Trace, Workspace,
};

fn net(n: usize, seed: u64) -> LeakyRnn<f64> {
    let shape = LeakyRnnShape {
        n,
        n_in: 2,
        n_out: 2,
        tau: 4.0,
        g: 1.5,
        h0: 0.1,
        faithful_init: false,
    };
    LeakyRnn::new(shape, &Streams::new(seed)).unwrap()
}

fn data(steps: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut r = Streams::new(seed).stream("data", 0);
    let x = (0..steps * 2).map(|_| r.uniform_in(-1.0, 1.0)).collect();
    let y = (0..steps * 2).map(|_| r.uniform_in(-0.5, 0.5)).collect();
    (x, y)
}

fn loss(net: &LeakyRnn<f64>, x: &[f64], y: &[f64]) -> f64 {
    let mut n = net.clone();
    n.trial(
        x,
        y,
        RfloOptions::default(),
        None,
        &mut Workspace::default(),
    )
    .loss
}

/// The change one end-of-trial update makes, per matrix (W_in, W_rec, W_out).
fn change(net: &LeakyRnn<f64>, x: &[f64], y: &[f64], options: RfloOptions) -> [Vec<f64>; 3] {
    let mut after = net.clone();
    let rates = Rates {
        w_in: 1.0,
        w_rec: 1.0,
        w_out: 1.0,
    };
    after.trial(x, y, options, Some(rates), &mut Workspace::default());
    let d = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p - q).collect();
    [
        d(&after.w_in, &net.w_in),
        d(&after.w_rec, &net.w_rec),
        d(&after.w_out, &net.w_out),
    ]
}

/// RTRL written out: S^t = dh^t/dtheta (n x |theta|) carried forward with the Jacobian
/// J^t = (1 - 1/tau) I + diag(tanh'(u^t)) W / tau; returns -dL/dtheta for W_in, W_rec.
fn rtrl(net: &LeakyRnn<f64>, x: &[f64], y: &[f64]) -> [Vec<f64>; 2] {
    let (n, ni, no, tau) = (net.n, net.n_in, net.n_out, net.tau);
    let steps = x.len() / ni;
    let widths = [n * ni, n * n];
    let mut sens = [vec![0.0; n * widths[0]], vec![0.0; n * widths[1]]];
    let mut grad = [vec![0.0; widths[0]], vec![0.0; widths[1]]];
    let mut h = vec![net.h0; n];
    for t in 0..steps {
        let xt = &x[t * ni..(t + 1) * ni];
        let u: Vec<f64> = (0..n)
            .map(|i| {
                (0..n).map(|j| net.w_rec[i * n + j] * h[j]).sum::<f64>()
                    + (0..ni).map(|j| net.w_in[i * ni + j] * xt[j]).sum::<f64>()
            })
            .collect();
        let d: Vec<f64> = u.iter().map(|v| 1.0 - v.tanh().powi(2)).collect();
        for (which, pre) in [(0usize, xt.to_vec()), (1, h.clone())] {
            let w = widths[which];
            let cols = w / n;
            let old = sens[which].clone();
            for k in 0..n {
                for c in 0..w {
                    // direct: du_k/dtheta_c is pre_j when theta_c = W_kj
                    let direct = if c / cols == k { pre[c % cols] } else { 0.0 };
                    let through: f64 = (0..n).map(|m| net.w_rec[k * n + m] * old[m * w + c]).sum();
                    sens[which][k * w + c] =
                        (1.0 - 1.0 / tau) * old[k * w + c] + d[k] / tau * (direct + through);
                }
            }
        }
        h = (0..n).map(|i| h[i] + (u[i].tanh() - h[i]) / tau).collect();
        let e: Vec<f64> = (0..no)
            .map(|k| y[t * no + k] - (0..n).map(|j| net.w_out[k * n + j] * h[j]).sum::<f64>())
            .collect();
        for which in 0..2 {
            let w = widths[which];
            for c in 0..w {
                for m in 0..n {
                    let back: f64 = (0..no).map(|k| net.w_out[k * n + m] * e[k]).sum();
                    grad[which][c] += back * sens[which][m * w + c];
                }
            }
        }
    }
    grad
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
        / scale
}

#[test]
fn the_full_trace_with_readout_feedback_is_rtrl_and_the_gradient() {
    let n = 5;
    let net = net(n, 1);
    let (x, y) = data(12, 2);
    let exact = RfloOptions {
        trace: Trace::Full,
        feedback: Feedback::Readout,
        ..Default::default()
    };
    let got = change(&net, &x, &y, exact);
    let steps = 12.0;
    let want = rtrl(&net, &x, &y);
    assert!(
        max_rel(
            &got[0],
            &want[0].iter().map(|v| v / steps).collect::<Vec<_>>()
        ) < 1e-12
    );
    assert!(
        max_rel(
            &got[1],
            &want[1].iter().map(|v| v / steps).collect::<Vec<_>>()
        ) < 1e-12
    );
    // and both are -1/T times the gradient of the loss
    let eps = 1e-6;
    for (which, delta) in got.iter().enumerate() {
        let fd: Vec<f64> = (0..delta.len())
            .map(|c| {
                let moved = |s: f64| {
                    let mut m = net.clone();
                    [&mut m.w_in, &mut m.w_rec, &mut m.w_out][which][c] += s;
                    loss(&m, &x, &y)
                };
                -(moved(eps) - moved(-eps)) / (2.0 * eps) / steps
            })
            .collect();
        assert!(
            max_rel(delta, &fd) < 1e-7,
            "matrix {which}: {:e}",
            max_rel(delta, &fd)
        );
    }
    // the local trace drops the non-local term: close in direction, not equal
    let local = change(
        &net,
        &x,
        &y,
        RfloOptions {
            feedback: Feedback::Readout,
            ..Default::default()
        },
    );
    assert!(max_rel(&local[1], &got[1]) > 1e-3);
    assert_eq!(
        local[2], got[2],
        "the readout's change is the same delta rule"
    );
}

#[test]
fn one_unit_by_hand_with_corrected_and_reference_timing() {
    let mut net = net(1, 3);
    net.n_in = 1;
    net.n_out = 1;
    let (w_in, w, w_out, b) = (0.4, 0.8, 0.5, -1.2);
    net.w_in = vec![w_in];
    net.w_rec = vec![w];
    net.w_out = vec![w_out];
    net.b = vec![b];
    let tau = net.tau;
    let (x, y) = ([0.3, -0.7, 0.9], [0.2, 0.1, -0.3]);
    let h0 = 0.1;
    let lr = Rates {
        w_in: 0.5,
        w_rec: 0.5,
        w_out: 0.5,
    };
    let d = |u: f64| 1.0 - u.tanh().powi(2);
    let soft = |u: f64| 1.0 / (10.0 * (u / 10.0).tanh()).cosh().powi(2);
    let leak = 1.0 - 1.0 / tau;

    // corrected: three steps, q from the same step's input
    let (mut h, mut p, mut q) = (h0, 0.0, 0.0);
    let (mut dw_in, mut dw, mut dw_out) = (0.0, 0.0, 0.0);
    for t in 0..3 {
        let u = w * h + w_in * x[t];
        p = leak * p + d(u) * h / tau;
        q = leak * q + d(u) * x[t] / tau;
        h += (u.tanh() - h) / tau;
        let e = y[t] - w_out * h;
        dw_out += 0.5 / 3.0 * e * h;
        dw += 0.5 / 3.0 * b * e * p;
        dw_in += 0.5 / 3.0 * b * e * q;
    }
    let mut m = net.clone();
    m.trial(
        &x,
        &y,
        RfloOptions::default(),
        Some(lr),
        &mut Workspace::default(),
    );
    for (got, want) in [
        (m.w_in[0], w_in + dw_in),
        (m.w_rec[0], w + dw),
        (m.w_out[0], w_out + dw_out),
    ] {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    // the reference (rflo_model.py): x^0 never enters u, the first output is 0, q starts at
    // x^0 / tau and then takes the input of the step before; tanh' soft-clipped
    let (mut h, mut p, mut q) = (h0, 0.0, x[0] / tau);
    let (mut dw_in, mut dw, mut dw_out) = (0.0, 0.0, 0.0);
    for t in 1..3 {
        let u = w * h + w_in * x[t];
        p = leak * p + soft(u) * h / tau;
        q = leak * q + soft(u) * x[t - 1] / tau;
        h += (u.tanh() - h) / tau;
        let e = y[t] - w_out * h;
        dw_out += 0.5 / 3.0 * e * h;
        dw += 0.5 / 3.0 * b * e * p;
        dw_in += 0.5 / 3.0 * b * e * q;
    }
    let faithful = RfloOptions {
        faithful_timing: true,
        faithful_derivative: true,
        ..Default::default()
    };
    let mut m = net.clone();
    let r = m.trial(&x, &y, faithful, Some(lr), &mut Workspace::default());
    assert_eq!(r.outputs[0], 0.0);
    for (got, want) in [
        (m.w_in[0], w_in + dw_in),
        (m.w_rec[0], w + dw),
        (m.w_out[0], w_out + dw_out),
    ] {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
}

#[test]
fn the_reference_init_makes_every_input_weight_negative() {
    let shape = LeakyRnnShape {
        n: 20,
        n_in: 3,
        n_out: 3,
        tau: 10.0,
        g: 1.5,
        h0: 0.1,
        faithful_init: true,
    };
    let faithful = LeakyRnn::<f64>::new(shape, &Streams::new(1)).unwrap();
    assert!(faithful.w_in.iter().all(|w| *w <= 0.0 && *w >= -0.1));
    let corrected = LeakyRnn::<f64>::new(
        LeakyRnnShape {
            faithful_init: false,
            ..shape
        },
        &Streams::new(1),
    )
    .unwrap();
    assert!(
        corrected.w_in.iter().any(|w| *w > 0.0) && corrected.w_in.iter().all(|w| w.abs() <= 0.1)
    );
}

#[test]
fn a_ridge_readout_refuses_the_references_timing() {
    use biornn_reservoir::rflo_run::{RfloRunConfig, DEFAULT_ESN_TOML};
    let ridge = DEFAULT_ESN_TOML.replace("readout = \"delta\"", "readout = \"ridge\"");
    assert_ne!(ridge, DEFAULT_ESN_TOML);
    assert!(RfloRunConfig::from_toml(&ridge).is_ok());
    let faithful = ridge.replace("faithful_timing = false", "faithful_timing = true");
    let e = RfloRunConfig::from_toml(&faithful).unwrap_err().to_string();
    assert!(
        e.contains("rule.faithful_timing") && e.contains("ridge"),
        "{e}"
    );
}
