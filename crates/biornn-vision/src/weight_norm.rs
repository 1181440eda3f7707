//! Training through the weight-norm parametrisation the reference's convs and readout carry
//! (`torch.nn.utils.parametrizations.weight_norm`): each weight is `w = g v / |v|`, the norm per
//! output channel over all other axes, and the optimiser steps `g` and `v`, not `w`. Adam's
//! per-parameter scaling and the decoupled decay then act on `g` and `v`, so a run takes the
//! reference's steps from the same gradient.
//!
//! The parameters the optimiser sees, `phi`, are the network's parameter vector with every
//! weight-normed tensor's `w` replaced by its `v`, followed by all the gains `g` in tensor order:
//! biases and other tensors keep their places. Only this module knows that layout.

use crate::cordsnet::Layout;
use biornn_numerics::Real;
use std::ops::Range;

/// One weight-normed tensor: where its `w` (and `v`) lies, its elements per output channel, and
/// where its gains start after the parameter vector.
#[derive(Debug, Clone, PartialEq)]
struct Normed {
    range: Range<usize>,
    per: usize,
    gains: usize,
}

/// The weight-normed tensors of a layout: those named `*.weight` of rank 2 or more (the convs and
/// linear layers; batch norms' rank-1 weights stay plain), as the reference's state dicts have them.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightNorm {
    tensors: Vec<Normed>,
    len: usize,
    gains: usize,
}

impl WeightNorm {
    pub fn new(layout: &Layout) -> Self {
        let mut tensors = vec![];
        let mut gains = 0;
        for t in &layout.tensors {
            let normed = t.name.ends_with(".weight") && t.shape.len() >= 2;
            if normed && t.shape[0] > 0 && !t.range.is_empty() {
                tensors.push(Normed {
                    range: t.range.clone(),
                    per: t.range.len() / t.shape[0],
                    gains,
                });
                gains += t.shape[0];
            }
        }
        WeightNorm {
            tensors,
            len: layout.len,
            gains,
        }
    }

    /// The optimiser's parameter count: the network's and one gain per output channel.
    pub fn params_len(&self) -> usize {
        self.len + self.gains
    }

    /// The parametrisation of `theta` as `weight_norm` makes it: `v = w` and `g = |w|` per output
    /// channel. An all-zero channel, where `weight_norm` would make `w` 0/0 (NaN), becomes `g = 0`
    /// with `v` of unit length along (1, 1, ...): the same zero weights, and trainable.
    pub fn params_of<T: Real>(&self, theta: &[T]) -> Vec<T> {
        assert_eq!(theta.len(), self.len);
        let mut phi = theta.to_vec();
        phi.resize(self.params_len(), T::ZERO);
        let (weights, gains) = phi.split_at_mut(self.len);
        for t in &self.tensors {
            for (o, row) in weights[t.range.clone()].chunks_exact_mut(t.per).enumerate() {
                let n = norm(row);
                if n == 0.0 {
                    row.fill(T::from_f64(1.0 / (t.per as f64).sqrt()));
                }
                gains[t.gains + o] = T::from_f64(n);
            }
        }
        phi
    }

    /// `theta` from `phi`: the plain parameters copied, each weight `g v / |v|` (in f64, rounded
    /// once). Only the tensors `keep` accepts (by their range in `theta`) are written, so that
    /// frozen weights keep their bits.
    pub fn fold_into<T: Real>(
        &self,
        phi: &[T],
        theta: &mut [T],
        keep: impl Fn(&Range<usize>) -> bool,
    ) {
        assert_eq!(phi.len(), self.params_len());
        assert_eq!(theta.len(), self.len);
        let mut at = 0;
        for t in &self.tensors {
            copy_kept(
                &phi[at..t.range.start],
                &mut theta[at..t.range.start],
                &keep,
                at,
            );
            at = t.range.end;
            if !keep(&t.range) {
                continue;
            }
            let v = phi[t.range.clone()].chunks_exact(t.per);
            let w = theta[t.range.clone()].chunks_exact_mut(t.per);
            for (o, (v, w)) in v.zip(w).enumerate() {
                // |v| = 0 is kept out (`params_of`, and the checkpoint readers refuse it); were it
                // to arise, the channel's weights are 0, not NaN
                let n = norm(v);
                let scale = if n > 0.0 {
                    phi[self.len + t.gains + o].to_f64() / n
                } else {
                    0.0
                };
                for (w, v) in w.iter_mut().zip(v) {
                    *w = T::from_f64(scale * v.to_f64());
                }
            }
        }
        copy_kept(&phi[at..self.len], &mut theta[at..], &keep, at);
    }

