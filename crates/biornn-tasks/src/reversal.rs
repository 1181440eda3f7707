//! The cross-trial rule-reversal task of Soo, Goudar and Wang (NeurIPS 2023), as wmws2/temporalskip
//! `functions/func_rulereversaltask.py` builds it.
//!
//! A sequence is five task trials. Each trial shows stimulus A or B (`sample`), asks for one of two
//! answers (`response`), feeds back "right" or "wrong" (`reward`) and pauses (`wait`); every epoch
//! lasts 0.5 s, jittered in training to whole steps in [0.4 s, 0.6 s), drawn per epoch and per batch.
//! A 1 s pre-trial period with no input comes first and runs outside the gradient.
//!
//! Under rule r the answer to stimulus s is 1 when s = r and 0 otherwise, so the two rules map the
//! stimuli to opposite answers. Each sequence follows one of eight rule patterns (00000, 01100, ...).
//! The feedback says whether the network's answer at the last response step was right under the
//! **current** trial's rule, but the label it is trained on (`ideal`) is the answer under the
//! **previous** trial's rule (rule 0 for the first trial). So the network has to infer the rule from
//! its own last answer and the feedback to it, and carry that across the next 1.5-2 s: a
//! dependency across trials. The feedback depends on the network's own output, so it is filled in
//! during the forward pass (see `biornn_model::Ctrnn::forward_start`); the batch holds the stimuli.
//!
//! Inputs: 0 stimulus A, 1 stimulus B, 2 "right", 3 "wrong". Outputs: two logits (a softmax).
//!
//! Batch trainers (BPTT) take whole [`ReversalBatch`]es and fill the feedback in during their
//! forward pass; online rules take the same sequences one step at a time from [`ReversalEnv`], a
//! closed-loop [`Environment`] that computes the feedback from the answers it is given.

use crate::temporalskip::{jittered, steps};
use biornn_core::arrays::{put_f64, put_u64, take_f64, take_u64};
use biornn_core::{Arrays, Environment, Stateful, Step};
use biornn_numerics::{Result, Streams};

pub const N_INPUT: usize = 4;
pub const N_OUTPUT: usize = 2;
pub const CHANNEL_RIGHT: usize = 2;
pub const CHANNEL_WRONG: usize = 3;
/// task trials per sequence
pub const TRIALS: usize = 5;
/// The rule of each trial, per pattern; a batch has the same number of sequences of each.
pub const PATTERNS: [[u8; TRIALS]; 8] = [
    [0, 0, 0, 0, 0],
    [0, 1, 1, 0, 0],
    [0, 0, 0, 1, 1],
    [0, 1, 1, 1, 1],
    [1, 0, 0, 0, 0],
    [1, 1, 1, 0, 0],
    [1, 0, 0, 1, 1],
    [1, 1, 1, 1, 1],
];
/// seconds
const T_PRE: f64 = 1.0;
const T_EPOCH: f64 = 0.5;
/// response steps left out of the loss and the score at the start of each response epoch
const T_WAIT: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReversalTask {
    /// sequences of each rule pattern in a batch (the reference: 5, so 40 sequences)
    pub per_pattern: usize,
    /// jitter the epochs (training); evaluation runs the nominal 0.5 s
    pub jitter: bool,
}

impl Default for ReversalTask {
    fn default() -> Self {
        ReversalTask {
            per_pattern: 5,
            jitter: true,
        }
    }
}

/// The steps at which one task trial's epochs begin, and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrialSteps {
    pub sample: usize,
    pub response: usize,
    pub reward: usize,
    pub wait: usize,
    pub end: usize,
}

impl TrialSteps {
    /// The response steps that count for the loss and the score: after the first 0.1 s.
    pub fn scored(&self, wait: usize) -> std::ops::Range<usize> {
        (self.response + wait).min(self.reward)..self.reward
    }
}

/// One batch of sequences, time-major: column `t * batch + b` is step t of sequence b.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReversalBatch {
    pub dt: f64,
    pub steps: usize,
    /// sequences
    pub batch: usize,
    /// steps of the pre-trial period
    pub pre: usize,
    /// steps at the start of each response epoch that are not scored
    pub wait: usize,
    pub trials: [TrialSteps; TRIALS],
    /// `[N_INPUT, steps * batch]`: the stimuli; the feedback channels are left at zero
    pub x: Vec<f32>,
    /// per sequence: the rule of each trial, and the stimulus shown (0 = A, 1 = B)
    pub rules: Vec<[u8; TRIALS]>,
    pub stimuli: Vec<[u8; TRIALS]>,
}

