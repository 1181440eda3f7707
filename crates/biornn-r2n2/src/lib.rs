//! R2N2 (Cheng and Brown, Neural Computation 2025; code CogControlLab/R2N2): a reversible
//! two-population RNN whose past states need not be stored, because backward replay recomputes
//! them exactly, so BPTT runs offline during replay.
//!
//! - [`network`]: the network, its exact inverse and the backward weights (hard reset or fitted).
//! - [`replay`]: the forward pass and the backward replay that computes the gradient (exact carry by
//!   default, the published one under `code_parity`; backpropagation or feedback alignment).
//! - [`learner`]: one network learning from replay, as a [`biornn_core::Learner`] the run layer's
//!   driver trains, checkpoints and resumes; [`config`] is its TOML.

pub mod cache;
pub mod config;
pub mod dynamics;
pub mod learner;
pub mod network;
pub mod replay;
pub mod wired;

pub use config::{Precision, R2n2RunConfig, DEFAULT_R2N2_TOML};
pub use dynamics::R2n2Dynamics;
pub use learner::{trained_network, R2n2Learner};
pub use network::{ForwardSamples, R2n2, Shape, State};
pub use replay::{
    forward, gradient_with_stored_states, replay_gradient, Feedback, Grads, Objective,
    ReplayOptions,
};
