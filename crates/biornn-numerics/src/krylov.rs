//! Matrix-free eigen-analysis of an operator known only by its products `y = A x` (a network's
//! Jacobian through its convolutions, hundreds of thousands of units): Arnoldi for the extremal
//! eigenvalues, power iteration for the dominant eigenvector. Arnoldi orthogonalises twice
//! (classical Gram-Schmidt, repeated), which keeps the basis orthonormal to rounding where a
//! single modified Gram-Schmidt pass (the reference's `compute_eigenvalues.py`) drifts, and stops
//! at a breakdown (an invariant subspace: its eigenvalues are then exact). The Hessenberg matrix's
//! eigenvalues come from faer, in place of the reference's 5,000 unshifted QR sweeps.

use crate::{Error, Result, RngStream};
use faer::c64;

/// A linear map on vectors of `dim()` values.
pub trait LinearOp {
    fn dim(&self) -> usize;
    /// `y = A x`
    fn apply(&self, x: &[f64], y: &mut [f64]);
}

/// A dense row-major matrix as an operator (for tests and small networks).
pub struct Dense<'a> {
    pub a: &'a [f64],
    pub n: usize,
}

impl LinearOp for Dense<'_> {
    fn dim(&self) -> usize {
        self.n
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = self.a[i * self.n..(i + 1) * self.n]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum();
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What Arnoldi found.
#[derive(Debug, Clone)]
pub struct Ritz {
    /// the Ritz values (eigenvalues of the Hessenberg matrix), by decreasing modulus
    pub eigenvalues: Vec<c64>,
    /// Krylov steps taken (fewer than asked at a breakdown)
    pub steps: usize,
    /// whether the Krylov space became invariant: then the values are exact eigenvalues
    pub breakdown: bool,
}

/// `k` steps of Arnoldi from a uniform random start drawn from `rng` (the reference's U[0, 1)).
/// Memory: (k + 1) vectors of the operator's size.
pub fn arnoldi(op: &dyn LinearOp, k: usize, rng: &mut RngStream) -> Result<Ritz> {
    let n = op.dim();
    if k == 0 || n == 0 {
        return Err(Error::invalid(
            "arnoldi steps",
            k,
            "allowed: at least 1 step on a non-empty operator",
        ));
    }
    let k = k.min(n);
    let mut q0: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    let norm = dot(&q0, &q0).sqrt();
    q0.iter_mut().for_each(|v| *v /= norm);
    let mut basis = vec![q0];
    // h[(row, col)] of the (k + 1) x k Hessenberg matrix, column-major by Krylov step
    let mut h = vec![0.0; (k + 1) * k];
    let mut w = vec![0.0; n];
    let mut steps = 0;
    let mut breakdown = false;
    for j in 0..k {
        op.apply(&basis[j], &mut w);
        let scale = dot(&w, &w).sqrt();
        for _pass in 0..2 {
            for (i, q) in basis.iter().enumerate() {
                let c = dot(q, &w);
                h[j * (k + 1) + i] += c;
                w.iter_mut().zip(q).for_each(|(x, y)| *x -= c * y);
            }
        }
        let beta = dot(&w, &w).sqrt();
        steps = j + 1;
        h[j * (k + 1) + j + 1] = beta;
        if beta <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            breakdown = true;
            break;
        }
        if j + 1 < k {
            basis.push(w.iter().map(|v| v / beta).collect());
        }
    }
    let m = steps;
    let hm = faer::Mat::<f64>::from_fn(m, m, |r, c| h[c * (k + 1) + r]);
    let mut eigenvalues = hm.eigenvalues().map_err(|e| {
        Error::new(format!(
            "the Hessenberg eigenvalues did not converge: {e:?}"
        ))
    })?;
    eigenvalues.sort_by(|a, b| b.norm().total_cmp(&a.norm()));
    Ok(Ritz {
        eigenvalues,
        steps,
        breakdown,
    })
}

/// What [`power_iteration`] found.
#[derive(Debug, Clone)]
pub struct PowerResult {
    /// unit length
    pub vector: Vec<f64>,
    /// v' A v
    pub rayleigh: f64,
    /// |A v - rayleigh v| / |rayleigh|: near 0 once converged to an eigenvector
    pub residual: f64,
}

/// Power iteration from `trials` uniform random starts at once (the reference's
/// `compute_eigenvector.py`): `iterations` of v <- A v / |A v|, each start on its own, then their
/// mean, normalised. Converges when the dominant eigenvalue is real and separated; the residual
/// says whether it did.
pub fn power_iteration(
    op: &dyn LinearOp,
    iterations: usize,
    trials: usize,
    rng: &mut RngStream,
) -> PowerResult {
    let n = op.dim();
    let mut mean = vec![0.0; n];
    let mut y = vec![0.0; n];
    for _ in 0..trials.max(1) {
        let mut v: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        for _ in 0..iterations {
            op.apply(&v, &mut y);
            let norm = dot(&y, &y).sqrt();
            if norm == 0.0 {
                break;
            }
            v.iter_mut().zip(&y).for_each(|(a, b)| *a = b / norm);
        }
        // the sign is arbitrary: align each trial with the first before averaging
        let sign = if dot(&mean, &v) < 0.0 { -1.0 } else { 1.0 };
        mean.iter_mut().zip(&v).for_each(|(m, x)| *m += sign * x);
    }
    let norm = dot(&mean, &mean).sqrt();
    if norm > 0.0 {
        mean.iter_mut().for_each(|v| *v /= norm);
    }
    op.apply(&mean, &mut y);
    let rayleigh = dot(&mean, &y);
    let residual = y
        .iter()
        .zip(&mean)
        .map(|(a, v)| (a - rayleigh * v).powi(2))
        .sum::<f64>()
        .sqrt()
        / rayleigh.abs();
    PowerResult {
        vector: mean,
        rayleigh,
        residual,
    }
}