impl ReversalBatch {
    /// The answer that is right under trial `k`'s own rule (what the feedback judges).
    pub fn target(&self, seq: usize, k: usize) -> usize {
        usize::from(self.stimuli[seq][k] == self.rules[seq][k])
    }

    /// The label trained and scored: the answer under the previous trial's rule (rule 0 first).
    pub fn ideal(&self, seq: usize, k: usize) -> usize {
        let rule = if k == 0 { 0 } else { self.rules[seq][k - 1] };
        usize::from(self.stimuli[seq][k] == rule)
    }

    /// The input during trial `k`'s reward epoch after `answer`.
    pub fn feedback(&self, seq: usize, k: usize, answer: usize) -> [f32; N_INPUT] {
        let mut u = [0.0; N_INPUT];
        let channel = if answer == self.target(seq, k) {
            CHANNEL_RIGHT
        } else {
            CHANNEL_WRONG
        };
        u[channel] = 1.0;
        u
    }

    /// The trial spans `(start, end)` for the trial-level skip.
    pub fn trial_spans(&self) -> Vec<(usize, usize)> {
        self.trials.iter().map(|t| (t.sample, t.end)).collect()
    }

    /// The first step of every epoch, the pre-trial period's included.
    pub fn epoch_starts(&self) -> Vec<usize> {
        let mut out = vec![0];
        for t in &self.trials {
            out.extend([t.sample, t.response, t.reward, t.wait]);
        }
        out
    }
}

/// The answer a pair of logits gives: 1 when the second is larger (ties go to 0, as `argmax`).
pub fn answer(logits: &[f32]) -> usize {
    usize::from(logits[1] > logits[0])
}

/// Build batch `index` from `streams`: epoch lengths from the `timing` stream, stimuli from
/// `content`. `dt` in ms.
pub fn generate_reversal(
    task: &ReversalTask,
    dt: f64,
    streams: &Streams,
    index: u64,
    out: &mut ReversalBatch,
) {
    let mut timing = streams.stream("timing", index);
    let mut content = streams.stream("content", index);
    let batch = PATTERNS.len() * task.per_pattern;
    let pre = steps(dt, T_PRE);
    let mut t = pre;
    for trial in out.trials.iter_mut() {
        let mut next = || {
            let start = t;
            t += jittered(&mut timing, dt, T_EPOCH, task.jitter);
            start
        };
        trial.sample = next();
        trial.response = next();
        trial.reward = next();
        trial.wait = next();
        trial.end = t;
    }
    out.dt = dt;
    out.steps = t;
    out.batch = batch;
    out.pre = pre;
    out.wait = steps(dt, T_WAIT);
    out.rules.clear();
    out.stimuli.clear();
    for p in PATTERNS {
        for _ in 0..task.per_pattern {
            out.rules.push(p);
        }
    }
    // the reference draws trial by trial, sequence by sequence
    out.stimuli.resize(batch, [0; TRIALS]);
    for k in 0..TRIALS {
        for seq in out.stimuli.iter_mut() {
            seq[k] = content.below(2) as u8;
        }
    }
    out.x.clear();
    out.x.resize(N_INPUT * t * batch, 0.0);
    for (k, trial) in out.trials.iter().enumerate() {
        for step in trial.sample..trial.response {
            for (b, stim) in out.stimuli.iter().enumerate() {
                out.x[N_INPUT * (step * batch + b) + stim[k] as usize] = 1.0;
            }
        }
    }
}

/// The reference's score: per trial, the fraction of scored response steps (all sequences) whose
/// answer is the ideal one; averaged over the trials. `logits`: `[N_OUTPUT, steps * batch]`.
pub fn score(batch: &ReversalBatch, logits: &[f32]) -> f64 {
    score_by_reversal(batch, logits).score
}

/// [`score`], with the ideal answers also counted apart on the trials where the rule to answer by
/// has just reversed and on those where it has not.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReversalScore {
    /// the reference's score
    pub score: f64,
    /// (ideal answers, scored steps) on trials 2 to 5 whose rule differs from the trial before's:
    /// the last feedback said that an answer by the old rule was wrong, so the network must switch
    pub switch: (usize, usize),
    /// the same on trials 2 to 5 whose rule is the trial before's
    pub stay: (usize, usize),
}

