//! The `[network]`, `[rule]` and `[task]` sections of a reservoir run. Unknown keys are errors.

use biornn_numerics::error::check;
use biornn_numerics::Result;
use serde::{Deserialize, Serialize};

/// `[network] kind = "reservoir"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReservoirConfig {
    /// always "reservoir" here
    pub kind: String,
    pub n_rec: usize,
    /// fraction of recurrent connections present
    pub density: f64,
    /// gain of the recurrent weights (chaotic above 1)
    pub g: f64,
    /// dt / tau
    pub alpha: f64,
    /// feed the readout back into the network (FORCE's network A)
    pub feedback: bool,
    /// std of the initial state
    pub init_std: f64,
}

impl Default for ReservoirConfig {
    fn default() -> Self {
        ReservoirConfig {
            kind: "reservoir".into(),
            n_rec: 300,
            density: 0.1,
            g: 1.5,
            alpha: 0.1,
            feedback: true,
            init_std: 0.5,
        }
    }
}

/// `[rule] kind = "rls"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlsConfig {
    /// always "rls" here
    pub kind: String,
    /// P starts as the identity over `alpha` (FORCE's learning-rate-like regulariser)
    pub alpha: f64,
    /// update the readout every this many time steps (1: every step)
    pub every: usize,
}

impl Default for RlsConfig {
    fn default() -> Self {
        RlsConfig {
            kind: "rls".into(),
            alpha: 1.0,
            every: 2,
        }
    }
}

/// `[task] kind = "sines" | "triangle"`: FORCE's periodic targets (Sussillo and Abbott 2009,
/// Fig. 2): a sum of four sines, or a triangle wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinesConfig {
    /// "sines" or "triangle"
    pub kind: String,
    pub amplitude: f64,
    /// time steps in one period of the slowest sine
    pub period_steps: usize,
}

impl Default for SinesConfig {
    fn default() -> Self {
        SinesConfig {
            kind: "sines".into(),
            amplitude: 1.3,
            period_steps: 1200,
        }
    }
}

impl ReservoirConfig {
    pub fn validate(&self) -> Result<()> {
        check(
            self.kind == "reservoir",
            "network.kind",
            &self.kind,
            "allowed: reservoir",
        )?;
        check(
            (1..=5000).contains(&self.n_rec),
            "network.n_rec",
            self.n_rec,
            "allowed: 1 to 5000 (the RLS matrix has n_rec^2 entries)",
        )?;
        check(
            self.density > 0.0 && self.density <= 1.0,
            "network.density",
            self.density,
            "allowed: (0, 1]",
        )?;
        check(
            self.g.is_finite() && self.g >= 0.0,
            "network.g",
            self.g,
            "allowed: a finite gain >= 0",
        )?;
        check(
            self.alpha > 0.0 && self.alpha <= 1.0,
            "network.alpha",
            self.alpha,
            "allowed: dt / tau in (0, 1]",
        )?;
        check(
            self.init_std.is_finite() && self.init_std >= 0.0,
            "network.init_std",
            self.init_std,
            "allowed: a finite std >= 0",
        )
    }
}

impl RlsConfig {
    pub fn validate(&self) -> Result<()> {
        check(
            self.kind == "rls" || self.kind == "force",
            "rule.kind",
            &self.kind,
            "allowed: rls (or its other name, force)",
        )?;
        check(
            self.alpha.is_finite() && self.alpha > 0.0,
            "rule.alpha",
            self.alpha,
            "allowed: a positive number",
        )?;
        check(
            self.every >= 1,
            "rule.every",
            self.every,
            "allowed: at least 1",
        )
    }
}

impl SinesConfig {
    pub fn validate(&self) -> Result<()> {
        check(
            self.kind == "sines" || self.kind == "triangle",
            "task.kind",
            &self.kind,
            "allowed: sines, triangle",
        )?;
        check(
            self.amplitude.is_finite(),
            "task.amplitude",
            self.amplitude,
            "allowed: a finite number",
        )?;
        check(
            self.period_steps >= 4,
            "task.period_steps",
            self.period_steps,
            "allowed: at least 4",
        )
    }
}
