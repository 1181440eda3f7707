//! Random-feedback local online learning (RFLO; Murray 2019, eLife 8:e43299), as the R2N2
//! comparison uses it (CogControlLab/R2N2 `rflo_model.py`, "adopted from James Murray's code").
//!
//! The network is Murray's leaky rate RNN: with h^0 = h0 (0.1 everywhere),
//! ```text
//! u^t = W h^{t-1} + W_in x^t,   h^t = h^{t-1} + (-h^{t-1} + tanh(u^t)) / tau,   y^t = W_out h^t
//! ```
//! RFLO keeps a rank-2 eligibility trace per synapse (the exact RTRL sensitivity without its
//! non-local term) and broadcasts the readout error through a fixed random matrix B:
//! ```text
//! p_ij <- (1 - 1/tau) p_ij + tanh'(u_i) h_j^{t-1} / tau      q_ij <- ... x_j^t / tau
//! dW_ij = eta/T sum_t (B e^t)_i p_ij   dW_in_ij = eta/T sum_t (B e^t)_i q_ij
//! dW_out = eta/T sum_t e^t (h^t)^T,    e^t = y*^t - y^t
//! ```
//! applied at the end of the trial (default) or at every step (`online`). With the full trace
//! (the non-local term kept: rank 3, O(n^3) memory, for tests and small networks) and B = W_out^T
//! the changes are exactly -eta/T times the gradient of 1/2 sum_t |e^t|^2: RTRL.
//!
//! The reference's quirks, each a `faithful_*` option (default: corrected): `faithful_timing`
//! (the first input only seeds the trace q and the first output is 0, and q takes the input of the
//! step before: Murray's code's off-by-one), `faithful_derivative` (tanh' soft-clipped as
//! 1/cosh^2(10 tanh(x/10))), `faithful_init` (W_in = 0.1 (U - 1), every entry negative; corrected
//! 0.1 (2U - 1)).

use biornn_numerics::linalg::{add_outer, matvec, matvec_t};
use biornn_numerics::{Error, Real, Result, Streams};
use serde::{Deserialize, Serialize};

/// What the error is broadcast through (shared with RFLO on the CTRNN).
pub use biornn_model::Feedback;

/// Which eligibility trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trace {
    /// RFLO's local trace (n x n)
    #[default]
    Local,
    /// the full sensitivity with the non-local term (n x n x n): RTRL
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RfloOptions {
    pub trace: Trace,
    pub feedback: Feedback,
    /// apply the changes at every step instead of at the end of the trial
    pub online: bool,
    pub faithful_timing: bool,
    pub faithful_derivative: bool,
    /// classification: only the last step is scored, by the cross-entropy of softmax(y) against
    /// the class the last target row is one-hot for (the reference's
    /// `run_trial_seq_classification`: e = onehot - softmax)
    pub classify: bool,
}

/// Learning rates (eta) of the three matrices; 0 freezes one (the echo-state network freezes W).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub w_in: f64,
    pub w_rec: f64,
    pub w_out: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeakyRnn<T> {
    pub n: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub tau: f64,
    /// every unit's state at the start of a trial
    pub h0: f64,
    /// `(n, n_in)`, `(n, n)`, `(n_out, n)`, row-major `(post, pre)`
    pub w_in: Vec<T>,
    pub w_rec: Vec<T>,
    pub w_out: Vec<T>,
    /// the random feedback `(n, n_out)`
    pub b: Vec<T>,
}

/// The settings a network is drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRnnShape {
    pub n: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub tau: f64,
    pub g: f64,
    pub h0: f64,
    pub faithful_init: bool,
}

/// What one trial leaves: its outputs `T x n_out` and 1/2 sum_t |y*^t - y^t|^2.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrialResult<T> {
    pub outputs: Vec<T>,
    pub loss: f64,
}

/// tanh', exact or as the reference code writes it.
fn slope<T: Real>(u: T, soft: bool) -> T {
    let t = if soft {
        (T::from_f64(10.0) * (u / T::from_f64(10.0)).tanh()).tanh()
    } else {
        u.tanh()
    };
    T::ONE - t * t
}

