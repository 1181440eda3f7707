//! The compatibility CNN (stage 1 of the reference's pipeline, `training/class_rnn_1_compatibility.py`):
//! a feed-forward network with CordsNet's layer graph, batch norm where the RNN will have its
//! dynamics. Each area computes
//!
//!   u_l = BN1(A_l * h_l),  x_l = ReLU(BN2(C_l * u_l)),
//!
//! with no ReLU between A_l and C_l (C_l sits where the recurrent conv will go), the drives h_l
//! built from the x's as CordsNet's from the rates (the odd areas' 1 x 1 skip with its own batch
//! norm), the stem BN(conv 7 x 7) then the average pool, and the readout FC(GAP(x_{L-1} + x_{L-2})).
//! Batch norm uses the batch's statistics in training (biased variance) and keeps running averages
//! (momentum 0.1, unbiased variance) for evaluation, as PyTorch's `BatchNorm2d`. The reference's
//! unused `area_bias` parameters are left out. Forward and backward are derived by hand.

use crate::conv::Conv2d;
use crate::cordsnet::{kaiming_uniform, AreaShape, CordsNet, CordsNetShape, Layout};
use crate::pool::{global_avg, global_avg_backward, AvgPool};
use biornn_numerics::{Real, Result, Streams};
use std::ops::Range;

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// A batch norm's parameters and running statistics, by position in the layouts.
#[derive(Debug, Clone, PartialEq)]
struct Norm {
    gamma: Range<usize>,
    beta: Range<usize>,
    mean: Range<usize>,
    var: Range<usize>,
}

/// What a normalisation in training mode keeps for its backward pass.
#[derive(Debug, Clone, Default)]
struct NormCache<T> {
    xhat: Vec<T>,
    inv_std: Vec<f64>,
}

/// The compatibility CNN of a CordsNet shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CompatCnn {
    pub shape: CordsNetShape,
    pub areas: Vec<AreaShape>,
    /// trained parameters
    pub layout: Layout,
    /// batch norms' running means and variances
    pub buffers: Layout,
    stem_out: AreaShape,
    stem_mid: AreaShape,
    convs: Convs,
    p_inp_conv: Range<usize>,
    p_inp_skip: Range<usize>,
    inp_norm: Norm,
    p_area_area: Vec<Range<usize>>,
    p_area_conv: Vec<Range<usize>>,
    area_norm: Vec<Norm>,
    area_nrm2: Vec<Norm>,
    p_skip_area: Vec<Range<usize>>,
    skip_norm: Vec<Norm>,
    p_out_w: Range<usize>,
    p_out_b: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Convs {
    stem: Conv2d,
    pool: AvgPool,
    skip: Conv2d,
    area_area: Vec<Conv2d>,
    area_conv: Vec<Conv2d>,
    skip_area: Vec<Conv2d>,
}

fn norm(layout: &mut Layout, buffers: &mut Layout, name: &str, c: usize) -> Norm {
    Norm {
        gamma: layout_push(layout, format!("{name}.weight"), vec![c]),
        beta: layout_push(layout, format!("{name}.bias"), vec![c]),
        mean: layout_push(buffers, format!("{name}.running_mean"), vec![c]),
        var: layout_push(buffers, format!("{name}.running_var"), vec![c]),
    }
}

fn layout_push(layout: &mut Layout, name: String, shape: Vec<usize>) -> Range<usize> {
    let n: usize = shape.iter().product();
    let range = layout.len..layout.len + n;
    layout.len += n;
    layout.tensors.push(crate::cordsnet::Tensor {
        name,
        shape,
        range: range.clone(),
    });
    range
}

/// A conv with the batch norm after it folded in: plain weights and a bias per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedConv {
    pub weight: Vec<f64>,
    pub bias: Vec<f64>,
}

/// The compatibility CNN's weights with its batch norms folded in (in evaluation mode the CNN is
/// then x_l = ReLU(C_l (A_l h_l + a_l) + c_l) with per-channel a_l, c_l, the stem's and skips'
/// biases to be pushed into them).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedNorms {
    pub stem: FoldedConv,
    /// K, which has no norm of its own
    pub inp_skip: Vec<f64>,
    pub area_area: Vec<FoldedConv>,
    pub area_conv: Vec<FoldedConv>,
    pub skip_area: Vec<FoldedConv>,
    pub out_w: Vec<f64>,
    pub out_b: Vec<f64>,
}

