//! Cognitive tasks. A task builds one [`Trial`] at a time (named epochs, inputs, targets, a cost mask,
//! the latent parameters that made it); [`batch::generate`] assembles trials into a padded, time-major
//! [`TaskBatch`] from named random streams, so a batch depends only on the seed and its index.
//!
//! Start with [`trial::Trial`] (the builder) and [`yang`] (the 20 tasks of Yang et al. 2019);
//! [`temporalskip`] is the re-timed suite of the skip-connection paper (Soo et al. 2023), and
//! [`reversal`] its cross-trial rule-reversal task.

pub mod anbn;
pub mod batch;
pub mod battery;
pub mod config;
pub mod digits;
pub mod modcog;
pub mod registry;
pub mod reversal;
pub mod sequences;
pub mod temporalskip;
pub mod tmaze;
pub mod trial;
pub mod yang;

pub use batch::{
    generate, generate_groups, generate_groups_into, generate_into, generate_trials, BatchSpec,
    TaskBatch, Timing,
};
pub use battery::{BatchSource, Battery, StreamBattery};
pub use config::TaskConfig;
pub use registry::{BatteryDef, Context, Registry};
pub use trial::Trial;

use biornn_numerics::RngStream;

/// A trial's last step as a task judges it: the network's output there, the target angle
/// (negative: the network should fixate) and the target class (0 fixate, k + 1 ring unit k).
#[derive(Debug, Clone, Copy)]
pub struct LastStep<'a> {
    pub output: &'a [f32],
    pub y_loc: f32,
    pub class: i32,
}

/// One trial's outputs and targets at every one of its steps, as a task scores them.
#[derive(Debug, Clone, Copy)]
pub struct TrialOutputs<'a> {
    /// the network's outputs, `[len, n_out]`
    pub output: &'a [f32],
    pub n_out: usize,
    /// the target class per step (0 fixate, k + 1 ring unit k)
    pub class: &'a [i32],
    /// the target angle per step (negative: fixate)
    pub y_loc: &'a [f32],
    /// the trial's epochs `(name, on, off)` in steps
    pub epochs: &'a [(&'static str, usize, usize)],
    /// the trial's latent parameters
    pub latents: &'a [(&'static str, f64)],
}

impl TrialOutputs<'_> {
    pub fn len(&self) -> usize {
        self.class.len()
    }
    pub fn is_empty(&self) -> bool {
        self.class.is_empty()
    }
    /// The outputs at step `t`.
    pub fn at(&self, t: usize) -> &[f32] {
        &self.output[t * self.n_out..(t + 1) * self.n_out]
    }
    /// The last step, as [`Task::correct`] judges it.
    pub fn last(&self) -> LastStep<'_> {
        let t = self.len() - 1;
        LastStep {
            output: self.at(t),
            y_loc: self.y_loc[t],
            class: self.class[t],
        }
    }
    /// The latent parameter called `name`, if the trial has it.
    pub fn latent(&self, name: &str) -> Option<f64> {
        self.latents.iter().find(|l| l.0 == name).map(|l| l.1)
    }

    /// The steps of the epoch called `name`, if the trial has it.
    pub fn epoch(&self, name: &str) -> Option<std::ops::Range<usize>> {
        self.epochs.iter().find(|e| e.0 == name).map(|e| e.1..e.2)
    }
}

/// How one trial went: whether it counts as correct, and how many of the steps the task scores
/// were right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrialScore {
    pub correct: bool,
    pub steps_right: usize,
    pub steps_scored: usize,
    /// the right answer is a coin flip by construction (Mod-Cog's exact evidence ties), so the
    /// trial is also reported apart
    pub ambiguous: bool,
}

/// The index of the largest value (the first of ties), as numpy's `argmax`.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (k, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = k;
        }
    }
    best
}

