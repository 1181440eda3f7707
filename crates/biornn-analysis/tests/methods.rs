//! PCA, psychometric fits, task variance and clustering on data with known answers.

use biornn_analysis::pca::Pca;
use biornn_analysis::psychometric::{choice, fit_logistic, trial_spec, Logistic};
use biornn_analysis::variance::{cluster_units, kmeans, silhouette, variance_across_trials};
use biornn_numerics::Streams;
use biornn_tasks::yang::{bump, YangRule};

#[test]
fn pca_agrees_with_the_eigenvectors_of_the_covariance() {
    let (rows, dim) = (200, 5);
    let mut r = Streams::new(1).stream("pca", 0);
    // anisotropic data: scales 3, 2, 1, 0.5, 0.1 along a random rotation
    let scales = [3.0, 2.0, 1.0, 0.5, 0.1];
    let q = faer::Mat::<f64>::from_fn(dim, dim, |_, _| r.normal())
        .qr()
        .compute_Q();
    let mut data = vec![0.0; rows * dim];
    for i in 0..rows {
        let z: Vec<f64> = scales.iter().map(|s| s * r.normal()).collect();
        for j in 0..dim {
            data[i * dim + j] = 1.5 + (0..dim).map(|k| q[(j, k)] * z[k]).sum::<f64>();
        }
    }
    let pca = Pca::fit(&data, dim, 3);
    // covariance matrix and its eigen-decomposition, independently
    let mean: Vec<f64> = (0..dim)
        .map(|j| (0..rows).map(|i| data[i * dim + j]).sum::<f64>() / rows as f64)
        .collect();
    let cov = faer::Mat::<f64>::from_fn(dim, dim, |a, b| {
        (0..rows)
            .map(|i| (data[i * dim + a] - mean[a]) * (data[i * dim + b] - mean[b]))
            .sum::<f64>()
            / (rows - 1) as f64
    });
    let evd = cov.self_adjoint_eigen(faer::Side::Lower).unwrap();
    let (s, u) = (evd.S().column_vector(), evd.U());
    for c in 0..3 {
        let e = dim - 1 - c; // ascending order
        assert!((pca.variance[c] - s[e]).abs() < 1e-9 * s[e], "variance {c}");
        let dot: f64 = (0..dim).map(|j| pca.components[c][j] * u[(j, e)]).sum();
        assert!((dot.abs() - 1.0).abs() < 1e-9, "component {c}: |cos| {dot}");
    }
    let total: f64 = (0..dim).map(|j| cov[(j, j)]).sum();
    assert!((pca.total_variance - total).abs() < 1e-9 * total);
    // projecting the mean gives the origin
    assert!(pca.project(&mean).iter().all(|c| c.abs() < 1e-12));
}

#[test]
fn logistic_fit_recovers_simulated_choices() {
    let truth = Logistic {
        bias: 0.013,
        scale: 0.021,
    };
    let mut r = Streams::new(4).stream("choices", 0);
    let x: Vec<f64> = (-6..=6).map(|i| i as f64 * 0.015).collect();
    let n_per = 2000.0;
    let mut k = vec![];
    for &xi in &x {
        let p = truth.p(xi);
        k.push((0..n_per as usize).filter(|_| r.bernoulli(p)).count() as f64);
    }
    let fit = fit_logistic(&x, &k, &vec![n_per; x.len()]).unwrap();
    assert!((fit.bias - truth.bias).abs() < 0.002, "{fit:?}");
    assert!(
        (fit.scale - truth.scale).abs() / truth.scale < 0.05,
        "{fit:?}"
    );
    // exact data are fitted exactly
    let exact: Vec<f64> = x.iter().map(|xi| 1e6 * truth.p(*xi)).collect();
    let fit = fit_logistic(&x, &exact, &vec![1e6; x.len()]).unwrap();
    assert!(
        (fit.bias - truth.bias).abs() < 1e-9 && (fit.scale - truth.scale).abs() < 1e-9,
        "{fit:?}"
    );
    // choices that ignore the stimulus have no logistic
    assert!(fit_logistic(&x, &vec![10.0; x.len()], &vec![20.0; x.len()]).is_err());
    assert!(fit_logistic(&[0.1], &[1.0], &[2.0]).is_err());
}

