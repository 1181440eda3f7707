//! Batches: trials assembled time-major, padded to the longest trial, padding masked out of the loss.

use crate::trial::Trial;
use crate::Task;
use biornn_numerics::Streams;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Whether epoch durations (and other batch-level choices) are drawn once per batch, as in
/// gyyang/multitask, or per trial, as in NeuroGym.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    PerBatch,
    PerTrial,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchSpec {
    pub dt: f64,
    pub batch_size: usize,
    pub timing: Timing,
    /// standard deviation of the Gaussian noise added to every input channel at every step
    pub input_noise_std: f64,
}

/// A batch, time-major: `x[(t * batch + b) * n_in + i]` (numpy's `[T, B, n_in]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskBatch {
    pub steps: usize,
    pub batch: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    /// loss weight per step and output; 0 over padding
    pub cost: Vec<f32>,
    /// target angle per step, -1 to fixate (and over padding)
    pub y_loc: Vec<f32>,
    /// class target per step: 0 fixate, k + 1 for ring unit k nearest the target; -1 over padding
    pub class: Vec<i32>,
    /// number of real (unpadded) steps of each trial
    pub lengths: Vec<usize>,
    /// per-trial latent parameters, by name
    pub latents: Vec<(&'static str, Vec<f64>)>,
    /// per-trial epoch boundaries `(name, on, off)` in steps; -1 where a trial lacks the epoch
    pub epochs: Vec<(&'static str, Vec<i32>, Vec<i32>)>,
    /// the trials this batch was assembled from, kept so their buffers are reused next time
    pub trials: Vec<Trial>,
}

impl TaskBatch {
    /// Assemble trials (of equal channel counts) into one batch.
    pub fn assemble(trials: &[Trial]) -> TaskBatch {
        let mut out = TaskBatch::default();
        out.assemble_from(trials);
        out
    }

    /// Give the batch this shape, reusing its buffers: every per-step array sized (old values
    /// left in place for the caller to overwrite), the lengths, latents and epochs emptied.
    pub fn reshape(&mut self, steps: usize, batch: usize, n_in: usize, n_out: usize) {
        (self.steps, self.batch, self.n_in, self.n_out) = (steps, batch, n_in, n_out);
        self.x.resize(steps * batch * n_in, 0.0);
        self.y.resize(steps * batch * n_out, 0.0);
        self.cost.resize(steps * batch * n_out, 0.0);
        self.y_loc.resize(steps * batch, -1.0);
        self.class.resize(steps * batch, -1);
        self.lengths.clear();
        self.latents.clear();
        self.epochs.clear();
    }

    /// Assemble trials into this batch, reusing its buffers (no allocation once they are large
    /// enough).
    pub fn assemble_from(&mut self, trials: &[Trial]) {
        let batch = trials.len();
        let n_in = trials[0].n_in;
        let n_out = trials[0].n_out;
        let steps = trials.iter().map(|t| t.len).max().unwrap_or(0);
        let out = self;
        // Every element is written below (copied, or set on padding), so no clearing pass.
        out.reshape(steps, batch, n_in, n_out);
        out.lengths.extend(trials.iter().map(|t| t.len));
        // One time step of the batch (all trials) per work item, split over the cores: the copy is
        // memory-bound and one core alone cannot saturate the memory bus.
        let fill_row = |t: usize,
                        xr: &mut [f32],
                        yr: &mut [f32],
                        cr: &mut [f32],
                        lr: &mut [f32],
                        kr: &mut [i32]| {
            for (b, tr) in trials.iter().enumerate() {
                let (xb, yb, cb) = (
                    &mut xr[b * n_in..(b + 1) * n_in],
                    &mut yr[b * n_out..(b + 1) * n_out],
                    &mut cr[b * n_out..(b + 1) * n_out],
                );
                if t < tr.len {
                    xb.copy_from_slice(&tr.x[t * n_in..(t + 1) * n_in]);
                    yb.copy_from_slice(&tr.y[t * n_out..(t + 1) * n_out]);
                    cb.copy_from_slice(&tr.cost[t * n_out..(t + 1) * n_out]);
                    lr[b] = tr.y_loc[t];
                    kr[b] = class_of(tr.y_loc[t], n_out);
                } else {
                    // padding: no input, no loss
                    xb.fill(0.0);
                    yb.fill(0.0);
                    cb.fill(0.0);
                    lr[b] = -1.0;
                    kr[b] = -1;
                }
            }
        };
        if n_in > 0 && n_out > 0 {
            out.x
                .par_chunks_mut(batch * n_in)
                .zip(out.y.par_chunks_mut(batch * n_out))
                .zip(out.cost.par_chunks_mut(batch * n_out))
                .zip(out.y_loc.par_chunks_mut(batch))
                .zip(out.class.par_chunks_mut(batch))
                .enumerate()
                .for_each(|(t, ((((xr, yr), cr), lr), kr))| fill_row(t, xr, yr, cr, lr, kr));
        } else {
            for t in 0..steps {
                let (r_in, r_out) = (
                    t * batch * n_in..(t + 1) * batch * n_in,
                    t * batch * n_out..(t + 1) * batch * n_out,
                );
                fill_row(
                    t,
                    &mut out.x[r_in],
                    &mut out.y[r_out.clone()],
                    &mut out.cost[r_out],
                    &mut out.y_loc[t * batch..(t + 1) * batch],
                    &mut out.class[t * batch..(t + 1) * batch],
                );
            }
        }
        for (k, (name, _)) in trials[0].latents.iter().enumerate() {
            out.latents
                .push((name, trials.iter().map(|t| t.latents[k].1).collect()));
        }
        let mut names: Vec<&'static str> = vec![];
        for tr in trials {
            for e in &tr.epochs {
                if !names.contains(&e.name) {
                    names.push(e.name);
                }
            }
        }
        for name in names {
            let find = |t: &Trial| {
                t.epochs
                    .iter()
                    .find(|e| e.name == name)
                    .map(|e| (e.on, e.off))
            };
            let on = trials
                .iter()
                .map(|t| find(t).map_or(-1, |e| e.0 as i32))
                .collect();
            let off = trials
                .iter()
                .map(|t| find(t).map_or(-1, |e| e.1 as i32))
                .collect();
            out.epochs.push((name, on, off));
        }
    }

    /// The model output of trial `b` at its own last step, from a `[T, B, n_out]` output buffer.
    pub fn last_output<'a>(&self, output: &'a [f32], b: usize) -> &'a [f32] {
        let c = (self.lengths[b] - 1) * self.batch + b;
        &output[c * self.n_out..(c + 1) * self.n_out]
    }

    pub fn last_y_loc(&self, b: usize) -> f32 {
        self.y_loc[(self.lengths[b] - 1) * self.batch + b]
    }

    pub fn last_class(&self, b: usize) -> i32 {
        self.class[(self.lengths[b] - 1) * self.batch + b]
    }

    pub fn latent(&self, name: &str) -> Option<&[f64]> {
        self.latents
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The class target of a step whose target angle is `loc` (negative: fixate, class 0) with
/// `n_out` outputs: 1 + the ring unit whose preferred angle 2 pi k / (n_out - 1) is nearest.
pub(crate) fn class_of(loc: f32, n_out: usize) -> i32 {
    let n_ring = n_out.saturating_sub(1).max(1);
    if loc < 0.0 || n_out < 2 {
        0
    } else {
        let spacing = 2.0 * std::f64::consts::PI / n_ring as f64;
        1 + ((loc as f64 / spacing).round() as usize % n_ring) as i32
    }
}

/// The trials of batch number `index` of `task`, each with its input noise. Trial contents come from
/// the streams `task_content`, timing from `task_timing` (shared by the whole batch with per-batch
/// timing), noise from `input_noise`, all indexed by `index` and the trial's position: the batch is
/// the same whatever else the run does and however many threads build it.
pub fn generate_trials(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    index: u64,
) -> Vec<Trial> {
    let mut trials = vec![];
    generate_trials_into(task, spec, streams, index, &mut trials);
    trials
}

/// As [`generate_trials`], reusing the trials in `trials`.
pub fn generate_trials_into(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    index: u64,
    trials: &mut Vec<Trial>,
) {
    trials.resize_with(spec.batch_size, || {
        Trial::new(task.n_in(), task.n_out(), spec.dt)
    });
    fill_trials(task, spec, streams, index, trials);
}

/// Trials `0..trials.len()` of batch number `index`, written over `trials` (their buffers reused).
fn fill_trials(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    index: u64,
    trials: &mut [Trial],
) {
    let content = streams.child("task_content", index);
    let timing = streams.child("task_timing", index);
    let noise = streams.child("input_noise", index);
    trials.par_iter_mut().enumerate().for_each(|(b, trial)| {
        let mut shared = match spec.timing {
            Timing::PerBatch => timing.stream("batch", 0),
            Timing::PerTrial => timing.stream("trial", b as u64),
        };
        let mut c = content.stream("trial", b as u64);
        // a batch's rows are consecutive trials: grouped tasks take turns within it
        match task.group_size() {
            1 => task.trial_into(spec.dt, &mut shared, &mut c, trial),
            g => {
                let mut group = content.stream("group", (b / g) as u64);
                task.member_into(spec.dt, &mut shared, &mut group, &mut c, b % g, trial)
            }
        }
        if spec.input_noise_std > 0.0 {
            let mut rng = noise.stream("trial", b as u64).bulk();
            rng.add_normal_f32(&mut trial.x, spec.input_noise_std as f32);
        }
    });
}

/// Batch number `index` of `task`, with input noise.
pub fn generate(task: &dyn Task, spec: &BatchSpec, streams: &Streams, index: u64) -> TaskBatch {
    let mut batch = TaskBatch::default();
    generate_into(task, spec, streams, index, &mut batch);
    batch
}

/// As [`generate`], into `out`'s buffers.
pub fn generate_into(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    index: u64,
    out: &mut TaskBatch,
) {
    batches_into(task, spec, streams, index..index + 1, out);
}

/// Batches number `indices` of `task`, one after another in one padded batch, built into `out`'s
/// buffers and its kept trials': no allocation once they are large enough.
fn batches_into(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    indices: std::ops::Range<u64>,
    out: &mut TaskBatch,
) {
    let mut trials = std::mem::take(&mut out.trials);
    let count = (indices.end - indices.start) as usize;
    trials.resize_with(count * spec.batch_size, || {
        Trial::new(task.n_in(), task.n_out(), spec.dt)
    });
    for (index, batch) in indices.zip(trials.chunks_mut(spec.batch_size.max(1))) {
        fill_trials(task, spec, streams, index, batch);
    }
    out.assemble_from(&trials);
    out.trials = trials;
}

/// An evaluation set: `groups` batches of `spec.batch_size` trials (each group with its own timing
/// when timing is drawn per batch, as gyyang's 16 x 32 evaluation), assembled into one padded batch.
pub fn generate_groups(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    groups: usize,
) -> TaskBatch {
    let mut batch = TaskBatch::default();
    generate_groups_into(task, spec, streams, groups, &mut batch);
    batch
}

/// As [`generate_groups`], into `out`'s buffers.
pub fn generate_groups_into(
    task: &dyn Task,
    spec: &BatchSpec,
    streams: &Streams,
    groups: usize,
    out: &mut TaskBatch,
) {
    batches_into(task, spec, streams, 0..groups as u64, out);
}
