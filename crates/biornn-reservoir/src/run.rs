//! A whole reservoir run: its config (`[network] kind = "reservoir"`, `[rule] kind = "rls"`,
//! `[task] kind = "sines"`, `[train]`) and the learner it builds.

use crate::config::{ReservoirConfig, RlsConfig, SinesConfig};
use crate::{ForceLearner, Reservoir, Rls, Sines};
use biornn_core::Online;
use biornn_numerics::{Error, Result, Streams};
use serde::{Deserialize, Serialize};

/// `[train]` of an online run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineTrainConfig {
    /// time steps (one update each) at the most
    pub max_steps: usize,
    /// evaluate (a free run without learning) every this many steps
    pub eval_every: usize,
    /// steps of each free run
    pub eval_steps: usize,
    /// a checkpoint every this many evaluations
    pub checkpoint_every: usize,
    /// stop once the free run explains this fraction of the target's variance (absent: run the budget);
    /// with several networks, once the trimmed mean over them does
    pub target_r2: Option<f64>,
    /// networks trained side by side, seeds `seed .. seed + networks` (each the network that seed
    /// trains alone), stored under `net<k>/`
    pub networks: usize,
}

impl Default for OnlineTrainConfig {
    fn default() -> Self {
        OnlineTrainConfig {
            max_steps: 24_000,
            eval_every: 1000,
            eval_steps: 1200,
            checkpoint_every: 1,
            target_r2: None,
            networks: 1,
        }
    }
}

impl OnlineTrainConfig {
    /// One untrained learner per network, built by `member` from seeds `seed .. seed + networks`
    /// (network k of a run is the network seed `seed + k` trains alone).
    pub fn members<L>(&self, seed: u64, member: impl Fn(u64) -> Result<L>) -> Result<Vec<L>> {
        (0..self.networks as u64)
            .map(|k| member(seed + k))
            .collect()
    }

    /// The counts are positive, the networks' seeds `seed ..` fit, the target is a fraction.
    pub fn validate(&self, seed: u64) -> Result<()> {
        let t = self;
        for (f, v) in [
            ("train.eval_every", t.eval_every),
            ("train.eval_steps", t.eval_steps),
            ("train.checkpoint_every", t.checkpoint_every),
            ("train.networks", t.networks),
        ] {
            if v == 0 {
                return Err(Error::invalid(f, v, "allowed: a positive count"));
            }
        }
        if t.networks > 64 {
            return Err(Error::invalid(
                "train.networks",
                t.networks,
                "allowed: 1 to 64 (each holds an n_rec^2 RLS matrix)",
            ));
        }
        if seed
            .checked_add(t.networks as u64 - 1)
            .is_none_or(|s| s > i64::MAX as u64)
        {
            return Err(Error::invalid(
                "seed",
                seed,
                "allowed: seed + train.networks - 1 at most 9223372036854775807",
            ));
        }
        if let Some(r) = t.target_r2 {
            if !(r.is_finite() && r <= 1.0) {
                return Err(Error::invalid(
                    "train.target_r2",
                    r,
                    "allowed: a number <= 1",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForceRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: ReservoirConfig,
    pub rule: RlsConfig,
    pub task: SinesConfig,
    pub train: OnlineTrainConfig,
}

impl Default for ForceRunConfig {
    fn default() -> Self {
        ForceRunConfig {
            name: "force".into(),
            seed: 1,
            network: ReservoirConfig::default(),
            rule: RlsConfig::default(),
            task: SinesConfig::default(),
            train: OnlineTrainConfig::default(),
        }
    }
}

/// The default reservoir config, commented: what `biornn config --kind reservoir` prints.
pub const DEFAULT_FORCE_TOML: &str = include_str!("default_force.toml");

impl ForceRunConfig {
    /// Parse TOML text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: ForceRunConfig = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn validate(&self) -> Result<()> {
        biornn_numerics::error::check_seed(self.seed)?;
        self.network.validate()?;
        self.rule.validate()?;
        self.task.validate()?;
        self.train.validate(self.seed)
    }

    /// The untrained learner: the reservoir drawn from the seed, P = I / alpha, the target at its start.
    pub fn learner(&self) -> Result<ForceLearner> {
        self.validate()?;
        self.member(self.seed)
    }

    /// The untrained learners of every network, seeds `seed .. seed + train.networks`.
    pub fn learners(&self) -> Result<Vec<ForceLearner>> {
        self.validate()?;
        self.train.members(self.seed, |seed| self.member(seed))
    }

    /// The untrained learner of the network with seed `seed` (network k of a run has seed
    /// `seed + k`).
    pub fn member(&self, seed: u64) -> Result<ForceLearner> {
        let env = Sines::new(&self.task);
        use biornn_core::Environment;
        let net = Reservoir::new(&self.network, env.n_in(), env.n_out(), &Streams::new(seed))?;
        Ok(Online {
            rule: Rls::new(&self.rule, net.n)?,
            net,
            env,
            eval_steps: self.train.eval_steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_is_the_default_and_bad_keys_are_named() {
        assert_eq!(
            ForceRunConfig::from_toml(DEFAULT_FORCE_TOML).unwrap(),
            ForceRunConfig::default()
        );
        let cfg = ForceRunConfig::default();
        assert_eq!(ForceRunConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
        let e = ForceRunConfig::from_toml("[network]\nkind = \"reservoir\"\nsize = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("size"), "{e}");
        let e = ForceRunConfig::from_toml("[network]\nkind = \"reservoir\"\ndensity = 0.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("network.density") && e.contains("(0, 1]"), "{e}");
    }
}