    /// The gradient with respect to `phi` from the one with respect to `theta`: the plain
    /// parameters' as it is, and for `w = g v / n` (`n = |v|`), `dL/dg = (dL/dw . v) / n` and
    /// `dL/dv = (g / n) (dL/dw - (dL/dg / n) v)`.
    pub fn chain<T: Real>(&self, phi: &[T], grad_theta: &[T], grad_phi: &mut [T]) {
        assert_eq!(grad_theta.len(), self.len);
        assert_eq!(phi.len(), self.params_len());
        assert_eq!(grad_phi.len(), self.params_len());
        grad_phi[..self.len].copy_from_slice(grad_theta);
        for t in &self.tensors {
            let v = phi[t.range.clone()].chunks_exact(t.per);
            let dw = grad_theta[t.range.clone()].chunks_exact(t.per);
            let dv = grad_phi[t.range.clone()].chunks_exact_mut(t.per);
            let mut dgs = vec![0.0f64; t.range.len() / t.per.max(1)];
            for (o, ((v, dw), dv)) in v.zip(dw).zip(dv).enumerate() {
                let n = norm(v);
                if n == 0.0 {
                    // no direction to move g along, and v's gradient is unbounded: hold the
                    // channel (never NaN, which would also disarm the gradient clipping)
                    dv.fill(T::ZERO);
                    continue;
                }
                let g = phi[self.len + t.gains + o].to_f64();
                let dot: f64 = v.iter().zip(dw).map(|(a, b)| a.to_f64() * b.to_f64()).sum();
                let dg = dot / n;
                for ((dv, v), dw) in dv.iter_mut().zip(v).zip(dw) {
                    *dv = T::from_f64(g / n * (dw.to_f64() - dg / n * v.to_f64()));
                }
                dgs[o] = dg;
            }
            for (o, dg) in dgs.into_iter().enumerate() {
                grad_phi[self.len + t.gains + o] = T::from_f64(dg);
            }
        }
    }

    /// Rescale `v` to unit length per output channel (`g` unchanged, so `w` stays) in the tensors
    /// `which` accepts (by their range in `theta`): how the reference's batch-norm folding leaves
    /// the convs it folds (`v' = v / |v|`, the scale in `g'`).
    pub fn unit_v<T: Real>(&self, phi: &mut [T], which: impl Fn(&Range<usize>) -> bool) {
        for t in self.tensors.iter().filter(|t| which(&t.range)) {
            for row in phi[t.range.clone()].chunks_exact_mut(t.per) {
                let n = norm(row);
                if n > 0.0 {
                    row.iter_mut()
                        .for_each(|v| *v = T::from_f64(v.to_f64() / n));
                }
            }
        }
    }

    /// Each weight-normed tensor: the range of its `w` in `theta` (of its `v` in `phi`) and the
    /// range of its gains in `phi`.
    pub fn pairs(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        self.tensors.iter().map(|t| {
            let g0 = self.len + t.gains;
            (t.range.clone(), g0..g0 + t.range.len() / t.per)
        })
    }

    /// The ranges of `phi` that train when `trainable` (ranges of `theta`) train: the same
    /// ranges, and the gains of each weight-normed tensor inside one of them.
    pub fn trainable(&self, trainable: &[Range<usize>]) -> Vec<Range<usize>> {
        let mut out = trainable.to_vec();
        out.extend(
            self.pairs()
                .filter(|(w, _)| inside(w, trainable))
                .map(|(_, g)| g),
        );
        out
    }
}

/// Whether `r` lies inside one of `ranges`.
pub fn inside(r: &Range<usize>, ranges: &[Range<usize>]) -> bool {
    ranges.iter().any(|k| k.start <= r.start && r.end <= k.end)
}

/// The elements of `src` (at `offset` in the parameter vector) that `keep` accepts, one by one.
fn copy_kept<T: Real>(
    src: &[T],
    dst: &mut [T],
    keep: &impl Fn(&Range<usize>) -> bool,
    offset: usize,
) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        if keep(&(offset + i..offset + i + 1)) {
            *d = *s;
        }
    }
}