/// The activations of one forward pass, kept for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct CnnPass<T> {
    /// the stem's conv output, before its batch norm
    pub stem_mid: Vec<T>,
    stem_norm: NormCache<T>,
    s: Vec<T>,
    ks: Vec<T>,
    /// per area: the drive, A h, its norm's cache, u, C u's norm cache, the output x
    h: Vec<Vec<T>>,
    n1: Vec<NormCache<T>>,
    u: Vec<Vec<T>>,
    n2: Vec<NormCache<T>>,
    x: Vec<Vec<T>>,
    skip: Vec<NormCache<T>>,
    feat: Vec<T>,
    pub logits: Vec<T>,
}

impl CompatCnn {
    pub fn new(shape: &CordsNetShape) -> Result<Self> {
        // the same areas as the RNN: build its structure for the sizes
        let rnn = CordsNet::new(shape)?;
        let (mut layout, mut buffers) = (Layout::default(), Layout::default());
        let c0 = rnn.stem_out.c;
        let p_inp_conv = layout_push(
            &mut layout,
            "inp_conv.weight".into(),
            vec![c0, shape.in_channels, 7, 7],
        );
        let inp_norm = norm(&mut layout, &mut buffers, "inp_norm", c0);
        let p_inp_skip = layout_push(&mut layout, "inp_skip.weight".into(), vec![c0, c0, 3, 3]);
        let (mut p_area_area, mut p_area_conv, mut area_norm, mut area_nrm2) =
            (vec![], vec![], vec![], vec![]);
        let (mut aa, mut ac) = (vec![], vec![]);
        let mut prev = rnn.stem_out;
        for (l, a) in rnn.areas.iter().enumerate() {
            let stride = if l >= 2 && l.is_multiple_of(2) { 2 } else { 1 };
            aa.push(Conv2d::new(prev.c, a.c, 3, stride, 1));
            ac.push(Conv2d::new(a.c, a.c, 3, 1, 1));
            p_area_area.push(layout_push(
                &mut layout,
                format!("area_area.{l}.weight"),
                vec![a.c, prev.c, 3, 3],
            ));
            area_norm.push(norm(
                &mut layout,
                &mut buffers,
                &format!("area_norm.{l}"),
                a.c,
            ));
            p_area_conv.push(layout_push(
                &mut layout,
                format!("area_conv.{l}.weight"),
                vec![a.c, a.c, 3, 3],
            ));
            area_nrm2.push(norm(
                &mut layout,
                &mut buffers,
                &format!("area_nrm2.{l}"),
                a.c,
            ));
            prev = *a;
        }
        let (mut p_skip_area, mut skip_norm, mut sk) = (vec![], vec![], vec![]);
        for l in (3..shape.depth).step_by(2) {
            let i = (l - 3) / 2;
            let (from, to) = (rnn.areas[l - 2].c, rnn.areas[l].c);
            sk.push(Conv2d::new(from, to, 1, 2, 0));
            p_skip_area.push(layout_push(
                &mut layout,
                format!("skip_area.{i}.weight"),
                vec![to, from, 1, 1],
            ));
            skip_norm.push(norm(
                &mut layout,
                &mut buffers,
                &format!("skip_norm.{i}"),
                to,
            ));
        }
        let top = rnn.areas[shape.depth - 1].c;
        let p_out_w = layout_push(
            &mut layout,
            "out_fc.weight".into(),
            vec![shape.classes, top],
        );
        let p_out_b = layout_push(&mut layout, "out_fc.bias".into(), vec![shape.classes]);
        let stem = Conv2d::new(shape.in_channels, c0, 7, 2, 3);
        let (h1, w1) = stem.out_size(shape.image.0, shape.image.1);
        Ok(CompatCnn {
            shape: shape.clone(),
            areas: rnn.areas.clone(),
            layout,
            buffers,
            stem_out: rnn.stem_out,
            stem_mid: AreaShape {
                c: c0,
                h: h1,
                w: w1,
            },
            convs: Convs {
                stem,
                pool: AvgPool {
                    k: 3,
                    stride: 2,
                    pad: 1,
                },
                skip: Conv2d::new(c0, c0, 3, 1, 1),
                area_area: aa,
                area_conv: ac,
                skip_area: sk,
            },
            p_inp_conv,
            p_inp_skip,
            inp_norm,
            p_area_area,
            p_area_conv,
            area_norm,
            area_nrm2,
            p_skip_area,
            skip_norm,
            p_out_w,
            p_out_b,
        })
    }

    pub fn depth(&self) -> usize {
        self.areas.len()
    }