/// See [`ReversalScore`]. The first trial (answered by rule 0, with no feedback yet) is in the
/// score only.
pub fn score_by_reversal(batch: &ReversalBatch, logits: &[f32]) -> ReversalScore {
    let b = batch.batch;
    let mut out = ReversalScore::default();
    // the rule trial k is answered by: the previous trial's (rule 0 for the first)
    let rule = |seq: usize, k: usize| if k == 0 { 0 } else { batch.rules[seq][k - 1] };
    for (k, trial) in batch.trials.iter().enumerate() {
        let window = trial.scored(batch.wait);
        let mut right = 0usize;
        for seq in 0..b {
            let ideal = batch.ideal(seq, k);
            let r = window
                .clone()
                .filter(|t| {
                    let c = t * b + seq;
                    answer(&logits[N_OUTPUT * c..N_OUTPUT * (c + 1)]) == ideal
                })
                .count();
            right += r;
            if k > 0 {
                let part = if rule(seq, k) != rule(seq, k - 1) {
                    &mut out.switch
                } else {
                    &mut out.stay
                };
                part.0 += r;
                part.1 += window.len();
            }
        }
        out.score += right as f64 / (window.len() * b).max(1) as f64;
    }
    out.score /= TRIALS as f64;
    out
}

/// The rule-reversal task as a closed-loop stream of time steps: the sequences of batch 0, then
/// of batch 1, and so on, each exactly a column of [`generate_reversal`]'s batch, with the feedback
/// of each trial computed from the answer the network gives at the trial's last response step
/// (through [`Environment::answer`]; an answer never given counts as answer 0, as a tie does).
/// The target is the ideal answer, one-hot, over each trial's scored response steps (weight 1);
/// every other step, the pre-trial period included, has weight 0.
#[derive(Debug, Clone)]
pub struct ReversalEnv {
    task: ReversalTask,
    dt: f64,
    streams: Streams,
    batch: ReversalBatch,
    /// the batch index `batch` holds, when it holds one
    built: Option<u64>,
    /// where the stream stands: the next step is step `t` of sequence `seq` of batch `index`
    index: u64,
    seq: usize,
    t: usize,
    /// the answer given at each trial's last response step in the current sequence
    answers: [Option<usize>; TRIALS],
}

impl ReversalEnv {
    /// Sequences drawn from `streams` as [`generate_reversal`] draws its batches; `dt` in ms.
    pub fn new(task: ReversalTask, dt: f64, streams: Streams) -> Self {
        ReversalEnv {
            task,
            dt,
            streams,
            batch: ReversalBatch::default(),
            built: None,
            index: 0,
            seq: 0,
            t: 0,
            answers: [None; TRIALS],
        }
    }

    /// The batch the current sequence belongs to.
    pub fn batch(&mut self) -> &ReversalBatch {
        if self.built != Some(self.index) {
            generate_reversal(
                &self.task,
                self.dt,
                &self.streams,
                self.index,
                &mut self.batch,
            );
            self.built = Some(self.index);
        }
        &self.batch
    }

    /// Where the stream stands: (batch index, sequence in the batch, step in the sequence).
    pub fn position(&self) -> (u64, usize, usize) {
        (self.index, self.seq, self.t)
    }
}

