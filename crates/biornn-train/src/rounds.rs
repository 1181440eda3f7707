//! What the long-term and rule-reversal trainers share: K networks trained in rounds, their state
//! as named arrays, a schedule of method stages, and their history read back from `metrics.csv`.

use crate::checkpoint::{load_training_state, save_training_state};
use crate::longterm::NetState;
use biornn_core::{Arrays, Learner, Phase, Schedule};
use biornn_model::TimePlan;
use biornn_numerics::{Error, Result, Streams};
use biornn_run::{drive, open_run, Criterion, DriveOptions, RunDir};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// Method stages of `per_stage` rounds each, `count` of them, then plain training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    pub per_stage: usize,
    pub count: usize,
}

impl Stages {
    /// `count` stages sharing `stage_rounds` rounds (floor(stage_rounds / count) each).
    pub fn new(count: usize, stage_rounds: usize) -> Stages {
        Stages {
            per_stage: stage_rounds.checked_div(count).unwrap_or(0),
            count,
        }
    }

    /// The stage of round `round` (0-based), `None` for plain training.
    pub fn at_round(&self, round: usize) -> Option<usize> {
        (self.per_stage > 0)
            .then(|| round / self.per_stage)
            .filter(|e| *e < self.count)
    }
}

impl Schedule for Stages {
    fn at(&self, step: u64) -> Phase {
        Phase {
            stage: self.at_round(step as usize),
            lr_factor: 1.0,
            lr_scale: 1.0,
        }
    }
}

/// Checks shared by the rounds protocols' configs: counts of at least one, a positive finite step
/// and a seed a TOML file can hold.
pub(crate) fn check_settings(
    (protocol, expected): (&str, &str),
    counts: &[(&str, usize)],
    dt: f64,
    seed: u64,
) -> Result<()> {
    if protocol != expected {
        return Err(Error::invalid(
            "protocol",
            protocol,
            &format!("allowed: {expected}"),
        ));
    }
    for (field, v) in counts {
        if *v == 0 {
            return Err(Error::invalid(field, v, "allowed: at least 1"));
        }
    }
    if !(dt.is_finite() && (0.1..=100.0).contains(&dt)) {
        return Err(Error::invalid(
            "dt",
            dt,
            "allowed: a step from 0.1 to 100 ms",
        ));
    }
    check_seed(seed)
}

pub use biornn_numerics::error::check_seed;

/// One round of every network but the retired, in parallel: each takes `batches` in order at the
/// step `dt_train`, with its own noise (`network<k>` / `train_noise<i>` for batch `i`) and its own
/// learning rate (`lr` times its guard's scale), then returns to `dt`. Returns the loss averaged
/// over the batches, then over the networks trained (each network's own is kept as its
/// `last_loss`).
pub(crate) fn train_round<B: Sync>(
    nets: &mut [NetState],
    root: &Streams,
    batches: &[(B, TimePlan, u64)],
    (dt_train, dt, lr): (f64, f64, f64),
    update: impl Fn(&mut NetState, &B, &TimePlan, &Streams, f64) -> f64 + Sync,
) -> f64 {
    let losses: Vec<f64> = nets
        .par_iter_mut()
        .enumerate()
        .filter(|(_, s)| !s.retired)
        .map(|(k, s)| {
            s.net.set_dt(dt_train);
            let lr = lr * s.lr_scale;
            let mut total = 0.0;
            for (b, plan, i) in batches {
                let noise = root.child("network", k as u64).child("train_noise", *i);
                total += update(s, b, plan, &noise, lr);
            }
            s.net.set_dt(dt);
            s.last_loss = total / batches.len() as f64;
            s.last_loss
        })
        .collect();
    losses.iter().sum::<f64>() / losses.len().max(1) as f64
}

/// How a rounds run reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundsOptions {
    /// a line after every round
    pub verbose: bool,
    pub progress: bool,
}

/// Rounds between checkpoints when a config does not say.
pub(crate) fn ten() -> usize {
    10
}

