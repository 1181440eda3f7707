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
pub mod reversal;
pub mod temporalskip;
pub mod trial;
pub mod yang;

pub use batch::{
    generate, generate_groups, generate_into, generate_trials, BatchSpec, TaskBatch, Timing,
};
pub use battery::{BatchSource, Battery};
pub use config::TaskConfig;
pub use trial::Trial;

use biornn_numerics::RngStream;

/// A task that can produce trials. Timing and batch-level choices come from `shared` (the same stream
/// for every trial of a batch when timing is drawn per batch), per-trial content from `content`.
pub trait Task: Send + Sync {
    fn name(&self) -> &str;
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
    /// Whether the output at a trial's last step counts as correct, given the target angle there
    /// (negative: the network should fixate).
    fn correct(&self, output_last: &[f32], y_loc_last: f32) -> bool;
}