/// A task that can produce trials. Timing and batch-level choices come from `shared` (the same stream
/// for every trial of a batch when timing is drawn per batch), per-trial content from `content`.
/// Tasks are built by name through the [`Registry`].
pub trait Task: Send + Sync {
    fn name(&self) -> &str;
    /// The task's number in its battery. It names the task's evaluation and analysis streams, so
    /// the same task sees the same trials whatever else a run trains on.
    fn key(&self) -> u64;
    fn n_in(&self) -> usize;
    fn n_out(&self) -> usize;
    /// One line for `biornn task list`.
    fn summary(&self) -> String;
    /// The names of the epochs its trials have, in order.
    fn epoch_names(&self) -> &'static [&'static str];
    fn trial(&self, dt: f64, shared: &mut RngStream, content: &mut RngStream) -> Trial {
        let mut t = Trial::new(self.n_in(), self.n_out(), dt);
        self.trial_into(dt, shared, content, &mut t);
        t
    }
    /// Build a trial into `out`, reusing its buffers.
    fn trial_into(&self, dt: f64, shared: &mut RngStream, content: &mut RngStream, out: &mut Trial);
    /// How many consecutive trials of this task form a group (Mod-Cog's two ring copies, which
    /// take turns); 1, the default, when every trial stands alone. Generators that lay out trials
    /// in sequence build member `n % g` of group `n / g` with [`Task::member_into`].
    fn group_size(&self) -> usize {
        1
    }
    /// Member `member` of a group of [`Task::group_size`] trials: draws the members share come
    /// from `group` (the same stream for the whole group), the member's own from `content`.
    fn member_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        _group: &mut RngStream,
        content: &mut RngStream,
        _member: usize,
        out: &mut Trial,
    ) {
        self.trial_into(dt, shared, content, out)
    }
    /// Whether a trial counts as correct, judged at its last step.
    fn correct(&self, last: &LastStep) -> bool;
    /// Whether the task scores steps ([`Task::score`] counts more than the last step), so that
    /// evaluations report a step accuracy beside the fraction of trials correct.
    fn scores_steps(&self) -> bool {
        false
    }
    /// A whole trial's score. By default the last step decides, and it is the one step scored.
    fn score(&self, trial: &TrialOutputs) -> TrialScore {
        let correct = self.correct(&trial.last());
        TrialScore {
            correct,
            steps_right: correct as usize,
            steps_scored: 1,
            ambiguous: false,
        }
    }
    /// The task evaluations score in its place: a dataset's held-out split (the digits' test
    /// images). `None`, the default: the task itself, on fresh trials.
    fn evaluation(&self) -> Option<std::sync::Arc<dyn Task>> {
        None
    }
}

/// A shared task is a task (trainers hold the registry's `Arc<dyn Task>`).
impl<T: Task + ?Sized> Task for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn key(&self) -> u64 {
        (**self).key()
    }
    fn n_in(&self) -> usize {
        (**self).n_in()
    }
    fn n_out(&self) -> usize {
        (**self).n_out()
    }
    fn summary(&self) -> String {
        (**self).summary()
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        (**self).epoch_names()
    }
    fn trial_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        content: &mut RngStream,
        out: &mut Trial,
    ) {
        (**self).trial_into(dt, shared, content, out)
    }
    fn group_size(&self) -> usize {
        (**self).group_size()
    }
    fn member_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        group: &mut RngStream,
        content: &mut RngStream,
        member: usize,
        out: &mut Trial,
    ) {
        (**self).member_into(dt, shared, group, content, member, out)
    }
    fn correct(&self, last: &LastStep) -> bool {
        (**self).correct(last)
    }
    fn scores_steps(&self) -> bool {
        (**self).scores_steps()
    }
    fn score(&self, trial: &TrialOutputs) -> TrialScore {
        (**self).score(trial)
    }
    fn evaluation(&self) -> Option<std::sync::Arc<dyn Task>> {
        (**self).evaluation()
    }
}
