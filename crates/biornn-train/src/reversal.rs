//! Training on the cross-trial rule-reversal task ([`biornn_tasks::reversal`]) with skip
//! connections through time and, optionally, the trial-level skip, as wmws2/temporalskip
//! `main_rulereversaltask.py` runs it (`main_rulereversaltask_cd.py` for CD).
//!
//! K networks train in parallel on the same batches of 40 sequences (5 task trials each, about 2,000
//! steps backpropagated), each with its own noise. A round is 10 Adam updates followed by an
//! evaluation of the plain network on a fresh batch without jitter. The method's stages take
//! floor(500 / S) rounds each; training then goes on with the plain network to a fixed budget (the
//! reference: 1000 rounds). There is no stopping criterion: the result is the accuracy reached.
//!
//! The feedback of each trial depends on the network's own answer at the last response step, so
//! each pass pauses there, reads the answer and writes the feedback input before going on. The
//! loss is the reference's: the cross-entropy of the softmax of the two logits against the ideal
//! label over the scored response steps, averaged per trial and over the 5 trials, plus
//! 1e-5 mean |r| over each response epoch (averaged over the trials) and 1e-5 mean |W_rec|.
//!
//! CD (`cd-s2`, `main_rulereversaltask_cd.py`) trains at 10 dt for floor(500 / 2) rounds, then at
//! dt; Adam's state is reset where the step changes (once), unless `keep_optimizer`.
//!
//! The reference's configurations (`typeno`): 0 `base`; 1 `sctt-t40-s11-b0.8`; 2
//! `dasc-t40-s2-b0.5`; 3 and 4 the same two with the trial-level skip; 7 `base` with the
//! trial-level skip, which at beta = 1 changes nothing.

use crate::config::TrainConfig;
use crate::longterm::{
    reference_model, reference_optimizer, validate_schedule, BlockScope, Method, NetState, Stage,
};
use crate::rounds::{
    check_settings, diverged_nets, export_nets, load_nets, nets_finite, retire_net, retired_nets,
    run_rounds, save_nets, stage_name, train_round, RoundsOptions, Stages,
};
use biornn_core::arrays::{put_f64, take_scalar};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_model::config::Readout;
use biornn_model::{Ctrnn, DascDerivative, ModelConfig, Skip, SkipKind, TimePlan, Trajectory};
use biornn_numerics::{Error, Result, Streams};
use biornn_run::trimmed_mean;
use biornn_run::Criterion;
use biornn_tasks::reversal::{
    answer, generate_reversal, score, score_by_reversal, ReversalBatch, ReversalScore,
    ReversalTask, N_INPUT, N_OUTPUT, TRIALS,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A rule-reversal run's settings; as `config.toml`, `protocol = "reversal"` and every field below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalConfig {
    /// always "reversal": what `biornn train --resume` reads to know the run
    #[serde(default = "reversal_protocol")]
    pub protocol: String,
    pub method: Method,
    /// mix each task trial's end state with its start state at the stage's beta
    pub trial_skip: bool,
    pub networks: usize,
    pub n_rec: usize,
    pub dt: f64,
    /// sequences of each rule pattern per batch (8 patterns)
    pub per_pattern: usize,
    pub updates_per_round: usize,
    pub rounds: usize,
    /// rounds for all method stages together (each stage gets floor(stage_rounds / S))
    pub stage_rounds: usize,
    pub derivative: DascDerivative,
    pub scope: BlockScope,
    pub keep_optimizer: bool,
    pub euler_noise: bool,
    pub seed: u64,
    /// rounds between checkpoints
    #[serde(default = "crate::rounds::ten")]
    pub checkpoint_every: usize,
}

fn reversal_protocol() -> String {
    "reversal".into()
}

