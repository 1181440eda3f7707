//! The `[task]` section of a run's config.

use crate::batch::Timing;
use crate::yang::{YangRule, YangTask};
use crate::Task;
use biornn_numerics::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskConfig {
    /// the task family; "yang20" (Yang et al. 2019) for now
    pub battery: String,
    /// which tasks to train on; ["all"] for the whole battery (default: the six go/anti tasks)
    pub rules: Vec<String>,
    /// relative sampling weight per rule (the paper's rule_prob_map); 1 for rules not listed
    pub rule_weights: BTreeMap<String, f64>,
    /// Euler step and task time resolution, ms
    pub dt: f64,
    /// input noise: N(0, (sigma_x sqrt(2/alpha))^2) on every channel, alpha = dt / model.tau
    pub sigma_x: f64,
    pub timing: Timing,
    /// gyyang's easy_task: larger coherences in the decision tasks
    pub easy: bool,
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
            sigma_x: 0.01,
            timing: Timing::PerBatch,
            easy: false,
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

/// Look up a Yang rule by name, with an error that lists what exists.
pub fn parse_rule(field: &str, name: &str) -> Result<YangRule> {
    YangRule::from_name(name).ok_or_else(|| {
        Error::invalid(
            field,
            format!("\"{name}\""),
            &format!(
                "unknown task{}; known: {}",
                suggest(name, YangRule::ALL.iter().map(|r| r.name())),
                YangRule::ALL
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

impl TaskConfig {
    pub fn validate(&self) -> Result<()> {
        if self.battery != "yang20" {
            return Err(Error::invalid(
                "task.battery",
                format!("\"{}\"", self.battery),
                "allowed: \"yang20\"",
            ));
        }
        if self.rules.is_empty() {
            return Err(Error::invalid(
                "task.rules",
                "[]",
                "list at least one task, or [\"all\"]",
            ));
        }
        let rules = self.rule_list()?;
        for (name, w) in &self.rule_weights {
            let r = parse_rule(&format!("task.rule_weights.{name}"), name)?;
            if !rules.contains(&r) {
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
        if self.weights()?.iter().all(|w| *w == 0.0) {
            return Err(Error::invalid(
                "task.rule_weights",
                "all zero",
                "at least one weight must be positive",
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(Error::invalid(
                "task.dt",
                self.dt,
                "allowed: a positive step in ms",
            ));
        }
        if !(self.sigma_x.is_finite() && self.sigma_x >= 0.0) {
            return Err(Error::invalid(
                "task.sigma_x",
                self.sigma_x,
                "allowed: sigma_x >= 0",
            ));
        }
        Ok(())
    }

    pub fn rule_list(&self) -> Result<Vec<YangRule>> {
        if self.rules.len() == 1 && self.rules[0] == "all" {
            return Ok(YangRule::ALL.to_vec());
        }
        let mut out = vec![];
        for (i, name) in self.rules.iter().enumerate() {
            let r = parse_rule(&format!("task.rules[{i}]"), name)?;
            if out.contains(&r) {
                return Err(Error::invalid(
                    &format!("task.rules[{i}]"),
                    format!("\"{name}\""),
                    "listed twice",
                ));
            }
            out.push(r);
        }
        Ok(out)
    }

    pub fn weights(&self) -> Result<Vec<f64>> {
        Ok(self
            .rule_list()?
            .iter()
            .map(|r| self.rule_weights.get(r.name()).copied().unwrap_or(1.0))
            .collect())
    }

    pub fn tasks(&self) -> Result<Vec<YangTask>> {
        Ok(self
            .rule_list()?
            .into_iter()
            .map(|rule| YangTask {
                rule,
                easy: self.easy,
            })
            .collect())
    }

    /// The input-noise standard deviation for a network with time constant `tau` (ms).
    pub fn input_noise_std(&self, tau: f64) -> f64 {
        self.sigma_x * (2.0 * tau / self.dt).sqrt()
    }

    pub fn n_in(&self) -> usize {
        YangTask {
            rule: YangRule::FdGo,
            easy: false,
        }
        .n_in()
    }

    pub fn n_out(&self) -> usize {
        YangTask {
            rule: YangRule::FdGo,
            easy: false,
        }
        .n_out()
    }
}