#[test]
fn psychometric_trials_and_choices_follow_gyyang() {
    let s = trial_spec(YangRule::Dm1, 0.04, 400.0, 1.0, 20.0).unwrap();
    assert_eq!(
        (s.stim1_on, s.stim1_off, s.fix_off, s.t_end),
        (15, 35, 35, 55)
    );
    assert_eq!(s.stim1_strength, [1.04, 0.0]);
    assert_eq!(s.stim2_strength, [0.96, 0.0]);
    assert!((s.stim2_loc - (1.0 + std::f64::consts::PI)).abs() < 1e-12);
    let c = trial_spec(YangRule::ContextDm2, -0.02, 200.0, 0.0, 20.0).unwrap();
    assert_eq!(
        (c.stim1_strength, c.stim2_strength),
        ([1.0, 0.98], [1.0, 1.02])
    );
    assert!(trial_spec(YangRule::FdGo, 0.0, 400.0, 0.0, 20.0).is_err());
    // an output bump at stimulus 1 chooses it; one at right angles chooses neither
    let at = |loc: f64| bump(loc, 1.0);
    assert_eq!(
        choice(&at(1.0), 1.0, 1.0 + std::f64::consts::PI),
        Some(true)
    );
    assert_eq!(
        choice(&at(4.1), 1.0, 1.0 + std::f64::consts::PI),
        Some(false)
    );
    assert_eq!(choice(&at(2.6), 1.0, 1.0 + std::f64::consts::PI), None);
}

#[test]
fn task_variance_by_hand() {
    // T = 3, B = 2, n = 2; unit 0 differs across trials by 2 at t = 1 and 2, unit 1 never
    let rates = [
        0.0, 5.0, 9.0, 5.0, // t = 0 (left out)
        0.0, 1.0, 2.0, 1.0, // t = 1
        1.0, 1.0, 3.0, 1.0, // t = 2
    ];
    let v = variance_across_trials(&rates, 3, 2, 2, 1, 3);
    assert_eq!(v, vec![1.0, 0.0]);
}

#[test]
fn kmeans_and_silhouette_find_separated_groups() {
    let mut r = Streams::new(5).stream("clusters", 0);
    let centres = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let mut data = vec![];
    let mut truth = vec![];
    for i in 0..60 {
        let c = i % 3;
        truth.push(c);
        data.extend(centres[c].iter().map(|v| v + 0.03 * r.normal()));
    }
    let km = kmeans(&data, 3, 3, 5, &mut r);
    for i in 0..60 {
        for j in 0..60 {
            assert_eq!(truth[i] == truth[j], km.labels[i] == km.labels[j]);
        }
    }
    let s3 = silhouette(&data, 3, &km.labels, 3);
    assert!(s3 > 0.9, "{s3}");
    let km2 = kmeans(&data, 3, 2, 5, &mut r);
    assert!(silhouette(&data, 3, &km2.labels, 2) < s3);
    // as task-variance profiles (unnormalised, plus two silent units): k = 3 is chosen, silent units
    // are inactive, clusters are numbered by preferred task
    let mut variance: Vec<f64> = data.iter().map(|v| 0.5 * v.abs()).collect();
    variance.extend([0.0; 6]);
    let cl = cluster_units(&variance, 3, &mut r);
    assert_eq!(cl.k, 3);
    assert_eq!(cl.active.len(), 60);
    for (i, &l) in cl.labels.iter().enumerate() {
        let preferred = [2, 0, 1][truth[i]];
        assert_eq!(l, preferred, "unit {i}");
    }
}
