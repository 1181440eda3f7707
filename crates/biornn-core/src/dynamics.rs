//! The one-step map x -> F(x) of a network under a constant input, with its Jacobian as products
//! with vectors: all that fixed-point search and linearisation need. A network small enough for a
//! dense Jacobian gives [`Dynamics::jacobian`]; one that is not (a convolutional network with a
//! million units) gives [`Dynamics::jvp`] and [`Dynamics::vjp`] and is analysed matrix-free.

/// A discrete-time map on a `dim`-dimensional state, one step of `dt` ms.
pub trait Dynamics: Sync {
    fn dim(&self) -> usize;
    /// the step in ms, to turn eigenvalues into time constants
    fn dt(&self) -> f64;
    /// `out = F(x)`
    fn step(&self, x: &[f64], out: &mut [f64]);
    /// The Jacobian dF/dx at `x`, row-major: `out[i * dim + j] = dF_i / dx_j`.
    fn jacobian(&self, x: &[f64], out: &mut [f64]);

    /// `out = J(x) v`. The default forms the dense Jacobian; large networks override it.
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.dim();
        let mut jac = vec![0.0; n * n];
        self.jacobian(x, &mut jac);
        for (o, row) in out.iter_mut().zip(jac.chunks_exact(n)) {
            *o = row.iter().zip(v).map(|(a, b)| a * b).sum();
        }
    }

    /// `out = J(x)^T v`. The default forms the dense Jacobian; large networks override it.
    fn vjp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.dim();
        let mut jac = vec![0.0; n * n];
        self.jacobian(x, &mut jac);
        out.iter_mut().for_each(|o| *o = 0.0);
        for (row, vi) in jac.chunks_exact(n).zip(v) {
            for (o, a) in out.iter_mut().zip(row) {
                *o += a * vi;
            }
        }
    }

    /// F on every column of `xs` (`dim` x k, column-major). Override with a matrix product.
    fn step_many(&self, xs: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for (x, o) in xs.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            self.step(x, o);
        }
    }

    /// `J(x_c)^T v_c` for every column c. Override with a matrix product.
    fn vjp_many(&self, xs: &[f64], vs: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for ((x, v), o) in xs
            .chunks_exact(n)
            .zip(vs.chunks_exact(n))
            .zip(out.chunks_exact_mut(n))
        {
            self.vjp(x, v, o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F(x) = A x + sin(x): J = A + diag(cos x).
    struct Toy(Vec<f64>);

    impl Dynamics for Toy {
        fn dim(&self) -> usize {
            2
        }
        fn dt(&self) -> f64 {
            1.0
        }
        fn step(&self, x: &[f64], out: &mut [f64]) {
            for i in 0..2 {
                out[i] = self.0[2 * i] * x[0] + self.0[2 * i + 1] * x[1] + x[i].sin();
            }
        }
        fn jacobian(&self, x: &[f64], out: &mut [f64]) {
            out.copy_from_slice(&self.0);
            out[0] += x[0].cos();
            out[3] += x[1].cos();
        }
    }

    #[test]
    fn products_with_vectors_match_the_dense_jacobian_by_hand() {
        let f = Toy(vec![1.0, 2.0, 3.0, 4.0]);
        let x = [0.0, std::f64::consts::PI];
        // J = [[2, 2], [3, 3]]
        let mut o = [0.0; 2];
        f.jvp(&x, &[1.0, -1.0], &mut o);
        assert!((o[0] - 0.0).abs() < 1e-12 && (o[1] - 0.0).abs() < 1e-12);
        f.jvp(&x, &[1.0, 0.5], &mut o);
        assert!((o[0] - 3.0).abs() < 1e-12 && (o[1] - 4.5).abs() < 1e-12);
        f.vjp(&x, &[1.0, 1.0], &mut o);
        assert!((o[0] - 5.0).abs() < 1e-12 && (o[1] - 5.0).abs() < 1e-12);
        let mut many = [0.0; 4];
        f.vjp_many(
            &[0.0, std::f64::consts::PI, 0.0, 0.0],
            &[1.0, 1.0, 1.0, 0.0],
            &mut many,
        );
        // second column: J = [[2, 2], [3, 5]], J^T [1, 0] = [2, 2]
        assert!(
            (many[0] - 5.0).abs() < 1e-12
                && (many[2] - 2.0).abs() < 1e-12
                && (many[3] - 2.0).abs() < 1e-12
        );
    }
}