impl<T: Real> LeakyRnn<T> {
    /// Drawn as the reference draws it, from stream `rflo_w`: W ~ g N(0, 1/n), W_in 0.1 (2U - 1)
    /// (or 0.1 (U - 1) under `faithful_init`), W_out 0.1 (2U - 1) / sqrt(n), B ~ N(0, 1/n_out).
    pub fn new(shape: LeakyRnnShape, streams: &Streams) -> Result<Self> {
        let LeakyRnnShape { n, n_in, n_out, .. } = shape;
        for (f, v) in [("network.n_rec", n), ("n_in", n_in), ("n_out", n_out)] {
            if v == 0 {
                return Err(Error::invalid(f, v, "allowed: a positive count"));
            }
        }
        if !(shape.tau.is_finite() && shape.tau >= 1.0) {
            return Err(Error::invalid(
                "network.tau",
                shape.tau,
                "allowed: a number of steps >= 1",
            ));
        }
        let mut r = streams.stream("rflo_w", 0);
        let w_in = (0..n * n_in)
            .map(|_| {
                let u = r.uniform();
                T::from_f64(if shape.faithful_init {
                    0.1 * (u - 1.0)
                } else {
                    0.1 * (2.0 * u - 1.0)
                })
            })
            .collect();
        let w_rec = (0..n * n)
            .map(|_| T::from_f64(shape.g * r.normal() / (n as f64).sqrt()))
            .collect();
        let w_out = (0..n_out * n)
            .map(|_| T::from_f64(0.1 * (2.0 * r.uniform() - 1.0) / (n as f64).sqrt()))
            .collect();
        let b = (0..n * n_out)
            .map(|_| T::from_f64(r.normal() / (n_out as f64).sqrt()))
            .collect();
        Ok(LeakyRnn {
            n,
            n_in,
            n_out,
            tau: shape.tau,
            h0: shape.h0,
            w_in,
            w_rec,
            w_out,
            b,
        })
    }

