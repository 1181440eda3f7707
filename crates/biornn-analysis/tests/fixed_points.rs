//! Fixed points of systems whose answers are known, and the analytic Jacobians against finite
//! differences.

use biornn_analysis::*;
use biornn_model::{Activation, StateConvention};
use biornn_numerics::Streams;

fn random_ctrnn(n: usize, act: Activation, conv: StateConvention, seed: u64) -> CtrnnDynamics {
    let mut r = Streams::new(seed).stream("test", 0);
    CtrnnDynamics {
        activation: act,
        convention: conv,
        alpha: (0..n).map(|i| 0.1 + 0.05 * i as f64).collect(),
        w_rec: (0..n * n)
            .map(|_| 1.5 * r.normal() / (n as f64).sqrt())
            .collect(),
        drive: (0..n).map(|_| 0.3 * r.normal()).collect(),
        dt: 20.0,
    }
}

#[test]
fn ctrnn_jacobian_matches_finite_differences() {
    let n = 6;
    for conv in [StateConvention::Rate, StateConvention::Current] {
        for act in [
            Activation::Tanh,
            Activation::Softplus,
            Activation::Sigmoid,
            Activation::Relu,
        ] {
            let d = random_ctrnn(n, act, conv, 1);
            let mut r = Streams::new(2).stream("x", 0);
            let x: Vec<f64> = (0..n).map(|_| 0.2 + 0.5 * r.normal()).collect();
            let mut jac = vec![0.0; n * n];
            d.jacobian(&x, &mut jac);
            let h = 1e-6;
            let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
            for j in 0..n {
                let mut xp = x.clone();
                let mut xm = x.clone();
                xp[j] += h;
                xm[j] -= h;
                d.step(&xp, &mut fp);
                d.step(&xm, &mut fm);
                for i in 0..n {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    assert!(
                        (fd - jac[i * n + j]).abs() < 1e-7,
                        "{act:?} {conv:?} J[{i},{j}]: {fd} vs {}",
                        jac[i * n + j]
                    );
                }
            }
            // the batched products agree with the single-state forms
            let k = 3;
            let xs: Vec<f64> = (0..n * k).map(|_| r.normal()).collect();
            let vs: Vec<f64> = (0..n * k).map(|_| r.normal()).collect();
            let mut batched = vec![0.0; n * k];
            d.vjp_many(&xs, &vs, &mut batched);
            for c in 0..k {
                d.jacobian(&xs[c * n..(c + 1) * n], &mut jac);
                for j in 0..n {
                    let want: f64 = (0..n).map(|i| jac[i * n + j] * vs[c * n + i]).sum();
                    assert!((batched[c * n + j] - want).abs() < 1e-12);
                }
            }
        }
    }
}

#[test]
fn affine_map_has_its_one_fixed_point_and_its_eigenvalues() {
    // upper triangular: eigenvalues are the diagonal
    let a = vec![0.5, 0.3, -0.2, 0.0, -0.3, 0.4, 0.0, 0.0, 0.8];
    let c = vec![1.0, -2.0, 0.5];
    let map = AffineMap {
        a: a.clone(),
        c: c.clone(),
        dt: 10.0,
    };
    // x* = (I - A)^{-1} c, by back substitution
    let x2 = c[2] / (1.0 - 0.8);
    let x1 = (c[1] + 0.4 * x2) / 1.3;
    let x0 = (c[0] + 0.3 * x1 - 0.2 * x2) / 0.5;
    let mut r = Streams::new(3).stream("inits", 0);
    let inits: Vec<f64> = (0..3 * 32).map(|_| 3.0 * r.normal()).collect();
    let opts = FixedPointOptions {
        outlier_distance_scale: None,
        ..Default::default()
    };
    let res = find_fixed_points(&map, &inits, &opts).unwrap();
    assert_eq!(res.points.len(), 1);
    let p = &res.points[0];
    for (got, want) in p.x.iter().zip([x0, x1, x2]) {
        assert!((got - want).abs() < 1e-9, "{:?}", p.x);
    }
    assert!(p.q < 1e-20, "q {}", p.q);
    let ev: Vec<f64> = p.lin.eigenvalues.iter().map(|l| l.re).collect();
    for (got, want) in ev.iter().zip([0.8, 0.5, -0.3]) {
        assert!((got - want).abs() < 1e-12, "{ev:?}");
    }
    assert!(p.lin.is_stable());
    // slowest mode: -dt / ln 0.8 ms in discrete time, -1 / ((0.8 - 1) / dt) in continuous time
    assert!((p.lin.discrete_time_constants()[0] - (-10.0 / 0.8f64.ln())).abs() < 1e-9);
    assert!((p.lin.continuous_time_constants()[0] - 50.0).abs() < 1e-9);
    // left and right eigenvectors: A v = l v, w A = l w, w . v = 1
    let n = 3;
    for c in 0..n {
        let l = p.lin.eigenvalues[c];
        for i in 0..n {
            let av: faer::c64 = (0..n).map(|j| p.lin.right[j * n + c] * a[i * n + j]).sum();
            assert!((av - l * p.lin.right[i * n + c]).norm() < 1e-12);
            let wa: faer::c64 = (0..n).map(|j| p.lin.left[c * n + j] * a[j * n + i]).sum();
            assert!((wa - l * p.lin.left[c * n + i]).norm() < 1e-12);
        }
        let wv: faer::c64 = (0..n)
            .map(|i| p.lin.left[c * n + i] * p.lin.right[i * n + c])
            .sum();
        assert!((wv - faer::c64::new(1.0, 0.0)).norm() < 1e-12);
    }
}

