//! Fixed and slow points (Sussillo and Barak 2013): minimise q(x) = 1/2 |F(x) - x|^2 from many
//! initial states at once, refine by Newton steps, drop duplicates and far-away outliers, and
//! linearise the map at each point that remains.
//!
//! Defaults and the order of the steps follow mattgolub/fixed-point-finder
//! (`FixedPointFinderBase.py`): `tol_q` 1e-12, `tol_dq` 1e-20, `max_iters` 5000, Adam from a rate
//! of 1.0 with epsilon 0.01 and its adaptive rate (x0.95 when q is worse than each of the last five
//! values, x1/0.95 after five falling steps, five steps' pause after a change), `tol_unique` 1e-3
//! (L2 distance, keeping the lowest q), and `outlier_distance_scale` 10 (distance to the centroid of
//! the initial states over their mean distance to it). Two differences: each point has its own
//! adaptive rate, so one wild point cannot slow the others down, and a Newton refinement follows.

use crate::dynamics::Dynamics;
use crate::linearise::{linearise, Linearisation};
use biornn_numerics::{Error, Result, RngStream};
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct FixedPointOptions {
    pub n_inits: usize,
    /// std of the Gaussian noise added to states sampled from trajectories
    pub noise_scale: f64,
    pub tol_q: f64,
    pub tol_dq: f64,
    pub max_iters: usize,
    pub lr_init: f64,
    pub adam_epsilon: f64,
    /// Newton steps on F(x) - x = 0 after the gradient phase (0: none)
    pub newton_steps: usize,
    pub tol_unique: f64,
    /// drop points farther than this many mean initial distances from the centroid of the initial
    /// states (None: keep all)
    pub outlier_distance_scale: Option<f64>,
    /// points with q at or below this are fixed points; above it, slow points
    pub fixed_q: f64,
}

impl Default for FixedPointOptions {
    fn default() -> Self {
        FixedPointOptions {
            n_inits: 256,
            noise_scale: 0.0,
            tol_q: 1e-12,
            tol_dq: 1e-20,
            max_iters: 5000,
            lr_init: 1.0,
            adam_epsilon: 0.01,
            newton_steps: 20,
            tol_unique: 1e-3,
            outlier_distance_scale: Some(10.0),
            fixed_q: 1e-10,
        }
    }
}

impl FixedPointOptions {
    pub fn validate(&self) -> Result<()> {
        if self.n_inits == 0 {
            return Err(Error::invalid("n_inits", 0, "allowed: at least 1"));
        }
        for (field, v) in [
            ("noise_scale", self.noise_scale),
            ("tol_q", self.tol_q),
            ("tol_dq", self.tol_dq),
            ("tol_unique", self.tol_unique),
            ("fixed_q", self.fixed_q),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::invalid(field, v, "allowed: a finite number >= 0"));
            }
        }
        if !(self.lr_init > 0.0 && self.lr_init.is_finite()) {
            return Err(Error::invalid("lr_init", self.lr_init, "allowed: > 0"));
        }
        if let Some(s) = self.outlier_distance_scale {
            if s.is_nan() || s <= 0.0 {
                return Err(Error::invalid("outlier_distance_scale", s, "allowed: > 0"));
            }
        }
        Ok(())
    }
}

/// One point found, with the linearised dynamics around it.
#[derive(Debug, Clone)]
pub struct FixedPoint {
    pub x: Vec<f64>,
    /// 1/2 |F(x) - x|^2
    pub q: f64,
    /// index of the initial state it came from
    pub init: usize,
    pub lin: Linearisation,
}

impl FixedPoint {
    pub fn is_fixed(&self, opts: &FixedPointOptions) -> bool {
        self.q <= opts.fixed_q
    }
}

#[derive(Debug, Clone)]
pub struct FixedPointResult {
    pub points: Vec<FixedPoint>,
    /// the initial states, row by row (`n_inits` x dim)
    pub inits: Vec<f64>,
    /// q of every candidate after optimisation, before de-duplication
    pub all_q: Vec<f64>,
    pub iterations: usize,
    pub n_outliers: usize,
}