    /// Run one trial on `inputs` (`T x n_in`) against `targets` (`T x n_out`), learning at `rates`
    /// when given. Scratch comes from `work`, so repeated trials do not allocate.
    pub fn trial(
        &mut self,
        inputs: &[T],
        targets: &[T],
        options: RfloOptions,
        rates: Option<Rates>,
        work: &mut Workspace<T>,
    ) -> TrialResult<T> {
        let (n, n_in, n_out) = (self.n, self.n_in, self.n_out);
        let steps = inputs.len() / n_in;
        let full = options.trace == Trace::Full;
        work.prepare(n, n_in, n_out, full);
        let Workspace {
            h,
            h_prev,
            u,
            phi_slope,
            err,
            fb,
            p,
            q,
            d_in,
            d_rec,
            d_out,
            scratch,
            ..
        } = work;
        let leak = T::ONE - T::ONE / T::from_f64(self.tau);
        let inv_tau = T::ONE / T::from_f64(self.tau);
        h.fill(T::from_f64(self.h0));
        let mut out = TrialResult {
            outputs: vec![T::ZERO; steps * n_out],
            loss: 0.0,
        };
        let scale = |eta: f64| T::from_f64(eta / steps as f64);
        let first = if options.faithful_timing {
            // the reference never feeds x^0: the output stays 0 (and is scored), and x^0 only
            // seeds q, with tanh'(u^0 = 0) = 1
            if !full {
                for i in 0..n {
                    for j in 0..n_in {
                        q[i * n_in + j] = inputs[j] * inv_tau;
                    }
                }
            }
            if !options.classify {
                out.loss = 0.5
                    * targets[..n_out]
                        .iter()
                        .map(|y| y.to_f64().powi(2))
                        .sum::<f64>();
            }
            1
        } else {
            0
        };
        for s in first..steps {
            let x = &inputs[s * n_in..(s + 1) * n_in];
            // the trace's input: this step's, or (faithful) the step before's
            let x_trace = if options.faithful_timing {
                &inputs[(s - 1) * n_in..s * n_in]
            } else {
                x
            };
            h_prev.copy_from_slice(h);
            matvec(&self.w_rec, h_prev, u, false);
            matvec(&self.w_in, x, u, true);
            for i in 0..n {
                phi_slope[i] = slope(u[i], options.faithful_derivative);
                h[i] = h_prev[i] + (u[i].tanh() - h_prev[i]) * inv_tau;
            }
            let y = &mut out.outputs[s * n_out..(s + 1) * n_out];
            matvec(&self.w_out, h, y, false);
            let target = &targets[s * n_out..(s + 1) * n_out];
            if !options.classify {
                for k in 0..n_out {
                    err[k] = target[k] - y[k];
                    out.loss += 0.5 * err[k].to_f64().powi(2);
                }
            } else if s + 1 == steps {
                let class = (0..n_out).fold(0, |b, k| if target[k] > target[b] { k } else { b });
                let max = y.iter().fold(y[0], |m, v| m.max(*v));
                let mut sum = T::ZERO;
                for k in 0..n_out {
                    err[k] = (y[k] - max).exp();
                    sum += err[k];
                }
                for k in 0..n_out {
                    err[k] = -err[k] / sum;
                }
                out.loss -= (-err[class]).to_f64().ln();
                err[class] += T::ONE;
            } else {
                err.fill(T::ZERO);
            }
            if rates.is_none() {
                continue;
            }
            if full {
                // P_kij <- leak P_kij + phi'(u_k)/tau (delta_ki h_prev_j + sum_m W_km P_mij)
                let (pn, qn) = (n * n, n * n_in);
                for (sens, width, pre) in [(&mut *p, pn, &h_prev[..]), (&mut *q, qn, x_trace)] {
                    scratch.resize(n * width, T::ZERO);
                    for k in 0..n {
                        let row = &mut scratch[k * width..(k + 1) * width];
                        row.fill(T::ZERO);
                        for m in 0..n {
                            let w = self.w_rec[k * n + m];
                            let src = &sens[m * width..(m + 1) * width];
                            for c in 0..width {
                                row[c] += w * src[c];
                            }
                        }
                        let cols = width / n;
                        for c in 0..cols {
                            row[k * cols + c] += pre[c];
                        }
                    }
                    for k in 0..n {
                        let g = phi_slope[k] * inv_tau;
                        for c in 0..width {
                            sens[k * width + c] =
                                leak * sens[k * width + c] + g * scratch[k * width + c];
                        }
                    }
                }
            } else {
                for i in 0..n {
                    let g = phi_slope[i] * inv_tau;
                    for j in 0..n {
                        p[i * n + j] = leak * p[i * n + j] + g * h_prev[j];
                    }
                    for j in 0..n_in {
                        q[i * n_in + j] = leak * q[i * n_in + j] + g * x_trace[j];
                    }
                }
            }
            let r = rates.expect("learning");
            // end of trial: the changes accumulate under this trial's weights; online: each
            // step's change is applied at once
            if options.online {
                d_in.fill(T::ZERO);
                d_rec.fill(T::ZERO);
                d_out.fill(T::ZERO);
            }
            match options.feedback {
                Feedback::Random => matvec(&self.b, err, fb, false),
                Feedback::Readout => matvec_t(&self.w_out, err, fb, false),
            }
            add_outer(d_out, scale(r.w_out), err, h);
            if full {
                // dW_ij += eta/T sum_k fb_k P_kij
                for (delta, sens, width, eta) in [
                    (&mut *d_rec, &*p, n * n, r.w_rec),
                    (&mut *d_in, &*q, n * n_in, r.w_in),
                ] {
                    let e = scale(eta);
                    for k in 0..n {
                        let f = e * fb[k];
                        for c in 0..width {
                            delta[c] += f * sens[k * width + c];
                        }
                    }
                }
            } else {
                for i in 0..n {
                    let fr = scale(r.w_rec) * fb[i];
                    let fi = scale(r.w_in) * fb[i];
                    for j in 0..n {
                        d_rec[i * n + j] += fr * p[i * n + j];
                    }
                    for j in 0..n_in {
                        d_in[i * n_in + j] += fi * q[i * n_in + j];
                    }
                }
            }
            if options.online {
                self.apply(d_in, d_rec, d_out);
            }
        }
        if rates.is_some() && !options.online {
            self.apply(d_in, d_rec, d_out);
        }
        out
    }

