//! Local dendritic plasticity that learns long sequences: ELiSe (Kriener, Völk, von Hünerbein,
//! Benitez, Senn and Petrovici, arXiv 2402.16763; reference code `unibe-cns/temporal_sequence_learning`).
//!
//! A visible population (taught; its somatic rates are the output) and a latent one, all
//! two-compartment rate neurons (soma and dendrite) with per-neuron axonal delays. A developmental
//! scaffold of fixed soma-to-soma conductances ([`scaffold`]) spreads delayed copies of the
//! visible activity into the latent pool; the soma-to-dendrite weights learn by the
//! Urbanczik-Senn rule ([`rule`]), always on, so that each dendrite predicts its own soma.
//! [`network`] integrates the neurons by forward Euler at 0.1 ms in the reference's order;
//! [`pattern`] turns a 0/1 pattern into the teacher's target potential and conductances.

pub mod config;
pub mod learner;
pub mod network;
pub mod params;
pub mod pattern;
pub mod replay;
pub mod rule;
pub mod scaffold;

pub use config::{EliseRunConfig, PatternChoice, DEFAULT_ELISE_TOML};
pub use learner::EliseLearner;
pub use network::{Elise, Mode};
pub use params::NeuronParams;
pub use pattern::{Pattern, Teacher};
pub use replay::{Disruption, Replay, ShiftScore, DISRUPTIONS};
pub use rule::UrbanczikSenn;
