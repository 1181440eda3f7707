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
    /// an evaluation's outputs in the chunk's layout, `[n_out, T*bc]`, zero over the padding that
    /// [`Self::forward_runs_and_loss`] does not run
    output: Vec<T>,
    /// an evaluation's recurrent noise for the whole chunk, from which each run takes its columns
    noise: Vec<T>,
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
        gather_input(batch, b0, b1, batch.steps, &mut self.traj.input);
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

    /// Forward only, the loss of [`Self::forward_and_loss`] without running the padding: the
    /// chunk's trials in runs of equal length ([`length_runs`]), each run forward only to its
    /// longest trial, its outputs placed into `output` in the chunk's layout, zero over the
    /// padding (where the loss weight is 0). Every product and elementwise step treats the columns
    /// of a step alike, so each trial's outputs are those of the whole-chunk pass bit for bit, and
    /// the loss is the same sum in the same order (but where the whole-chunk pass would have run
    /// into infinities over the padding alone: its loss was NaN there, this one is not). An
    /// evaluation set drawn in groups of trials with their own timing (gyyang's 16 groups of 32)
    /// is about a quarter padding.
    #[allow(clippy::too_many_arguments)]
    fn forward_runs_and_loss(
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
        let runs = match batch.lengths.len() == batch.batch {
            true => length_runs(&batch.lengths[b0..b1], MIN_RUN_WIDTH),
            false => vec![],
        };
        if runs.len() <= 1 && runs.iter().all(|r| r.2 == batch.steps) {
            let loss = self.forward_and_loss(net, batch, c, (b0, b1), kind, norm, noise);
            std::mem::swap(&mut self.output, &mut self.traj.output);
            return loss;
        }
        let (n, no) = (net.n_rec, net.n_out);
        let noisy = noise.is_some() && net.noise.sigma > 0.0;
        if let (true, Some(s)) = (noisy, noise) {
            // the chunk's noise drawn as a whole-chunk pass draws it, each run's columns taken out
            net.sample_noise(
                &mut self.traj,
                batch.steps,
                bc,
                &mut s.stream("chunk", c as u64),
            );
            std::mem::swap(&mut self.noise, &mut self.traj.noise);
        }
        self.output.clear();
        self.output.resize(no * batch.steps * bc, T::ZERO);
        for &(j0, j1, steps) in &runs {
            if steps == 0 {
                continue; // trials without steps: nothing to run, nothing to score
            }
            let width = j1 - j0;
            gather_input(batch, b0 + j0, b0 + j1, steps, &mut self.traj.input);
            if noisy {
                self.traj.noise.clear();
                for t in 0..steps {
                    let cols = (t * bc + j0) * n..(t * bc + j1) * n;
                    self.traj.noise.extend_from_slice(&self.noise[cols]);
                }
            }
            net.forward_in_place(steps, width, noisy, &mut self.traj);
            for t in 0..steps {
                self.output[(t * bc + j0) * no..(t * bc + j1) * no]
                    .copy_from_slice(&self.traj.output[t * width * no..(t + 1) * width * no]);
            }
        }
        self.d_output.resize(no * batch.steps * bc, T::ZERO);
        loss::output_loss(kind, batch, b0, b1, &self.output, norm, &mut self.d_output)
    }
}

/// The narrowest run of trials an evaluation steps on its own: narrower ones join a neighbour
/// (and run to the longer length), since a step's products pay a fixed cost per call.
const MIN_RUN_WIDTH: usize = 16;

/// Contiguous runs `(start, end, steps)` of trials with `lengths`, each running `steps` (its
/// longest trial's length): a run ends where the length changes once it is `min_width` wide; a
/// last run narrower than that joins the one before.
fn length_runs(lengths: &[usize], min_width: usize) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = vec![];
    for (j, &len) in lengths.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run.1 - run.0 < min_width || run.2 == len => {
                run.1 = j + 1;
                run.2 = run.2.max(len);
            }
            _ => runs.push((j, j + 1, len)),
        }
    }
    if runs.len() > 1 && runs[runs.len() - 1].1 - runs[runs.len() - 1].0 < min_width {
        let last = runs.pop().unwrap();
        let before = runs.last_mut().unwrap();
        before.1 = last.1;
        before.2 = before.2.max(last.2);
    }
    runs
}

/// Split `batch` trials into `chunks` contiguous ranges.
pub fn chunk_ranges(batch: usize, chunks: usize) -> Vec<(usize, usize)> {
    let chunks = chunks.clamp(1, batch.max(1));
    (0..chunks)
        .map(|c| (c * batch / chunks, (c + 1) * batch / chunks))
        .collect()
}

