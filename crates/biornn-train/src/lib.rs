//! Learning by backpropagation through time, and the runs it produces.
//!
//! [`config::RunConfig`] is the whole TOML config; [`engine`] computes a batch's loss and exact
//! gradients in fixed batch chunks run in parallel (so results do not depend on the thread count);
//! [`trainer::train`] is the loop that samples rules, updates, evaluates, checkpoints and writes the
//! run directory; [`checkpoint`] reads and writes `.npz` weights with PsychRNN key names.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod eval;
pub mod longterm;
pub mod loss;
pub mod optim;
pub mod reversal;
pub mod rflo;
pub mod rounds;
pub mod trainer;

pub use config::{RunConfig, TrainConfig};