    /// Every conv followed by a batch norm with the norm folded in (stage 1b, the reference's
    /// `main_training_1_folding.py`): weights scaled per output channel by gamma / sqrt(var + eps),
    /// the bias beta - mean gamma / sqrt(var + eps) per channel, from the running statistics.
    pub fn fold_norms<T: Real>(&self, theta: &[T], buffers: &[T]) -> FoldedNorms {
        let f = |w: &Range<usize>, nm: &Norm| -> FoldedConv {
            let c = nm.gamma.len();
            let per = w.len() / c;
            let (mut weight, mut bias) = (Vec::with_capacity(w.len()), Vec::with_capacity(c));
            for ch in 0..c {
                let scale = theta[nm.gamma.start + ch].to_f64()
                    / (buffers[nm.var.start + ch].to_f64() + EPS).sqrt();
                let row = &theta[w.start + ch * per..w.start + (ch + 1) * per];
                weight.extend(row.iter().map(|v| v.to_f64() * scale));
                bias.push(
                    theta[nm.beta.start + ch].to_f64()
                        - buffers[nm.mean.start + ch].to_f64() * scale,
                );
            }
            FoldedConv { weight, bias }
        };
        let plain = |r: &Range<usize>| theta[r.clone()].iter().map(|v| v.to_f64()).collect();
        FoldedNorms {
            stem: f(&self.p_inp_conv, &self.inp_norm),
            inp_skip: plain(&self.p_inp_skip),
            area_area: (0..self.depth())
                .map(|l| f(&self.p_area_area[l], &self.area_norm[l]))
                .collect(),
            area_conv: (0..self.depth())
                .map(|l| f(&self.p_area_conv[l], &self.area_nrm2[l]))
                .collect(),
            skip_area: (0..self.p_skip_area.len())
                .map(|i| f(&self.p_skip_area[i], &self.skip_norm[i]))
                .collect(),
            out_w: plain(&self.p_out_w),
            out_b: plain(&self.p_out_b),
        }
    }

    /// PyTorch's defaults: convs and the readout Kaiming-uniform (bound 1/sqrt(fan_in)), batch
    /// norms gamma 1 and beta 0, running means 0 and variances 1; from stream `cnn_init`.
    pub fn init<T: Real>(&self, streams: &Streams) -> (Vec<T>, Vec<T>) {
        let mut theta = vec![T::ZERO; self.layout.len];
        let mut rng = streams.stream("cnn_init", 0);
        for t in &self.layout.tensors {
            let is_norm = t.name.contains("norm") || t.name.contains("nrm2");
            let fill = match (is_norm, t.name.ends_with(".weight")) {
                (true, true) => Some(1.0),
                (true, false) => Some(0.0),
                (false, _) => None,
            };
            match fill {
                Some(v) => theta[t.range.clone()].fill(T::from_f64(v)),
                None => {
                    let top = self.areas[self.depth() - 1].c;
                    kaiming_uniform(&mut theta[t.range.clone()], t, top, &mut rng);
                }
            }
        }
        let mut buffers = vec![T::ZERO; self.buffers.len];
        for t in &self.buffers.tensors {
            if t.name.ends_with("running_var") {
                buffers[t.range.clone()].fill(T::ONE);
            }
        }
        (theta, buffers)
    }

