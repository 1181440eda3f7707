//! R2N2's reversibility and its replay gradient: against finite differences, against BPTT with
//! stored states, feedback alignment with F = W^T against backpropagation, the fitted backward
//! weights, and the published (code_parity) gradient on a hand-worked scalar network.

use biornn_numerics::Streams;
use biornn_r2n2::{
    forward, gradient_with_stored_states, replay_gradient, Feedback, ForwardSamples, Grads,
    Objective, R2n2, ReplayOptions, Shape, State,
};

fn shape(n: usize, n_in: usize, n_out: usize) -> Shape {
    Shape {
        n,
        n_in,
        n_out,
        tau: 10.0,
        g_forward: 1.5,
        g_backward: 1.0,
    }
}

fn net(n: usize, seed: u64) -> R2n2<f64> {
    R2n2::new(shape(n, 3, 3), &Streams::new(seed)).unwrap()
}

fn start(n: usize, seed: u64) -> State<f64> {
    let mut r = Streams::new(seed).stream("start", 0);
    State {
        a: (0..n).map(|_| r.uniform_in(-0.2, 0.2)).collect(),
        b: (0..n).map(|_| r.uniform_in(-0.2, 0.2)).collect(),
    }
}

/// A random input sequence and next-step targets.
fn data(steps: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut r = Streams::new(seed).stream("data", 0);
    let x = (0..steps * 3).map(|_| r.uniform_in(0.0, 1.0)).collect();
    let y = (0..steps * 3).map(|_| r.uniform_in(0.0, 1.0)).collect();
    (x, y)
}

fn loss(net: &R2n2<f64>, h0: &State<f64>, x: &[f64], obj: &Objective<f64>) -> f64 {
    let mut h = h0.clone();
    forward(net, &mut h, x, obj, None)
}

