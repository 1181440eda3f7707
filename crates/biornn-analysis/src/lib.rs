//! Taking trained networks apart.
//!
//! [`dynamics::Dynamics`] is the one-step map of a network under a constant input with its analytic
//! Jacobian; [`fixed_points`] finds fixed and slow points of any such map and [`linearise`]
//! describes the dynamics around them. [`pca`], [`psychometric`], [`variance`] (task variance and
//! unit clusters) and [`lesion`] work on trained CTRNNs and their tasks. [`run_analysis`] ties them
//! to a run directory: it is what `biornn analyze` calls.

pub mod autapse;
pub mod dynamics;
pub mod fixed_points;
pub mod linearise;
pub mod network;

pub use dynamics::{AffineMap, CtrnnDynamics, Dynamics};
pub use fixed_points::{
    find_fixed_points, sample_states, FixedPoint, FixedPointOptions, FixedPointResult,
};
pub use linearise::{linearise, Linearisation};
pub mod pca;
pub mod psychometric;
pub mod run;
pub mod variance;

pub use run::{analyze, write_results, Analysis, AnalysisOptions, Part};
