//! The CTRNN's one-step map under a constant input, with its analytic Jacobian and its products
//! with vectors as matrix products: what fixed-point search and linearisation use (the
//! [`Dynamics`] trait is `biornn-core`'s, so analysis works on any network).

use crate::{Activation, Ctrnn, StateConvention};
pub use biornn_core::Dynamics;
use biornn_numerics::linalg::{cm, cm_mut, gemm, rm};
use biornn_numerics::Real;

/// A noise-free CTRNN at a constant input: with drive c = W_in u + b_rec and per-unit a = dt/tau,
/// - rate convention: F(x) = (1 - a) x + a f(W x + c);
/// - current convention: F(x) = (1 - a) x + a (W f(x) + c).
#[derive(Debug, Clone)]
pub struct CtrnnDynamics {
    pub activation: Activation,
    pub convention: StateConvention,
    pub alpha: Vec<f64>,
    /// effective recurrent weights (masks and Dale signs applied), row-major `(post, pre)`
    pub w_rec: Vec<f64>,
    /// constant drive W_in u + b_rec
    pub drive: Vec<f64>,
    pub dt: f64,
}

impl CtrnnDynamics {
    /// The network `net` held at input `input` (length `n_in`).
    pub fn new<T: Real>(net: &Ctrnn<T>, input: &[f64]) -> Self {
        let (n, ni) = (net.n_rec, net.n_in);
        assert_eq!(input.len(), ni, "input has the wrong length");
        let eff = net.effective();
        let drive = (0..n)
            .map(|i| {
                eff.b_rec[i].to_f64()
                    + (0..ni)
                        .map(|k| eff.w_in[i * ni + k].to_f64() * input[k])
                        .sum::<f64>()
            })
            .collect();
        CtrnnDynamics {
            activation: net.activation,
            convention: net.convention,
            alpha: net.alpha().iter().map(|a| a.to_f64()).collect(),
            w_rec: eff.w_rec.iter().map(|w| w.to_f64()).collect(),
            drive,
            dt: net.dt(),
        }
    }

    fn n(&self) -> usize {
        self.alpha.len()
    }

    /// `out = W xs + c` for every column.
    fn pre(&self, xs: &[f64], out: &mut [f64]) {
        let n = self.n();
        let k = xs.len() / n;
        let rates: Vec<f64>;
        let r = match self.convention {
            StateConvention::Rate => xs,
            StateConvention::Current => {
                rates = xs.iter().map(|x| self.activation.f(*x)).collect();
                &rates
            }
        };
        gemm(cm_mut(out, n, k), false, rm(&self.w_rec, n, n), cm(r, n, k));
        for col in out.chunks_exact_mut(n) {
            for (z, c) in col.iter_mut().zip(&self.drive) {
                *z += c;
            }
        }
    }
}

impl Dynamics for CtrnnDynamics {
    fn dim(&self) -> usize {
        self.n()
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    fn step(&self, x: &[f64], out: &mut [f64]) {
        self.step_many(x, out)
    }

    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        let n = self.n();
        let act = self.activation;
        match self.convention {
            StateConvention::Rate => {
                let mut z = vec![0.0; n];
                self.pre(x, &mut z);
                for i in 0..n {
                    let g = self.alpha[i] * act.df(z[i]);
                    for j in 0..n {
                        out[i * n + j] = g * self.w_rec[i * n + j];
                    }
                }
            }
            StateConvention::Current => {
                for i in 0..n {
                    for j in 0..n {
                        out[i * n + j] = self.alpha[i] * self.w_rec[i * n + j] * act.df(x[j]);
                    }
                }
            }
        }
        for i in 0..n {
            out[i * n + i] += 1.0 - self.alpha[i];
        }
    }

    /// J v = (1 - a) v + a f'(z) (W v) (rate) or a W (f'(x) v) (current), without forming J.
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.n();
        let act = self.activation;
        let u: Vec<f64> = match self.convention {
            StateConvention::Rate => v.to_vec(),
            StateConvention::Current => v.iter().zip(x).map(|(vj, xj)| vj * act.df(*xj)).collect(),
        };
        gemm(
            cm_mut(out, n, 1),
            false,
            rm(&self.w_rec, n, n),
            cm(&u, n, 1),
        );
        let mut z = vec![0.0; n];
        if self.convention == StateConvention::Rate {
            self.pre(x, &mut z);
        }
        for i in 0..n {
            let gain = match self.convention {
                StateConvention::Rate => act.df(z[i]),
                StateConvention::Current => 1.0,
            };
            out[i] = self.alpha[i] * gain * out[i] + (1.0 - self.alpha[i]) * v[i];
        }
    }

    fn vjp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        self.vjp_many(x, v, out)
    }

    fn step_many(&self, xs: &[f64], out: &mut [f64]) {
        let n = self.n();
        self.pre(xs, out);
        for (x, o) in xs.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            for i in 0..n {
                let a = self.alpha[i];
                let psi = match self.convention {
                    StateConvention::Rate => self.activation.f(o[i]),
                    StateConvention::Current => o[i],
                };
                o[i] = (1.0 - a) * x[i] + a * psi;
            }
        }
    }

    fn vjp_many(&self, xs: &[f64], vs: &[f64], out: &mut [f64]) {
        let n = self.n();
        let k = xs.len() / n;
        let act = self.activation;
        // J^T v = (1 - a) v + [rate] W^T (a f'(z) v)  |  [current] f'(x) (W^T (a v))
        let mut g = vec![0.0; n * k];
        match self.convention {
            StateConvention::Rate => {
                self.pre(xs, &mut g);
                for (gc, vc) in g.chunks_exact_mut(n).zip(vs.chunks_exact(n)) {
                    for i in 0..n {
                        gc[i] = self.alpha[i] * act.df(gc[i]) * vc[i];
                    }
                }
            }
            StateConvention::Current => {
                for (gc, vc) in g.chunks_exact_mut(n).zip(vs.chunks_exact(n)) {
                    for i in 0..n {
                        gc[i] = self.alpha[i] * vc[i];
                    }
                }
            }
        }
        // row-major W read as column-major is W^T
        gemm(
            cm_mut(out, n, k),
            false,
            cm(&self.w_rec, n, n),
            cm(&g, n, k),
        );
        for c in 0..k {
            for i in 0..n {
                let idx = c * n + i;
                if self.convention == StateConvention::Current {
                    out[idx] *= act.df(xs[idx]);
                }
                out[idx] += (1.0 - self.alpha[i]) * vs[idx];
            }
        }
    }
}

/// An affine map F(x) = A x + c (A row-major): the simplest system with a known fixed point, for
/// tests and as an example of a non-CTRNN [`Dynamics`].
#[derive(Debug, Clone)]
pub struct AffineMap {
    pub a: Vec<f64>,
    pub c: Vec<f64>,
    pub dt: f64,
}

impl Dynamics for AffineMap {
    fn dim(&self) -> usize {
        self.c.len()
    }
    fn dt(&self) -> f64 {
        self.dt
    }
    fn step(&self, x: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for i in 0..n {
            out[i] = self.c[i] + (0..n).map(|j| self.a[i * n + j] * x[j]).sum::<f64>();
        }
    }
    fn jacobian(&self, _x: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.a);
    }
}
