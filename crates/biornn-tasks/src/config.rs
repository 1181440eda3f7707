//! The `[task]` section of a run's config.

use crate::batch::Timing;
use crate::modcog::ModCogOptions;
use crate::registry::Registry;
use crate::Task;
use biornn_numerics::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskConfig {
    /// the battery the tasks come from: "yang20" (Yang et al. 2019) or "temporalskip" (Soo et al. 2023)
    pub battery: String,
    /// which tasks to train on, by name; ["all"] (or one of the battery's named sets, alone) for the
    /// whole battery (default: the six go/anti tasks)
    pub rules: Vec<String>,
    /// relative sampling weight per rule (the paper's rule_prob_map); 1 for rules not listed
    pub rule_weights: BTreeMap<String, f64>,
    /// Euler step and task time resolution, ms
    pub dt: f64,
    /// input noise: N(0, (sigma_x sqrt(2/alpha))^2) on every channel, alpha = dt / model.tau;
    /// unset, the battery's own ([`TaskConfig::sigma_x`]: Yang's 0.01, none for Mod-Cog, whose
    /// tasks add their own noise by family). A run's config.toml records the value it used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_x: Option<f64>,
    pub timing: Timing,
    /// gyyang's easy_task: larger coherences in the decision tasks
    pub easy: bool,
    /// Mod-Cog's options (battery "modcog")
    #[serde(skip_serializing_if = "ModCogOptions::is_default")]
    pub modcog: ModCogOptions,
    /// where the digits battery reads its images (battery "digits")
    #[serde(skip_serializing_if = "crate::digits::DigitsOptions::is_default")]
    pub digits: crate::digits::DigitsOptions,
    /// how training batches are laid out: "trials" (one trial per row, padded and masked, as
    /// gyyang) or "stream" (NeuroGym's Dataset: trials back to back, cut into windows)
    #[serde(skip_serializing_if = "Layout::is_default")]
    pub layout: Layout,
    /// with layout "stream": steps per window (NeuroGym's seq_len)
    #[serde(skip_serializing_if = "is_default_window")]
    pub window: usize,
}

/// Equal when they give the same tasks: an unset input noise equals the battery's default.
impl PartialEq for TaskConfig {
    fn eq(&self, other: &Self) -> bool {
        let TaskConfig {
            battery,
            rules,
            rule_weights,
            dt,
            sigma_x: _,
            timing,
            easy,
            modcog,
            digits,
            layout,
            window,
        } = self;
        *battery == other.battery
            && *rules == other.rules
            && *rule_weights == other.rule_weights
            && *dt == other.dt
            && self.sigma_x() == other.sigma_x()
            && *timing == other.timing
            && *easy == other.easy
            && *modcog == other.modcog
            && *digits == other.digits
            && *layout == other.layout
            && *window == other.window
    }
}

/// How training batches are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    #[default]
    Trials,
    Stream,
}

impl Layout {
    pub fn is_default(&self) -> bool {
        *self == Layout::Trials
    }
}

const DEFAULT_WINDOW: usize = 350;

fn is_default_window(w: &usize) -> bool {
    *w == DEFAULT_WINDOW
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            battery: "yang20".into(),
            rules: [
                "fdgo",
                "reactgo",
                "delaygo",
                "fdanti",
                "reactanti",
                "delayanti",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rule_weights: BTreeMap::new(),
            dt: 20.0,
            sigma_x: None,
            timing: Timing::PerBatch,
            easy: false,
            modcog: ModCogOptions::default(),
            digits: crate::digits::DigitsOptions::default(),
            layout: Layout::Trials,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Levenshtein distance, for did-you-mean suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + (ca != *cb) as usize)
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "did you mean `x`?" when a known name is close.
pub fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

impl TaskConfig {
    /// Check the section against the standard batteries.
    pub fn validate(&self) -> Result<()> {
        self.validate_in(&Registry::standard())
    }

    /// Check the section against the batteries of `registry`.
    pub fn validate_in(&self, registry: &Registry) -> Result<()> {
        registry
            .battery("task.battery", &self.battery)?
            .validate(self)?;
        if self.rules.is_empty() {
            return Err(Error::invalid(
                "task.rules",
                "[]",
                "list at least one task, or [\"all\"]",
            ));
        }
        let rules = registry.task_names(self)?;
        for (name, w) in &self.rule_weights {
            // a name the battery does not know gets the did-you-mean of the task lookup
            registry.named_task(
                &format!("task.rule_weights.{name}"),
                &self.battery,
                name,
                self,
            )?;
            if !rules.contains(name) {
                return Err(Error::invalid(
                    &format!("task.rule_weights.{name}"),
                    w,
                    "this task is not in task.rules",
                ));
            }
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::invalid(
                    &format!("task.rule_weights.{name}"),
                    w,
                    "allowed: a weight >= 0",
                ));
            }
        }
        if self.weights_in(registry)?.iter().all(|w| *w == 0.0) {
            return Err(Error::invalid(
                "task.rule_weights",
                "all zero",
                "at least one weight must be positive",
            ));
        }
        // below, trials of millions of steps exhaust memory; above, a response epoch (500 ms)
        // can floor to no step at all
        if !(self.dt.is_finite() && (0.1..=500.0).contains(&self.dt)) {
            return Err(Error::invalid(
                "task.dt",
                self.dt,
                "allowed: a step from 0.1 to 500 ms",
            ));
        }
        if self.layout == Layout::Stream && !(1..=100_000).contains(&self.window) {
            return Err(Error::invalid(
                "task.window",
                self.window,
                "allowed: 1 to 100000 steps",
            ));
        }
        if !(self.sigma_x().is_finite() && self.sigma_x() >= 0.0) {
            return Err(Error::invalid(
                "task.sigma_x",
                self.sigma_x(),
                "allowed: sigma_x >= 0",
            ));
        }
        Ok(())
    }

    /// The names of the tasks the section trains, in order ("all" and named sets expanded).
    pub fn task_names(&self) -> Result<Vec<String>> {
        Registry::standard().task_names(self)
    }

    /// The sampling weight of each task of [`TaskConfig::task_names`].
    pub fn weights(&self) -> Result<Vec<f64>> {
        self.weights_in(&Registry::standard())
    }

    fn weights_in(&self, registry: &Registry) -> Result<Vec<f64>> {
        Ok(registry
            .task_names(self)?
            .iter()
            .map(|name| self.rule_weights.get(name).copied().unwrap_or(1.0))
            .collect())
    }

    /// The tasks the section trains, built by the standard registry.
    pub fn tasks(&self) -> Result<Vec<Arc<dyn Task>>> {
        Registry::standard().tasks(self)
    }

    /// The battery's numbers of inputs and outputs.
    pub fn sizes(&self) -> Result<(usize, usize)> {
        Registry::standard().sizes(self)
    }

    /// The input noise's sigma_x: as set, or the battery's default (Yang's 0.01 everywhere but
    /// Mod-Cog, whose reference adds no noise beside its tasks' own).
    pub fn sigma_x(&self) -> f64 {
        self.sigma_x
            .unwrap_or(if self.battery == "modcog" { 0.0 } else { 0.01 })
    }

    /// The input-noise standard deviation for a network with time constant `tau` (ms).
    pub fn input_noise_std(&self, tau: f64) -> f64 {
        self.sigma_x() * (2.0 * tau / self.dt).sqrt()
    }
}