/// Sample `n` states (rows) uniformly with replacement from a set of candidate states (rows of
/// `states`, `dim` long each), plus `noise_scale` Gaussian noise.
pub fn sample_states(
    states: &[f64],
    dim: usize,
    n: usize,
    noise_scale: f64,
    rng: &mut RngStream,
) -> Vec<f64> {
    let count = states.len() / dim;
    assert!(count > 0, "no states to sample from");
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let k = rng.below(count);
        out.extend_from_slice(&states[k * dim..(k + 1) * dim]);
    }
    if noise_scale > 0.0 {
        for v in out.iter_mut() {
            *v += noise_scale * rng.normal();
        }
    }
    out
}

fn q_of(x: &[f64], fx: &[f64]) -> f64 {
    0.5 * x
        .iter()
        .zip(fx)
        .map(|(a, b)| (b - a) * (b - a))
        .sum::<f64>()
}

/// The adaptive learning rate of fixed-point-finder (recurrent-whisperer `AdaptiveLearningRate`).
#[derive(Debug, Clone)]
struct AdaptiveRate {
    rate: f64,
    history: Vec<f64>,
    falling: usize,
    since_change: usize,
}

impl AdaptiveRate {
    const FACTOR: f64 = 0.95;
    const WINDOW: usize = 5;

    fn new(rate: f64) -> Self {
        AdaptiveRate {
            rate,
            history: vec![],
            falling: 0,
            since_change: Self::WINDOW,
        }
    }

    fn update(&mut self, q: f64) {
        let worse_than_all = self.history.len() >= Self::WINDOW
            && self.history[self.history.len() - Self::WINDOW..]
                .iter()
                .all(|h| q > *h);
        let fell = self.history.last().is_some_and(|h| q < *h);
        self.falling = if fell { self.falling + 1 } else { 0 };
        self.since_change += 1;
        if self.since_change > Self::WINDOW {
            if worse_than_all {
                self.rate *= Self::FACTOR;
                self.since_change = 0;
            } else if self.falling >= Self::WINDOW {
                self.rate /= Self::FACTOR;
                self.since_change = 0;
                self.falling = 0;
            }
        }
        self.history.push(q);
        if self.history.len() > Self::WINDOW {
            self.history.remove(0);
        }
    }
}

