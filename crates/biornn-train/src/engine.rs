//! A batch's loss and exact gradient, computed in a fixed number of batch chunks that run in parallel
//! and are summed in chunk order: the result depends on the chunk count, never on the thread count.

use crate::config::{LossKind, TrainConfig};
use crate::loss;
use biornn_model::{Credit, Ctrnn, Grads, Trajectory};
use biornn_numerics::{Real, Streams};
use biornn_tasks::{TaskBatch, TrialOutputs, TrialScore};
use rayon::prelude::*;

/// One chunk's reusable buffers: nothing is allocated once they have reached the batch's size.
#[derive(Debug, Clone, Default)]
pub struct ChunkWork<T> {
    pub traj: Trajectory<T>,
    d_output: Vec<T>,
    d_rate: Vec<T>,
    grads: Option<Grads<T>>,
    loss: f64,
    counts: Counts,
}

/// What an evaluation counted: trials correct, and the steps the tasks score, right and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub correct: usize,
    pub steps_right: usize,
    pub steps_scored: usize,
    /// trials whose answer is a coin flip by construction, and the steps of the others
    pub ambiguous: usize,
    pub clear_steps_right: usize,
    pub clear_steps_scored: usize,
}

impl Counts {
    fn add(&mut self, s: TrialScore) {
        self.correct += s.correct as usize;
        self.steps_right += s.steps_right;
        self.steps_scored += s.steps_scored;
        self.ambiguous += s.ambiguous as usize;
        if !s.ambiguous {
            self.clear_steps_right += s.steps_right;
            self.clear_steps_scored += s.steps_scored;
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.correct += o.correct;
        self.steps_right += o.steps_right;
        self.steps_scored += o.steps_scored;
        self.ambiguous += o.ambiguous;
        self.clear_steps_right += o.clear_steps_right;
        self.clear_steps_scored += o.clear_steps_scored;
    }
}

impl<T: Real> ChunkWork<T> {
    /// Run chunk `c` (trials `b0..b1`) forward, with recurrent noise from `noise` when given, and
    /// return its output loss, leaving its gradient in `d_output`.
    #[allow(clippy::too_many_arguments)]
    fn forward_and_loss(
        &mut self,
        net: &Ctrnn<T>,
        batch: &TaskBatch,
        c: usize,
        (b0, b1): (usize, usize),
        kind: LossKind,
        norm: &loss::Normalizers,
        noise: Option<&Streams>,
    ) -> f64 {
        let bc = b1 - b0;
        let noisy = noise.is_some() && net.noise.sigma > 0.0;
        if let (true, Some(s)) = (noisy, noise) {
            net.sample_noise(
                &mut self.traj,
                batch.steps,
                bc,
                &mut s.stream("chunk", c as u64),
            );
        }
        gather_input(batch, b0, b1, &mut self.traj.input);
        net.forward_in_place(batch.steps, bc, noisy, &mut self.traj);
        self.d_output.resize(net.n_out * batch.steps * bc, T::ZERO);
        loss::output_loss(
            kind,
            batch,
            b0,
            b1,
            &self.traj.output,
            norm,
            &mut self.d_output,
        )
    }
}

/// Split `batch` trials into `chunks` contiguous ranges.
pub fn chunk_ranges(batch: usize, chunks: usize) -> Vec<(usize, usize)> {
    let chunks = chunks.clamp(1, batch.max(1));
    (0..chunks)
        .map(|c| (c * batch / chunks, (c + 1) * batch / chunks))
        .collect()
}

/// Copy trials `b0..b1` of the batch input into a chunk's `[n_in, T*bc]` buffer.
pub(crate) fn gather_input<T: Real>(batch: &TaskBatch, b0: usize, b1: usize, out: &mut Vec<T>) {
    let ni = batch.n_in;
    let bc = b1 - b0;
    out.resize(ni * batch.steps * bc, T::ZERO);
    for t in 0..batch.steps {
        let src = &batch.x[(t * batch.batch + b0) * ni..(t * batch.batch + b1) * ni];
        for (o, s) in out[t * bc * ni..(t + 1) * bc * ni].iter_mut().zip(src) {
            *o = T::from_f64(*s as f64);
        }
    }
}

/// Loss terms of one update.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossReport {
    pub total: f64,
    pub output: f64,
    pub regularizer: f64,
}

#[derive(Debug, Clone)]
pub struct Engine<T> {
    work: Vec<ChunkWork<T>>,
}

impl<T: Real> Default for Engine<T> {
    fn default() -> Self {
        Engine { work: vec![] }
    }
}

impl<T: Real> Engine<T> {
    /// The chunks of `batch`, with a workspace for each, the loss normalisers of the whole batch,
    /// and the recurrent-noise streams of this batch (when noisy).
    fn prepare(
        &mut self,
        net: &Ctrnn<T>,
        batch: &TaskBatch,
        cfg: &TrainConfig,
        noise: Option<(&Streams, u64)>,
    ) -> (Vec<(usize, usize)>, loss::Normalizers, Option<Streams>) {
        let ranges = chunk_ranges(batch.batch, cfg.batch_chunks);
        self.work.resize_with(ranges.len(), ChunkWork::default);
        let norm = loss::normalizers(cfg.loss, batch, net.n_rec);
        (ranges, norm, noise.map(|(s, i)| s.child("rec_noise", i)))
    }

