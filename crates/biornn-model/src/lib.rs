//! Continuous-time rate recurrent networks (CTRNNs) with the constraints neuroscientists use:
//! per-unit time constants, Dale's law, fixed connectivity masks, recurrent noise; and their exact,
//! hand-derived backward pass (BPTT).
//!
//! Start at [`ctrnn::Ctrnn`]: `forward` runs a batch and keeps every state the backward pass, the
//! analysis and later learning rules need; `backward` turns output gradients into parameter gradients.

pub mod activation;
pub mod config;
pub mod ctrnn;
pub mod dynamics;
pub mod init;
pub mod mask;
pub mod network;
pub mod skip;
pub mod sparse;

pub use activation::Activation;
pub use config::{
    DaleConfig, DaleMode, Feedback, InitConfig, MaskConfig, ModelConfig, NoiseConfig, NoiseKind,
    NoisePlacement, Readout, StateConvention, Trainable,
};
pub use ctrnn::{Credit, Ctrnn, Grads, Params, Trajectory};
pub use mask::MaskSpec;
pub use skip::{DascDerivative, Skip, SkipKind, TimePlan};
