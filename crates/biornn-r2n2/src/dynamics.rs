//! The network's one-step map at a constant input, for fixed points and linearisation: the state
//! is `[h_A; h_B]` (2n), F is one forward step, and its Jacobian products follow the two
//! half-steps (A from the old B, then B from the new A).

use crate::network::{matvec, matvec_t, R2n2};
use biornn_core::Dynamics;

pub struct R2n2Dynamics<'a> {
    pub net: &'a R2n2<f64>,
    pub input: Vec<f64>,
}

impl R2n2Dynamics<'_> {
    /// h_A' for state `x`, and tanh'(h_B), tanh'(h_A').
    fn half_steps(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = self.net.shape.n;
        let (c, d) = (self.net.shape.c(), self.net.shape.d());
        let rates: Vec<f64> = x[n..].iter().map(|v| v.tanh()).collect();
        let mut drive = vec![0.0; n];
        matvec(&self.net.w_ba, &rates, &mut drive, false);
        matvec(&self.net.w_ia, &self.input, &mut drive, true);
        let a_next: Vec<f64> = (0..n).map(|i| c * x[i] + d * drive[i]).collect();
        let slope_b = rates.iter().map(|r| 1.0 - r * r).collect();
        let slope_a = a_next.iter().map(|a| 1.0 - a.tanh().powi(2)).collect();
        (a_next, slope_b, slope_a)
    }
}

impl Dynamics for R2n2Dynamics<'_> {
    fn dim(&self) -> usize {
        2 * self.net.shape.n
    }
    /// one step: the network's time is counted in steps
    fn dt(&self) -> f64 {
        1.0
    }
    fn step(&self, x: &[f64], out: &mut [f64]) {
        let n = self.net.shape.n;
        let mut s = crate::network::State {
            a: x[..n].to_vec(),
            b: x[n..].to_vec(),
        };
        let (mut rates, mut drive) = (vec![0.0; n], vec![0.0; n]);
        self.net.step(&mut s, &self.input, &mut rates, &mut drive);
        out[..n].copy_from_slice(&s.a);
        out[n..].copy_from_slice(&s.b);
    }
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        let dim = self.dim();
        let mut e = vec![0.0; dim];
        let mut col = vec![0.0; dim];
        for j in 0..dim {
            e[j] = 1.0;
            self.jvp(x, &e, &mut col);
            e[j] = 0.0;
            for i in 0..dim {
                out[i * dim + j] = col[i];
            }
        }
    }
    /// dA' = c v_A + d W_BA (tanh'(h_B) v_B); dB' = c v_B + d W_AB (tanh'(h_A') dA')
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.net.shape.n;
        let (c, d) = (self.net.shape.c(), self.net.shape.d());
        let (_, slope_b, slope_a) = self.half_steps(x);
        let u: Vec<f64> = (0..n).map(|i| slope_b[i] * v[n + i]).collect();
        let mut t = vec![0.0; n];
        matvec(&self.net.w_ba, &u, &mut t, false);
        for i in 0..n {
            out[i] = c * v[i] + d * t[i];
        }
        let u: Vec<f64> = (0..n).map(|i| slope_a[i] * out[i]).collect();
        matvec(&self.net.w_ab, &u, &mut t, false);
        for i in 0..n {
            out[n + i] = c * v[n + i] + d * t[i];
        }
    }
    /// g = w_A + d tanh'(h_A') W_AB^T w_B; out = [c g; c w_B + d tanh'(h_B) W_BA^T g]
    fn vjp(&self, x: &[f64], w: &[f64], out: &mut [f64]) {
        let n = self.net.shape.n;
        let (c, d) = (self.net.shape.c(), self.net.shape.d());
        let (_, slope_b, slope_a) = self.half_steps(x);
        let mut t = vec![0.0; n];
        matvec_t(&self.net.w_ab, &w[n..], &mut t, false);
        let g: Vec<f64> = (0..n).map(|i| w[i] + d * slope_a[i] * t[i]).collect();
        matvec_t(&self.net.w_ba, &g, &mut t, false);
        for i in 0..n {
            out[i] = c * g[i];
            out[n + i] = c * w[n + i] + d * slope_b[i] * t[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Shape;
    use biornn_numerics::Streams;

    #[test]
    fn the_jacobian_products_equal_finite_differences() {
        let shape = Shape {
            n: 4,
            n_in: 3,
            n_out: 3,
            tau: 10.0,
            g_forward: 1.5,
            g_backward: 1.0,
        };
        let net = R2n2::<f64>::new(shape, &Streams::new(3)).unwrap();
        let f = R2n2Dynamics {
            net: &net,
            input: vec![1.0, 0.0, 0.5],
        };
        let mut r = Streams::new(4).stream("x", 0);
        let x: Vec<f64> = (0..8).map(|_| r.normal()).collect();
        let v: Vec<f64> = (0..8).map(|_| r.normal()).collect();
        let w: Vec<f64> = (0..8).map(|_| r.normal()).collect();
        let eps = 1e-6;
        let shifted = |s: f64| {
            let xs: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + s * b).collect();
            let mut o = vec![0.0; 8];
            f.step(&xs, &mut o);
            o
        };
        let (p, m) = (shifted(eps), shifted(-eps));
        let mut jv = vec![0.0; 8];
        f.jvp(&x, &v, &mut jv);
        for i in 0..8 {
            assert!((jv[i] - (p[i] - m[i]) / (2.0 * eps)).abs() < 1e-8);
        }
        // <w, J v> = <J^T w, v>
        let mut jtw = vec![0.0; 8];
        f.vjp(&x, &w, &mut jtw);
        let lhs: f64 = w.iter().zip(&jv).map(|(a, b)| a * b).sum();
        let rhs: f64 = jtw.iter().zip(&v).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }
}