/// Copy the first `steps` steps of trials `b0..b1` of the batch input into a chunk's
/// `[n_in, steps*bc]` buffer.
pub(crate) fn gather_input<T: Real>(
    batch: &TaskBatch,
    b0: usize,
    b1: usize,
    steps: usize,
    out: &mut Vec<T>,
) {
    let ni = batch.n_in;
    let bc = b1 - b0;
    out.resize(ni * steps * bc, T::ZERO);
    for t in 0..steps {
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
                w.loss = w.forward_runs_and_loss(net, batch, c, (b0, b1), cfg.loss, &norm, noise);
                if cfg.loss == LossKind::CrossEntropy {
                    loss::softmax_in_place(&mut w.output, net.n_out);
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
                            w.output[col * no..(col + 1) * no]
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use biornn_numerics::linalg::{cm, cm_mut, gemm, rm};
    use biornn_tasks::{generate_groups, BatchSpec, Task};

    #[test]
    fn runs_split_where_the_length_changes_once_wide_enough() {
        assert_eq!(length_runs(&[], 2), vec![]);
        assert_eq!(length_runs(&[5, 5, 5], 2), vec![(0, 3, 5)]);
        assert_eq!(
            length_runs(&[5, 5, 7, 7, 3, 3], 2),
            vec![(0, 2, 5), (2, 4, 7), (4, 6, 3)]
        );
        // a run narrower than 2 takes the next trial in, at the longer length (and then the
        // trials of that length)
        assert_eq!(length_runs(&[5, 7, 7, 3, 3], 2), vec![(0, 3, 7), (3, 5, 3)]);
        // a narrow last run joins the one before
        assert_eq!(length_runs(&[5, 5, 5, 9], 2), vec![(0, 4, 9)]);
        // every trial its own length (per-trial timing): runs of at least the width
        assert_eq!(length_runs(&[4, 6, 5, 3, 2], 2), vec![(0, 2, 6), (2, 5, 5)]);
        // a run narrower than the width only when it is the whole slice: a run one trial wide
        // then takes the same kernels as its one-trial chunk
        let lengths: Vec<usize> = (0..200).map(|i| 50 + (i * 37 % 11) * (i % 3)).collect();
        for width in [1, 2, 5, 16, 64] {
            for end in [1, 3, 15, 16, 17, 40, 200] {
                let runs = length_runs(&lengths[..end], width);
                assert_eq!(runs.first().unwrap().0, 0);
                assert_eq!(runs.last().unwrap().1, end);
                for (r, next) in runs.iter().zip(runs.iter().skip(1)) {
                    assert_eq!(r.1, next.0, "contiguous");
                }
                for r in &runs {
                    assert!(r.1 - r.0 >= width || runs.len() == 1, "{runs:?}");
                    assert_eq!(r.2, *lengths[r.0..r.1].iter().max().unwrap());
                }
            }
        }
    }

    /// An evaluation batch of groups with their own timing (gyyang's) and a network with
    /// `n_rec` units (the packed per-step kernel up to `packed_max_units()`, faer's product above), recurrent
    /// noise `sigma`, and a ring mask (the sparse kernel) when `ring`.
    fn groups_of_their_own_length(n_rec: usize, sigma: f64, ring: bool) -> (Ctrnn<f32>, TaskBatch) {
        let mut c = RunConfig::default();
        c.model.n_rec = n_rec;
        c.model.noise.sigma = sigma;
        if ring {
            c.model.mask.recurrent = biornn_model::mask::MaskSpec::Ring { radius: 2 };
        }
        c.task.rules = vec!["delaygo".into()];
        let (n_in, n_out) = c.task.sizes().unwrap();
        let streams = Streams::new(7);
        let net = Ctrnn::<f32>::new(&c.model, n_in, n_out, c.task.dt, &streams).unwrap();
        assert_eq!(net.runs_sparse(), ring);
        assert_eq!(
            net.runs_packed(),
            !ring
                && n_rec <= biornn_model::ctrnn::packed_max_units()
                && biornn_numerics::packed::active().is_some()
        );
        let task = &c.task.tasks().unwrap()[0];
        let spec = BatchSpec {
            dt: c.task.dt,
            batch_size: 16,
            timing: c.task.timing,
            input_noise_std: 0.1,
        };
        let batch = generate_groups(task as &dyn Task, &spec, &streams.child("eval", 0), 5);
        (net, batch)
    }

    #[test]
    fn an_evaluation_run_in_pieces_equals_the_whole_chunk_pass_bit_for_bit() {
        for (n_rec, sigma, ring, kind) in [
            (24, 0.0, false, LossKind::Lsq),
            (24, 0.3, false, LossKind::Lsq),
            (24, 0.3, false, LossKind::CrossEntropy),
            // above the packed panels' size: faer's products
            (
                biornn_model::ctrnn::packed_max_units() + 8,
                0.3,
                false,
                LossKind::Lsq,
            ),
            (40, 0.3, true, LossKind::Lsq),
        ] {
            let (net, batch) = groups_of_their_own_length(n_rec, sigma, ring);
            let lengths: Vec<usize> = batch.lengths.chunks(16).map(|g| g[0]).collect();
            assert!(
                lengths.iter().any(|&l| l != batch.steps),
                "groups of several lengths: {lengths:?}"
            );
            let norm = loss::normalizers(kind, &batch, net.n_rec);
            let streams = Streams::new(3).child("rec_noise", 0);
            let noise = (sigma > 0.0).then_some(&streams);
            let no = net.n_out;
            // groups of 16 trials of lengths 110, 110, 120, 70, 80 (of 120 steps): one run short
            // of the batch's length, chunks that cut groups, and a narrow piece of a group
            // shorter than the longest, each run in pieces (more than one run, or one shorter);
            // and the longest group alone, run whole
            let short = lengths.iter().position(|&l| l < batch.steps).unwrap();
            let longest = lengths.iter().position(|&l| l == batch.steps).unwrap();
            let narrow = (16 * short + 12, 16 * short + 16);
            let chunks = [
                (0, 32),
                (24, 64),
                (40, 80),
                narrow,
                (16 * longest, 16 * longest + 16),
            ];
            for (c, (b0, b1)) in chunks.into_iter().enumerate() {
                let runs = length_runs(&batch.lengths[b0..b1], MIN_RUN_WIDTH);
                let in_pieces = runs.len() > 1 || runs[0].2 < batch.steps;
                assert_eq!(in_pieces, c < 4, "{b0}..{b1}");
                let mut whole = ChunkWork::default();
                let expected =
                    whole.forward_and_loss(&net, &batch, c, (b0, b1), kind, &norm, noise);
                let mut pieces = ChunkWork::default();
                let got =
                    pieces.forward_runs_and_loss(&net, &batch, c, (b0, b1), kind, &norm, noise);
                assert_eq!(
                    got.to_bits(),
                    expected.to_bits(),
                    "loss of chunk {b0}..{b1}"
                );
                let bc = b1 - b0;
                for j in 0..bc {
                    for t in 0..batch.steps {
                        let at = (t * bc + j) * no..(t * bc + j + 1) * no;
                        let out = &pieces.output[at.clone()];
                        if t < batch.lengths[b0 + j] {
                            let want = &whole.traj.output[at];
                            assert!(
                                out.iter()
                                    .zip(want)
                                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                                "trial {} step {t}",
                                b0 + j
                            );
                        } else if t
                            >= length_runs(&batch.lengths[b0..b1], MIN_RUN_WIDTH)
                                .iter()
                                .find(|r| r.0 <= j && j < r.1)
                                .unwrap()
                                .2
                        {
                            assert!(out.iter().all(|v| *v == 0.0), "padding not run is zero");
                        }
                    }
                }
            }
        }
    }

    /// Networks whose per-step products run through faer (above the packed kernel's size, or
    /// with the packed kernels switched off, and in f64) step a run's columns in a narrower
    /// product than the whole chunk's, and faer picks its kernel by the product's size (a
    /// small-matrix kernel below 4,096 multiply-adds, a matrix-vector one for one column): at
    /// every width a run can have, each column must come out as in the wide product.
    #[test]
    fn narrow_dense_products_equal_their_columns_of_a_wide_one() {
        fn check<T: Real>() {
            let values = |len: usize, seed: usize| -> Vec<T> {
                (0..len)
                    .map(|i| {
                        T::from_f64(
                            (((i * 7919 + seed * 104_729) % 2003) as f64 / 1001.5 - 1.0) * 0.7,
                        )
                    })
                    .collect()
            };
            let wide = 128;
            for n in [1, 2, 3, 4, 7, 8, 12, 16, 17, 24] {
                let w = values(n * n, 1);
                let x = values(n * wide, 2);
                let start = values(n * wide, 3);
                for accumulate in [false, true] {
                    let mut whole = start.clone();
                    gemm(
                        cm_mut(&mut whole, n, wide),
                        accumulate,
                        rm(&w, n, n),
                        cm(&x, n, wide),
                    );
                    // not 1: faer's matrix-vector kernel sums in another order, and a run is one
                    // column wide only when its chunk is (`length_runs`), so both take that one
                    for width in [2, 3, 5, 8, 15, 16, 17, 32, 33] {
                        let j0 = 5;
                        let cols = j0 * n..(j0 + width) * n;
                        let mut part = start[cols.clone()].to_vec();
                        gemm(
                            cm_mut(&mut part, n, width),
                            accumulate,
                            rm(&w, n, n),
                            cm(&x[cols.clone()], n, width),
                        );
                        let same = part
                            .iter()
                            .zip(&whole[cols])
                            .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits());
                        assert!(same, "n {n}, width {width}, accumulate {accumulate}");
                    }
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }
}