    /// Batch norm over `n` images of `c` channels of `plane` values, in place. Training: the
    /// batch's statistics, kept in `cache`, and the running ones updated; evaluation: the running
    /// ones.
    #[allow(clippy::too_many_arguments)]
    fn norm_forward<T: Real>(
        &self,
        x: &mut [T],
        c: usize,
        plane: usize,
        nm: &Norm,
        theta: &[T],
        buffers: &mut [T],
        cache: Option<&mut NormCache<T>>,
    ) {
        let n = x.len() / (c * plane);
        let m = (n * plane) as f64;
        let (gamma, beta) = (&theta[nm.gamma.clone()], &theta[nm.beta.clone()]);
        match cache {
            Some(cache) => {
                cache.xhat.resize(x.len(), T::ZERO);
                cache.inv_std.resize(c, 0.0);
                for ch in 0..c {
                    let (mut s, mut s2) = (0.0f64, 0.0f64);
                    for img in 0..n {
                        for v in &x[(img * c + ch) * plane..(img * c + ch + 1) * plane] {
                            s += v.to_f64();
                            s2 += v.to_f64() * v.to_f64();
                        }
                    }
                    let mean = s / m;
                    let var = (s2 / m - mean * mean).max(0.0);
                    let inv = 1.0 / (var + EPS).sqrt();
                    cache.inv_std[ch] = inv;
                    let (mu, istd) = (T::from_f64(mean), T::from_f64(inv));
                    for img in 0..n {
                        let at = (img * c + ch) * plane;
                        for k in at..at + plane {
                            let xh = (x[k] - mu) * istd;
                            cache.xhat[k] = xh;
                            x[k] = gamma[ch] * xh + beta[ch];
                        }
                    }
                    let unbiased = if m > 1.0 { var * m / (m - 1.0) } else { var };
                    let rm = &mut buffers[nm.mean.start + ch];
                    *rm = T::from_f64((1.0 - MOMENTUM) * rm.to_f64() + MOMENTUM * mean);
                    let rv = &mut buffers[nm.var.start + ch];
                    *rv = T::from_f64((1.0 - MOMENTUM) * rv.to_f64() + MOMENTUM * unbiased);
                }
            }
            None => {
                for ch in 0..c {
                    let mu = buffers[nm.mean.start + ch];
                    let istd =
                        T::from_f64(1.0 / (buffers[nm.var.start + ch].to_f64() + EPS).sqrt());
                    for img in 0..n {
                        for v in &mut x[(img * c + ch) * plane..(img * c + ch + 1) * plane] {
                            *v = gamma[ch] * (*v - mu) * istd + beta[ch];
                        }
                    }
                }
            }
        }
    }

    /// The backward pass of a training-mode batch norm: `dy` becomes the gradient with respect to
    /// its input; gamma's and beta's gradients are added into `grad`.
    #[allow(clippy::too_many_arguments)]
    fn norm_backward<T: Real>(
        &self,
        dy: &mut [T],
        c: usize,
        plane: usize,
        nm: &Norm,
        theta: &[T],
        cache: &NormCache<T>,
        grad: &mut [T],
    ) {
        let n = dy.len() / (c * plane);
        let m = (n * plane) as f64;
        for ch in 0..c {
            let (mut sdy, mut sdyx) = (0.0f64, 0.0f64);
            for img in 0..n {
                let at = (img * c + ch) * plane;
                for k in at..at + plane {
                    sdy += dy[k].to_f64();
                    sdyx += dy[k].to_f64() * cache.xhat[k].to_f64();
                }
            }
            grad[nm.gamma.start + ch] += T::from_f64(sdyx);
            grad[nm.beta.start + ch] += T::from_f64(sdy);
            let g = theta[nm.gamma.start + ch].to_f64() * cache.inv_std[ch] / m;
            for img in 0..n {
                let at = (img * c + ch) * plane;
                for k in at..at + plane {
                    let v = g * (m * dy[k].to_f64() - sdy - cache.xhat[k].to_f64() * sdyx);
                    dy[k] = T::from_f64(v);
                }
            }
        }
    }

