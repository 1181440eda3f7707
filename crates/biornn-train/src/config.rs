//! The run config: `[task]`, `[model]`, `[train]` and the seed. Unknown keys are errors, and
//! `validate` names the field, the value and what is allowed.

use biornn_model::{Feedback, ModelConfig, Readout};
use biornn_numerics::{Error, Result};
use biornn_tasks::TaskConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// gyyang: mean over outputs and steps of ((y_hat - y) * c)^2
    Lsq,
    /// sum of ((y_hat - y) * c)^2 divided by the sum of c^2
    LsqNormalized,
    /// softmax cross-entropy on class targets per step, weighted by the cost mask
    CrossEntropy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// The evaluation value a run stops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    #[default]
    MinPerf,
    MeanPerf,
    MinAcc,
    MeanAcc,
}

impl Criterion {
    pub fn is_default(&self) -> bool {
        *self == Criterion::default()
    }
    /// The name of the evaluation value (and metrics column).
    pub fn key(self) -> &'static str {
        match self {
            Criterion::MinPerf => "min_perf",
            Criterion::MeanPerf => "mean_perf",
            Criterion::MinAcc => "min_acc",
            Criterion::MeanAcc => "mean_acc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub loss: LossKind,
    pub batch_size: usize,
    /// the run stops after this many updates at the latest
    pub max_steps: usize,
    /// the run stops once `criterion` reaches this
    pub target_perf: f64,
    /// what `target_perf` applies to: "min_perf" (every task's fraction of trials correct),
    /// "mean_perf", or, for tasks that score steps (Mod-Cog), "min_acc" or "mean_acc" (the
    /// fraction of decision steps right)
    #[serde(skip_serializing_if = "Criterion::is_default")]
    pub criterion: Criterion,
    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_eps: f64,
    /// SGD momentum
    pub momentum: f64,
    /// clip every gradient element to [-clip_value, clip_value] (gyyang: 1.0)
    pub clip_value: Option<f64>,
    /// then rescale the whole gradient to at most this Euclidean norm
    pub clip_norm: Option<f64>,
    /// multiply the learning rate by `lr_decay_factor` at each of these steps
    pub lr_decay_steps: Vec<usize>,
    pub lr_decay_factor: f64,
    /// l1_rate * mean |r|
    pub l1_rate: f64,
    /// l2_rate * sum r^2 / 2
    pub l2_rate: f64,
    /// l1_weight * (mean |[W_in W_rec]| + mean |W_out|)
    pub l1_weight: f64,
    /// l2_weight * (sum W_in^2 + W_rec^2 + W_out^2) / 2
    pub l2_weight: f64,
    /// evaluate every this many updates
    pub eval_every: usize,
    /// trials per task in each evaluation
    pub eval_trials: usize,
    /// evaluate with recurrent noise on, as gyyang/multitask does (default: off, deterministic)
    pub eval_recurrent_noise: bool,
    /// write a checkpoint every this many evaluations
    pub checkpoint_every: usize,
    /// the batch is split into this many chunks processed in parallel; the result depends on this
    /// number, never on the number of threads
    pub batch_chunks: usize,
    /// on a NaN or infinity, roll back to the last evaluation and multiply the learning rate by this
    pub divergence_lr_factor: f64,
    /// stop after this many rollbacks
    pub max_divergences: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            loss: LossKind::Lsq,
            batch_size: 64,
            max_steps: 100_000,
            target_perf: 0.95,
            criterion: Criterion::MinPerf,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-3,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            momentum: 0.9,
            clip_value: Some(1.0),
            clip_norm: None,
            lr_decay_steps: vec![],
            lr_decay_factor: 0.1,
            l1_rate: 0.0,
            l2_rate: 0.0,
            l1_weight: 0.0,
            l2_weight: 0.0,
            eval_every: 200,
            eval_trials: 256,
            eval_recurrent_noise: false,
            checkpoint_every: 5,
            batch_chunks: 2,
            divergence_lr_factor: 0.5,
            max_divergences: 5,
        }
    }
}

/// `[network]` of a BPTT run: only its kind, `ctrnn` (the network is described by `[model]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkKind {
    pub kind: String,
}

impl Default for NetworkKind {
    fn default() -> Self {
        NetworkKind {
            kind: "ctrnn".into(),
        }
    }
}

/// `[rule]` of a CTRNN run: `bptt` (exact gradients) or `rflo` (Murray's local credit, the
/// error broadcast through `feedback`); the optimiser's settings are `[train]` for both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleKind {
    pub kind: String,
    /// `rflo` only: `random` (a fixed B ~ N(0, 1/n_out), the default) or `readout` (W_out^T)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
}

impl Default for RuleKind {
    fn default() -> Self {
        RuleKind {
            kind: "bptt".into(),
            feedback: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// the run directory's name under runs/
    pub name: String,
    /// the root seed every random stream derives from
    pub seed: u64,
    pub network: NetworkKind,
    pub rule: RuleKind,
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            name: "default".into(),
            seed: 1,
            network: NetworkKind::default(),
            rule: RuleKind::default(),
            task: TaskConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

/// The default config, commented: what `biornn config` prints. A test checks it parses to
/// `RunConfig::default()`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default_config.toml");

/// A CTRNN trained by RFLO: what `biornn config ctrnn_rflo` prints (every other key as the default).
pub const DEFAULT_RFLO_CONFIG_TOML: &str = include_str!("default_rflo_config.toml");

fn positive(field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::invalid(field, v, "allowed: a positive number"));
    }
    Ok(())
}

fn non_negative(field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(Error::invalid(field, v, "allowed: a number >= 0"));
    }
    Ok(())
}

