//! Optimisers (Adam as in PyTorch, SGD with momentum), gradient clipping and the learning-rate
//! schedule.

use crate::config::{OptimizerKind, TrainConfig};
use biornn_core::arrays::{put_u64, take_u64};
use biornn_core::Arrays;
use biornn_model::ctrnn::PARAM_NAMES;
use biornn_model::{Ctrnn, Grads};
use biornn_numerics::npz::{take_real, NpyArray};
use biornn_numerics::optim::{adam_step, AdamConstants};
use biornn_numerics::{Real, Result};

/// An optimiser over named parameter tensors: it keeps its moments per name and steps whatever
/// tensors it is handed in that order, so it serves any network (`step_tensors`, `step_network`);
/// `step` is the CTRNN's shorthand.
#[derive(Debug, Clone)]
pub struct Optimizer<T> {
    kind: OptimizerKind,
    beta1: f64,
    beta2: f64,
    eps: f64,
    momentum: f64,
    /// the parameters' names and sizes, in the order tensors are handed to a step
    pub names: Vec<String>,
    /// first moments (Adam) or velocities (SGD), one per parameter
    pub m: Vec<Vec<T>>,
    /// second moments (Adam), one per parameter
    pub v: Vec<Vec<T>>,
    /// number of updates taken
    pub t: u64,
}

impl<T: Real> Optimizer<T> {
    /// For parameters of the given names and sizes.
    pub fn named(cfg: &TrainConfig, params: &[(&str, usize)]) -> Self {
        Optimizer {
            kind: cfg.optimizer,
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            eps: cfg.adam_eps,
            momentum: cfg.momentum,
            names: params.iter().map(|(n, _)| n.to_string()).collect(),
            m: params.iter().map(|(_, len)| vec![T::ZERO; *len]).collect(),
            v: params.iter().map(|(_, len)| vec![T::ZERO; *len]).collect(),
            t: 0,
        }
    }

    /// For a CTRNN's parameters (`biornn_model::ctrnn::PARAM_NAMES`).
    pub fn new(cfg: &TrainConfig, n_in: usize, n_rec: usize, n_out: usize) -> Self {
        let sizes = [
            n_rec * n_in,
            n_rec * n_rec,
            n_out * n_rec,
            n_rec,
            n_out,
            n_rec,
        ];
        let params: Vec<(&str, usize)> = PARAM_NAMES.iter().copied().zip(sizes).collect();
        Self::named(cfg, &params)
    }

    pub fn all_finite(&self) -> bool {
        self.m
            .iter()
            .chain(&self.v)
            .all(|t| t.iter().all(|x| x.to_f64().is_finite()))
    }

    /// One update of `params` (in the order of [`Optimizer::names`]) by `grads`.
    pub fn step_tensors(&mut self, params: &mut [&mut [T]], grads: &[&[T]], lr: f64) {
        assert_eq!(params.len(), self.names.len(), "one tensor per parameter");
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            match self.kind {
                OptimizerKind::Adam => {
                    let c = AdamConstants {
                        beta1: b1,
                        beta2: b2,
                        eps: self.eps,
                    };
                    adam_step(p, g, m, v, self.t, lr, c);
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
    }

    /// One update of a CTRNN's raw parameters, then its constraints are re-applied.
    pub fn step(&mut self, net: &mut Ctrnn<T>, grads: &Grads<T>, lr: f64) {
        let mut params: Vec<&mut [T]> = net
            .params
            .tensors_mut()
            .into_iter()
            .map(|v| v.as_mut_slice())
            .collect();
        let grads: Vec<&[T]> = grads.tensors().iter().map(|g| g.as_slice()).collect();
        self.step_tensors(&mut params, &grads, lr);
        net.project();
    }

    /// The moments as named arrays: `<prefix>opt_m_<name>`, `<prefix>opt_v_<name>`, `<prefix>opt_t`,
    /// each tensor with the shape given for its name.
    pub fn save(&self, prefix: &str, shapes: &[Vec<usize>], out: &mut Arrays) {
        for (k, name) in self.names.iter().enumerate() {
            out.insert(
                format!("{prefix}opt_m_{name}"),
                NpyArray::new::<T>(&shapes[k], self.m[k].clone()),
            );
            out.insert(
                format!("{prefix}opt_v_{name}"),
                NpyArray::new::<T>(&shapes[k], self.v[k].clone()),
            );
        }
        put_u64(out, &format!("{prefix}opt_t"), self.t);
    }

    /// Read back what [`Optimizer::save`] wrote.
    pub fn load(&mut self, prefix: &str, shapes: &[Vec<usize>], arrays: &Arrays) -> Result<()> {
        for (k, name) in self.names.iter().enumerate() {
            self.m[k] = take_real::<T>(arrays, &format!("{prefix}opt_m_{name}"), &shapes[k])?;
            self.v[k] = take_real::<T>(arrays, &format!("{prefix}opt_v_{name}"), &shapes[k])?;
        }
        self.t = take_u64(arrays, &format!("{prefix}opt_t"))?;
        Ok(())
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