impl ReversalConfig {
    /// The reference's settings for `method`, with `networks` networks.
    pub fn reference(method: Method, trial_skip: bool, networks: usize) -> Self {
        ReversalConfig {
            protocol: reversal_protocol(),
            method,
            trial_skip,
            networks,
            n_rec: 50,
            dt: 5.0,
            per_pattern: 5,
            updates_per_round: 10,
            rounds: 1000,
            stage_rounds: 500,
            derivative: DascDerivative::BlockStart,
            scope: BlockScope::Epoch,
            keep_optimizer: false,
            euler_noise: false,
            seed: 1,
            checkpoint_every: 10,
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_settings(
            (&self.protocol, "reversal"),
            &[
                ("checkpoint_every", self.checkpoint_every),
                ("networks", self.networks),
                ("updates_per_round", self.updates_per_round),
            ],
            self.dt,
            self.seed,
        )?;
        if self.n_rec == 0 {
            return Err(Error::invalid("n_rec", 0, "allowed: at least 1"));
        }
        if self.per_pattern == 0 {
            return Err(Error::invalid("per_pattern", 0, "allowed: at least 1"));
        }
        validate_schedule(self.method, self.stage_rounds, self.dt)
    }

    /// The reference network for this task: input to and readout (two logits) from every unit.
    pub fn model(&self) -> ModelConfig {
        let mut m = reference_model(self.n_rec, self.euler_noise);
        m.readout = Readout::Logits;
        m
    }

    /// A name for the setting: the method's, with `+stale` for DASC's stale derivative (the
    /// reference code's) and `+trial` for the trial-level skip.
    pub fn name(&self) -> String {
        let mut name = self.method.name();
        let dasc = matches!(
            self.method,
            Method::Skip {
                kind: SkipKind::Dasc,
                ..
            }
        );
        if dasc && self.derivative == DascDerivative::Stale {
            name.push_str("+stale");
        }
        if self.trial_skip {
            name.push_str("+trial");
        }
        name
    }
}

#[derive(Debug, Clone)]
pub struct ReversalResult {
    pub name: String,
    pub rounds: usize,
    /// training wall-clock seconds (evaluations excluded)
    pub train_seconds: f64,
    /// per round: (stage index or None for plain training, mean accuracy over the networks,
    /// trimmed mean (middle 80%), cumulative training seconds)
    pub history: Vec<(Option<usize>, f64, f64, f64)>,
    /// per round: training loss averaged over the round's updates and the networks
    pub train_loss: Vec<f64>,
    /// per network: accuracy at the last evaluation
    pub final_perf: Vec<f64>,
}

/// Run one batch through `net` with its feedback filled in from the network's own answers:
/// after each response epoch, the answer at its last step decides "right" or "wrong" for the reward
/// epoch. `readout` is scratch space.
pub fn run_closed_loop(
    net: &Ctrnn<f32>,
    batch: &ReversalBatch,
    noisy: bool,
    plan: &TimePlan,
    traj: &mut Trajectory<f32>,
    readout: &mut Vec<f32>,
) {
    let b = batch.batch;
    net.forward_start(&batch.x, batch.steps, b, noisy, plan, traj);
    readout.resize(N_OUTPUT * b, 0.0);
    for (k, trial) in batch.trials.iter().enumerate() {
        net.forward_advance(traj, trial.reward);
        net.readout_at(traj, trial.reward - 1, readout);
        for seq in 0..b {
            let u = batch.feedback(
                seq,
                k,
                answer(&readout[N_OUTPUT * seq..N_OUTPUT * (seq + 1)]),
            );
            for t in trial.reward..trial.wait {
                net.rewrite_input(traj, t, seq, &u);
            }
        }
    }
    net.forward_advance(traj, batch.steps);
    net.forward_finish(traj);
}

/// The loss of the pass in `s.traj` on `batch`, with dL/dlogits in `s.d_out` and dL/dr in
/// `s.d_rate` (the weight term is added by [`NetState::l1_weights`]).
pub(crate) fn reversal_loss(s: &mut NetState, batch: &ReversalBatch) -> f64 {
    let (n, b, steps) = (s.net.n_rec, batch.batch, batch.steps);
    let ureg = 1e-5;
    s.d_out.clear();
    s.d_out.resize(N_OUTPUT * steps * b, 0.0);
    s.d_rate.clear();
    s.d_rate.resize(n * steps * b, 0.0);
    let mut loss = 0.0;
    for (k, trial) in batch.trials.iter().enumerate() {
        let window = trial.scored(batch.wait);
        let norm = (window.len() * b * TRIALS).max(1) as f64;
        for t in window {
            for seq in 0..b {
                let c = t * b + seq;
                let z = &s.traj.output[N_OUTPUT * c..N_OUTPUT * (c + 1)];
                let m = z[0].max(z[1]) as f64;
                let e = [(z[0] as f64 - m).exp(), (z[1] as f64 - m).exp()];
                let sum = e[0] + e[1];
                let ideal = batch.ideal(seq, k);
                loss -= (e[ideal] / sum).ln() / norm;
                let d = &mut s.d_out[N_OUTPUT * c..N_OUTPUT * (c + 1)];
                for (j, (d, e)) in d.iter_mut().zip(e).enumerate() {
                    let onehot = if j == ideal { 1.0 } else { 0.0 };
                    *d = ((e / sum - onehot) / norm) as f32;
                }
            }
        }
        // 1e-5 mean |r| over the response epoch; rate at step t is state t + 1
        let cols = trial.response * b..trial.reward * b;
        let norm = ((trial.reward - trial.response) * b * n * TRIALS) as f64;
        let rates = &s.traj.rate[n * (cols.start + b)..n * (cols.end + b)];
        let d = &mut s.d_rate[n * cols.start..n * cols.end];
        loss += ureg * crate::loss::l1_rates(rates, d, (ureg / norm) as f32) / norm;
    }
    loss
}

/// Per round: the stage (None for plain training) and whether Adam's state is reset before it. The
/// stages take floor(stage_rounds / S) rounds each; the state is reset where the step changes (CD),
/// as `main_rulereversaltask_cd.py` does (once, at the switch to the fine step), unless
/// `keep_optimizer`.
fn schedule(cfg: &ReversalConfig) -> Vec<(Option<usize>, bool)> {
    let stages = cfg.method.stages();
    let per_stage = cfg.stage_rounds / stages.len().max(1);
    let mut last = stages.first().map_or(1, |s| s.dt_factor);
    (0..cfg.rounds)
        .map(|round| {
            let phase = (per_stage > 0)
                .then(|| round / per_stage)
                .filter(|e| *e < stages.len());
            let factor = phase.map_or(1, |e| stages[e].dt_factor);
            let reset = factor != last && !cfg.keep_optimizer;
            last = factor;
            (phase, reset)
        })
        .collect()
}

fn plan_for(batch: &ReversalBatch, stage: Option<&Stage>, cfg: &ReversalConfig) -> TimePlan {
    TimePlan {
        skip: stage.and_then(|s| s.skip).map(|(kind, theta, beta)| Skip {
            kind,
            theta,
            beta,
            derivative: cfg.derivative,
        }),
        segments: match cfg.scope {
            BlockScope::Epoch => batch.epoch_starts(),
            BlockScope::Trial => vec![batch.pre],
        },
        grad_start: batch.pre,
        trial_spans: if cfg.trial_skip {
            batch.trial_spans()
        } else {
            vec![]
        },
    }
}

/// K networks on the rule-reversal task as the driver's learner: one update is a round of
/// `updates_per_round` closed-loop passes and Adam steps of every network, one evaluation scores
/// the plain networks on a fresh batch.
pub struct ReversalLearner {
    cfg: ReversalConfig,
    tcfg: TrainConfig,
    lr: f64,
    root: Streams,
    task: ReversalTask,
    eval_task: ReversalTask,
    stages: Vec<Stage>,
    /// per round: the stage and whether Adam's state is reset before it
    plan: Vec<(Option<usize>, bool)>,
    nets: Vec<NetState>,
    batches: Vec<(ReversalBatch, TimePlan, u64)>,
    eval_batch: ReversalBatch,
    /// training seconds so far, resumes included (saved)
    train_seconds: f64,
    /// the last evaluation's accuracy per network
    final_perf: Vec<f64>,
}

impl ReversalLearner {
    pub fn new(cfg: &ReversalConfig) -> Result<Self> {
        cfg.validate()?;
        let tcfg = reference_optimizer();
        let root = Streams::new(cfg.seed);
        let task = ReversalTask {
            per_pattern: cfg.per_pattern,
            jitter: true,
        };
        let nets = NetState::many(
            &cfg.model(),
            &tcfg,
            N_INPUT,
            N_OUTPUT,
            cfg.dt,
            cfg.networks,
            &root,
        )?;
        Ok(ReversalLearner {
            lr: 0.1 / cfg.n_rec as f64,
            eval_task: ReversalTask {
                jitter: false,
                ..task
            },
            task,
            stages: cfg.method.stages(),
            plan: schedule(cfg),
            nets,
            root,
            tcfg,
            batches: vec![],
            eval_batch: ReversalBatch::default(),
            train_seconds: 0.0,
            final_perf: vec![],
            cfg: cfg.clone(),
        })
    }

