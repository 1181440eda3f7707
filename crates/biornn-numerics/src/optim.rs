//! The optimiser steps every learning rule shares, over plain slices, so a rule with its own
//! parameter layout (the CTRNN's named tensors, R2N2's four matrices) steps the same way.

use crate::Real;

/// Adam's constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConstants {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

/// One Adam step of `p` by gradient `g` with moments `m`, `v`, the `t`-th (from 1):
/// p -= lr m_hat / (sqrt(v_hat) + eps), as PyTorch and numpy_ml write it.
pub fn adam_step<T: Real>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    t: u64,
    lr: f64,
    c: AdamConstants,
) {
    let bc1 = 1.0 - c.beta1.powi(t as i32);
    let bc2 = 1.0 - c.beta2.powi(t as i32);
    let (b1t, b2t) = (T::from_f64(c.beta1), T::from_f64(c.beta2));
    let step = T::from_f64(lr / bc1);
    let sqrt_bc2 = T::from_f64(bc2.sqrt());
    let eps = T::from_f64(c.eps);
    for i in 0..p.len() {
        let gi = g[i];
        m[i] = b1t * m[i] + (T::ONE - b1t) * gi;
        v[i] = b2t * v[i] + (T::ONE - b2t) * gi * gi;
        p[i] -= step * m[i] / (v[i].sqrt() / sqrt_bc2 + eps);
    }
}

/// One AdamW step (decoupled weight decay, PyTorch's `AdamW`): p *= 1 - lr wd, then Adam.
#[allow(clippy::too_many_arguments)]
pub fn adamw_step<T: Real>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    t: u64,
    lr: f64,
    weight_decay: f64,
    c: AdamConstants,
) {
    let keep = T::from_f64(1.0 - lr * weight_decay);
    for x in p.iter_mut() {
        *x *= keep;
    }
    adam_step(p, g, m, v, t, lr, c);
}

/// Scale `g` so that its Euclidean norm is at most `max_norm`, as PyTorch's `clip_grad_norm_`
/// does: by max_norm / (norm + 1e-6) whenever that is below 1, so a norm within 1e-6 under the
/// limit is scaled too; returns the norm before clipping.
pub fn clip_norm<T: Real>(g: &mut [T], max_norm: f64) -> f64 {
    let norm = g
        .iter()
        .map(|x| x.to_f64() * x.to_f64())
        .sum::<f64>()
        .sqrt();
    let coefficient = max_norm / (norm + 1e-6);
    if coefficient < 1.0 {
        let s = T::from_f64(coefficient);
        for x in g.iter_mut() {
            *x *= s;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_adam_step_moves_each_parameter_by_about_lr() {
        let c = AdamConstants {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let (mut p, mut m, mut v) = (vec![1.0f64, -2.0], vec![0.0; 2], vec![0.0; 2]);
        adam_step(&mut p, &[0.5, -3.0], &mut m, &mut v, 1, 0.01, c);
        // m_hat = g, v_hat = g^2: each moves by lr |g| / (|g| + eps) against its gradient
        assert!((p[0] - (1.0 - 0.01 * 0.5 / (0.5 + 1e-7))).abs() < 1e-15);
        assert!((p[1] - (-2.0 + 0.01 * 3.0 / (3.0 + 1e-7))).abs() < 1e-15);
    }

    #[test]
    fn adamw_decays_before_the_adam_step_and_clipping_bounds_the_norm() {
        let c = AdamConstants {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let (mut p, mut m, mut v) = (vec![2.0f64], vec![0.0], vec![0.0]);
        adamw_step(&mut p, &[1.0], &mut m, &mut v, 1, 0.1, 0.5, c);
        // 2 (1 - 0.05) - 0.1 * 1 / (1 + 1e-8)
        assert!((p[0] - (1.9 - 0.1 / (1.0 + 1e-8))).abs() < 1e-12);
        let mut g = vec![3.0f64, 4.0];
        assert_eq!(clip_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
        let mut small = vec![0.3f64];
        clip_norm(&mut small, 1.0);
        assert_eq!(small, [0.3]);
        // at the limit itself PyTorch still scales, by max / (norm + 1e-6)
        let mut at_limit = vec![1.0f64];
        clip_norm(&mut at_limit, 1.0);
        assert_eq!(at_limit, [1.0 / (1.0 + 1e-6)]);
        let mut under = vec![1.0f64 - 2e-6];
        clip_norm(&mut under, 1.0);
        assert_eq!(under, [1.0 - 2e-6]);
    }
}