impl Stateful for ReversalEnv {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_u64(out, &format!("{prefix}batch"), self.index);
        put_u64(out, &format!("{prefix}sequence"), self.seq as u64);
        put_u64(out, &format!("{prefix}step"), self.t as u64);
        let answers: Vec<f64> = self
            .answers
            .iter()
            .map(|a| a.map_or(-1.0, |a| a as f64))
            .collect();
        put_f64(out, &format!("{prefix}answers"), &[TRIALS], &answers);
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        use biornn_numerics::Error;
        let index = take_u64(arrays, &format!("{prefix}batch"))?;
        let seq = take_u64(arrays, &format!("{prefix}sequence"))?;
        let t = take_u64(arrays, &format!("{prefix}step"))?;
        let mut answers = [None; TRIALS];
        for (a, v) in
            answers
                .iter_mut()
                .zip(take_f64(arrays, &format!("{prefix}answers"), &[TRIALS])?)
        {
            *a = match v {
                -1.0 => None,
                0.0 => Some(0),
                1.0 => Some(1),
                _ => {
                    return Err(Error::invalid(
                        &format!("{prefix}answers"),
                        v,
                        "allowed: -1 (none yet), 0 or 1",
                    ))
                }
            };
        }
        // the batch at `index` says how far the position may go; check before taking it
        let mut b = ReversalBatch::default();
        generate_reversal(&self.task, self.dt, &self.streams, index, &mut b);
        if seq >= b.batch as u64 {
            return Err(Error::invalid(
                &format!("{prefix}sequence"),
                seq,
                &format!("allowed: below {}, the sequences of a batch", b.batch),
            ));
        }
        if t >= b.steps as u64 {
            return Err(Error::invalid(
                &format!("{prefix}step"),
                t,
                &format!("allowed: below {}, the steps of a sequence", b.steps),
            ));
        }
        (self.index, self.seq, self.t, self.answers) = (index, seq as usize, t as usize, answers);
        (self.batch, self.built) = (b, Some(index));
        Ok(())
    }
}

impl Environment for ReversalEnv {
    fn name(&self) -> &str {
        "reversal"
    }
    fn n_in(&self) -> usize {
        N_INPUT
    }
    fn n_out(&self) -> usize {
        N_OUTPUT
    }

    fn next(&mut self, input: &mut [f32], target: &mut [f32]) -> Step {
        let (seq, t) = (self.seq, self.t);
        let answers = self.answers;
        let batch = self.batch();
        let c = N_INPUT * (t * batch.batch + seq);
        input[..N_INPUT].copy_from_slice(&batch.x[c..c + N_INPUT]);
        target[..N_OUTPUT].fill(0.0);
        let mut weight = 0.0;
        for (k, trial) in batch.trials.iter().enumerate() {
            if (trial.reward..trial.wait).contains(&t) {
                input[..N_INPUT].copy_from_slice(&batch.feedback(seq, k, answers[k].unwrap_or(0)));
            }
            if trial.scored(batch.wait).contains(&t) {
                target[batch.ideal(seq, k)] = 1.0;
                weight = 1.0;
            }
        }
        let (n_seq, steps) = (batch.batch, batch.steps);
        let last = t + 1 == steps;
        self.t += 1;
        if last {
            self.t = 0;
            self.answers = [None; TRIALS];
            self.seq += 1;
            if self.seq == n_seq {
                self.seq = 0;
                self.index += 1;
            }
        }
        Step { weight, last }
    }