/// A finished rounds run: its directory, how far it went, and its per-round history read back
/// from `metrics.csv` (so it is whole across resumes).
pub(crate) struct RoundsDone {
    pub run: RunDir,
    pub rounds: usize,
    pub reached: bool,
    /// per round: (stage, the three numeric columns after it)
    pub history: Vec<(Option<usize>, f64, f64, f64)>,
    pub train_loss: Vec<f64>,
}

/// Run a rounds protocol's `learner` in `dir` (fresh, with `config` written, or resumed): one
/// update per round, an evaluation after every round (none before the first), to `max_rounds`
/// or `criterion`, with a checkpoint every `checkpoint_every` rounds.
pub(crate) fn run_rounds(
    learner: &mut dyn Learner,
    config: &impl Serialize,
    dir: &Path,
    resume: bool,
    (max_rounds, checkpoint_every, criterion): (usize, usize, Criterion),
    schedule: &Stages,
    opts: &RoundsOptions,
) -> Result<RoundsDone> {
    let text = toml::to_string(config).map_err(|e| Error::new(format!("config: {e}")))?;
    let (run, resumed) = open_run(dir, resume, &text, learner)?;
    let drive_opts = DriveOptions {
        max_steps: max_rounds,
        eval_every: 1,
        eval_at_start: false,
        checkpoint_every,
        keep_checkpoints: 2,
        criterion,
        divergence_lr_factor: 0.5,
        max_divergences: 3,
        divergence_hint:
            "The protocol's learning rate is the reference's; try fewer stages or another seed."
                .into(),
        progress: opts.progress,
        verbose: opts.verbose,
        inject_nan_at_step: None,
    };
    let out = drive(&run, learner, schedule, &drive_opts, resumed)?;
    let rows = read_history(&run.read_metrics());
    Ok(RoundsDone {
        rounds: out.state.step,
        reached: out.reached,
        history: rows
            .iter()
            .map(|(s, v, _)| (*s, v[0], v[1], v[2]))
            .collect(),
        train_loss: rows.iter().map(|r| r.2).collect(),
        run,
    })
}

/// `plain` for plain training, else the stage's index.
pub fn stage_name(stage: Option<usize>) -> String {
    stage.map_or("plain".to_string(), |e| e.to_string())
}

/// Every network's raw parameters and optimiser state, under `net<k>/`, and what the divergence
/// guard left on each (`state_network_lr_scale`, `state_network_rollbacks`,
/// `state_network_retired`, 1 for a retired network: training state, not weights).
pub(crate) fn save_nets(nets: &[NetState], out: &mut Arrays) {
    for (k, s) in nets.iter().enumerate() {
        save_training_state(&format!("net{k}/"), &s.net, &s.opt, out);
    }
    let k = nets.len();
    let scales: Vec<f64> = nets.iter().map(|s| s.lr_scale).collect();
    let rollbacks: Vec<f64> = nets.iter().map(|s| s.rollbacks as f64).collect();
    biornn_core::arrays::put_f64(out, "state_network_lr_scale", &[k], &scales);
    biornn_core::arrays::put_f64(out, "state_network_rollbacks", &[k], &rollbacks);
    let retired: Vec<f64> = nets
        .iter()
        .map(|s| f64::from(u8::from(s.retired)))
        .collect();
    biornn_core::arrays::put_f64(out, "state_network_retired", &[k], &retired);
}