    /// The stages schedule the driver follows.
    pub fn schedule(&self) -> Stages {
        Stages::new(self.stages.len(), self.cfg.stage_rounds)
    }

    /// Network `k` of the K trained side by side.
    pub fn network(&self, k: usize) -> Option<&Ctrnn<f32>> {
        self.nets.get(k).map(|s| &s.net)
    }

    /// Every network on `batches` fresh batches of the evaluation's sequences (nominal epochs,
    /// fine dt, no skip), closed loop as the protocol evaluates, with recurrent noise when
    /// `recurrent_noise` (the protocol's setting): the mean of the reference's score over the
    /// batches, and the ideal answers counted on trials after a reversal and after none. The
    /// batches and the noise come from streams of their own under the run's seed
    /// (`inspect_batch`, `network/k/inspect_noise`), so the same call gives the same scores.
    pub fn score_networks(
        &mut self,
        batches: usize,
        recurrent_noise: bool,
    ) -> Result<Vec<ReversalScore>> {
        if batches == 0 {
            return Err(Error::invalid("batches", 0, "allowed: a positive count"));
        }
        let mut totals = vec![ReversalScore::default(); self.nets.len()];
        let root = self.root.child("inspect_batch", 0);
        for index in 0..batches as u64 {
            generate_reversal(
                &self.eval_task,
                self.cfg.dt,
                &root,
                index,
                &mut self.eval_batch,
            );
            let (streams, b) = (&self.root, &self.eval_batch);
            self.nets
                .par_iter_mut()
                .zip(&mut totals)
                .enumerate()
                .for_each(|(k, (s, total))| {
                    if recurrent_noise {
                        let noise = streams
                            .child("network", k as u64)
                            .child("inspect_noise", index);
                        s.net.sample_noise(
                            &mut s.traj,
                            b.steps,
                            b.batch,
                            &mut noise.stream("noise", 0),
                        );
                    }
                    run_closed_loop(
                        &s.net,
                        b,
                        recurrent_noise,
                        &TimePlan::plain(),
                        &mut s.traj,
                        &mut s.readout,
                    );
                    let this = score_by_reversal(b, &s.traj.output);
                    total.score += this.score / batches as f64;
                    for (sum, part) in [
                        (&mut total.switch, this.switch),
                        (&mut total.stay, this.stay),
                    ] {
                        sum.0 += part.0;
                        sum.1 += part.1;
                    }
                });
        }
        Ok(totals)
    }

