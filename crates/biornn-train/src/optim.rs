//! Optimisers (Adam as in PyTorch, SGD with momentum), gradient clipping and the learning-rate
//! schedule.

use crate::config::{OptimizerKind, TrainConfig};
use biornn_model::{Ctrnn, Grads, Params};
use biornn_numerics::Real;

#[derive(Debug, Clone)]
pub struct Optimizer<T> {
    kind: OptimizerKind,
    beta1: f64,
    beta2: f64,
    eps: f64,
    momentum: f64,
    /// first moments (Adam) or velocities (SGD)
    pub m: Params<T>,
    /// second moments (Adam)
    pub v: Params<T>,
    /// number of updates taken
    pub t: u64,
}

impl<T: Real> Optimizer<T> {
    pub fn new(cfg: &TrainConfig, n_in: usize, n_rec: usize, n_out: usize) -> Self {
        Optimizer {
            kind: cfg.optimizer,
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            eps: cfg.adam_eps,
            momentum: cfg.momentum,
            m: Params::zeros(n_in, n_rec, n_out),
            v: Params::zeros(n_in, n_rec, n_out),
            t: 0,
        }
    }

    /// One update of the raw parameters, then the constraints are re-applied.
    pub fn step(&mut self, net: &mut Ctrnn<T>, grads: &Grads<T>, lr: f64) {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        let params = net.params.tensors_mut();
        let ms = self.m.tensors_mut();
        let vs = self.v.tensors_mut();
        for (((p, g), m), v) in params.into_iter().zip(grads.tensors()).zip(ms).zip(vs) {
            match self.kind {
                OptimizerKind::Adam => {
                    let (b1t, b2t) = (T::from_f64(b1), T::from_f64(b2));
                    let step = T::from_f64(lr / bc1);
                    let sqrt_bc2 = T::from_f64(bc2.sqrt());
                    let eps = T::from_f64(self.eps);
                    for i in 0..p.len() {
                        let gi = g[i];
                        m[i] = b1t * m[i] + (T::ONE - b1t) * gi;
                        v[i] = b2t * v[i] + (T::ONE - b2t) * gi * gi;
                        p[i] -= step * m[i] / (v[i].sqrt() / sqrt_bc2 + eps);
                    }
                }
                OptimizerKind::Sgd => {
                    let mu = T::from_f64(self.momentum);
                    let lr = T::from_f64(lr);
                    for i in 0..p.len() {
                        m[i] = mu * m[i] + g[i];
                        p[i] -= lr * m[i];
                    }
                }
            }
        }
        net.project();
    }
}

/// Clip by value, then by global norm. Returns the norm before clipping.
pub fn clip<T: Real>(grads: &mut Grads<T>, value: Option<f64>, norm: Option<f64>) -> f64 {
    if let Some(c) = value {
        let (lo, hi) = (T::from_f64(-c), T::from_f64(c));
        for t in grads.tensors_mut() {
            for g in t.iter_mut() {
                *g = g.max(lo).min(hi);
            }
        }
    }
    let total: f64 = grads
        .tensors()
        .iter()
        .flat_map(|t| t.iter())
        .map(|g| g.to_f64().powi(2))
        .sum::<f64>()
        .sqrt();
    if let Some(max) = norm {
        if total > max {
            let s = T::from_f64(max / total);
            for t in grads.tensors_mut() {
                t.iter_mut().for_each(|g| *g *= s);
            }
        }
    }
    total
}

/// The learning rate at `step` under the stepped schedule.
pub fn learning_rate(cfg: &TrainConfig, step: usize) -> f64 {
    let drops = cfg.lr_decay_steps.iter().filter(|s| step >= **s).count();
    cfg.learning_rate * cfg.lr_decay_factor.powi(drops as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_and_clipping() {
        let cfg = TrainConfig {
            lr_decay_steps: vec![10, 20],
            lr_decay_factor: 0.5,
            ..Default::default()
        };
        assert_eq!(learning_rate(&cfg, 9), 1e-3);
        assert_eq!(learning_rate(&cfg, 10), 5e-4);
        assert_eq!(learning_rate(&cfg, 25), 2.5e-4);
        let mut g = Grads::<f64>::zeros(1, 1, 1);
        g.w_in[0] = 3.0;
        g.w_rec[0] = -4.0;
        let n = clip(&mut g, None, Some(1.0));
        assert_eq!(n, 5.0);
        assert!((g.w_in[0] - 0.6).abs() < 1e-12 && (g.w_rec[0] + 0.8).abs() < 1e-12);
        clip(&mut g, Some(0.7), None);
        assert_eq!(g.w_rec[0], -0.7);
    }
}
