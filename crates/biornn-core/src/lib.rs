//! The shared vocabulary of every learning system in biornn, and nothing else: no files, no
//! threads, no particular network or rule.
//!
//! - [`Arrays`]: named arrays, the one currency in which networks, rules and environments hand
//!   over their parameters and state (to optimisers, checkpoints, `.npz` export, Python, analysis).
//! - [`Stateful`]: save and restore exactly what is needed to continue bit for bit.
//! - [`Network`]: sizes, named parameters, a forward pass over a batch, the weights as users see them.
//! - [`Dynamics`]: a network's one-step map with its Jacobian, as products with vectors, so analysis
//!   works on any network, matrix-free where the network is too large for a dense Jacobian.
//! - [`Rule`]: one update of a network (a batch, a trial or a time step), with state of its own.
//! - [`Environment`]: what the network sees and what it should answer, open or closed loop.
//! - [`Learner`]: what a driver drives: updates, evaluations and the state between them.

pub mod arrays;
pub mod dynamics;
pub mod environment;
pub mod learner;
pub mod network;
pub mod rule;

pub use arrays::{Arrays, Stateful};
pub use dynamics::Dynamics;
pub use environment::{Environment, Step};
pub use learner::{Evaluation, Learner, Online, Phase, Schedule, StepDecay};
pub use network::{Network, Stepping, Tensor, TensorMut};
pub use rule::Rule;