    /// Sequences in one batch of the task.
    pub fn sequences_per_batch(&self) -> usize {
        self.cfg.per_pattern * biornn_tasks::reversal::PATTERNS.len()
    }
}

impl Stateful for ReversalLearner {
    fn save_state(&self, _prefix: &str, out: &mut Arrays) {
        save_nets(&self.nets, out);
        put_f64(out, "train_seconds", &[], &[self.train_seconds]);
    }
    fn load_state(&mut self, _prefix: &str, arrays: &Arrays) -> Result<()> {
        load_nets(&mut self.nets, arrays)?;
        self.train_seconds = take_scalar(arrays, "train_seconds")?;
        Ok(())
    }
}

impl Learner for ReversalLearner {
    fn columns(&self) -> Vec<String> {
        [
            "updates",
            "stage",
            "mean_accuracy",
            "trimmed_mean",
            "train_s",
            "train_loss",
        ]
        .map(String::from)
        .to_vec()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let (cfg, round) = (&self.cfg, step as usize);
        let (stage_index, reset) = self.plan[round];
        debug_assert_eq!(stage_index, phase.stage);
        let stage = stage_index.map(|e| self.stages[e]);
        if reset {
            // a retired network stays as it was retired, optimiser state included
            for s in self.nets.iter_mut().filter(|s| !s.retired) {
                s.reset_optimizer(&self.tcfg);
            }
        }
        let dt_train = cfg.dt * stage.map_or(1, |s| s.dt_factor) as f64;
        self.batches
            .resize_with(cfg.updates_per_round, Default::default);
        for (j, (b, plan, i)) in self.batches.iter_mut().enumerate() {
            *i = (round * cfg.updates_per_round + j) as u64;
            generate_reversal(
                &self.task,
                dt_train,
                &self.root.child("train_batch", 0),
                *i,
                b,
            );
            *plan = plan_for(b, stage.as_ref(), cfg);
        }
        let t0 = Instant::now();
        let lr = self.lr * phase.lr_factor * phase.lr_scale;
        let loss = train_round(
            &mut self.nets,
            &self.root,
            &self.batches,
            (dt_train, cfg.dt, lr),
            |s, b, plan, noise, lr| {
                s.net
                    .sample_noise(&mut s.traj, b.steps, b.batch, &mut noise.stream("noise", 0));
                run_closed_loop(&s.net, b, true, plan, &mut s.traj, &mut s.readout);
                reversal_loss(s, b) + s.backward_and_step(1e-5, lr)
            },
        );
        self.train_seconds += t0.elapsed().as_secs_f64();
        Ok(loss)
    }