    /// Loss and gradient of `batch` (recurrent noise from `noise` when given, as `(streams, index)`).
    pub fn loss_and_grad(
        &mut self,
        net: &Ctrnn<T>,
        batch: &TaskBatch,
        cfg: &TrainConfig,
        noise: Option<(&Streams, u64)>,
        grads: &mut Grads<T>,
    ) -> LossReport {
        self.loss_and_grad_with(net, batch, cfg, noise, Credit::Exact, grads)
    }

    /// Loss and gradient of `batch` with the credit assignment `credit` (RFLO's local one, or exact).
    pub fn loss_and_grad_with(
        &mut self,
        net: &Ctrnn<T>,
        batch: &TaskBatch,
        cfg: &TrainConfig,
        noise: Option<(&Streams, u64)>,
        credit: Credit<'_, T>,
        grads: &mut Grads<T>,
    ) -> LossReport {
        let (ranges, norm, noise_streams) = self.prepare(net, batch, cfg, noise);
        self.work
            .par_iter_mut()
            .zip(ranges.par_iter())
            .enumerate()
            .for_each(|(c, (w, &(b0, b1)))| {
                let bc = b1 - b0;
                let noise = noise_streams.as_ref();
                let mut l = w.forward_and_loss(net, batch, c, (b0, b1), cfg.loss, &norm, noise);
                if cfg.loss != LossKind::CrossEntropy {
                    net.readout_backward(&w.traj, &mut w.d_output);
                }
                let with_rate = cfg.l1_rate > 0.0 || cfg.l2_rate > 0.0;
                if with_rate {
                    w.d_rate.resize(net.n_rec * batch.steps * bc, T::ZERO);
                    let rates = &w.traj.rate[net.n_rec * bc..];
                    l += loss::rate_regularizer(
                        cfg.l1_rate,
                        cfg.l2_rate,
                        batch,
                        b0,
                        b1,
                        rates,
                        net.n_rec,
                        &norm,
                        &mut w.d_rate,
                    );
                }
                let g = w
                    .grads
                    .get_or_insert_with(|| Grads::zeros(net.n_in, net.n_rec, net.n_out));
                let d_rate = with_rate.then_some(w.d_rate.as_slice());
                net.backward_with(&mut w.traj, &w.d_output, d_rate, credit, g);
                w.loss = l;
            });
        grads.fill_zero();
        let mut report = LossReport::default();
        for w in &self.work {
            grads.add_assign(w.grads.as_ref().unwrap());
            report.output += w.loss;
        }
        report.regularizer = loss::weight_regularizer(net, cfg.l1_weight, cfg.l2_weight, grads);
        report.total = report.output + report.regularizer;
        report
    }

    /// Forward only: the output loss and what the task's `score` counts over the trials (trials
    /// correct, steps right). Recurrent noise only when `noise` is given.
    pub fn evaluate(
        &mut self,
        net: &Ctrnn<T>,
        batch: &TaskBatch,
        cfg: &TrainConfig,
        noise: Option<(&Streams, u64)>,
        score: &(dyn Fn(&TrialOutputs) -> TrialScore + Sync),
    ) -> (f64, Counts) {
        let (ranges, norm, noise_streams) = self.prepare(net, batch, cfg, noise);
        self.work
            .par_iter_mut()
            .zip(ranges.par_iter())
            .enumerate()
            .for_each(|(c, (w, &(b0, b1)))| {
                let bc = b1 - b0;
                let noise = noise_streams.as_ref();
                w.loss = w.forward_and_loss(net, batch, c, (b0, b1), cfg.loss, &norm, noise);
                if cfg.loss == LossKind::CrossEntropy {
                    loss::softmax_in_place(&mut w.traj.output, net.n_out);
                }
                let no = net.n_out;
                // one trial's outputs and targets gathered from the time-major chunk
                let (mut output, mut class, mut y_loc, mut epochs, mut latents) =
                    (vec![], vec![], vec![], vec![], vec![]);
                w.counts = Counts::default();
                for j in 0..bc {
                    let b = b0 + j;
                    let len = batch.lengths[b];
                    output.clear();
                    class.clear();
                    y_loc.clear();
                    epochs.clear();
                    for t in 0..len {
                        let col = t * bc + j;
                        output.extend(
                            w.traj.output[col * no..(col + 1) * no]
                                .iter()
                                .map(|v| v.to_f64() as f32),
                        );
                        class.push(batch.class[t * batch.batch + b]);
                        y_loc.push(batch.y_loc[t * batch.batch + b]);
                    }
                    for (name, on, off) in &batch.epochs {
                        if on[b] >= 0 {
                            epochs.push((*name, on[b] as usize, off[b] as usize));
                        }
                    }
                    latents.clear();
                    latents.extend(batch.latents.iter().map(|(name, v)| (*name, v[b])));
                    w.counts.add(score(&TrialOutputs {
                        output: &output,
                        n_out: no,
                        class: &class,
                        y_loc: &y_loc,
                        epochs: &epochs,
                        latents: &latents,
                    }));
                }
            });
        let loss = self.work.iter().map(|w| w.loss).sum();
        let mut counts = Counts::default();
        for w in &self.work {
            counts.merge(&w.counts);
        }
        (loss, counts)
    }

    /// The chunks' trajectories of the last call (for analysis and dumps).
    pub fn chunks(&self) -> &[ChunkWork<T>] {
        &self.work
    }
}