#[test]
fn diagonal_network_has_all_27_known_fixed_points() {
    // three uncoupled units, x -> (1 - a) x + a tanh(2 x): each has fixed points 0 (unstable) and
    // +-x* with x* = tanh(2 x*) (stable), so the network has 3^3 = 27, 8 of them stable.
    let n = 3;
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        w[i * n + i] = 2.0;
    }
    let d = CtrnnDynamics {
        activation: Activation::Tanh,
        convention: StateConvention::Rate,
        alpha: vec![0.2; n],
        w_rec: w,
        drive: vec![0.0; n],
        dt: 20.0,
    };
    let mut xs = 0.9f64;
    for _ in 0..200 {
        xs = (2.0 * xs).tanh();
    }
    let grid = [-1.3, -0.7, -0.2, 0.0, 0.2, 0.7, 1.3];
    let mut inits = vec![];
    for a in grid {
        for b in grid {
            for c in grid {
                inits.extend([a, b, c]);
            }
        }
    }
    let opts = FixedPointOptions::default();
    let res = find_fixed_points(&d, &inits, &opts).unwrap();
    assert_eq!(
        res.points.len(),
        27,
        "{:?}",
        res.points.iter().map(|p| &p.x).collect::<Vec<_>>()
    );
    let mut seen = std::collections::BTreeSet::new();
    for p in &res.points {
        let mut fx = vec![0.0; n];
        d.step(&p.x, &mut fx);
        let resid =
            p.x.iter()
                .zip(&fx)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
        assert!(resid < 1e-10, "|F(x) - x| = {resid} at {:?}", p.x);
        let code: Vec<i32> =
            p.x.iter()
                .map(|v| {
                    if v.abs() < 1e-9 {
                        0
                    } else {
                        assert!((v.abs() - xs).abs() < 1e-9, "{v}");
                        v.signum() as i32
                    }
                })
                .collect();
        let zeros = code.iter().filter(|c| **c == 0).count();
        assert_eq!(p.lin.n_unstable(), zeros, "at {:?}", p.x);
        assert_eq!(p.lin.is_stable(), zeros == 0);
        seen.insert(code);
    }
    assert_eq!(seen.len(), 27);
}

#[test]
fn outliers_and_duplicates_are_dropped() {
    // x -> 0.5 x: one fixed point at 0; a start far away is kept or dropped by the distance rule
    let map = AffineMap {
        a: vec![0.5, 0.0, 0.0, 0.5],
        c: vec![0.0, 0.0],
        dt: 1.0,
    };
    let inits = vec![1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0];
    let res = find_fixed_points(&map, &inits, &FixedPointOptions::default()).unwrap();
    assert_eq!(
        res.points.len(),
        1,
        "four copies of the same point merge into one"
    );
    assert_eq!(res.all_q.len(), 4);
    // all four inits lie at distance 1 from their centroid (0, 0); the point sits at distance 0
    let strict = FixedPointOptions {
        outlier_distance_scale: Some(1e-9),
        ..Default::default()
    };
    let res = find_fixed_points(&map, &inits, &strict).unwrap();
    assert_eq!(res.points.len(), 1, "distance 0 is not beyond any scale");
    let shifted: Vec<f64> = inits.iter().map(|v| v + 5.0).collect();
    let res = find_fixed_points(
        &map,
        &shifted,
        &FixedPointOptions {
            outlier_distance_scale: Some(2.0),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (res.points.len(), res.n_outliers),
        (0, 1),
        "the point at 0 is 7 mean distances from (5, 5)"
    );
    assert!(find_fixed_points(&map, &inits[..3], &FixedPointOptions::default()).is_err());
    assert!(find_fixed_points(
        &map,
        &inits,
        &FixedPointOptions {
            n_inits: 0,
            ..Default::default()
        }
    )
    .is_err());
}