    /// The states h^1 .. h^T of a run over `inputs` without learning, `T x n` into `out`.
    pub fn states(&self, inputs: &[T], out: &mut Vec<T>) {
        let n = self.n;
        let inv_tau = T::ONE / T::from_f64(self.tau);
        let (mut h, mut u) = (vec![T::from_f64(self.h0); n], vec![T::ZERO; n]);
        out.clear();
        for x in inputs.chunks(self.n_in) {
            matvec(&self.w_rec, &h, &mut u, false);
            matvec(&self.w_in, x, &mut u, true);
            for i in 0..n {
                let hi = h[i];
                h[i] = hi + (u[i].tanh() - hi) * inv_tau;
            }
            out.extend_from_slice(&h);
        }
    }

    fn apply(&mut self, d_in: &[T], d_rec: &[T], d_out: &[T]) {
        for (w, d) in [
            (&mut self.w_in, d_in),
            (&mut self.w_rec, d_rec),
            (&mut self.w_out, d_out),
        ] {
            for (a, b) in w.iter_mut().zip(d) {
                *a += *b;
            }
        }
    }
}

/// The buffers of a trial, kept between trials.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    h: Vec<T>,
    h_prev: Vec<T>,
    u: Vec<T>,
    phi_slope: Vec<T>,
    err: Vec<T>,
    fb: Vec<T>,
    p: Vec<T>,
    q: Vec<T>,
    d_in: Vec<T>,
    d_rec: Vec<T>,
    d_out: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Real> Workspace<T> {
    fn prepare(&mut self, n: usize, n_in: usize, n_out: usize, full: bool) {
        let set = |v: &mut Vec<T>, len: usize| {
            v.clear();
            v.resize(len, T::ZERO);
        };
        for v in [
            &mut self.h,
            &mut self.h_prev,
            &mut self.u,
            &mut self.phi_slope,
            &mut self.fb,
        ] {
            set(v, n);
        }
        set(&mut self.err, n_out);
        let (pw, qw) = if full {
            (n * n * n, n * n * n_in)
        } else {
            (n * n, n * n_in)
        };
        set(&mut self.p, pw);
        set(&mut self.q, qw);
        set(&mut self.d_in, n * n_in);
        set(&mut self.d_rec, n * n);
        set(&mut self.d_out, n_out * n);
    }
}

/// The one-step map at a constant input, for fixed points and linearisation:
/// F(h) = h + (tanh(W h + W_in x) - h) / tau, J = (1 - 1/tau) I + diag(tanh'(u)) W / tau.
pub struct LeakyRnnDynamics<'a> {
    pub net: &'a LeakyRnn<f64>,
    pub input: Vec<f64>,
}

impl biornn_core::Dynamics for LeakyRnnDynamics<'_> {
    fn dim(&self) -> usize {
        self.net.n
    }
    fn dt(&self) -> f64 {
        1.0
    }
    fn step(&self, x: &[f64], out: &mut [f64]) {
        let tau = self.net.tau;
        matvec(&self.net.w_rec, x, out, false);
        matvec(&self.net.w_in, &self.input, out, true);
        for (o, h) in out.iter_mut().zip(x) {
            *o = h + (o.tanh() - h) / tau;
        }
    }
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        let (n, tau) = (self.net.n, self.net.tau);
        let mut u = vec![0.0; n];
        matvec(&self.net.w_rec, x, &mut u, false);
        matvec(&self.net.w_in, &self.input, &mut u, true);
        for i in 0..n {
            let g = (1.0 - u[i].tanh().powi(2)) / tau;
            for j in 0..n {
                out[i * n + j] = g * self.net.w_rec[i * n + j];
            }
            out[i * n + i] += 1.0 - 1.0 / tau;
        }
    }
}
