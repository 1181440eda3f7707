//! Losses and regularisers with their gradients. Each works on one batch chunk (trials `b0..b1`) but
//! is normalised over the whole batch, so chunk gradients add up to the batch gradient exactly.

use crate::config::LossKind;
use biornn_model::{Ctrnn, Grads};
use biornn_numerics::Real;
use biornn_tasks::TaskBatch;

/// The denominators of the loss terms for a whole batch.
#[derive(Debug, Clone, Copy)]
pub struct Normalizers {
    pub output: f64,
    pub rate: f64,
}

pub fn normalizers(kind: LossKind, batch: &TaskBatch, n_rec: usize) -> Normalizers {
    let valid_steps: usize = batch.lengths.iter().sum();
    let output = match kind {
        LossKind::Lsq => (valid_steps * batch.n_out) as f64,
        LossKind::LsqNormalized => batch.cost.iter().map(|c| (*c as f64).powi(2)).sum(),
        // per-step weight: the ring output's cost (the fixation column is doubled)
        LossKind::CrossEntropy => step_weights(batch).sum(),
    };
    Normalizers {
        output: output.max(f64::MIN_POSITIVE),
        rate: (valid_steps * n_rec) as f64,
    }
}

fn step_weights(batch: &TaskBatch) -> impl Iterator<Item = f64> + '_ {
    (0..batch.steps * batch.batch).map(move |c| batch.cost[c * batch.n_out + 1] as f64)
}

/// Loss of trials `b0..b1` and its gradient with respect to the network output in `d_output`
/// (`[n_out, T*(b1-b0)]`): with respect to y for the squared errors, to the logits for cross-entropy.
pub fn output_loss<T: Real>(
    kind: LossKind,
    batch: &TaskBatch,
    b0: usize,
    b1: usize,
    output: &[T],
    norm: &Normalizers,
    d_output: &mut [T],
) -> f64 {
    let (no, bc) = (batch.n_out, b1 - b0);
    match kind {
        // A step's trials b0..b1 are contiguous in the batch and in the chunk's output, so each
        // step is one run of `squared_errors`.
        LossKind::Lsq | LossKind::LsqNormalized => {
            let mut sums = [0.0f64; LSQ_LANES];
            for t in 0..batch.steps {
                let g = (t * batch.batch + b0) * no..(t * batch.batch + b1) * no;
                let l = t * bc * no..(t + 1) * bc * no;
                squared_errors(
                    &output[l.clone()],
                    &batch.y[g.clone()],
                    &batch.cost[g],
                    norm.output,
                    &mut d_output[l],
                    &mut sums,
                );
            }
            sums.iter().sum::<f64>() / norm.output
        }
        LossKind::CrossEntropy => cross_entropy(batch, b0, b1, output, norm, d_output),
    }
}

