//! The loss of the reference's stages 4 and 5 (`class_rnn_5_final.py`) and its exact gradient by
//! backpropagation through time, derived by hand. From the spontaneous state (no gradient, as the
//! reference), `stimulus` steps with the image, cross-entropy at the last `loss_steps` of them
//! weighted 10^-3 .. 1 on a log scale and averaged; then `offset` steps without the image, with the
//! squared distance from the spontaneous state over their last `penalty_steps` as a penalty:
//!
//!   L = (1/K) sum_k w_k CE_k + lambda sum_t sum_l mean((r_l(t) - r_l^spont)^2) / (P L)

use crate::cordsnet::{rectify, Activation, CordsNet};
use crate::pool::{global_avg_backward, AvgPool};
use biornn_numerics::Real;

/// Time protocol and loss weights (section 2.7 of the notes): 100 + 100 + 100 steps at alpha 0.2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocol {
    /// dt / tau
    pub alpha: f64,
    pub spontaneous: usize,
    pub stimulus: usize,
    /// the last stimulus steps whose cross-entropy counts
    pub loss_steps: usize,
    pub offset: usize,
    /// the last offset steps whose distance from the spontaneous state counts
    pub penalty_steps: usize,
    pub penalty_weight: f64,
    /// BPTT's memory: 0 keeps every step's state; k > 0 keeps every k-th and recomputes each
    /// segment of k steps on the way back (memory of about steps / k + k steps' states instead
    /// of steps, for one more forward pass; the gradient is the same to the last bit)
    pub segment: usize,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            alpha: 0.2,
            spontaneous: 100,
            stimulus: 100,
            loss_steps: 30,
            offset: 100,
            penalty_steps: 10,
            penalty_weight: 1e-3,
            segment: 0,
        }
    }
}

impl Protocol {
    /// `torch.logspace(-3, 0, K)`: the weight of each scored stimulus step, latest heaviest.
    pub fn loss_weights(&self) -> Vec<f64> {
        let k = self.loss_steps;
        (0..k)
            .map(|i| {
                let e = if k > 1 {
                    -3.0 + 3.0 * i as f64 / (k - 1) as f64
                } else {
                    0.0
                };
                10f64.powf(e)
            })
            .collect()
    }
}

/// A step's start state and pre-activations, area by area.
type StepRecord<T> = (Vec<Vec<T>>, Vec<Vec<T>>);

/// What one batch scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParts {
    /// the weighted cross-entropy term
    pub cross_entropy: f64,
    /// the offset penalty, before its weight
    pub penalty: f64,
    pub total: f64,
    /// images whose arg-max logit at the last stimulus step is the label
    pub correct: usize,
}

/// Softmax cross-entropy of one row of logits; writes `softmax - onehot` into `grad`.
fn cross_entropy<T: Real>(logits: &[T], label: usize, grad: &mut [T]) -> f64 {
    let m = logits
        .iter()
        .map(|v| v.to_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|v| (v.to_f64() - m).exp()).sum();
    for (j, (g, v)) in grad.iter_mut().zip(logits).enumerate() {
        let p = (v.to_f64() - m).exp() / sum;
        *g = T::from_f64(p - if j == label { 1.0 } else { 0.0 });
    }
    sum.ln() + m - logits[label].to_f64()
}

fn argmax<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = j;
        }
    }
    best
}