/// Find the fixed and slow points of `dynamics` from the initial states `inits` (rows).
pub fn find_fixed_points(
    dynamics: &dyn Dynamics,
    inits: &[f64],
    opts: &FixedPointOptions,
) -> Result<FixedPointResult> {
    opts.validate()?;
    let n = dynamics.dim();
    if inits.is_empty() || !inits.len().is_multiple_of(n) {
        return Err(Error::invalid(
            "inits",
            inits.len(),
            "allowed: a non-empty multiple of the state dimension",
        ));
    }
    let k = inits.len() / n;
    let mut x = inits.to_vec();
    let (iterations, mut q) = minimise_q(dynamics, &mut x, opts);
    let all_q = q.clone();
    // Newton refinement, point by point in parallel (each point's result is its own, so the
    // outcome does not depend on the thread count).
    if opts.newton_steps > 0 {
        x.par_chunks_mut(n)
            .zip(q.par_iter_mut())
            .for_each(|(xc, qc)| *qc = newton_refine(dynamics, xc, *qc, opts));
    }

    // de-duplicate: scan in order, merge each point's unchecked matches, keep the lowest q
    let mut taken = vec![false; k];
    let mut keep = vec![];
    for i in 0..k {
        if taken[i] || !q[i].is_finite() {
            continue;
        }
        let mut best = i;
        for j in i..k {
            if !taken[j]
                && q[j].is_finite()
                && dist(&x[i * n..(i + 1) * n], &x[j * n..(j + 1) * n]) <= opts.tol_unique
            {
                taken[j] = true;
                if q[j] < q[best] {
                    best = j;
                }
            }
        }
        keep.push(best);
    }

    // distance outliers, relative to the spread of the initial states
    let mut n_outliers = 0;
    if let Some(scale) = opts.outlier_distance_scale {
        let mut centroid = vec![0.0; n];
        for row in inits.chunks_exact(n) {
            for (c, v) in centroid.iter_mut().zip(row) {
                *c += v / k as f64;
            }
        }
        let mean_dist = inits
            .chunks_exact(n)
            .map(|r| dist(r, &centroid))
            .sum::<f64>()
            / k as f64;
        let before = keep.len();
        keep.retain(|&i| {
            mean_dist == 0.0 || dist(&x[i * n..(i + 1) * n], &centroid) / mean_dist < scale
        });
        n_outliers = before - keep.len();
    }

    let points: Vec<FixedPoint> = keep
        .par_iter()
        .map(|&i| {
            let xi = x[i * n..(i + 1) * n].to_vec();
            let lin = linearise(dynamics, &xi);
            FixedPoint {
                x: xi,
                q: q[i],
                init: i,
                lin,
            }
        })
        .collect();
    Ok(FixedPointResult {
        points,
        inits: inits.to_vec(),
        all_q,
        iterations,
        n_outliers,
    })
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Adam on q for every point at once (columns of `x`), each with its own adaptive rate, until every
/// point has q < tol_q or |dq| < tol_dq * rate, or `max_iters`. Returns the iterations run and q.
fn minimise_q(
    dynamics: &dyn Dynamics,
    x: &mut [f64],
    opts: &FixedPointOptions,
) -> (usize, Vec<f64>) {
    let n = dynamics.dim();
    let k = x.len() / n;
    let (b1, b2) = (0.9, 0.999);
    let mut fx = vec![0.0; n * k];
    let mut resid = vec![0.0; n * k];
    let mut grad = vec![0.0; n * k];
    let mut m = vec![0.0; n * k];
    let mut v = vec![0.0; n * k];
    let mut rates = vec![AdaptiveRate::new(opts.lr_init); k];
    let mut q = vec![f64::INFINITY; k];
    let mut done = vec![false; k];
    let mut iter = 0;
    while iter < opts.max_iters {
        dynamics.step_many(x, &mut fx);
        for (c, qc) in q.iter_mut().enumerate() {
            let cols = c * n..(c + 1) * n;
            let new_q = q_of(&x[cols.clone()], &fx[cols]);
            if iter > 0 && !done[c] {
                let dq = (new_q - *qc).abs();
                if new_q < opts.tol_q || dq < opts.tol_dq * rates[c].rate {
                    done[c] = true;
                }
            }
            if !done[c] {
                rates[c].update(new_q);
            }
            *qc = new_q;
        }
        if done.iter().all(|d| *d) {
            break;
        }
        // dq/dx = (J - I)^T (F(x) - x)
        for i in 0..n * k {
            resid[i] = fx[i] - x[i];
        }
        dynamics.vjp_many(x, &resid, &mut grad);
        iter += 1;
        let (c1, c2) = (
            1.0 - f64::powi(b1, iter as i32),
            1.0 - f64::powi(b2, iter as i32),
        );
        for c in 0..k {
            if done[c] {
                continue;
            }
            let lr = rates[c].rate;
            for i in c * n..(c + 1) * n {
                let g = grad[i] - resid[i];
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                x[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + opts.adam_epsilon);
            }
        }
    }
    dynamics.step_many(x, &mut fx);
    for (c, qc) in q.iter_mut().enumerate() {
        *qc = q_of(&x[c * n..(c + 1) * n], &fx[c * n..(c + 1) * n]);
    }
    (iter, q)
}

/// Newton's method on F(x) - x = 0 with step halving: each accepted step lowers q. Slow points,
/// where q has a non-zero minimum, simply stop improving. Returns the final q.
fn newton_refine(
    dynamics: &dyn Dynamics,
    x: &mut [f64],
    mut q: f64,
    opts: &FixedPointOptions,
) -> f64 {
    use faer::linalg::solvers::Solve;
    let n = x.len();
    let mut fx = vec![0.0; n];
    let mut jac = vec![0.0; n * n];
    let mut trial = vec![0.0; n];
    let mut f_trial = vec![0.0; n];
    for _ in 0..opts.newton_steps {
        if q == 0.0 || !q.is_finite() {
            break;
        }
        dynamics.step(x, &mut fx);
        dynamics.jacobian(x, &mut jac);
        let a =
            faer::Mat::<f64>::from_fn(n, n, |i, j| jac[i * n + j] - if i == j { 1.0 } else { 0.0 });
        let rhs = faer::Mat::<f64>::from_fn(n, 1, |i, _| x[i] - fx[i]);
        let dx = a.partial_piv_lu().solve(&rhs);
        let mut step = 1.0;
        let mut improved = false;
        for _ in 0..8 {
            for i in 0..n {
                trial[i] = x[i] + step * dx[(i, 0)];
            }
            dynamics.step(&trial, &mut f_trial);
            let q_trial = q_of(&trial, &f_trial);
            if q_trial.is_finite() && q_trial < q {
                x.copy_from_slice(&trial);
                q = q_trial;
                improved = true;
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
    }
    q
}