    fn answer(&mut self, output: &[f32]) {
        // the step just handed out was step t - 1 of this sequence (a sequence never ends on a
        // response step, so a wrap to t = 0 never needs an answer)
        let t = self.t;
        if t == 0 {
            return;
        }
        let given = answer(output);
        let batch = self.batch();
        if let Some(k) = batch.trials.iter().position(|tr| tr.reward == t) {
            self.answers[k] = Some(given);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_batch_worked_out_by_hand() {
        let task = ReversalTask {
            per_pattern: 1,
            jitter: false,
        };
        let mut b = ReversalBatch::default();
        generate_reversal(&task, 5.0, &Streams::new(4), 0, &mut b);
        // 1 s pre-trial, then 5 trials of 4 epochs of 100 steps
        assert_eq!((b.pre, b.wait, b.batch, b.steps), (200, 20, 8, 2200));
        assert_eq!(
            b.trials[1],
            TrialSteps {
                sample: 600,
                response: 700,
                reward: 800,
                wait: 900,
                end: 1000
            }
        );
        assert_eq!(b.trials[1].scored(b.wait), 720..800);
        assert_eq!(b.trial_spans()[4], (1800, 2200));
        assert_eq!(b.epoch_starts().len(), 21);
        assert_eq!(b.rules[1], [0, 1, 1, 0, 0]);
        assert_eq!(b.rules[6], [1, 0, 0, 1, 1]);
        // inputs: the stimulus one-hot during the sample epoch only
        for seq in 0..8 {
            for k in 0..TRIALS {
                let s = b.stimuli[seq][k] as usize;
                let tr = b.trials[k];
                for (t, want) in [
                    (tr.sample, [s == 0, s == 1]),
                    (tr.response - 1, [s == 0, s == 1]),
                    (tr.response, [false, false]),
                    (tr.end - 1, [false, false]),
                ] {
                    let c = N_INPUT * (t * 8 + seq);
                    let got = &b.x[c..c + N_INPUT];
                    assert_eq!(got[0] == 1.0, want[0]);
                    assert_eq!(got[1] == 1.0, want[1]);
                    assert_eq!(got[2] + got[3], 0.0, "feedback is filled in by the network");
                }
            }
        }
        assert!(b.x[..N_INPUT * 200 * 8].iter().all(|v| *v == 0.0));
        // pattern 01100, stimulus B (1) in every trial: targets under rules 0,1,1,0,0 are
        // 0,1,1,0,0 and ideals under rules 0,0,1,1,0 are 0,0,1,1,0
        let mut h = b.clone();
        h.stimuli[1] = [1; TRIALS];
        let targets: Vec<usize> = (0..TRIALS).map(|k| h.target(1, k)).collect();
        let ideals: Vec<usize> = (0..TRIALS).map(|k| h.ideal(1, k)).collect();
        assert_eq!(targets, vec![0, 1, 1, 0, 0]);
        assert_eq!(ideals, vec![0, 0, 1, 1, 0]);
        assert_eq!(h.feedback(1, 1, 1), [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(h.feedback(1, 1, 0), [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn training_jitter_is_per_epoch_and_per_batch() {
        let task = ReversalTask::default();
        let mut b = ReversalBatch::default();
        let streams = Streams::new(9);
        let mut lengths = std::collections::BTreeSet::new();
        for index in 0..20 {
            generate_reversal(&task, 5.0, &streams, index, &mut b);
            assert_eq!(b.batch, 40);
            let starts = b.epoch_starts();
            let mut ends = starts[1..].to_vec();
            ends.push(b.steps);
            for (s, e) in starts[1..].iter().zip(&ends[1..]) {
                assert!((80..120).contains(&(e - s)), "epoch of {} steps", e - s);
                lengths.insert(e - s);
            }
        }
        assert!(lengths.len() > 20, "lengths vary: {lengths:?}");
        // the same index gives the same batch
        let mut again = ReversalBatch::default();
        generate_reversal(&task, 5.0, &streams, 7, &mut again);
        generate_reversal(&task, 5.0, &streams, 7, &mut b);
        assert_eq!(again, b);
        // at a coarse step of 50 ms: epochs of 8-11 steps, pre-trial 20, wait 2
        generate_reversal(&task, 50.0, &streams, 0, &mut b);
        assert_eq!((b.pre, b.wait), (20, 2));
        assert!((8 * 20 + 20..=11 * 20 + 20).contains(&b.steps));
    }

    #[test]
    fn the_score_counts_ideal_answers_after_the_wait() {
        let task = ReversalTask {
            per_pattern: 1,
            jitter: false,
        };
        let mut b = ReversalBatch::default();
        generate_reversal(&task, 5.0, &Streams::new(4), 0, &mut b);
        let mut logits = vec![0.0f32; N_OUTPUT * b.steps * b.batch];
        // the ideal answer everywhere scores 1
        for (k, tr) in b.trials.iter().enumerate() {
            for t in tr.response..tr.reward {
                for seq in 0..b.batch {
                    let c = N_OUTPUT * (t * b.batch + seq);
                    logits[c + b.ideal(seq, k)] = 1.0;
                }
            }
        }
        assert_eq!(score(&b, &logits), 1.0);
        // wrong during the unscored wait: still 1; wrong for all of trial 2's window: 0.8
        let tr = b.trials[2];
        let flip = |logits: &mut Vec<f32>, t: usize| {
            for seq in 0..b.batch {
                let c = N_OUTPUT * (t * b.batch + seq);
                logits.swap(c, c + 1);
            }
        };
        for t in tr.response..tr.response + b.wait {
            flip(&mut logits, t);
        }
        assert_eq!(score(&b, &logits), 1.0);
        for t in tr.scored(b.wait) {
            flip(&mut logits, t);
        }
        assert!((score(&b, &logits) - 0.8).abs() < 1e-12);
        // the rules the five trials are answered by, (0, then the pattern's first four), reverse
        // 0, 2, 1, 1, 2, 2, 3 and 1 times in the eight patterns' trials 2 to 5: 12 switching
        // trials of 80 scored steps, and 20 staying ones
        let by = score_by_reversal(&b, &logits);
        assert!((by.score - 0.8).abs() < 1e-12);
        assert_eq!((by.switch.1, by.stay.1), (80 * 12, 80 * 20));
        // wrong through trial 3's window (k = 2) everywhere: it switches in 01100, 01111, 10000
        // and 10011 and stays in the other four
        assert_eq!(by.switch.0, by.switch.1 - 4 * 80);
        assert_eq!(by.stay.0, by.stay.1 - 4 * 80);
        // ties answer 0
        assert_eq!(answer(&[0.5, 0.5]), 0);
        assert_eq!(answer(&[0.5, 0.6]), 1);
    }

    /// The outputs a made-up network gives: answer 1 exactly when (seq + t) is odd.
    fn made_up_output(seq: usize, t: usize) -> [f32; N_OUTPUT] {
        if (seq + t) % 2 == 1 {
            [0.0, 1.0]
        } else {
            [1.0, 0.0]
        }
    }

    #[test]
    fn the_online_stream_is_the_batch_with_feedback_from_the_answers() {
        let task = ReversalTask {
            per_pattern: 1,
            jitter: true,
        };
        let streams = Streams::new(11);
        let mut env = ReversalEnv::new(task, 50.0, streams);
        let (mut input, mut target) = ([0f32; N_INPUT], [0f32; N_OUTPUT]);
        let mut b = ReversalBatch::default();
        let mut feedback_steps = [0usize; 2];
        for index in 0..2u64 {
            generate_reversal(&task, 50.0, &streams, index, &mut b);
            for seq in 0..b.batch {
                for t in 0..b.steps {
                    assert_eq!(env.position(), (index, seq, t));
                    let step = env.next(&mut input, &mut target);
                    env.answer(&made_up_output(seq, t));
                    let mut want = b.x[N_INPUT * (t * b.batch + seq)..][..N_INPUT].to_vec();
                    let (mut want_target, mut weight) = ([0f32; N_OUTPUT], 0.0);
                    for (k, tr) in b.trials.iter().enumerate() {
                        if (tr.reward..tr.wait).contains(&t) {
                            let given = answer(&made_up_output(seq, tr.reward - 1));
                            want = b.feedback(seq, k, given).to_vec();
                            feedback_steps[given] += 1;
                        }
                        if tr.scored(b.wait).contains(&t) {
                            want_target[b.ideal(seq, k)] = 1.0;
                            weight = 1.0;
                        }
                    }
                    assert_eq!(input.to_vec(), want, "batch {index} seq {seq} step {t}");
                    assert_eq!((target, step.weight), (want_target, weight));
                    assert_eq!(step.last, t + 1 == b.steps);
                }
            }
        }
        // both answers occurred, so both kinds of feedback were checked
        assert!(feedback_steps[0] > 0 && feedback_steps[1] > 0);
    }

    #[test]
    fn the_online_stream_resumes_mid_sequence() {
        let task = ReversalTask::default();
        let mut env = ReversalEnv::new(task, 50.0, Streams::new(3));
        let (mut input, mut target) = ([0f32; N_INPUT], [0f32; N_OUTPUT]);
        let mut run = |env: &mut ReversalEnv, n: usize| -> Vec<f32> {
            let mut seen = vec![];
            for _ in 0..n {
                let (_, seq, t) = env.position();
                let step = env.next(&mut input, &mut target);
                env.answer(&made_up_output(seq, t));
                seen.extend_from_slice(&input);
                seen.extend_from_slice(&target);
                seen.push(step.weight);
            }
            seen
        };
        // stop inside a reward epoch of the second sequence, after its first answers
        let first = env.batch().steps + env.batch().trials[2].reward + 3;
        run(&mut env, first);
        let mut saved = Arrays::new();
        env.save_state("env_", &mut saved);
        let rest = run(&mut env, 500);
        let mut again = ReversalEnv::new(task, 50.0, Streams::new(3));
        again.load_state("env_", &saved).unwrap();
        assert_eq!(run(&mut again, 500), rest);
        // a position outside the batch is refused
        put_u64(&mut saved, "env_step", 1 << 20);
        let err = again.load_state("env_", &saved).unwrap_err().to_string();
        assert!(err.contains("env_step"), "{err}");
    }
}