    /// The logits of `n` images; in training mode (`train`) the batch norms use the batch's
    /// statistics and update the running ones in `buffers`, and the pass keeps what the backward
    /// pass needs.
    pub fn forward<T: Real>(
        &self,
        theta: &[T],
        buffers: &mut [T],
        images: &[T],
        n: usize,
        train: bool,
    ) -> CnnPass<T> {
        let cv = &self.convs;
        let mut pass = CnnPass::<T>::default();
        let (mid, so) = (self.stem_mid, self.stem_out);
        pass.stem_mid = vec![T::ZERO; n * mid.units()];
        cv.stem.forward(
            &theta[self.p_inp_conv.clone()],
            images,
            self.shape.image,
            &mut pass.stem_mid,
            false,
        );
        let mut normed = pass.stem_mid.clone();
        let mut cache = NormCache::default();
        self.norm_forward(
            &mut normed,
            mid.c,
            mid.h * mid.w,
            &self.inp_norm,
            theta,
            buffers,
            train.then_some(&mut cache),
        );
        pass.stem_norm = cache;
        pass.s = vec![T::ZERO; n * so.units()];
        cv.pool.forward(&normed, n * mid.c, mid.hw(), &mut pass.s);
        pass.ks = vec![T::ZERO; pass.s.len()];
        cv.skip.forward(
            &theta[self.p_inp_skip.clone()],
            &pass.s,
            so.hw(),
            &mut pass.ks,
            false,
        );
        for l in 0..self.depth() {
            let a = self.areas[l];
            let h: Vec<T> = match l {
                0 => pass.s.clone(),
                1 => pass.x[0]
                    .iter()
                    .zip(&pass.ks)
                    .map(|(x, k)| *x + *k)
                    .collect(),
                _ if l.is_multiple_of(2) => pass.x[l - 1]
                    .iter()
                    .zip(&pass.x[l - 2])
                    .map(|(x, y)| *x + *y)
                    .collect(),
                _ => {
                    let i = (l - 3) / 2;
                    let mut q = vec![T::ZERO; n * a.units()];
                    cv.skip_area[i].forward(
                        &theta[self.p_skip_area[i].clone()],
                        &pass.x[l - 2],
                        self.areas[l - 2].hw(),
                        &mut q,
                        false,
                    );
                    let mut cache = NormCache::default();
                    self.norm_forward(
                        &mut q,
                        a.c,
                        a.h * a.w,
                        &self.skip_norm[i],
                        theta,
                        buffers,
                        train.then_some(&mut cache),
                    );
                    pass.skip.push(cache);
                    pass.x[l - 1].iter().zip(&q).map(|(x, y)| *x + *y).collect()
                }
            };
            let input = if l == 0 { so } else { self.areas[l - 1] };
            let mut u = vec![T::ZERO; n * a.units()];
            cv.area_area[l].forward(
                &theta[self.p_area_area[l].clone()],
                &h,
                input.hw(),
                &mut u,
                false,
            );
            let mut c1 = NormCache::default();
            self.norm_forward(
                &mut u,
                a.c,
                a.h * a.w,
                &self.area_norm[l],
                theta,
                buffers,
                train.then_some(&mut c1),
            );
            let mut v = vec![T::ZERO; n * a.units()];
            cv.area_conv[l].forward(
                &theta[self.p_area_conv[l].clone()],
                &u,
                a.hw(),
                &mut v,
                false,
            );
            let mut c2 = NormCache::default();
            self.norm_forward(
                &mut v,
                a.c,
                a.h * a.w,
                &self.area_nrm2[l],
                theta,
                buffers,
                train.then_some(&mut c2),
            );
            for x in &mut v {
                *x = x.max(T::ZERO);
            }
            pass.h.push(h);
            pass.n1.push(c1);
            pass.u.push(u);
            pass.n2.push(c2);
            pass.x.push(v);
        }
        let depth = self.depth();
        let top = self.areas[depth - 1];
        let sum: Vec<T> = pass.x[depth - 1]
            .iter()
            .zip(&pass.x[depth - 2])
            .map(|(a, b)| *a + *b)
            .collect();
        pass.feat = vec![T::ZERO; n * top.c];
        global_avg(&sum, top.h * top.w, &mut pass.feat);
        let (k, c) = (self.shape.classes, top.c);
        let (u, b) = (&theta[self.p_out_w.clone()], &theta[self.p_out_b.clone()]);
        pass.logits = (0..n * k)
            .map(|ij| {
                let (i, j) = (ij / k, ij % k);
                let mut s = b[j];
                for (w, f) in u[j * c..(j + 1) * c]
                    .iter()
                    .zip(&pass.feat[i * c..(i + 1) * c])
                {
                    s += *w * *f;
                }
                s
            })
            .collect();
        pass
    }