fn norm<T: Real>(row: &[T]) -> f64 {
    row.iter()
        .map(|x| x.to_f64() * x.to_f64())
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cordsnet::Tensor;

    fn layout() -> Layout {
        // a 2 x 3 weight, a bias of 2, a 1-d batch-norm weight of 2 (plain), a 3 x 1 x 2 weight
        let mut l = Layout::default();
        for (name, shape) in [
            ("a.weight", vec![2, 3]),
            ("a.bias", vec![2]),
            ("bn.weight", vec![2]),
            ("b.weight", vec![3, 1, 2]),
        ] {
            let n: usize = shape.iter().product();
            l.tensors.push(Tensor {
                name: name.into(),
                shape,
                range: l.len..l.len + n,
            });
            l.len += n;
        }
        l
    }

    #[test]
    fn weight_norm_by_hand() {
        let wn = WeightNorm::new(&layout());
        assert_eq!(wn.params_len(), 16 + 5);
        // rows (3, 0, 4) and (0, 1, 0); bias, bn plain; rows (6, 8), (1, 0), (0, 2)
        let theta = [
            3., 0., 4., 0., 1., 0., 0.5, -0.5, 2., 3., 6., 8., 1., 0., 0., 2.,
        ];
        let phi = wn.params_of(&theta);
        assert_eq!(&phi[..16], &theta);
        assert_eq!(&phi[16..], &[5., 1., 10., 1., 2.]);
        // g doubled on the first row of a and the last of b; v of b's first row halved
        let mut phi2 = phi.clone();
        phi2[16] = 10.0;
        phi2[20] = 4.0;
        phi2[10] = 3.0;
        phi2[11] = 4.0;
        let mut w = vec![0.0; 16];
        wn.fold_into(&phi2, &mut w, |_| true);
        assert_eq!(
            w,
            [6., 0., 8., 0., 1., 0., 0.5, -0.5, 2., 3., 6., 8., 1., 0., 0., 4.]
        );
        // frozen tensors keep their bits
        let mut w = vec![9.0; 16];
        wn.fold_into(&phi2, &mut w, |r| r.end <= 6);
        assert_eq!(&w[..6], &[6., 0., 8., 0., 1., 0.]);
        assert!(w[6..].iter().all(|v| *v == 9.0));
        // unit v where asked, the gains (and so w) unchanged
        let mut unit = phi.clone();
        wn.unit_v(&mut unit, |r| r.start == 10);
        assert_eq!(&unit[10..16], &[0.6, 0.8, 1., 0., 0., 1.]);
        assert_eq!(&unit[..10], &phi[..10]);
        assert_eq!(&unit[16..], &phi[16..]);
        // gains of a tensor inside a trainable range train with it
        let (a, b) = (0..6, 6..10);
        assert_eq!(wn.trainable(std::slice::from_ref(&a)), [a, 16..18]);
        assert_eq!(wn.trainable(std::slice::from_ref(&b)), [b]);
    }

    #[test]
    fn chain_rule_equals_finite_differences_in_f64() {
        let wn = WeightNorm::new(&layout());
        let theta: Vec<f64> = (0..16).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
        let phi = wn.params_of(&theta);
        // L(w) = sum c_i w_i + 0.5 sum w_i^2 over the folded weights, so dL/dw = c + w
        let c: Vec<f64> = (0..16).map(|i| ((i * 5 % 7) as f64 - 3.0) / 2.0).collect();
        let fold = |phi: &[f64]| {
            let mut w = vec![0.0; 16];
            wn.fold_into(phi, &mut w, |_| true);
            w
        };
        let loss = |phi: &[f64]| -> f64 {
            let w = fold(phi);
            w.iter().zip(&c).map(|(w, c)| c * w + 0.5 * w * w).sum()
        };
        let grad_theta: Vec<f64> = fold(&phi).iter().zip(&c).map(|(w, c)| c + w).collect();
        let mut grad_phi = vec![0.0; wn.params_len()];
        wn.chain(&phi, &grad_theta, &mut grad_phi);
        let mut worst = 0.0f64;
        for i in 0..phi.len() {
            let h = 1e-6;
            let (mut up, mut down) = (phi.clone(), phi.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (loss(&up) - loss(&down)) / (2.0 * h);
            worst = worst.max((fd - grad_phi[i]).abs() / (1.0 + fd.abs()));
        }
        assert!(worst < 1e-8, "worst relative difference {worst}");
        // the bias and the batch norm's weight pass through unchanged
        assert_eq!(&grad_phi[6..10], &grad_theta[6..10]);
    }

    #[test]
    fn an_all_zero_channel_stays_zero_and_trainable_never_nan() {
        let wn = WeightNorm::new(&layout());
        // a's second row and b's last row are all zero
        let theta = [
            3., 0., 4., 0., 0., 0., 0.5, -0.5, 2., 3., 6., 8., 1., 0., 0., 0.,
        ];
        let phi = wn.params_of(&theta);
        let unit = 1.0 / 3f64.sqrt();
        assert_eq!(&phi[3..6], &[unit; 3]);
        assert_eq!(&phi[14..16], &[1.0 / 2f64.sqrt(); 2]);
        assert_eq!((phi[17], phi[20]), (0.0, 0.0));
        // the same weights back, zeros included
        let mut w = vec![9.0; 16];
        wn.fold_into(&phi, &mut w, |_| true);
        assert_eq!(w, theta);
        // the zero channel's gain has a gradient (dL/dw . v), so it can grow; v's is g/|v| (...) = 0
        let grad_theta = [1.0; 16];
        let mut grad_phi = vec![f64::NAN; wn.params_len()];
        wn.chain(&phi, &grad_theta, &mut grad_phi);
        assert!(grad_phi.iter().all(|g| g.is_finite()));
        assert!((grad_phi[17] - 3.0 * unit).abs() < 1e-15);
        assert_eq!(&grad_phi[3..6], &[0.0; 3]);
        // a v of zero (which the readers refuse) folds to zero weights and holds still
        let mut zero_v = phi.clone();
        zero_v[3..6].fill(0.0);
        zero_v[17] = 2.0;
        wn.fold_into(&zero_v, &mut w, |_| true);
        assert_eq!(&w[3..6], &[0.0; 3]);
        wn.chain(&zero_v, &grad_theta, &mut grad_phi);
        assert!(grad_phi.iter().all(|g| g.is_finite()));
        assert_eq!((&grad_phi[3..6], grad_phi[17]), (&[0.0; 3][..], 0.0));
    }
}
