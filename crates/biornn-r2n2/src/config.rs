//! The TOML of an R2N2 run: `[network] kind = "r2n2"`, `[rule] kind = "r2n2"`, `[task] kind =
//! "anbn"`, `[train]`. Unknown keys are errors; the commented default is `default_r2n2.toml`.

use crate::network::Shape;
use crate::replay::Feedback;
use biornn_numerics::error::check_seed;
use biornn_numerics::{Error, Result};
use biornn_tasks::sequences::{SequenceTaskConfig, SequenceTrainConfig};
use serde::{Deserialize, Serialize};

/// Where each sequence's replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitState {
    /// every unit clip(N(0, 3^2), -0.2, 0.2), drawn per sequence (the sequence-prediction scripts)
    #[default]
    ClippedGaussian,
    /// 0.2 everywhere (the digit scripts)
    Constant,
}

/// `[network] kind = "r2n2"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct R2n2NetworkConfig {
    pub kind: String,
    /// units in each of the two populations
    pub n_hidden: usize,
    /// leak time constant in steps
    pub tau: f64,
    pub g_forward: f64,
    /// gain of the feedback-alignment matrices
    pub g_backward: f64,
    pub init_state: InitState,
    /// the scalar the network trains in: "f64" (the reference's) or "f32"
    #[serde(skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,
}

/// The floating-point type a network trains in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F64,
    F32,
}

impl Precision {
    pub fn is_default(&self) -> bool {
        *self == Precision::F64
    }
}

impl Default for R2n2NetworkConfig {
    fn default() -> Self {
        R2n2NetworkConfig {
            kind: "r2n2".into(),
            n_hidden: 32,
            tau: 10.0,
            g_forward: 1.5,
            g_backward: 1.4,
            init_state: InitState::ClippedGaussian,
            precision: Precision::F64,
        }
    }
}

/// `[rule] kind = "r2n2"`: BPTT during backward replay, Adam with batch 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct R2n2RuleConfig {
    pub kind: String,
    /// "bp" (the transposes) or "fa" (fixed random feedback)
    pub feedback: Feedback,
    /// the published code's carry and soft-clipped derivative instead of the exact gradient
    pub code_parity: bool,
    pub learning_rate: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    /// numpy_ml's default, as the reference
    pub adam_eps: f64,
    /// the cache between experience and replay
    pub cache: crate::wired::CacheConfig,
}

impl Default for R2n2RuleConfig {
    fn default() -> Self {
        R2n2RuleConfig {
            kind: "r2n2".into(),
            feedback: Feedback::Bp,
            code_parity: false,
            learning_rate: 1e-3,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-7,
            cache: crate::wired::CacheConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct R2n2RunConfig {
    pub name: String,
    pub seed: u64,
    pub network: R2n2NetworkConfig,
    pub rule: R2n2RuleConfig,
    pub task: SequenceTaskConfig,
    pub train: SequenceTrainConfig,
}

impl Default for R2n2RunConfig {
    fn default() -> Self {
        R2n2RunConfig {
            name: "r2n2-anbn".into(),
            seed: 1,
            network: R2n2NetworkConfig::default(),
            rule: R2n2RuleConfig::default(),
            task: SequenceTaskConfig::default(),
            train: SequenceTrainConfig::default(),
        }
    }
}

/// What `biornn config --kind r2n2` prints.
pub const DEFAULT_R2N2_TOML: &str = include_str!("default_r2n2.toml");

fn expect_kind(field: &str, got: &str, want: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("\"{got}\""),
            &format!("allowed here: \"{want}\""),
        ))
    }
}

impl R2n2RunConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: R2n2RunConfig = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn shape(&self) -> Shape {
        Shape {
            n: self.network.n_hidden,
            n_in: self.task.sizes().0,
            n_out: self.task.sizes().1,
            tau: self.network.tau,
            g_forward: self.network.g_forward,
            g_backward: self.network.g_backward,
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_seed(self.seed)?;
        expect_kind("network.kind", &self.network.kind, "r2n2")?;
        expect_kind("rule.kind", &self.rule.kind, "r2n2")?;
        self.task.validate()?;
        self.shape().validate()?;
        if self.network.n_hidden > 4096 {
            return Err(Error::invalid(
                "network.n_hidden",
                self.network.n_hidden,
                "allowed: 1 to 4096",
            ));
        }
        let r = &self.rule;
        if !(r.learning_rate.is_finite() && r.learning_rate > 0.0) {
            return Err(Error::invalid(
                "rule.learning_rate",
                r.learning_rate,
                "allowed: a positive number",
            ));
        }
        for (f, b) in [
            ("rule.adam_beta1", r.adam_beta1),
            ("rule.adam_beta2", r.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::invalid(f, b, "allowed: 0 <= beta < 1"));
            }
        }
        if !(r.adam_eps.is_finite() && r.adam_eps > 0.0) {
            return Err(Error::invalid(
                "rule.adam_eps",
                r.adam_eps,
                "allowed: a positive number",
            ));
        }
        self.rule.cache.validate()?;
        if self.rule.cache.wired && self.task.kind != "anbn" {
            return Err(Error::invalid(
                "rule.cache.wired",
                true,
                "allowed only with task.kind = \"anbn\" (the cache stores the predicted sequence)",
            ));
        }
        self.train.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_is_the_default_and_bad_values_are_named() {
        assert_eq!(
            R2n2RunConfig::from_toml(DEFAULT_R2N2_TOML).unwrap(),
            R2n2RunConfig::default()
        );
        let c = R2n2RunConfig::default();
        assert_eq!(R2n2RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        for (text, field) in [
            ("[network]\nkind = \"r2n2\"\ntau = 1.0\n", "network.tau"),
            (
                "[rule]\nkind = \"r2n2\"\nlearning_rate = -1.0\n",
                "rule.learning_rate",
            ),
            ("[task]\nkind = \"anbn\"\nm = 0\n", "task.m"),
            ("[rule]\nkind = \"r2n2\"\nfeedback = \"dfa\"\n", "feedback"),
            ("[network]\nkind = \"r2n2\"\nsize = 3\n", "size"),
        ] {
            let e = R2n2RunConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
