//! The one-step map that fixed-point search and linearisation work on: the trait is
//! `biornn-core`'s (any network), the CTRNN's form and a test map are `biornn-model`'s.

pub use biornn_core::Dynamics;
pub use biornn_model::dynamics::{AffineMap, CtrnnDynamics};