/// [`output_loss`] for cross-entropy on the logits.
fn cross_entropy<T: Real>(
    batch: &TaskBatch,
    b0: usize,
    b1: usize,
    output: &[T],
    norm: &Normalizers,
    d_output: &mut [T],
) -> f64 {
    let (no, bc) = (batch.n_out, b1 - b0);
    let mut total = 0.0;
    for t in 0..batch.steps {
        for j in 0..bc {
            let g = t * batch.batch + b0 + j;
            let l = t * bc + j;
            let out = &output[l * no..(l + 1) * no];
            let d = &mut d_output[l * no..(l + 1) * no];
            let w = batch.cost[g * no + 1] as f64;
            let class = batch.class[g];
            if class < 0 || w == 0.0 {
                d.fill(T::ZERO);
                continue;
            }
            let max = out
                .iter()
                .map(|v| v.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = out.iter().map(|v| (v.to_f64() - max).exp()).sum();
            let log_z = max + z.ln();
            total += w * (log_z - out[class as usize].to_f64());
            for o in 0..no {
                let p = (out[o].to_f64() - log_z).exp();
                let onehot = if o == class as usize { 1.0 } else { 0.0 };
                d[o] = T::from_f64(w * (p - onehot) / norm.output);
            }
        }
    }
    total / norm.output
}

const LSQ_LANES: usize = 8;

/// The squared-error terms of one step's outputs: `d = 2 c^2 (out - y) / norm` per value, and
/// the sum of `(c (out - y))^2` added into `sums`, value `i` into `sums[i % 8]`. Eight interleaved
/// partial sums (not one serial sum) let the loop vectorise; only the reported loss depends on
/// that order, each gradient value is the same expression as ever.
fn squared_errors<T: Real>(
    out: &[T],
    y: &[f32],
    cost: &[f32],
    norm: f64,
    d: &mut [T],
    sums: &mut [f64; LSQ_LANES],
) {
    let term = |o: T, y: f32, c: f32, d: &mut T| {
        let c = c as f64;
        let err = o.to_f64() - y as f64;
        *d = T::from_f64(2.0 * c * c * err / norm);
        (err * c).powi(2)
    };
    let mut os = out.chunks_exact(LSQ_LANES);
    let mut ys = y.chunks_exact(LSQ_LANES);
    let mut cs = cost.chunks_exact(LSQ_LANES);
    let mut ds = d.chunks_exact_mut(LSQ_LANES);
    for (((o, y), c), d) in (&mut os).zip(&mut ys).zip(&mut cs).zip(&mut ds) {
        for k in 0..LSQ_LANES {
            sums[k] += term(o[k], y[k], c[k], &mut d[k]);
        }
    }
    let rest = os
        .remainder()
        .iter()
        .zip(ys.remainder())
        .zip(cs.remainder());
    for (k, (((o, y), c), d)) in rest.zip(ds.into_remainder()).enumerate() {
        sums[k] += term(*o, *y, *c, d);
    }
}

/// The L1 rate regulariser's pieces for `rates`: `d = slope * sign(r)` (0 at 0, as [`l1_slope`])
/// and the returned sum of |r|. The sum runs in eight interleaved partial sums so that the loop
/// vectorises; only the reported loss depends on that order.
pub(crate) fn l1_rates(rates: &[f32], d: &mut [f32], slope: f32) -> f64 {
    const LANES: usize = 8;
    let mut partial = [0.0f64; LANES];
    let mut rs = rates.chunks_exact(LANES);
    let mut ds = d.chunks_exact_mut(LANES);
    for (r, d) in (&mut rs).zip(&mut ds) {
        for k in 0..LANES {
            partial[k] += r[k].abs() as f64;
            d[k] = sign_times(r[k], slope);
        }
    }
    let mut sum: f64 = partial.iter().sum();
    for (r, d) in rs.remainder().iter().zip(ds.into_remainder()) {
        sum += r.abs() as f64;
        *d = sign_times(*r, slope);
    }
    sum
}

#[inline(always)]
fn sign_times(r: f32, slope: f32) -> f32 {
    if r > 0.0 {
        slope
    } else if r < 0.0 {
        -slope
    } else {
        0.0
    }
}

/// The L1 subgradient: 0 at exactly 0 (as TensorFlow and PyTorch take it), else the sign.
pub(crate) fn l1_slope(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Rate regularisers on trials `b0..b1` (padding excluded); adds dL/dr to `d_rate` (`[n_rec, T*bc]`).
#[allow(clippy::too_many_arguments)]
pub fn rate_regularizer<T: Real>(
    l1: f64,
    l2: f64,
    batch: &TaskBatch,
    b0: usize,
    b1: usize,
    rates: &[T],
    n_rec: usize,
    norm: &Normalizers,
    d_rate: &mut [T],
) -> f64 {
    let bc = b1 - b0;
    let mut total = 0.0;
    for t in 0..batch.steps {
        for j in 0..bc {
            let l = t * bc + j;
            let d = &mut d_rate[l * n_rec..(l + 1) * n_rec];
            if t >= batch.lengths[b0 + j] {
                d.fill(T::ZERO);
                continue;
            }
            for (dr, r) in d.iter_mut().zip(&rates[l * n_rec..(l + 1) * n_rec]) {
                let r = r.to_f64();
                total += l1 * r.abs() / norm.rate + l2 * r * r / 2.0;
                *dr = T::from_f64(l1 * l1_slope(r) / norm.rate + l2 * r);
            }
        }
    }
    total
}

/// Weight regularisers (gyyang's forms) on the effective weights; adds their gradient with respect
/// to the raw weights into `grads`, for trainable matrices only. |W_eff| = |W_raw| mask under both
/// Dale modes.
pub fn weight_regularizer<T: Real>(net: &Ctrnn<T>, l1: f64, l2: f64, grads: &mut Grads<T>) -> f64 {
    if l1 == 0.0 && l2 == 0.0 {
        return 0.0;
    }
    let p = &net.params;
    let kernel = (p.w_in.len() + p.w_rec.len()) as f64;
    let out_n = p.w_out.len() as f64;
    let mut total = 0.0;
    let tr = &net.trainable;
    for (w, m, g, count, trainable) in [
        (&p.w_in, &net.mask_in, &mut grads.w_in, kernel, tr.w_in),
        (&p.w_rec, &net.mask_rec, &mut grads.w_rec, kernel, tr.w_rec),
        (&p.w_out, &net.mask_out, &mut grads.w_out, out_n, tr.w_out),
    ] {
        for ((w, m), g) in w.iter().zip(m.iter()).zip(g.iter_mut()) {
            let (w, m) = (w.to_f64(), m.to_f64());
            total += l1 * (w * m).abs() / count + l2 * (w * m).powi(2) / 2.0;
            if trainable {
                *g += T::from_f64(m * (l1 * l1_slope(w) / count + l2 * w * m));
            }
        }
    }
    total
}

/// Softmax over each step's outputs, in place (turns logits into choice probabilities).
pub fn softmax_in_place<T: Real>(output: &mut [T], n_out: usize) {
    for col in output.chunks_exact_mut(n_out) {
        let max = col
            .iter()
            .map(|v| v.to_f64())
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = col.iter().map(|v| (v.to_f64() - max).exp()).sum();
        for v in col.iter_mut() {
            *v = T::from_f64((v.to_f64() - max).exp() / z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_errors_by_lanes_equal_the_serial_sum() {
        // 11 values: one chunk of eight and a remainder of three
        let out: Vec<f32> = (0..11).map(|i| 0.25 * i as f32 - 1.0).collect();
        let y: Vec<f32> = (0..11)
            .map(|i| if i % 3 == 0 { 1.0 } else { 0.0 })
            .collect();
        let cost: Vec<f32> = (0..11)
            .map(|i| if i == 4 { 0.0 } else { 1.0 + i as f32 / 8.0 })
            .collect();
        let mut d = vec![0.0f32; 11];
        let mut sums = [0.0f64; LSQ_LANES];
        squared_errors(&out, &y, &cost, 4.0, &mut d, &mut sums);
        let mut serial = 0.0;
        for i in 0..11 {
            let (c, err) = (cost[i] as f64, out[i] as f64 - y[i] as f64);
            serial += (c * err).powi(2);
            assert_eq!(d[i], (2.0 * c * c * err / 4.0) as f32, "value {i}");
        }
        assert!((sums.iter().sum::<f64>() - serial).abs() < 1e-12 * serial);
        // value 0 and value 8 share the first lane; value 4 (cost 0) adds nothing to its lane
        let lane0 = (cost[0] as f64 * (out[0] as f64 - 1.0)).powi(2)
            + (cost[8] as f64 * (out[8] as f64 - 0.0)).powi(2);
        assert_eq!(sums[0], lane0);
        assert_eq!(sums[4], 0.0);
        assert_eq!(d[4], 0.0);
    }
}
