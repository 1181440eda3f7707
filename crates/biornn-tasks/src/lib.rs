//! Cognitive tasks. A task builds one [`Trial`] at a time (named epochs, inputs, targets, a cost mask,
//! the latent parameters that made it); [`batch::generate`] assembles trials into a padded, time-major
//! [`TaskBatch`] from named random streams, so a batch depends only on the seed and its index.
//!
//! Start with [`trial::Trial`] (the builder) and [`yang`] (the 20 tasks of Yang et al. 2019);
//! [`temporalskip`] is the re-timed suite of the skip-connection paper (Soo et al. 2023), and
//! [`reversal`] its cross-trial rule-reversal task.

pub mod batch;
pub mod battery;
pub mod config;
pub mod modcog;
pub mod registry;
pub mod reversal;
pub mod temporalskip;
pub mod trial;
pub mod yang;

pub use batch::{
    generate, generate_groups, generate_into, generate_trials, BatchSpec, TaskBatch, Timing,
};
pub use battery::{BatchSource, Battery};
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
    /// Whether a trial counts as correct, judged at its last step.
    fn correct(&self, last: &LastStep) -> bool;
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
    fn correct(&self, last: &LastStep) -> bool {
        (**self).correct(last)
    }
}
