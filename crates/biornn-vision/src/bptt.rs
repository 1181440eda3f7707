//! The loss of the reference's stages 4 and 5 (`class_rnn_5_final.py`) and its exact gradient by
//! backpropagation through time, derived by hand. From the spontaneous state (no gradient, as the
//! reference), `stimulus` steps with the image, cross-entropy at the last `loss_steps` of them
//! weighted 10^-3 .. 1 on a log scale and averaged; then `offset` steps without the image, with the
//! squared distance from the spontaneous state over their last `penalty_steps` as a penalty:
//!
//!   L = (1/K) sum_k w_k CE_k + lambda sum_t sum_l mean((r_l(t) - r_l^spont)^2) / (P L)

use crate::cordsnet::{any_nonzero, rectify, Activation, CordsNet};
use crate::pool::{global_avg_backward, AvgPool};
use biornn_numerics::Real;
use rayon::prelude::*;

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

/// Called for each step t from the last with the state after it, the gradient with respect to
/// that state to add into, and the parameters' gradient: where a loss enters BPTT.
pub type StateSink<'a, T> = dyn FnMut(usize, &[Vec<T>], &mut [Vec<T>], &mut [T]) + 'a;

/// What the network sees, step by step: a few batches of `n` images, their stems computed once
/// each, and per step which one is shown (`None`: no image, the stem's drive is zero). A static
/// image is one batch shown for the stimulus steps; a moving stimulus is a batch per frame.
pub struct Frames<'a, T> {
    pub images: Vec<&'a [T]>,
    pub shown: Vec<Option<usize>>,
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
        let frames = Frames {
            images: vec![images],
            shown: (0..p.stimulus + p.offset)
                .map(|t| (t < p.stimulus).then_some(0))
                .collect(),
        };
        self.loss_and_grad_frames(theta, &frames, labels, spont, p, act, grad)
    }

    /// [`CordsNet::loss_and_grad`] with the stimulus given frame by frame (`frames.shown` has
    /// `p.stimulus + p.offset` steps; a moving stimulus shows a batch of `labels.len()` images per
    /// step): the same loss on the readout over the last `p.loss_steps` stimulus steps and the same
    /// offset penalty.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad_frames<T: Real>(
        &self,
        theta: &[T],
        frames: &Frames<'_, T>,
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
        let steps = p.stimulus + p.offset;
        assert_eq!(frames.shown.len(), steps, "one frame entry per step");
        let weights = p.loss_weights();
        let first_scored = p.stimulus - p.loss_steps.min(p.stimulus);
        let first_penalised = steps - p.penalty_steps.min(p.offset);
        let mut parts = LossParts {
            cross_entropy: 0.0,
            penalty: 0.0,
            total: 0.0,
            correct: 0,
        };
        let mut dlogit = vec![T::ZERO; classes];
        // the loss terms on the state after step t
        let mut sink = |t: usize, after: &[Vec<T>], g: &mut [Vec<T>], grad: &mut [T]| {
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
                self.features_backward(after, &dfeat, n, g);
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
        };
        let start = self.broadcast(spont, n);
        self.backprop_through_time(
            theta, frames, &start, n, p.alpha, act, p.segment, &mut sink, grad,
        );
        parts.total = parts.cross_entropy + p.penalty_weight * parts.penalty;
        parts
    }

    /// The readout features' backward pass: `dfeat` (`[n][c]`, the gradient with respect to
    /// GAP([r_{L-1}]+ + [r_{L-2}]+)) added into the gradient `g` of the state `r`.
    pub fn features_backward<T: Real>(
        &self,
        r: &[Vec<T>],
        dfeat: &[T],
        n: usize,
        g: &mut [Vec<T>],
    ) {
        let top = self.areas[self.depth() - 1];
        let mut dsum = vec![T::ZERO; n * top.units()];
        global_avg_backward(dfeat, top.h * top.w, &mut dsum);
        self.summed_map_backward(r, &dsum, g);
    }

    /// The gradient `dsum` of a loss on the summed map [`CordsNet::features`] returns (the last
    /// two areas rectified and summed) added into `g`, the gradient with respect to the state `r`.
    pub fn summed_map_backward<T: Real>(&self, r: &[Vec<T>], dsum: &[T], g: &mut [Vec<T>]) {
        let depth = self.depth();
        for l in [depth - 1, depth - 2] {
            for ((gv, rv), dv) in g[l].iter_mut().zip(&r[l]).zip(dsum) {
                if *rv > T::ZERO {
                    *gv += *dv;
                }
            }
        }
    }

    /// Backpropagation through time of `frames.shown.len()` steps from the state `start` (`n`
    /// images'), the network seeing `frames`: `sink(t, r, g, grad)` is called for every step from
    /// the last, with the state `r` after step t, to add the loss's gradient with respect to it into
    /// `g` (and any gradient of its own parameters, the readout's, into `grad`); the gradient of the
    /// network's parameters is added into `grad`. With `segment` = k > 0 only every k-th state is
    /// kept and each segment recomputed on the way back.
    #[allow(clippy::too_many_arguments)]
    pub fn backprop_through_time<T: Real>(
        &self,
        theta: &[T],
        frames: &Frames<'_, T>,
        start: &[Vec<T>],
        n: usize,
        alpha_f: f64,
        act: Activation,
        segment: usize,
        sink: &mut StateSink<'_, T>,
        grad: &mut [T],
    ) {
        let depth = self.depth();
        let stems: Vec<(Vec<T>, Vec<T>)> = frames
            .images
            .iter()
            .map(|x| self.stem(theta, x, n))
            .collect();
        let zeros = vec![T::ZERO; n * self.stem_out.units()];
        let steps = frames.shown.len();
        // the forward pass, keeping each step's start state and pre-activations, or only every
        // k-th state (a segment's start) when segments are recomputed
        let k = if segment == 0 || segment >= steps {
            steps.max(1)
        } else {
            segment
        };
        let keep_all = k >= steps;
        let stem_at = |t: usize| match frames.shown[t] {
            Some(i) => (&stems[i].0[..], &stems[i].1[..]),
            None => (&zeros[..], &zeros[..]),
        };
        let mut r = start.to_vec();
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
                alpha_f,
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
        let alpha = T::from_f64(alpha_f);
        let keep = T::from_f64(1.0 - alpha_f);
        // g: the gradient with respect to the state after the step being undone
        let mut g = self.zero_state::<T>(n);
        // per image batch: the gradient with respect to its stem's s and K s
        let mut dstems: Vec<(Vec<T>, Vec<T>)> = stems
            .iter()
            .map(|_| (vec![T::ZERO; zeros.len()], vec![T::ZERO; zeros.len()]))
            .collect();
        let mut q = vec![];
        // each area's buffers for one step back
        let mut backs: Vec<AreaBack<T>> = (0..depth).map(|_| AreaBack::default()).collect();
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
                        alpha_f,
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
            sink(t, after, &mut g, grad);
            // undo step t: r' = (1 - alpha) r + alpha sigma(z)
            let (before, z) = &history[local];
            let shown = frames.shown[t];
            rectify(before, &mut q);
            let mut gnew: Vec<Vec<T>> = g
                .iter()
                .map(|gl| gl.iter().map(|v| (keep * *v).flush_subnormal()).collect())
                .collect();
            // Work whose result is exactly zero is skipped: an area no gradient has reached yet
            // (the loss reaches back two areas per step), a weight gradient whose input is zero (an
            // area still at rest), a gradient into states that are all at or below ReLU's kink, or
            // into the start state (`t == 0`: nothing uses it). The sums left are the same.
            let state_grad = t > 0;
            // The areas run in parallel, each into its own parameters' gradients, its own state's
            // gradient (its recurrent path) and its own buffers for what it sends back through its
            // drive; those are then added into the source areas' gradients one area after another,
            // in the order of a serial loop, so every sum is the serial loop's.
            let stem = stem_at(t);
            let q_ref = &q;
            grads_by_area(self, grad)
                .into_par_iter()
                .zip(gnew.par_iter_mut())
                .zip(backs.par_iter_mut())
                .enumerate()
                .for_each(|(l, ((mut own, gl), s))| {
                    s.sends = Sends::Nothing;
                    if !any_nonzero(&g[l]) {
                        return;
                    }
                    let a = self.areas[l];
                    s.dz.clear();
                    s.dz.extend(
                        z[l].iter()
                            .zip(&g[l])
                            .map(|(zv, gv)| alpha * act.slope(*zv) * *gv),
                    );
                    let dz = &s.dz;
                    // W_l and the recurrent path
                    if any_nonzero(&before[l]) {
                        self.area_conv[l].backward_weight(&before[l], dz, a.hw(), own.conv);
                    }
                    if state_grad {
                        let w = &theta[self.p_area_conv[l].clone()];
                        self.area_conv[l].backward_input(w, dz, a.hw(), gl);
                    }
                    // the per-unit bias
                    for img in dz.chunks(a.units()) {
                        for (bv, d) in own.bias.iter_mut().zip(img) {
                            *bv += *d;
                        }
                    }
                    // A_l and the drive
                    self.drive(theta, l, q_ref, stem, &mut s.h);
                    let input = if l == 0 {
                        self.stem_out
                    } else {
                        self.areas[l - 1]
                    };
                    if any_nonzero(&s.h) {
                        self.area_area[l].backward_weight(&s.h, dz, input.hw(), own.area);
                    }
                    // who takes the drive's gradient: the stem's outputs where an image is shown,
                    // the source areas' states where they are above the kink, and the skip conv's
                    // weights (odd areas from 3) where its input is
                    let into = |k: usize| state_grad && any_positive(&before[k]);
                    let skip_input = l >= 3 && l % 2 == 1 && any_positive(&before[l - 2]);
                    let wanted = match l {
                        0 => shown.is_some(),
                        1 => shown.is_some() || into(0),
                        _ => into(l - 1) || into(l - 2) || skip_input,
                    };
                    if !wanted {
                        return;
                    }
                    s.dh.clear();
                    s.dh.resize(s.h.len(), T::ZERO);
                    let w = &theta[self.p_area_area[l].clone()];
                    self.area_area[l].backward_input(w, dz, input.hw(), &mut s.dh);
                    s.sends = Sends::Drive;
                    if !skip_input {
                        return;
                    }
                    let i = (l - 3) / 2;
                    let from = self.areas[l - 2];
                    let skip = own.skip.take().expect("an odd area from 3 has a skip");
                    self.skip_area[i].backward_weight(&q_ref[l - 2], &s.dh, from.hw(), skip);
                    if state_grad {
                        s.tmp.clear();
                        s.tmp.resize(n * from.units(), T::ZERO);
                        let w = &theta[self.p_skip_area[i].clone()];
                        self.skip_area[i].backward_input(w, &s.dh, from.hw(), &mut s.tmp);
                        s.sends = Sends::DriveAndSkip;
                    }
                });
            // what each area sends back through its drive, in the serial loop's order
            let through_relu = |gl: &mut Vec<T>, r: &[T], d: &[T]| {
                for ((gv, rv), dv) in gl.iter_mut().zip(r).zip(d) {
                    if *rv > T::ZERO {
                        *gv += *dv;
                    }
                }
            };
            for (l, s) in backs.iter().enumerate() {
                if s.sends == Sends::Nothing {
                    continue;
                }
                let dh = &s.dh;
                match l {
                    0 => {
                        if let Some(i) = shown {
                            for (a, b) in dstems[i].0.iter_mut().zip(dh) {
                                *a += *b;
                            }
                        }
                    }
                    1 => {
                        through_relu(&mut gnew[0], &before[0], dh);
                        if let Some(i) = shown {
                            for (a, b) in dstems[i].1.iter_mut().zip(dh) {
                                *a += *b;
                            }
                        }
                    }
                    _ if l.is_multiple_of(2) => {
                        through_relu(&mut gnew[l - 1], &before[l - 1], dh);
                        through_relu(&mut gnew[l - 2], &before[l - 2], dh);
                    }
                    _ => {
                        through_relu(&mut gnew[l - 1], &before[l - 1], dh);
                        if s.sends == Sends::DriveAndSkip {
                            through_relu(&mut gnew[l - 2], &before[l - 2], &s.tmp);
                        }
                    }
                }
            }
            g = gnew;
        }
        // each stem: K s feeds area 1, s feeds area 0 and K; s = pool(conv7x7(x))
        let so = self.stem_out;
        let mid = self.stem_mid;
        let pool: AvgPool = self.stem_pool;
        for ((images, (s, _)), (ds, dks)) in frames.images.iter().zip(&stems).zip(&mut dstems) {
            self.inp_skip
                .backward_weight(s, dks, so.hw(), &mut grad[self.p_inp_skip.clone()]);
            self.inp_skip
                .backward_input(&theta[self.p_inp_skip.clone()], dks, so.hw(), ds);
            let mut dmid = vec![T::ZERO; n * mid.units()];
            pool.backward(ds, n * mid.c, mid.hw(), &mut dmid);
            self.stem_conv.backward_weight(
                images,
                &dmid,
                self.shape.image,
                &mut grad[self.p_inp_conv.clone()],
            );
        }
    }
}