    /// After round `step` (1-based), on the batch and noise of index `step - 1`, as the reference.
    fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let cfg = &self.cfg;
        let index = step.saturating_sub(1);
        generate_reversal(
            &self.eval_task,
            cfg.dt,
            &self.root.child("eval_batch", 0),
            index,
            &mut self.eval_batch,
        );
        let (root, b) = (&self.root, &self.eval_batch);
        let perf: Vec<f64> = self
            .nets
            .par_iter_mut()
            .enumerate()
            .map(|(k, s)| {
                let noise = root.child("network", k as u64).child("eval_noise", index);
                s.net
                    .sample_noise(&mut s.traj, b.steps, b.batch, &mut noise.stream("noise", 0));
                run_closed_loop(
                    &s.net,
                    b,
                    true,
                    &TimePlan::plain(),
                    &mut s.traj,
                    &mut s.readout,
                );
                score(b, &s.traj.output)
            })
            .collect();
        let mean = perf.iter().sum::<f64>() / perf.len() as f64;
        let tm = trimmed_mean(&perf, 0.1);
        self.final_perf = perf;
        let stage = self.plan.get(index as usize).and_then(|p| p.0);
        Ok(Evaluation {
            cells: vec![
                (step as usize * cfg.updates_per_round).to_string(),
                stage_name(stage),
                format!("{mean:.5}"),
                format!("{tm:.5}"),
                format!("{:.3}", self.train_seconds),
                train_loss.map_or(String::new(), |l| format!("{l:.6}")),
            ],
            values: [
                ("mean_accuracy".to_string(), mean),
                ("trimmed_mean".to_string(), tm),
            ]
            .into(),
            headline: format!("mean accuracy {mean:.4}"),
        })
    }

    fn all_finite(&self) -> bool {
        nets_finite(&self.nets)
    }

    fn diverged_members(&self) -> Option<Vec<usize>> {
        Some(diverged_nets(&self.nets))
    }

    fn slow_member(&mut self, k: usize, factor: f64) -> usize {
        self.nets[k].slow_down(factor)
    }

    fn retire_member(&mut self, k: usize) -> Option<usize> {
        Some(retire_net(&mut self.nets, k))
    }

    fn export(&self, _step: u64, out: &mut Arrays) {
        export_nets(&self.nets, out);
    }
}

