//! The run layer, and the only crate that knows the files of a run directory:
//!
//! ```text
//! <run>/config.toml       the resolved config (every default written out)
//!       metrics.csv       one row per evaluation: step, the learner's columns, wall_s; appended
//!                         and flushed row by row
//!       checkpoints/      step_<n>.npz: the learner's state and the driver's counters, CRC-checked;
//!                         the newest few are kept
//!       model.npz         the final weights (and state)
//!       summary.json      what the run reached
//! ```
//!
//! [`RunDir`] creates, opens and reads them; [`checkpoint`] seals and checks `.npz` files;
//! [`drive`] is the loop that every rule runs through: updates, evaluations, the metrics row,
//! checkpoints, the stopping criterion, the divergence guard and resume; [`Ensemble`] trains K
//! networks at once as one learner.

pub mod checkpoint;
pub mod dir;
pub mod driver;
pub mod ensemble;
pub mod progress;
pub mod tensorboard;

pub use dir::{run_of_weights_file, weights_file, RunDir, RunLock};
pub use driver::{drive, open_run, resume, Criterion, DriveOptions, LoopState, Outcome};
pub use ensemble::{trimmed_mean, Ensemble};
