//! Matrix-free analysis: the Jacobian-vector product against finite differences, Arnoldi against
//! the dense Jacobian's eigenvalues (faer), power iteration against a known eigenvector.

mod common;

use biornn_numerics::krylov::{arnoldi, power_iteration, Dense, LinearOp};
use biornn_numerics::Streams;
use biornn_vision::cordsnet::StepScratch;
use biornn_vision::jacobian::{AreaBlock, StepJacobian};
use biornn_vision::{Activation, CordsNet, CordsNetShape};
use faer::c64;

fn net() -> (CordsNet, Vec<f64>) {
    let net = CordsNet::new(&CordsNetShape {
        depth: 4,
        in_channels: 1,
        image: (16, 16),
        widths: [2, 3, 2, 2],
        classes: 3,
    })
    .unwrap();
    let mut theta: Vec<f64> = net.init(&Streams::new(4));
    common::random_biases(&net, &mut theta, 5, 0.3);
    (net, theta)
}

fn flat(r: &[Vec<f64>]) -> Vec<f64> {
    r.concat()
}

fn dense(op: &dyn LinearOp) -> Vec<f64> {
    let n = op.dim();
    let mut a = vec![0.0; n * n];
    let (mut e, mut col) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        e.fill(0.0);
        e[j] = 1.0;
        op.apply(&e, &mut col);
        for i in 0..n {
            a[i * n + j] = col[i];
        }
    }
    a
}

fn sorted(mut v: Vec<c64>) -> Vec<c64> {
    v.sort_by(|a, b| b.norm().total_cmp(&a.norm()).then(b.im.total_cmp(&a.im)));
    v
}

#[test]
fn the_jacobian_product_equals_finite_differences_of_the_step() {
    let (net, theta) = net();
    let images: Vec<f64> = (0..256).map(|i| ((i * 37) % 17) as f64 / 17.0).collect();
    let (s, ks) = net.stem(&theta, &images, 1);
    let act = Activation::Relu;
    // a state some steps into the stimulus
    let spont = net.spontaneous(&theta, 20, 0.2, act);
    let mut r = spont.clone();
    let mut z = net.zero_state(1);
    let mut scratch = StepScratch::default();
    for _ in 0..10 {
        net.step(&theta, &mut r, (&s, &ks), 1, 0.2, act, &mut z, &mut scratch);
    }
    // units resting at exactly 0 sit on [r]+'s kink, where finite differences average its two
    // slopes: linearise at a state just off it
    for v in r.iter_mut().flatten() {
        *v += 0.01;
    }
    let j = StepJacobian::at(&net, &theta, &r, (&s, &ks), 0.2, act);
    let mut rng = Streams::new(9).stream("v", 0);
    let v: Vec<f64> = (0..j.dim()).map(|_| rng.normal()).collect();
    let mut jv = vec![0.0; v.len()];
    j.apply(&v, &mut jv);
    let stepped = |sign: f64| {
        let eps = 1e-7;
        let mut at = 0;
        let mut x: Vec<Vec<f64>> = r
            .iter()
            .map(|rl| {
                let o = rl
                    .iter()
                    .enumerate()
                    .map(|(k, x)| x + sign * eps * v[at + k])
                    .collect();
                at += rl.len();
                o
            })
            .collect();
        let mut z = net.zero_state(1);
        let mut scratch = StepScratch::default();
        net.step(&theta, &mut x, (&s, &ks), 1, 0.2, act, &mut z, &mut scratch);
        flat(&x)
    };
    let (plus, minus) = (stepped(1.0), stepped(-1.0));
    for (k, jvk) in jv.iter().enumerate() {
        let fd = (plus[k] - minus[k]) / 2e-7;
        assert!(
            (fd - jvk).abs() < 1e-6 * (1.0 + fd.abs()),
            "unit {k}: fd {fd} against {jvk}"
        );
    }
}