fn replay(
    net: &R2n2<f64>,
    h0: &State<f64>,
    x: &[f64],
    obj: &Objective<f64>,
    o: ReplayOptions,
) -> Grads<f64> {
    let mut h = h0.clone();
    forward(net, &mut h, x, obj, None);
    let mut g = Grads::zeros_like(net);
    replay_gradient(net, &mut h, x, obj, o, &mut g);
    g
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Central differences of the loss for every entry of one matrix.
fn finite_differences(
    net: &R2n2<f64>,
    h0: &State<f64>,
    x: &[f64],
    obj: &Objective<f64>,
    which: usize,
) -> Vec<f64> {
    let len = [
        net.w_ia.len(),
        net.w_ba.len(),
        net.w_ab.len(),
        net.w_bo.len(),
    ][which];
    let eps = 1e-5;
    (0..len)
        .map(|k| {
            let moved = |delta: f64| {
                let mut m = net.clone();
                [&mut m.w_ia, &mut m.w_ba, &mut m.w_ab, &mut m.w_bo][which][k] += delta;
                loss(&m, h0, x, obj)
            };
            (moved(eps) - moved(-eps)) / (2.0 * eps)
        })
        .collect()
}

#[test]
fn forward_then_inverse_returns_the_start_state() {
    // the reference notes: n = 32, T = 60 reconstructs h_0 to about 1e-11 in f64
    let n = 32;
    let net = net(n, 1);
    let h0 = start(n, 2);
    let (x, _) = data(60, 3);
    let mut h = h0.clone();
    let (mut rates, mut drive) = (vec![0.0; n], vec![0.0; n]);
    for s in 0..60 {
        net.step(&mut h, &x[s * 3..s * 3 + 3], &mut rates, &mut drive);
    }
    assert!(
        h.a.iter().zip(&h0.a).any(|(p, q)| (p - q).abs() > 0.01),
        "the state moved"
    );
    for s in (0..60).rev() {
        net.unstep(&mut h, &x[s * 3..s * 3 + 3], &mut rates, &mut drive);
    }
    let err =
        h.a.iter()
            .chain(&h.b)
            .zip(h0.a.iter().chain(&h0.b))
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
    assert!(err < 1e-8, "f64 reconstruction error {err:e}");
    // the replay leaves h at the reconstructed start as well
    let (x, y) = data(60, 3);
    let obj = Objective::Mse(&y);
    let mut h = h0.clone();
    forward(&net, &mut h, &x, &obj, None);
    replay_gradient(
        &net,
        &mut h,
        &x,
        &obj,
        ReplayOptions::default(),
        &mut Grads::zeros_like(&net),
    );
    assert!(h.a.iter().zip(&h0.a).all(|(p, q)| (p - q).abs() < 1e-8));
    assert!(h.b.iter().zip(&h0.b).all(|(p, q)| (p - q).abs() < 1e-8));
}

#[test]
fn the_exact_replay_gradient_equals_finite_differences() {
    let n = 5;
    for (steps, seed) in [(8, 1), (40, 2)] {
        let net = net(n, seed);
        let h0 = start(n, seed);
        let (x, y) = data(steps, seed);
        let obj = Objective::Mse(&y);
        let g = replay(&net, &h0, &x, &obj, ReplayOptions::default());
        for (which, got) in g.tensors().iter().enumerate() {
            let fd = finite_differences(&net, &h0, &x, &obj, which);
            let err = max_rel(got, &fd);
            assert!(
                err < 1e-7,
                "T = {steps}, matrix {which}: relative error {err:e}"
            );
        }
    }
    // classification at the last step
    let net = net(n, 3);
    let h0 = start(n, 3);
    let (x, _) = data(12, 3);
    let obj = Objective::ClassAtEnd(2);
    let g = replay(&net, &h0, &x, &obj, ReplayOptions::default());
    for (which, got) in g.tensors().iter().enumerate() {
        let err = max_rel(got, &finite_differences(&net, &h0, &x, &obj, which));
        assert!(err < 1e-7, "cross-entropy, matrix {which}: {err:e}");
    }
}

/// BPTT written the usual way: every state stored, adjoints through the stored trajectory.
fn bptt_stored(net: &R2n2<f64>, h0: &State<f64>, x: &[f64], y: &[f64]) -> Grads<f64> {
    let (n, steps) = (net.shape.n, x.len() / 3);
    let (c, d) = (0.9, 0.1);
    let mut states = vec![h0.clone()];
    let (mut rates, mut drive) = (vec![0.0; n], vec![0.0; n]);
    for s in 0..steps {
        let mut h = states[s].clone();
        net.step(&mut h, &x[s * 3..s * 3 + 3], &mut rates, &mut drive);
        states.push(h);
    }
    let mut g = Grads::zeros_like(net);
    let th = |v: &Vec<f64>| v.iter().map(|z| z.tanh()).collect::<Vec<_>>();
    let dth = |v: &Vec<f64>| v.iter().map(|z| 1.0 - z.tanh().powi(2)).collect::<Vec<_>>();
    // adjoints of a(s+1) and b(s+1) arriving from later steps
    let (mut ja, mut jb) = (vec![0.0; n], vec![0.0; n]);
    for s in (0..steps).rev() {
        let (prev, next) = (&states[s], &states[s + 1]);
        let (ra, rb, rb_prev) = (th(&next.a), th(&next.b), th(&prev.b));
        let (da, db, db_prev) = (dth(&next.a), dth(&next.b), dth(&prev.b));
        let o: Vec<f64> = (0..3)
            .map(|k| (0..n).map(|j| net.w_bo[k * n + j] * rb[j]).sum())
            .collect();
        let e: Vec<f64> = (0..3).map(|k| o[k] - y[s * 3 + k]).collect();
        // total adjoint of b(s+1): output, and what later steps sent
        let gb: Vec<f64> = (0..n)
            .map(|j| jb[j] + db[j] * (0..3).map(|k| net.w_bo[k * n + j] * e[k]).sum::<f64>())
            .collect();
        // b(s+1) = c b(s) + d W_AB tanh(a(s+1))
        let ga: Vec<f64> = (0..n)
            .map(|j| ja[j] + d * da[j] * (0..n).map(|i| net.w_ab[i * n + j] * gb[i]).sum::<f64>())
            .collect();
        for k in 0..3 {
            for j in 0..n {
                g.w_bo[k * n + j] += e[k] * rb[j];
            }
        }
        for i in 0..n {
            for j in 0..n {
                g.w_ab[i * n + j] += d * gb[i] * ra[j];
                g.w_ba[i * n + j] += d * ga[i] * rb_prev[j];
            }
            for j in 0..3 {
                g.w_ia[i * 3 + j] += d * ga[i] * x[s * 3 + j];
            }
        }
        // a(s+1) = c a(s) + d (W_BA tanh(b(s)) + W_IA x_s)
        ja = ga.iter().map(|v| c * v).collect();
        jb = (0..n)
            .map(|j| {
                c * gb[j]
                    + d * db_prev[j] * (0..n).map(|i| net.w_ba[i * n + j] * ga[i]).sum::<f64>()
            })
            .collect();
    }
    g
}

#[test]
fn the_replay_gradient_equals_bptt_with_stored_states() {
    let n = 8;
    let net = net(n, 5);
    let h0 = start(n, 5);
    let (x, y) = data(50, 5);
    let g = replay(&net, &h0, &x, &Objective::Mse(&y), ReplayOptions::default());
    let want = bptt_stored(&net, &h0, &x, &y);
    for (got, want) in g.tensors().iter().zip(want.tensors()) {
        assert!(max_rel(got, want) < 1e-9, "{:e}", max_rel(got, want));
    }
    // the crate's own stored-state BPTT (the yardstick of the memory experiment) agrees too
    let mut stored = Grads::zeros_like(&net);
    gradient_with_stored_states(&net, &h0, &x, &Objective::Mse(&y), &mut stored);
    for (got, want) in stored.tensors().iter().zip(want.tensors()) {
        assert!(max_rel(got, want) < 1e-12, "{:e}", max_rel(got, want));
    }
}

#[test]
fn feedback_alignment_with_the_transposes_is_backpropagation() {
    let n = 6;
    let mut net = self::net(n, 7);
    let h0 = start(n, 7);
    let (x, y) = data(20, 7);
    let obj = Objective::Mse(&y);
    let transpose = |w: &[f64], rows: usize, cols: usize| -> Vec<f64> {
        (0..cols)
            .flat_map(|j| (0..rows).map(move |i| w[i * cols + j]))
            .collect()
    };
    net.fa_ab = transpose(&net.w_ab, n, n);
    net.fa_ba = transpose(&net.w_ba, n, n);
    net.fa_bo = transpose(&net.w_bo, 3, n);
    for code_parity in [false, true] {
        let bp = replay(
            &net,
            &h0,
            &x,
            &obj,
            ReplayOptions {
                feedback: Feedback::Bp,
                code_parity,
            },
        );
        let fa = replay(
            &net,
            &h0,
            &x,
            &obj,
            ReplayOptions {
                feedback: Feedback::Fa,
                code_parity,
            },
        );
        for (a, b) in fa.tensors().iter().zip(bp.tensors()) {
            assert!(max_rel(a, b) < 1e-12);
        }
    }
    // with its own random matrices FA differs (except the readout's gradient)
    let random = self::net(n, 7);
    let bp = replay(&random, &h0, &x, &obj, ReplayOptions::default());
    let fa = replay(
        &random,
        &h0,
        &x,
        &obj,
        ReplayOptions {
            feedback: Feedback::Fa,
            code_parity: false,
        },
    );
    assert!(max_rel(&fa.w_ab, &bp.w_ab) > 0.1);
    assert!(max_rel(&fa.w_bo, &bp.w_bo) < 1e-12);
}

#[test]
fn solving_the_backward_weights_recovers_minus_w() {
    // the reference's exp0: forward runs on random inputs, then a least-squares fit
    let n = 16;
    let mut net = net(n, 9);
    let mut samples = ForwardSamples::new(n);
    for run in 0..4 {
        let mut h = start(n, 10 + run);
        let mut r = Streams::new(run).stream("inputs", 0);
        let x: Vec<f64> = (0..100 * 3).map(|_| r.uniform_in(0.0, 0.5)).collect();
        net.record(&mut h, &x, &mut samples);
    }
    assert_eq!(samples.len(), 400);
    net.back_ab.fill(0.0);
    net.back_ba.fill(0.0);
    net.solve_backward(&samples).unwrap();
    let minus = |w: &[f64]| w.iter().map(|v| -v).collect::<Vec<_>>();
    assert!(max_rel(&net.back_ab, &minus(&net.w_ab)) < 1e-8);
    assert!(max_rel(&net.back_ba, &minus(&net.w_ba)) < 1e-8);
    // too few samples is an error, not a panic
    let mut few = ForwardSamples::new(n);
    net.record(&mut start(n, 1), &[0.1; 3 * 5], &mut few);
    let e = net.solve_backward(&few).unwrap_err().to_string();
    assert!(e.contains("n + 1 = 17"), "{e}");
    // as many samples, but their rates on a line: the fit is refused, not made up
    let mut line = ForwardSamples::new(n);
    for k in 0..400 {
        let t = k as f64 / 400.0;
        line.rates_a
            .extend((0..n).map(|j| t * (j as f64 + 1.0) / n as f64));
        line.rates_b
            .extend((0..n).map(|j| 0.5 - t * j as f64 / n as f64));
        line.current_a.extend((0..n).map(|j| t + j as f64));
        line.current_b.extend((0..n).map(|j| t - j as f64));
    }
    let e = net.solve_backward(&line).unwrap_err().to_string();
    assert!(e.contains("span 1 of 16"), "{e}");
}

#[test]
fn code_parity_reproduces_the_published_gradient_on_a_scalar_network() {
    // one unit per population, two steps, worked by hand from models.py
    let mut net = R2n2::<f64>::new(
        Shape {
            n: 1,
            n_in: 1,
            n_out: 1,
            tau: 10.0,
            g_forward: 1.5,
            g_backward: 1.0,
        },
        &Streams::new(1),
    )
    .unwrap();
    let (wia, wba, wab, wbo) = (0.7, -1.3, 1.1, 0.9);
    net.w_ia = vec![wia];
    net.w_ba = vec![wba];
    net.w_ab = vec![wab];
    net.w_bo = vec![wbo];
    net.hard_reset_backward();
    let (c, d) = (0.9, 0.1);
    let (a0, b0) = (0.15, -0.2);
    let (x, y) = ([0.5, -0.4], [0.3, -0.6]);
    let a1 = c * a0 + d * (wba * f64::tanh(b0) + wia * x[0]);
    let b1 = c * b0 + d * wab * a1.tanh();
    let a2 = c * a1 + d * (wba * b1.tanh() + wia * x[1]);
    let b2 = c * b1 + d * wab * a2.tanh();
    let (e0, e1) = (wbo * b1.tanh() - y[0], wbo * b2.tanh() - y[1]);
    let soft = |v: f64| 1.0 / (10.0 * (v / 10.0).tanh()).cosh().powi(2);
    let exact = |v: f64| 1.0 - v.tanh().powi(2);
    // published: the later adjoints are the carry
    let gb2 = soft(b2) * wbo * e1;
    let ga2 = d * soft(a2) * wab * gb2;
    let gb1 = gb2 + soft(b1) * wbo * e0;
    let ga1 = ga2 + d * soft(a1) * wab * gb1;
    let published = [
        d * (ga2 * x[1] + ga1 * x[0]),
        d * (ga2 * b1.tanh() + ga1 * b0.tanh()),
        d * (gb2 * a2.tanh() + gb1 * a1.tanh()),
        e1 * b2.tanh() + e0 * b1.tanh(),
    ];
    // exact: leak and the path through W_BA
    let gb2 = exact(b2) * wbo * e1;
    let ga2 = d * exact(a2) * wab * gb2;
    let gb1 = c * gb2 + d * exact(b1) * wba * ga2 + exact(b1) * wbo * e0;
    let ga1 = c * ga2 + d * exact(a1) * wab * gb1;
    let correct = [
        d * (ga2 * x[1] + ga1 * x[0]),
        d * (ga2 * b1.tanh() + ga1 * b0.tanh()),
        d * (gb2 * a2.tanh() + gb1 * a1.tanh()),
        e1 * b2.tanh() + e0 * b1.tanh(),
    ];
    let h0 = State {
        a: vec![a0],
        b: vec![b0],
    };
    let obj = Objective::Mse(&y);
    for (code_parity, want) in [(true, published), (false, correct)] {
        let g = replay(
            &net,
            &h0,
            &x,
            &obj,
            ReplayOptions {
                feedback: Feedback::Bp,
                code_parity,
            },
        );
        for (got, want) in g.tensors().iter().zip(want) {
            assert!(
                (got[0] - want).abs() < 1e-14 * want.abs().max(1e-3),
                "parity {code_parity}: {} vs {want}",
                got[0]
            );
        }
    }
    assert!((published[1] - correct[1]).abs() > 1e-6, "the two differ");
}

#[test]
fn the_published_gradient_points_near_the_exact_one_at_t_8() {
    // section 2.4/3.5: cosine 0.98-0.9997 at T = 8 over seeds (T = 40 varies widely; see docs)
    for seed in 0..5 {
        let n = 5;
        let net = net(n, 100 + seed);
        let h0 = start(n, seed);
        let (x, y) = data(8, seed);
        let obj = Objective::Mse(&y);
        let exact = replay(&net, &h0, &x, &obj, ReplayOptions::default());
        let parity = replay(
            &net,
            &h0,
            &x,
            &obj,
            ReplayOptions {
                feedback: Feedback::Bp,
                code_parity: true,
            },
        );
        assert_eq!(
            exact
                .w_bo
                .iter()
                .zip(&parity.w_bo)
                .filter(|(a, b)| a != b)
                .count(),
            0
        );
        for (a, b) in parity.tensors().iter().zip(exact.tensors()).take(3) {
            let cos = cosine(a, b);
            assert!(cos > 0.9 && cos < 1.0 - 1e-9, "seed {seed}: cosine {cos}");
        }
    }
}
