//! Linearised dynamics around a point: the analytic Jacobian, its eigenvalues with right and left
//! eigenvectors (faer), stability, and the time constants of each mode in discrete and continuous
//! time.

use crate::dynamics::Dynamics;
use faer::c64;

#[derive(Debug, Clone)]
pub struct Linearisation {
    /// dF/dx, row-major
    pub jacobian: Vec<f64>,
    /// eigenvalues of the discrete-time map, sorted by decreasing modulus
    pub eigenvalues: Vec<c64>,
    /// right eigenvectors, column c for eigenvalue c: `right[i * dim + c]`
    pub right: Vec<c64>,
    /// left eigenvectors (rows of the inverse of `right`, so that left_c . right_c = 1), row c for
    /// eigenvalue c: `left[c * dim + i]`
    pub left: Vec<c64>,
    pub dt: f64,
}

impl Linearisation {
    pub fn dim(&self) -> usize {
        self.eigenvalues.len()
    }

    /// The map is stable at the point when every eigenvalue lies inside the unit circle.
    pub fn is_stable(&self) -> bool {
        self.eigenvalues.first().is_none_or(|l| l.norm() < 1.0)
    }

    pub fn n_unstable(&self) -> usize {
        self.eigenvalues.iter().filter(|l| l.norm() >= 1.0).count()
    }

    /// Eigenvalues of the continuous-time system dx/dt = (F(x) - x) / dt, per ms.
    pub fn continuous_eigenvalues(&self) -> Vec<c64> {
        self.eigenvalues
            .iter()
            .map(|l| c64::new((l.re - 1.0) / self.dt, l.im / self.dt))
            .collect()
    }

    /// Decay (or growth, negative) time constant of each mode in ms in discrete time,
    /// -dt / ln|lambda|; infinite for |lambda| = 1.
    pub fn discrete_time_constants(&self) -> Vec<f64> {
        self.eigenvalues
            .iter()
            .map(|l| -self.dt / l.norm().ln())
            .collect()
    }

    /// Time constant of each mode in ms in continuous time, -1 / Re(lambda_c).
    pub fn continuous_time_constants(&self) -> Vec<f64> {
        self.continuous_eigenvalues()
            .iter()
            .map(|l| -1.0 / l.re)
            .collect()
    }
}

/// Linearise `dynamics` at `x`.
pub fn linearise(dynamics: &dyn Dynamics, x: &[f64]) -> Linearisation {
    let n = dynamics.dim();
    let mut jacobian = vec![0.0; n * n];
    dynamics.jacobian(x, &mut jacobian);
    let (eigenvalues, right, left) = eigen(&jacobian, n);
    Linearisation {
        jacobian,
        eigenvalues,
        right,
        left,
        dt: dynamics.dt(),
    }
}

/// Eigen-decomposition of a real row-major matrix: eigenvalues by decreasing modulus, right
/// eigenvectors as columns, left eigenvectors as rows. NaN everywhere if it fails to converge (a
/// matrix with NaN in it).
pub fn eigen(a: &[f64], n: usize) -> (Vec<c64>, Vec<c64>, Vec<c64>) {
    use faer::linalg::solvers::Solve;
    let nan = c64::new(f64::NAN, f64::NAN);
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let Ok(evd) = m.eigen() else {
        return (vec![nan; n], vec![nan; n * n], vec![nan; n * n]);
    };
    let s = evd.S().column_vector();
    let u = evd.U();
    let mut order: Vec<usize> = (0..n).collect();
    // by decreasing modulus, then by decreasing imaginary part so conjugate pairs have a fixed order
    order.sort_by(|&i, &j| {
        s[j].norm()
            .total_cmp(&s[i].norm())
            .then(s[j].im.total_cmp(&s[i].im))
    });
    let values: Vec<c64> = order.iter().map(|&c| s[c]).collect();
    let v = faer::Mat::<c64>::from_fn(n, n, |i, c| u[(i, order[c])]);
    let mut right = vec![nan; n * n];
    for i in 0..n {
        for c in 0..n {
            right[i * n + c] = v[(i, c)];
        }
    }
    let inv = v.partial_piv_lu().solve(faer::Mat::<c64>::identity(n, n));
    let mut left = vec![nan; n * n];
    for c in 0..n {
        for i in 0..n {
            left[c * n + i] = inv[(c, i)];
        }
    }
    (values, right, left)
}