#[test]
fn arnoldi_finds_the_dense_jacobians_eigenvalues_and_the_blocks_make_the_spectrum() {
    let (net, theta) = net();
    let zeros = vec![0.0; net.stem_out.units()];
    let act = Activation::Relu;
    let spont = net.spontaneous(&theta, 30, 0.2, act);
    let j = StepJacobian::at(&net, &theta, &spont, (&zeros, &zeros), 0.2, act);
    let n = j.dim();
    assert_eq!(n, 2 * (2 * 16) + 2 * (3 * 4));
    let a = dense(&j);
    let truth = dense_eigenvalues(&a, n);
    let ritz = arnoldi(&j, n, &mut Streams::new(1).stream("arnoldi", 0)).unwrap();
    // a full Krylov space (or an invariant one) holds every eigenvalue
    let got = sorted(ritz.eigenvalues.clone());
    let k = got.len().min(10);
    for (g, t) in got.iter().zip(&truth).take(k) {
        assert!((g - t).norm() < 1e-8, "{g:?} against {t:?}");
    }
    // a short run finds the largest multiplier
    let short = arnoldi(&j, 40, &mut Streams::new(2).stream("arnoldi", 0)).unwrap();
    assert!(
        (short.eigenvalues[0].norm() - truth[0].norm()).abs() < 1e-6,
        "{:?} against {:?}",
        short.eigenvalues[0],
        truth[0]
    );
    // block lower triangular: the spectrum is the union of 1 - alpha + alpha eig(D_l W_l)
    let mut union = vec![];
    for l in 0..4 {
        let block = AreaBlock::of(&j, l);
        let b = dense(&block);
        let mu = dense_eigenvalues(&b, block.dim());
        union.extend(mu.iter().map(|m| c64::new(0.8 + 0.2 * m.re, 0.2 * m.im)));
    }
    let union = sorted(union);
    for (u, t) in union.iter().zip(&truth) {
        assert!((u - t).norm() < 1e-9, "{u:?} against {t:?}");
    }
}

/// Eigenvalues of a dense row-major matrix by faer, sorted by decreasing modulus.
fn dense_eigenvalues(a: &[f64], n: usize) -> Vec<c64> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    sorted(m.eigenvalues().unwrap())
}

#[test]
fn power_iteration_finds_the_dominant_eigenvector() {
    // A = Q diag(3, 1.5, 1, 0.5, ...) Q^T with Q from Gram-Schmidt on random vectors
    let n = 12;
    let mut rng = Streams::new(3).stream("q", 0);
    let mut q: Vec<Vec<f64>> = vec![];
    while q.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        for u in &q {
            let c: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= c * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        q.push(v.iter().map(|x| x / norm).collect());
    }
    let d: Vec<f64> = (0..n)
        .map(|k| if k == 0 { 3.0 } else { 1.5 / k as f64 })
        .collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| q[k][i] * d[k] * q[k][j]).sum();
        }
    }
    let op = Dense { a: &a, n };
    let p = power_iteration(&op, 200, 10, &mut Streams::new(4).stream("p", 0));
    let overlap: f64 = p.vector.iter().zip(&q[0]).map(|(x, y)| x * y).sum();
    assert!((overlap.abs() - 1.0).abs() < 1e-10, "overlap {overlap}");
    assert!((p.rayleigh - 3.0).abs() < 1e-10);
    assert!(p.residual < 1e-9, "{}", p.residual);
    // three iterations are not enough (the second eigenvalue is half the first): the residual
    // says so
    let early = power_iteration(&op, 3, 10, &mut Streams::new(4).stream("p", 0));
    assert!(early.residual > 1e-3, "{}", early.residual);
}

#[test]
fn the_spontaneous_dynamics_settle_on_a_fixed_point() {
    let (net, theta) = net();
    let act = Activation::Relu;
    let (rest, steps, change) = net.settle(&theta, &net.zero_state(1), 0.2, act, 1e-12, 20_000);
    assert!(
        change <= 1e-12 && steps > 1 && steps < 20_000,
        "{steps} {change}"
    );
    // a fixed point: r = relu(W r + b + A h(r)), no step moves it
    let (again, one, _) = net.settle(&theta, &rest, 0.2, act, 1e-12, 1);
    assert_eq!(one, 1);
    let moved = flat(&again)
        .iter()
        .zip(flat(&rest))
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(moved <= 1e-12, "{moved}");
    // the biases drive some units: the fixed point is not the zero state
    assert!(flat(&rest).iter().any(|v| *v > 1e-3));
    // a budget too short stops early and says how far the last step moved
    let (_, short, last) = net.settle(&theta, &net.zero_state(1), 0.2, act, 1e-12, 3);
    assert!(short == 3 && last > 1e-12);
}