/// Train `cfg.networks` networks for `cfg.rounds` rounds in the run directory `dir`, or continue
/// such a run from its newest checkpoint (`resume`). Writes `config.toml`, `metrics.csv` (a row
/// per round), checkpoints, `model.npz` and `summary.json`.
pub fn train_reversal(
    cfg: &ReversalConfig,
    dir: &Path,
    resume: bool,
    opts: &RoundsOptions,
) -> Result<ReversalResult> {
    cfg.validate()?;
    let mut learner = ReversalLearner::new(cfg)?;
    let schedule = learner.schedule();
    let budget = (cfg.rounds, cfg.checkpoint_every, Criterion::Never);
    let done = run_rounds(&mut learner, cfg, dir, resume, budget, &schedule, opts)?;
    let result = ReversalResult {
        name: cfg.name(),
        rounds: done.rounds,
        train_seconds: learner.train_seconds,
        history: done.history,
        train_loss: done.train_loss,
        final_perf: learner.final_perf.clone(),
    };
    let summary = serde_json::json!({
        "setting": result.name, "method": cfg.method.name(), "trial_skip": cfg.trial_skip,
        "networks": cfg.networks, "seed": cfg.seed, "rounds": result.rounds,
        "updates": result.rounds * cfg.updates_per_round, "train_seconds": result.train_seconds,
        "final_perf": result.final_perf,
        "retired_networks": retired_nets(&learner.nets),
    });
    done.run
        .write_summary(&serde_json::to_string_pretty(&summary).unwrap_or_default())?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Train in a fresh temporary run directory.
    fn run(cfg: &ReversalConfig) -> Result<ReversalResult> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "biornn-reversal-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let r = train_reversal(cfg, &dir, false, &RoundsOptions::default());
        std::fs::remove_dir_all(&dir).ok();
        r
    }

    /// The loss's gradient with respect to the logits and rates against finite differences of the
    /// loss as written (in f32, so a loose tolerance), on a short batch.
    #[test]
    fn loss_gradient_matches_finite_differences() {
        let cfg = ReversalConfig::reference(Method::Base, false, 1);
        let tcfg = reference_optimizer();
        let root = Streams::new(3);
        let mut nets =
            NetState::many(&cfg.model(), &tcfg, N_INPUT, N_OUTPUT, 50.0, 1, &root).unwrap();
        let s = &mut nets[0];
        let task = ReversalTask {
            per_pattern: 1,
            jitter: true,
        };
        let mut b = ReversalBatch::default();
        generate_reversal(&task, 50.0, &root, 0, &mut b);
        let mut readout = vec![];
        run_closed_loop(
            &s.net,
            &b,
            false,
            &TimePlan::plain(),
            &mut s.traj,
            &mut readout,
        );
        let l0 = reversal_loss(s, &b);
        let (d_out, d_rate) = (s.d_out.clone(), s.d_rate.clone());
        let n = s.net.n_rec;
        let tr = b.trials[2];
        let probes = [
            (true, N_OUTPUT * (tr.scored(b.wait).start * b.batch + 3) + 1),
            (true, N_OUTPUT * ((tr.reward - 1) * b.batch + 5)),
            (false, n * (tr.response * b.batch + 2) + 7),
        ];
        for (is_out, k) in probes {
            let h = 1e-2f32;
            let mut eval = |delta: f32| {
                if is_out {
                    s.traj.output[k] += delta;
                } else {
                    s.traj.rate[n * b.batch + k] += delta;
                }
                let l = reversal_loss(s, &b);
                if is_out {
                    s.traj.output[k] -= delta;
                } else {
                    s.traj.rate[n * b.batch + k] -= delta;
                }
                l
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
            let analytic = if is_out { d_out[k] } else { d_rate[k] } as f64;
            assert!(analytic != 0.0);
            assert!(
                (fd - analytic).abs() < 1e-3 * analytic.abs() + 1e-9,
                "{is_out} {k}: {fd} vs {analytic}"
            );
        }
        // logits outside the scored windows carry no gradient
        assert!(
            d_out[..N_OUTPUT * b.trials[0].scored(b.wait).start * b.batch]
                .iter()
                .all(|v| *v == 0.0)
        );
        assert!(l0 > 0.0 && l0.is_finite());
    }

    /// The feedback follows the network's answer: a network whose readout favours answer 1
    /// everywhere is told "right" exactly where the target is 1.
    #[test]
    fn feedback_follows_the_answer_at_the_last_response_step() {
        let cfg = ReversalConfig::reference(Method::Base, false, 1);
        let mut net =
            Ctrnn::<f32>::new(&cfg.model(), N_INPUT, N_OUTPUT, 5.0, &Streams::new(1)).unwrap();
        let mut p = net.params.clone();
        // ReLU rates are non-negative; a positive bias keeps them above zero
        p.b_rec.iter_mut().for_each(|v| *v = 1.0);
        p.w_rec.iter_mut().for_each(|v| *v = 0.0);
        p.w_out = (0..N_OUTPUT * cfg.n_rec)
            .map(|k| if k < cfg.n_rec { -1.0 } else { 1.0 })
            .collect();
        net.set_params(p);
        let mut b = ReversalBatch::default();
        let task = ReversalTask {
            per_pattern: 1,
            jitter: false,
        };
        generate_reversal(&task, 5.0, &Streams::new(2), 0, &mut b);
        let mut traj = Trajectory::default();
        let mut readout = vec![];
        run_closed_loop(&net, &b, false, &TimePlan::plain(), &mut traj, &mut readout);
        for (k, tr) in b.trials.iter().enumerate() {
            for seq in 0..b.batch {
                let c = N_INPUT * ((tr.reward + 10) * b.batch + seq);
                let right = b.target(seq, k) == 1;
                assert_eq!(traj.input[c + 2], if right { 1.0 } else { 0.0 });
                assert_eq!(traj.input[c + 3], if right { 0.0 } else { 1.0 });
                let c_wait = N_INPUT * (tr.wait * b.batch + seq);
                assert!(traj.input[c_wait..c_wait + N_INPUT]
                    .iter()
                    .all(|v| *v == 0.0));
            }
        }
        // always answering 1 scores the fraction of ideal labels that are 1
        let ones = (0..b.batch)
            .flat_map(|s| (0..TRIALS).map(move |k| (s, k)))
            .filter(|&(s, k)| b.ideal(s, k) == 1)
            .count() as f64
            / (b.batch * TRIALS) as f64;
        assert!((score(&b, &traj.output) - ones).abs() < 1e-12);
    }

    #[test]
    fn training_is_reproducible_and_follows_the_stages() {
        let mut cfg =
            ReversalConfig::reference(Method::parse("dasc-t40-s2-b0.5").unwrap(), true, 2);
        cfg.per_pattern = 1;
        cfg.rounds = 3;
        cfg.stage_rounds = 2;
        cfg.updates_per_round = 2;
        let a = run(&cfg).unwrap();
        let b = run(&cfg).unwrap();
        assert_eq!(a.final_perf, b.final_perf);
        assert_eq!(a.train_loss, b.train_loss);
        assert_eq!(a.history.len(), 3);
        assert_eq!(
            a.history.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![Some(0), Some(1), None]
        );
        assert!(a.train_loss.iter().all(|l| l.is_finite()));
        assert_eq!(a.name, "dasc-t40-s2-b0.5+trial");
    }

    #[test]
    fn stages_and_optimizer_resets_follow_the_reference() {
        let at = |method: &str, keep: bool| {
            let mut cfg = ReversalConfig::reference(Method::parse(method).unwrap(), false, 1);
            cfg.keep_optimizer = keep;
            schedule(&cfg)
        };
        // CD: 250 rounds at 50 ms, then 5 ms to round 1000, with one reset at the switch
        let cd = at("cd-s2", false);
        assert_eq!(cd.len(), 1000);
        assert_eq!(cd[249], (Some(0), false));
        assert_eq!(cd[250], (Some(1), true));
        assert_eq!(cd.iter().filter(|r| r.1).count(), 1);
        assert_eq!(cd[500], (None, false));
        assert!(at("cd-s2", true).iter().all(|r| !r.1));
        // SCTT with 11 stages: 45 rounds each, then plain, never a reset
        let sctt = at("sctt-t40-s11-b0.8", false);
        assert_eq!(sctt[44].0, Some(0));
        assert_eq!(sctt[45].0, Some(1));
        assert_eq!(sctt[494].0, Some(10));
        assert_eq!(sctt[495].0, None);
        assert!(sctt.iter().all(|r| !r.1));
        assert!(at("base", false).iter().all(|r| *r == (None, false)));
    }

    /// beta = 1 everywhere: the skip and the trial-level skip change nothing, round for round.
    #[test]
    fn beta_one_equals_plain_training() {
        let mut plain = ReversalConfig::reference(Method::Base, false, 1);
        plain.per_pattern = 1;
        plain.rounds = 2;
        plain.updates_per_round = 2;
        plain.stage_rounds = 2;
        let mut one = plain.clone();
        one.method = Method::parse("sctt-t10-s2-b1").unwrap();
        one.trial_skip = true;
        let a = run(&plain).unwrap();
        let b = run(&one).unwrap();
        assert_eq!(a.train_loss, b.train_loss);
        assert_eq!(a.final_perf, b.final_perf);
    }
}
