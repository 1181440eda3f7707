//! The config of an ELiSe run: `[network] kind = "elise"`, `[rule] kind = "urbanczik_senn"`,
//! `[task]` (the pattern), `[train]` (cycles). Unknown keys are errors.

use crate::network::{Connect, EliseShape, Mode};
use crate::params::NeuronParams;
use crate::pattern::Pattern;
use crate::scaffold::ScaffoldParams;
use crate::UrbanczikSenn;
use biornn_numerics::error::check;
use biornn_numerics::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EliseNetworkConfig {
    pub kind: String,
    /// latent neurons (the visible ones: one per pattern row)
    pub n_latent: usize,
    pub mode: Mode,
    pub connect: Connect,
    /// initial dendritic weights ~ N(mean, std^2), mV per unit rate
    pub w_init_mean: f64,
    pub w_init_std: f64,
    /// the scaffold: outgoing persistence p, incoming acceptance q, no outgoing edge p0
    pub scaffold_p: f64,
    pub scaffold_q: f64,
    pub scaffold_p0: f64,
    /// the reference's scaffold draws (duplicate edges, rounded indices)
    pub faithful_scaffold: bool,
}

impl Default for EliseNetworkConfig {
    fn default() -> Self {
        EliseNetworkConfig {
            kind: "elise".into(),
            n_latent: 50,
            mode: Mode::WithDendrite,
            connect: Connect::AllToAll,
            w_init_mean: 0.0,
            w_init_std: 0.5,
            scaffold_p: 0.2,
            scaffold_q: 0.15,
            scaffold_p0: 0.04,
            faithful_scaffold: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EliseRuleConfig {
    pub kind: String,
    /// per 0.1 ms step, weights between visible neurons
    pub eta_visible: f64,
    /// per 0.1 ms step, every other weight
    pub eta_other: f64,
}

impl Default for EliseRuleConfig {
    fn default() -> Self {
        let r = UrbanczikSenn::default();
        EliseRuleConfig {
            kind: "urbanczik_senn".into(),
            eta_visible: r.eta_visible,
            eta_other: r.eta_other,
        }
    }
}

/// The pattern of a run: one, or several learned at once by separate visible populations that
/// share the latent pool (`pattern = ["fuer_elise", "ode_to_joy"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a pattern (a built-in name or a file), or a list of them"
)]
pub enum PatternChoice {
    One(String),
    Several(Vec<String>),
}

impl PatternChoice {
    pub fn names(&self) -> Vec<&str> {
        match self {
            PatternChoice::One(n) => vec![n],
            PatternChoice::Several(ns) => ns.iter().map(String::as_str).collect(),
        }
    }
}

impl From<&str> for PatternChoice {
    fn from(name: &str) -> Self {
        PatternChoice::One(name.into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EliseTaskConfig {
    /// a built-in pattern ("fuer_elise", "ode_to_joy") or a file in the reference's format; a
    /// list of them: each its own visible population, all sharing the latent pool
    pub pattern: PatternChoice,
    /// the length of one pattern step, ms
    pub step_ms: f64,
    /// the teacher's nudging strength, 0 < lambda < 1
    pub lambda: f64,
    /// noisy targets, resampled each cycle: the std (mV) of Ornstein-Uhlenbeck noise on u*
    /// (0: none), and its time constant (ms); scores stay against the clean pattern
    pub target_noise_std: f64,
    pub target_noise_tau_ms: f64,
}

impl Default for EliseTaskConfig {
    fn default() -> Self {
        EliseTaskConfig {
            pattern: "fuer_elise".into(),
            step_ms: 10.0,
            lambda: 0.6,
            target_noise_std: 0.0,
            target_noise_tau_ms: 10.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EliseTrainConfig {
    /// training cycles (one pattern period each), the first nudged; the reference runs TC + 1 (its
    /// loop starts at cycle -1): 10001 for its TC = 10000
    pub max_steps: usize,
    /// every this many cycles a free validation cycle, plasticity on (the reference's PF)
    pub validate_every: usize,
    /// a checkpoint every this many validation cycles
    pub checkpoint_every: usize,
}

impl Default for EliseTrainConfig {
    fn default() -> Self {
        EliseTrainConfig {
            max_steps: 10_000,
            validate_every: 20,
            checkpoint_every: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EliseRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: EliseNetworkConfig,
    pub rule: EliseRuleConfig,
    pub task: EliseTaskConfig,
    pub train: EliseTrainConfig,
}

impl Default for EliseRunConfig {
    fn default() -> Self {
        EliseRunConfig {
            name: "elise".into(),
            seed: 1,
            network: EliseNetworkConfig::default(),
            rule: EliseRuleConfig::default(),
            task: EliseTaskConfig::default(),
            train: EliseTrainConfig::default(),
        }
    }
}

/// The built-in patterns: the reference's Für Elise (13 neurons, 25 steps) and ours.
pub const BUILTIN_PATTERNS: [(&str, &str); 2] = [
    ("fuer_elise", include_str!("../patterns/fuer_elise.txt")),
    ("ode_to_joy", include_str!("../patterns/ode_to_joy.txt")),
];

/// The most patterns one network learns at once.
pub const MAX_PATTERNS: usize = 8;

/// The commented default: what `biornn config --kind elise` prints.
pub const DEFAULT_ELISE_TOML: &str = include_str!("default_elise.toml");

impl EliseRunConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: EliseRunConfig = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn validate(&self) -> Result<()> {
        biornn_numerics::error::check_seed(self.seed)?;
        let n = &self.network;
        check(n.kind == "elise", "network.kind", &n.kind, "allowed: elise")?;
        check(
            n.n_latent <= 1000,
            "network.n_latent",
            n.n_latent,
            "allowed: 0 to 1000",
        )?;
        check(
            n.w_init_mean.is_finite(),
            "network.w_init_mean",
            n.w_init_mean,
            "allowed: a finite mean",
        )?;
        check(
            n.w_init_std.is_finite() && n.w_init_std >= 0.0,
            "network.w_init_std",
            n.w_init_std,
            "allowed: a finite std >= 0",
        )?;
        check(
            (0.0..1.0).contains(&n.scaffold_p),
            "network.scaffold_p",
            n.scaffold_p,
            "allowed: 0 <= p < 1",
        )?;
        check(
            n.scaffold_q > 0.0 && n.scaffold_q <= 1.0,
            "network.scaffold_q",
            n.scaffold_q,
            "allowed: 0 < q <= 1",
        )?;
        check(
            (0.0..=1.0).contains(&n.scaffold_p0),
            "network.scaffold_p0",
            n.scaffold_p0,
            "allowed: 0 to 1",
        )?;
        match n.connect {
            Connect::AllToAll => {}
            Connect::InnervationRatio { ratio: v } | Connect::Sparse { density: v, .. } => check(
                (0.0..=1.0).contains(&v),
                "network.connect",
                v,
                "allowed: a probability, 0 to 1",
            )?,
        }
        let r = &self.rule;
        check(
            r.kind == "urbanczik_senn",
            "rule.kind",
            &r.kind,
            "allowed: urbanczik_senn",
        )?;
        for (f, v) in [
            ("rule.eta_visible", r.eta_visible),
            ("rule.eta_other", r.eta_other),
        ] {
            check(v.is_finite() && v >= 0.0, f, v, "allowed: a rate >= 0")?;
        }
        let t = &self.task;
        let dt = NeuronParams::default().dt;
        check(
            t.step_ms.is_finite()
                && t.step_ms >= dt
                && ((t.step_ms / dt).round() * dt - t.step_ms).abs() < 1e-9,
            "task.step_ms",
            t.step_ms,
            "allowed: a whole number of 0.1 ms steps",
        )?;
        // a nudged soma decays by 1 - dt (g_L + g_D) / (1 - lambda) a step: below -1 the Euler
        // step oscillates and grows (about lambda 0.895 at the reference's values)
        let p = NeuronParams::default();
        let lambda_max = 1.0 - dt * (p.g_l + p.g_d) / 2.0;
        check(
            t.lambda > 0.0 && t.lambda < lambda_max,
            "task.lambda",
            t.lambda,
            &format!(
                "allowed: 0 < lambda < {lambda_max:.4} (larger makes the nudged soma's Euler step unstable)"
            ),
        )?;
        check(
            t.target_noise_std.is_finite() && t.target_noise_std >= 0.0,
            "task.target_noise_std",
            t.target_noise_std,
            "allowed: a std >= 0, mV",
        )?;
        check(
            t.target_noise_tau_ms.is_finite() && t.target_noise_tau_ms > 0.0,
            "task.target_noise_tau_ms",
            t.target_noise_tau_ms,
            "allowed: a positive time constant, ms",
        )?;
        let pattern = self.pattern()?;
        let steps = pattern.steps as f64 * (t.step_ms / dt).round();
        check(
            steps <= 1e6,
            "task.step_ms",
            t.step_ms,
            &format!(
                "allowed: a cycle of at most 100 s ({} pattern steps of at most {} ms)",
                pattern.steps,
                1e5 / pattern.steps as f64
            ),
        )?;
        for (f, v) in [
            ("train.validate_every", self.train.validate_every),
            ("train.checkpoint_every", self.train.checkpoint_every),
        ] {
            check(v > 0, f, v, "allowed: a positive count")?;
        }
        Ok(())
    }

    /// The task's patterns, each a built-in one by name or read from its file, one per visible
    /// population.
    pub fn patterns(&self) -> Result<Vec<Pattern>> {
        let names = self.task.pattern.names();
        check(
            (1..=MAX_PATTERNS).contains(&names.len()),
            "task.pattern",
            format!("{names:?}"),
            &format!("allowed: 1 to {MAX_PATTERNS} patterns"),
        )?;
        let patterns = names
            .iter()
            .map(
                |name| match BUILTIN_PATTERNS.iter().find(|(n, _)| n == name) {
                    Some((n, text)) => Pattern::parse(text, n),
                    None => Pattern::load(std::path::Path::new(name)).map_err(|e| {
                        e.context(format!(
                            "task.pattern (a file, or a built-in: {})",
                            BUILTIN_PATTERNS.map(|(n, _)| n).join(", ")
                        ))
                    }),
                },
            )
            .collect::<Result<Vec<_>>>()?;
        for (k, p) in patterns.iter().enumerate() {
            check(
                !patterns[..k].iter().any(|q| q.name == p.name),
                "task.pattern",
                &p.name,
                "allowed: patterns of distinct names (each names its population's scores)",
            )?;
            check(
                names.len() == 1
                    || p.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)),
                "task.pattern",
                &p.name,
                "allowed with several patterns: names of letters, digits, _, - and . (they name metrics columns)",
            )?;
        }
        Ok(patterns)
    }

    /// The pattern the visible neurons learn: the task's one, or its several stacked (see
    /// [`Pattern::stack`]).
    pub fn pattern(&self) -> Result<Pattern> {
        Ok(Pattern::stack(&self.patterns()?))
    }

    /// The network's shape for a pattern of `n_vis` neurons.
    pub fn shape(&self, n_vis: usize) -> EliseShape {
        let n = &self.network;
        EliseShape {
            n_vis,
            n_lat: n.n_latent,
            mode: n.mode,
            connect: n.connect,
            scaffold: ScaffoldParams {
                p: n.scaffold_p,
                q: n.scaffold_q,
                p0: n.scaffold_p0,
                faithful: n.faithful_scaffold,
            },
            w_mean: n.w_init_mean,
            w_std: n.w_init_std,
            params: NeuronParams::default(),
        }
    }
}