pub(crate) fn load_nets(nets: &mut [NetState], arrays: &Arrays) -> Result<()> {
    for (k, s) in nets.iter_mut().enumerate() {
        load_training_state(&format!("net{k}/"), &mut s.net, &mut s.opt, arrays)?;
    }
    // absent from checkpoints written before networks were slowed one by one: none was
    let k = nets.len();
    let (scales, rollbacks) = match arrays.contains_key("state_network_lr_scale") {
        true => (
            biornn_core::arrays::take_f64(arrays, "state_network_lr_scale", &[k])?,
            biornn_core::arrays::take_f64(arrays, "state_network_rollbacks", &[k])?,
        ),
        false => (vec![1.0; k], vec![0.0; k]),
    };
    for ((s, scale), rollbacks) in nets.iter_mut().zip(scales).zip(rollbacks) {
        s.lr_scale = scale;
        s.rollbacks = rollbacks as usize;
    }
    // absent from checkpoints written before networks could be retired: none was
    let retired = match arrays.contains_key("state_network_retired") {
        true => biornn_core::arrays::take_f64(arrays, "state_network_retired", &[k])?,
        false => vec![0.0; k],
    };
    for (s, retired) in nets.iter_mut().zip(retired) {
        s.retired = retired != 0.0;
    }
    Ok(())
}

/// The networks the last round left with a non-finite loss, parameter or optimiser value (a
/// retired network takes no round, so it is never among them).
pub(crate) fn diverged_nets(nets: &[NetState]) -> Vec<usize> {
    nets.iter()
        .enumerate()
        .filter(|(_, s)| !s.retired)
        .filter(|(_, s)| {
            !(s.last_loss.is_finite() && s.net.params.all_finite() && s.opt.all_finite())
        })
        .map(|(k, _)| k)
        .collect()
}

/// Retire network `k` (the guard's [`Learner::retire_member`]): it stays as it is from now on.
/// Returns how many networks still train.
pub(crate) fn retire_net(nets: &mut [NetState], k: usize) -> usize {
    nets[k].retired = true;
    nets.iter().filter(|s| !s.retired).count()
}

/// The networks the guard retired, in order.
pub(crate) fn retired_nets(nets: &[NetState]) -> Vec<usize> {
    (nets.iter().enumerate())
        .filter(|(_, s)| s.retired)
        .map(|(k, _)| k)
        .collect()
}

/// Every network's weights as users see them, under `net<k>/` (PsychRNN names).
pub(crate) fn export_nets(nets: &[NetState], out: &mut Arrays) {
    for (k, s) in nets.iter().enumerate() {
        let mut m = Arrays::new();
        biornn_core::Network::export(&s.net, &mut m);
        out.extend(m.into_iter().map(|(name, a)| (format!("net{k}/{name}"), a)));
    }
}

pub(crate) fn nets_finite(nets: &[NetState]) -> bool {
    nets.iter()
        .all(|s| s.net.params.all_finite() && s.opt.all_finite())
}

/// Per-network rounds to criterion as an array (-1: not yet).
pub(crate) fn put_rounds(out: &mut Arrays, key: &str, rounds: &[Option<usize>]) {
    let v: Vec<f64> = rounds
        .iter()
        .map(|r| r.map_or(-1.0, |r| r as f64))
        .collect();
    biornn_core::arrays::put_f64(out, key, &[v.len()], &v);
}

pub(crate) fn take_rounds(arrays: &Arrays, key: &str, n: usize) -> Result<Vec<Option<usize>>> {
    Ok(biornn_core::arrays::take_f64(arrays, key, &[n])?
        .into_iter()
        .map(|r| (r >= 0.0).then_some(r as usize))
        .collect())
}

/// The rows of a rounds run's `metrics.csv` after round 0: (stage, the three numeric columns
/// after it, train_loss), parsed from their text.
pub fn read_history(metrics: &str) -> Vec<(Option<usize>, [f64; 3], f64)> {
    metrics
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let num = |i: usize| c.get(i).and_then(|v| v.parse::<f64>().ok());
            Some((
                c.get(2)?.parse::<usize>().ok(),
                [num(3)?, num(4)?, num(5)?],
                num(6)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_take_their_share_of_rounds_then_plain() {
        let s = Stages::new(3, 7);
        let got: Vec<Option<usize>> = (0..8).map(|r| s.at_round(r)).collect();
        assert_eq!(
            got,
            [
                Some(0),
                Some(0),
                Some(1),
                Some(1),
                Some(2),
                Some(2),
                None,
                None
            ]
        );
        assert_eq!(Stages::new(0, 10).at_round(0), None);
    }
}
