//! The skip-connection paper's protocols as the command line sets them up and reports them.

use biornn_numerics::{Error, Result};
use biornn_report::summaries::quantile_reached;
use biornn_tasks::temporalskip::TsRule;
use biornn_train::longterm::{LongTermConfig, LongTermResult, Method};
use biornn_train::reversal::{ReversalConfig, ReversalResult};

/// The reference's long-term settings for the task and method named, with `networks` networks.
pub fn longterm_config(task: &str, method: &str, networks: usize) -> Result<LongTermConfig> {
    let rule = TsRule::from_name(task).ok_or_else(|| {
        let names: Vec<&str> = TsRule::ALL.iter().map(|r| r.name()).collect();
        Error::invalid("TASK", task, &format!("allowed: {}", names.join(", ")))
    })?;
    Ok(LongTermConfig::reference(
        rule,
        Method::parse(method)?,
        networks,
    ))
}

/// The reference's rule-reversal settings for the method named, with `networks` networks.
pub fn reversal_config(method: &str, trial_skip: bool, networks: usize) -> Result<ReversalConfig> {
    Ok(ReversalConfig::reference(
        Method::parse(method)?,
        trial_skip,
        networks,
    ))
}

/// Half of `rounds` for the method's stages, as the reference's 2000 of 4000, but at least one
/// round per stage.
pub fn default_stage_rounds(method: Method, rounds: usize) -> usize {
    (rounds / 2).max(method.stages().len())
}

/// One line of `key=value` pairs: what a long-term run reached.
pub fn longterm_line(cfg: &LongTermConfig, r: &LongTermResult) -> String {
    let per_net: Vec<Option<f64>> = r
        .network_rounds
        .iter()
        .map(|n| n.map(|v| (v * cfg.updates_per_round) as f64))
        .collect();
    let reached = per_net.iter().filter(|v| v.is_some()).count();
    let quantile =
        |q: f64| quantile_reached(&per_net, q).map_or("NA".into(), |v| format!("{v:.0}"));
    format!(
        "task={} method={} networks={} reached={} rounds={} updates={} train_s={:.1} networks_at_criterion={} updates_per_network_median={} q25={} q75={}",
        r.task,
        r.method,
        cfg.networks,
        r.reached,
        r.rounds,
        r.rounds * cfg.updates_per_round,
        r.train_seconds,
        reached,
        quantile(0.5),
        quantile(0.25),
        quantile(0.75)
    )
}

/// One line of `key=value` pairs: what a rule-reversal run reached.
pub fn reversal_line(cfg: &ReversalConfig, r: &ReversalResult) -> String {
    let acc: Vec<Option<f64>> = r.final_perf.iter().map(|p| Some(*p)).collect();
    let q = |x: f64| quantile_reached(&acc, x).unwrap_or(f64::NAN);
    let mean = r.final_perf.iter().sum::<f64>() / r.final_perf.len().max(1) as f64;
    format!(
        "setting={} networks={} rounds={} updates={} train_s={:.1} accuracy_mean={mean:.4} median={:.4} q25={:.4} q75={:.4}",
        r.name,
        cfg.networks,
        r.rounds,
        r.rounds * cfg.updates_per_round,
        r.train_seconds,
        q(0.5),
        q(0.25),
        q(0.75)
    )
}
