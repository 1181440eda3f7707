//! Rules that train random rate networks without backpropagation through time:
//! - reservoir computing with a trained readout: a fixed random rate network whose readout is fed
//!   back into it, trained online every few time steps (`rule.every`) by recursive least squares (FORCE learning,
//!   Sussillo and Abbott 2009), on a target that never restarts;
//! - the same on biornn's CTRNN ([`ctrnn_force`]): any `[model]`, its readout fed back;
//! - RFLO (Murray 2019, [`rflo`]) on a leaky rate network, and the echo-state network the R2N2
//!   comparison uses (the same network with its recurrent weights frozen), on a^n b^n
//!   ([`rflo_run`]).
//!
//! Built only on `biornn-core`'s traits: [`Reservoir`] is a [`biornn_core::Network`] (and
//! [`biornn_core::Stepping`]), [`Rls`] a [`biornn_core::Rule`], [`Sines`] an
//! [`biornn_core::Environment`]; `biornn_core::Online` makes them a learner that the run layer's
//! driver trains, checkpoints and resumes like any other.

pub mod config;
pub mod ctrnn_force;
pub mod network;
pub mod rflo;
pub mod rflo_run;
pub mod rls;
pub mod run;
pub mod sines;

pub use config::{ReservoirConfig, RlsConfig, SinesConfig};
pub use ctrnn_force::{CtrnnFeedback, CtrnnForceRunConfig, DEFAULT_CTRNN_FORCE_TOML};
pub use network::Reservoir;
pub use rflo_run::{RfloLearner, RfloRunConfig, DEFAULT_ESN_TOML, DEFAULT_RFLO_TOML};
pub use rls::Rls;
pub use run::{ForceRunConfig, OnlineTrainConfig, DEFAULT_FORCE_TOML};
pub use sines::Sines;

/// The learner `[network] kind = "reservoir"` with `[rule] kind = "rls"` builds.
pub type ForceLearner = biornn_core::Online<Reservoir, Rls, Sines>;

/// The learner `[network] kind = "ctrnn"` with `[rule] kind = "rls"` builds: FORCE on the CTRNN.
pub type CtrnnForceLearner = biornn_core::Online<CtrnnFeedback, Rls, Sines>;