    /// Mean cross-entropy of a training-mode pass against `labels` and its gradient, added into
    /// `grad`; returns the loss and the number classified right.
    pub fn backward<T: Real>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[usize],
        pass: &CnnPass<T>,
        grad: &mut [T],
    ) -> (f64, usize) {
        let n = labels.len();
        let cv = &self.convs;
        let depth = self.depth();
        let top = self.areas[depth - 1];
        let (k, c) = (self.shape.classes, top.c);
        let (mut loss, mut correct) = (0.0, 0);
        let mut dfeat = vec![T::ZERO; n * c];
        for i in 0..n {
            let row = &pass.logits[i * k..(i + 1) * k];
            let mx = row
                .iter()
                .map(|v| v.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|v| (v.to_f64() - mx).exp()).sum();
            loss += (z.ln() + mx - row[labels[i]].to_f64()) / n as f64;
            let best = (0..k)
                .max_by(|a, b| row[*a].to_f64().total_cmp(&row[*b].to_f64()))
                .unwrap_or(0);
            correct += (best == labels[i]) as usize;
            for j in 0..k {
                let p = (row[j].to_f64() - mx).exp() / z;
                let d = T::from_f64((p - (j == labels[i]) as u8 as f64) / n as f64);
                grad[self.p_out_b.start + j] += d;
                let urow = self.p_out_w.start + j * c;
                for ch in 0..c {
                    grad[urow + ch] += d * pass.feat[i * c + ch];
                    dfeat[i * c + ch] += d * theta[urow + ch];
                }
            }
        }
        let mut dx: Vec<Vec<T>> = self
            .areas
            .iter()
            .map(|a| vec![T::ZERO; n * a.units()])
            .collect();
        let mut dsum = vec![T::ZERO; n * top.units()];
        global_avg_backward(&dfeat, top.h * top.w, &mut dsum);
        for l in [depth - 1, depth - 2] {
            for (d, s) in dx[l].iter_mut().zip(&dsum) {
                *d += *s;
            }
        }
        let so = self.stem_out;
        let mut ds = vec![T::ZERO; pass.s.len()];
        let mut dks = vec![T::ZERO; pass.s.len()];
        for l in (0..depth).rev() {
            let a = self.areas[l];
            let plane = a.h * a.w;
            // through the ReLU and BN2
            let mut dv: Vec<T> = dx[l]
                .iter()
                .zip(&pass.x[l])
                .map(|(d, x)| if *x > T::ZERO { *d } else { T::ZERO })
                .collect();
            self.norm_backward(
                &mut dv,
                a.c,
                plane,
                &self.area_nrm2[l],
                theta,
                &pass.n2[l],
                grad,
            );
            cv.area_conv[l].backward_weight(
                &pass.u[l],
                &dv,
                a.hw(),
                &mut grad[self.p_area_conv[l].clone()],
            );
            let mut du = vec![T::ZERO; n * a.units()];
            cv.area_conv[l].backward_input(
                &theta[self.p_area_conv[l].clone()],
                &dv,
                a.hw(),
                &mut du,
            );
            self.norm_backward(
                &mut du,
                a.c,
                plane,
                &self.area_norm[l],
                theta,
                &pass.n1[l],
                grad,
            );
            let input = if l == 0 { so } else { self.areas[l - 1] };
            cv.area_area[l].backward_weight(
                &pass.h[l],
                &du,
                input.hw(),
                &mut grad[self.p_area_area[l].clone()],
            );
            let mut dh = vec![T::ZERO; n * input.units()];
            cv.area_area[l].backward_input(
                &theta[self.p_area_area[l].clone()],
                &du,
                input.hw(),
                &mut dh,
            );
            let add = |to: &mut Vec<T>, from: &[T]| {
                for (t, f) in to.iter_mut().zip(from) {
                    *t += *f;
                }
            };
            match l {
                0 => add(&mut ds, &dh),
                1 => {
                    add(&mut dx[0], &dh);
                    add(&mut dks, &dh);
                }
                _ if l.is_multiple_of(2) => {
                    add(&mut dx[l - 1], &dh);
                    add(&mut dx[l - 2], &dh);
                }
                _ => {
                    add(&mut dx[l - 1], &dh);
                    let i = (l - 3) / 2;
                    let mut dq = dh.clone();
                    self.norm_backward(
                        &mut dq,
                        a.c,
                        plane,
                        &self.skip_norm[i],
                        theta,
                        &pass.skip[i],
                        grad,
                    );
                    let from = self.areas[l - 2];
                    cv.skip_area[i].backward_weight(
                        &pass.x[l - 2],
                        &dq,
                        from.hw(),
                        &mut grad[self.p_skip_area[i].clone()],
                    );
                    let mut back = vec![T::ZERO; n * from.units()];
                    cv.skip_area[i].backward_input(
                        &theta[self.p_skip_area[i].clone()],
                        &dq,
                        from.hw(),
                        &mut back,
                    );
                    add(&mut dx[l - 2], &back);
                }
            }
        }
        cv.skip
            .backward_weight(&pass.s, &dks, so.hw(), &mut grad[self.p_inp_skip.clone()]);
        cv.skip
            .backward_input(&theta[self.p_inp_skip.clone()], &dks, so.hw(), &mut ds);
        let mid = self.stem_mid;
        let mut dmid = vec![T::ZERO; n * mid.units()];
        cv.pool.backward(&ds, n * mid.c, mid.hw(), &mut dmid);
        self.norm_backward(
            &mut dmid,
            mid.c,
            mid.h * mid.w,
            &self.inp_norm,
            theta,
            &pass.stem_norm,
            grad,
        );
        cv.stem.backward_weight(
            images,
            &dmid,
            self.shape.image,
            &mut grad[self.p_inp_conv.clone()],
        );
        (loss, correct)
    }
}