impl CordsNet {
    /// The loss of a batch of `labels.len()` images and its gradient, added into `grad` (the
    /// parameter layout). `spont` is one image's spontaneous state (from
    /// [`CordsNet::spontaneous`]): the start of the stimulus and the penalty's reference.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad<T: Real>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[usize],
        spont: &[Vec<T>],
        p: &Protocol,
        act: Activation,
        grad: &mut [T],
    ) -> LossParts {
        let n = labels.len();
        let depth = self.depth();
        let classes = self.shape.classes;
        let top = self.areas[depth - 1];
        let (s, ks) = self.stem(theta, images, n);
        let zeros = vec![T::ZERO; s.len()];
        let steps = p.stimulus + p.offset;
        // the forward pass, keeping each step's start state and pre-activations, or only every
        // k-th state (a segment's start) when segments are recomputed
        let k = if p.segment == 0 || p.segment >= steps {
            steps
        } else {
            p.segment
        };
        let keep_all = k == steps;
        let stem_at = |t: usize| {
            if t < p.stimulus {
                (&s[..], &ks[..])
            } else {
                (&zeros[..], &zeros[..])
            }
        };
        let mut r = self.broadcast(spont, n);
        let mut history: Vec<StepRecord<T>> = Vec::with_capacity(if keep_all { steps } else { k });
        let mut segment_starts: Vec<Vec<Vec<T>>> = vec![];
        let mut scratch = Default::default();
        for t in 0..steps {
            if !keep_all && t % k == 0 {
                segment_starts.push(r.clone());
            }
            let mut z = self.zero_state(n);
            let before = r.clone();
            self.step(
                theta,
                &mut r,
                stem_at(t),
                n,
                p.alpha,
                act,
                &mut z,
                &mut scratch,
            );
            if keep_all {
                history.push((before, z));
            }
        }
        // the steps `history` holds start here; the state after its last step
        let mut first_held = if keep_all { 0 } else { steps };
        let mut after_held = r.clone();
        // the backward pass, from the last step
        let weights = p.loss_weights();
        let first_scored = p.stimulus - p.loss_steps.min(p.stimulus);
        let first_penalised = steps - p.penalty_steps.min(p.offset);
        let mut parts = LossParts {
            cross_entropy: 0.0,
            penalty: 0.0,
            total: 0.0,
            correct: 0,
        };
        let alpha = T::from_f64(p.alpha);
        let keep = T::from_f64(1.0 - p.alpha);
        // g: the gradient with respect to the state after the step being undone
        let mut g = self.zero_state::<T>(n);
        let mut ds = vec![T::ZERO; s.len()];
        let mut dks = vec![T::ZERO; s.len()];
        let mut dz: Vec<T> = vec![];
        let mut dh: Vec<T> = vec![];
        let mut tmp: Vec<T> = vec![];
        let mut q = vec![];
        let mut h = vec![];
        let mut dlogit = vec![T::ZERO; classes];
        for t in (0..steps).rev() {
            if t < first_held {
                // recompute the segment that holds step t from its start
                let s0 = (t / k) * k;
                let mut x = segment_starts[t / k].clone();
                history.clear();
                for u in s0..(s0 + k).min(steps) {
                    let mut z = self.zero_state(n);
                    let before = x.clone();
                    self.step(
                        theta,
                        &mut x,
                        stem_at(u),
                        n,
                        p.alpha,
                        act,
                        &mut z,
                        &mut scratch,
                    );
                    history.push((before, z));
                }
                after_held = match segment_starts.get(t / k + 1) {
                    Some(next) => next.clone(),
                    None => r.clone(),
                };
                first_held = s0;
            }
            let local = t - first_held;
            let after = if local + 1 < history.len() {
                &history[local + 1].0
            } else {
                &after_held
            };
            // the loss terms on the state after step t
            if t < p.stimulus && t >= first_scored {
                let w = weights[t - first_scored] / weights.len() as f64;
                let (feat, _) = self.features(after, n);
                let logits = self.logits(theta, &feat, n);
                let mut dfeat = vec![T::ZERO; n * top.c];
                let (u_range, b_range) = (self.p_out_w.clone(), self.p_out_b.clone());
                for i in 0..n {
                    let row = &logits[i * classes..(i + 1) * classes];
                    let ce = cross_entropy(row, labels[i], &mut dlogit);
                    parts.cross_entropy += w * ce / n as f64;
                    if t + 1 == p.stimulus && argmax(row) == labels[i] {
                        parts.correct += 1;
                    }
                    let scale = T::from_f64(w / n as f64);
                    let f = &feat[i * top.c..(i + 1) * top.c];
                    for j in 0..classes {
                        let d = dlogit[j] * scale;
                        grad[b_range.start + j] += d;
                        let urow = u_range.start + j * top.c;
                        for c in 0..top.c {
                            grad[urow + c] += d * f[c];
                            dfeat[i * top.c + c] += d * theta[urow + c];
                        }
                    }
                }
                let mut dsum = vec![T::ZERO; n * top.units()];
                global_avg_backward(&dfeat, top.h * top.w, &mut dsum);
                for l in [depth - 1, depth - 2] {
                    for ((gv, rv), dv) in g[l].iter_mut().zip(&after[l]).zip(&dsum) {
                        if *rv > T::ZERO {
                            *gv += *dv;
                        }
                    }
                }
            }
            if t >= first_penalised {
                let denom = (p.penalty_steps.min(p.offset) * depth) as f64;
                for l in 0..depth {
                    let units = after[l].len() as f64;
                    let base = &spont[l];
                    let per = base.len();
                    let scale = T::from_f64(2.0 * p.penalty_weight / (units * denom));
                    for (k, (gv, rv)) in g[l].iter_mut().zip(&after[l]).enumerate() {
                        let d = *rv - base[k % per];
                        parts.penalty += d.to_f64() * d.to_f64() / (units * denom);
                        *gv += scale * d;
                    }
                }
            }
            // undo step t: r' = (1 - alpha) r + alpha sigma(z)
            let (before, z) = &history[local];
            let stimulus = t < p.stimulus;
            rectify(before, &mut q);
            let mut gnew: Vec<Vec<T>> = g
                .iter()
                .map(|gl| gl.iter().map(|v| keep * *v).collect())
                .collect();
            for l in 0..depth {
                let a = self.areas[l];
                dz.clear();
                dz.extend(
                    z[l].iter()
                        .zip(&g[l])
                        .map(|(zv, gv)| alpha * act.slope(*zv) * *gv),
                );
                // W_l and the recurrent path
                self.area_conv[l].backward_weight(
                    &before[l],
                    &dz,
                    a.hw(),
                    &mut grad[self.p_area_conv[l].clone()],
                );
                self.area_conv[l].backward_input(
                    &theta[self.p_area_conv[l].clone()],
                    &dz,
                    a.hw(),
                    &mut gnew[l],
                );
                // the per-unit bias
                let b = &mut grad[self.p_conv_bias[l].clone()];
                for img in dz.chunks(a.units()) {
                    for (bv, d) in b.iter_mut().zip(img) {
                        *bv += *d;
                    }
                }
                // A_l and the drive
                let stem = if stimulus {
                    (&s[..], &ks[..])
                } else {
                    (&zeros[..], &zeros[..])
                };
                self.drive(theta, l, &q, stem, &mut h);
                let input = if l == 0 {
                    self.stem_out
                } else {
                    self.areas[l - 1]
                };
                self.area_area[l].backward_weight(
                    &h,
                    &dz,
                    input.hw(),
                    &mut grad[self.p_area_area[l].clone()],
                );
                dh.clear();
                dh.resize(h.len(), T::ZERO);
                self.area_area[l].backward_input(
                    &theta[self.p_area_area[l].clone()],
                    &dz,
                    input.hw(),
                    &mut dh,
                );
                let through_relu = |gl: &mut Vec<T>, r: &[T], d: &[T]| {
                    for ((gv, rv), dv) in gl.iter_mut().zip(r).zip(d) {
                        if *rv > T::ZERO {
                            *gv += *dv;
                        }
                    }
                };
                match l {
                    0 => {
                        if stimulus {
                            for (a, b) in ds.iter_mut().zip(&dh) {
                                *a += *b;
                            }
                        }
                    }
                    1 => {
                        through_relu(&mut gnew[0], &before[0], &dh);
                        if stimulus {
                            for (a, b) in dks.iter_mut().zip(&dh) {
                                *a += *b;
                            }
                        }
                    }
                    _ if l.is_multiple_of(2) => {
                        through_relu(&mut gnew[l - 1], &before[l - 1], &dh);
                        through_relu(&mut gnew[l - 2], &before[l - 2], &dh);
                    }
                    _ => {
                        through_relu(&mut gnew[l - 1], &before[l - 1], &dh);
                        let i = (l - 3) / 2;
                        let from = self.areas[l - 2];
                        self.skip_area[i].backward_weight(
                            &q[l - 2],
                            &dh,
                            from.hw(),
                            &mut grad[self.p_skip_area[i].clone()],
                        );
                        tmp.clear();
                        tmp.resize(n * from.units(), T::ZERO);
                        self.skip_area[i].backward_input(
                            &theta[self.p_skip_area[i].clone()],
                            &dh,
                            from.hw(),
                            &mut tmp,
                        );
                        through_relu(&mut gnew[l - 2], &before[l - 2], &tmp);
                    }
                }
            }
            g = gnew;
        }
        // the stem: K s feeds area 1, s feeds area 0 and K; s = pool(conv7x7(x))
        let so = self.stem_out;
        self.inp_skip
            .backward_weight(&s, &dks, so.hw(), &mut grad[self.p_inp_skip.clone()]);
        self.inp_skip
            .backward_input(&theta[self.p_inp_skip.clone()], &dks, so.hw(), &mut ds);
        let mid = self.stem_mid;
        let mut dmid = vec![T::ZERO; n * mid.units()];
        let pool: AvgPool = self.stem_pool;
        pool.backward(&ds, n * mid.c, mid.hw(), &mut dmid);
        self.stem_conv.backward_weight(
            images,
            &dmid,
            self.shape.image,
            &mut grad[self.p_inp_conv.clone()],
        );
        parts.total = parts.cross_entropy + p.penalty_weight * parts.penalty;
        parts
    }
}