/// Whether any value is above zero (passes ReLU with a slope).
fn any_positive<T: Real>(v: &[T]) -> bool {
    v.iter().any(|x| *x > T::ZERO)
}

/// What an area sends back through its drive after its part of a step back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Sends {
    #[default]
    Nothing,
    /// `dh`, the drive's gradient
    Drive,
    /// `dh`, and `tmp`, the skip's gradient into the area two before
    DriveAndSkip,
}

/// One area's buffers for a step back: its pre-activation's gradient, its drive, the drive's
/// gradient and the skip's.
#[derive(Debug, Clone, Default)]
struct AreaBack<T> {
    dz: Vec<T>,
    h: Vec<T>,
    dh: Vec<T>,
    tmp: Vec<T>,
    sends: Sends,
}

/// One area's own parameters' gradients, as disjoint parts of the whole gradient.
struct AreaGrads<'a, T> {
    conv: &'a mut [T],
    bias: &'a mut [T],
    area: &'a mut [T],
    skip: Option<&'a mut [T]>,
}

/// The gradient cut into each area's own parameters' parts (the layout's tensors are disjoint),
/// so that the areas can add into them at once.
fn grads_by_area<'a, T>(net: &CordsNet, grad: &'a mut [T]) -> Vec<AreaGrads<'a, T>> {
    // (start, end, area, which part): 0 conv, 1 bias, 2 area, 3 skip
    let mut parts: Vec<(usize, usize, usize, u8)> = vec![];
    for l in 0..net.depth() {
        for (r, kind) in [
            (&net.p_area_conv[l], 0),
            (&net.p_conv_bias[l], 1),
            (&net.p_area_area[l], 2),
        ] {
            parts.push((r.start, r.end, l, kind));
        }
        if l >= 3 && l % 2 == 1 {
            let r = &net.p_skip_area[(l - 3) / 2];
            parts.push((r.start, r.end, l, 3));
        }
    }
    parts.sort_unstable();
    let mut slots: Vec<[Option<&'a mut [T]>; 4]> =
        (0..net.depth()).map(|_| Default::default()).collect();
    let (mut rest, mut at) = (grad, 0);
    for (start, end, l, kind) in parts {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(start - at);
        let (part, tail) = tail.split_at_mut(end - start);
        slots[l][kind as usize] = Some(part);
        (rest, at) = (tail, end);
    }
    slots
        .into_iter()
        .map(|[conv, bias, area, skip]| AreaGrads {
            conv: conv.expect("every area has a recurrent conv"),
            bias: bias.expect("every area has a bias"),
            area: area.expect("every area has a drive conv"),
            skip,
        })
        .collect()
}