impl RunConfig {
    /// Parse TOML text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str) -> Result<RunConfig> {
        let mut cfg: RunConfig =
            toml::from_str(text).map_err(|e| Error::new(describe_toml_error(&e, text)))?;
        if cfg.rule.kind == "rflo" && cfg.rule.feedback.is_none() {
            // written out in the run's config.toml, as every default is
            cfg.rule.feedback = Some(Feedback::default());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        RunConfig::from_toml(&text).map_err(|e| e.context(path.display()))
    }

    /// The config as a run records it: every default written out, the battery's input noise
    /// included, so that a later default cannot change what a run trained on.
    pub fn to_toml(&self) -> String {
        let mut written = self.clone();
        written.task.sigma_x = Some(self.task.sigma_x());
        toml::to_string(&written).expect("a config always serialises")
    }

    pub fn validate(&self) -> Result<()> {
        if self.network.kind != "ctrnn" {
            return Err(Error::invalid(
                "network.kind",
                format!("\"{}\"", self.network.kind),
                "allowed with [model] and [train]: \"ctrnn\"",
            ));
        }
        match (self.rule.kind.as_str(), self.rule.feedback) {
            ("bptt", None) | ("rflo", _) => {}
            ("bptt", Some(f)) => {
                return Err(Error::invalid(
                    "rule.feedback",
                    format!("{f:?}").to_lowercase(),
                    "allowed only with rule.kind = \"rflo\" (BPTT's credit is exact)",
                ))
            }
            (k, _) => {
                return Err(Error::invalid(
                    "rule.kind",
                    format!("\"{k}\""),
                    "allowed with network.kind = \"ctrnn\": \"bptt\", \"rflo\"",
                ))
            }
        }
        crate::rounds::check_seed(self.seed)?;
        self.task.validate()?;
        self.model.validate(self.task.dt)?;
        let t = &self.train;
        if t.batch_size == 0 || t.batch_size > 1 << 20 {
            return Err(Error::invalid(
                "train.batch_size",
                t.batch_size,
                "allowed: 1 to 1048576",
            ));
        }
        if t.batch_chunks == 0 || t.batch_chunks > t.batch_size {
            return Err(Error::invalid(
                "train.batch_chunks",
                t.batch_chunks,
                &format!("allowed: 1 to train.batch_size = {}", t.batch_size),
            ));
        }
        for (f, v) in [
            ("train.eval_every", t.eval_every),
            ("train.eval_trials", t.eval_trials),
            ("train.checkpoint_every", t.checkpoint_every),
        ] {
            if v == 0 {
                return Err(Error::invalid(f, v, "allowed: a positive count"));
            }
        }
        positive("train.learning_rate", t.learning_rate)?;
        positive("train.adam_eps", t.adam_eps)?;
        for (f, v) in [
            ("train.adam_beta1", t.adam_beta1),
            ("train.adam_beta2", t.adam_beta2),
            ("train.momentum", t.momentum),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid(f, v, "allowed: [0, 1)"));
            }
        }
        if let Some(v) = t.clip_value {
            positive("train.clip_value", v)?;
        }
        if let Some(v) = t.clip_norm {
            positive("train.clip_norm", v)?;
        }
        positive("train.lr_decay_factor", t.lr_decay_factor)?;
        if !(t.divergence_lr_factor > 0.0 && t.divergence_lr_factor < 1.0) {
            return Err(Error::invalid(
                "train.divergence_lr_factor",
                t.divergence_lr_factor,
                "allowed: a factor in (0, 1)",
            ));
        }
        for (f, v) in [
            ("train.l1_rate", t.l1_rate),
            ("train.l2_rate", t.l2_rate),
            ("train.l1_weight", t.l1_weight),
            ("train.l2_weight", t.l2_weight),
        ] {
            non_negative(f, v)?;
        }
        if matches!(t.criterion, Criterion::MinAcc | Criterion::MeanAcc)
            && !self.task.tasks()?.iter().all(|task| task.scores_steps())
        {
            return Err(Error::invalid(
                "train.criterion",
                format!("\"{}\"", t.criterion.key()),
                "allowed for tasks that do not score steps: \"min_perf\" or \"mean_perf\"",
            ));
        }
        if !(0.0..=1.0).contains(&t.target_perf) {
            return Err(Error::invalid(
                "train.target_perf",
                t.target_perf,
                "allowed: a performance in [0, 1]",
            ));
        }
        match (t.loss, self.model.readout) {
            (LossKind::CrossEntropy, Readout::Logits) => {}
            (LossKind::CrossEntropy, r) => {
                return Err(Error::invalid(
                    "model.readout",
                    format!("\"{r:?}\"").to_lowercase(),
                    "train.loss = \"cross_entropy\" needs model.readout = \"logits\"",
                ))
            }
            (_, Readout::Logits) => {
                return Err(Error::invalid(
                    "model.readout",
                    "\"logits\"",
                    "logits need train.loss = \"cross_entropy\"; use \"sigmoid\" or \"linear\"",
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

/// Turn serde/toml's message into one that names the key and, for unknown keys, suggests the nearest.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().to_string();
    let at = e
        .span()
        .map(|s| {
            let line_no = text[..s.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            format!("line {line_no} `{line}`: ")
        })
        .unwrap_or_default();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let known: Vec<&str> = tail
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            let hint = biornn_tasks::config::suggest(field, known.iter().copied());
            return format!(
                "{at}unknown key `{field}`{hint}; allowed here: {}",
                known.join(", ")
            );
        }
    }
    format!("{at}{msg}")
}
