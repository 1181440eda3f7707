//! Training with skip connections through time (SCTT, DASC) or coarse discretisation (CD), then
//! reverting to the plain network: the protocol of Soo, Goudar and Wang (NeurIPS 2023), as
//! wmws2/temporalskip `main_standardtasks.py` and `main_standardtasks_cd.py` run it.
//!
//! K networks train on one task of [`biornn_tasks::temporalskip`] at once, in parallel, each on the
//! same batches with its own noise. Training goes in rounds of 10 Adam updates (20 trials each),
//! each round followed by an evaluation of the plain network (no skip, fine dt, no jitter) on 200
//! fresh trials. The method's stages come first, each for at most floor(2000 / S) rounds and 2000
//! rounds in all; then the plain network trains on until the criterion or 4000 rounds. The
//! criterion is the reference's: the mean performance of the middle 80% of networks reaches 0.99.
//! Stages:
//! - SCTT, DASC: beta_e = beta0 + (1 - beta0) e / (S - 1) for e = 0..S-1 at a fixed theta (S = 1 is
//!   the plain network);
//! - CD: theta_e = 10 (S - 1 - e) / (S - 1) (0 read as 1): the step is theta_e dt, and the optimiser
//!   state is reset at each stage as the reference does (`keep_optimizer` keeps it).

use crate::config::{OptimizerKind, TrainConfig};
use crate::engine::gather_input;
use crate::loss::{l1_rates, l1_slope};
use crate::optim::Optimizer;
pub use crate::rounds::RoundsOptions;
use crate::rounds::{
    check_settings, diverged_nets, export_nets, load_nets, nets_finite, put_rounds, retire_net,
    retired_nets, run_rounds, save_nets, stage_name, take_rounds, train_round, Stages,
};
use biornn_core::arrays::{put_f64, take_scalar};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_model::config::{NoiseConfig, NoiseKind, NoisePlacement, RecInit};
use biornn_model::{
    Activation, Ctrnn, DascDerivative, Grads, ModelConfig, Skip, SkipKind, TimePlan, Trajectory,
};
use biornn_numerics::{Error, Result, Streams};
use biornn_run::{trimmed_mean, Criterion};
use biornn_tasks::temporalskip::{score_counts, Score, ScoreCounts, TsRule, TsTask};
use biornn_tasks::{generate_into, BatchSpec, TaskBatch, Timing};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A training-time method and its schedule; in configs, its name (`dasc-t40-s2-b0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Method {
    Base,
    Skip {
        kind: SkipKind,
        theta: usize,
        stages: usize,
        beta0: f64,
    },
    Cd {
        stages: usize,
        theta_max: usize,
    },
}

impl Method {
    /// Names of the reference sweep: `base`; `sctt-t{10,20,40}-s{1,2,6,11}-b{0,0.2,0.5,0.8}`;
    /// `dasc-...` likewise; `cd-s{2,6,11}` (theta from 10). Any theta >= 2, S >= 1 and beta0 in
    /// [0, 1] are accepted by value in the same form.
    pub fn parse(name: &str) -> Result<Method> {
        let bad = || {
            Error::invalid(
                "method",
                name,
                "allowed: base, sctt-tTHETA-sSTAGES-bBETA0, dasc-tTHETA-sSTAGES-bBETA0 (e.g. dasc-t20-s6-b0.5), cd-sSTAGES (e.g. cd-s6)",
            )
        };
        if name == "base" {
            return Ok(Method::Base);
        }
        let parts: Vec<&str> = name.split('-').collect();
        match parts.as_slice() {
            [kind @ ("sctt" | "dasc"), t, s, b] => {
                let theta: usize = t
                    .strip_prefix('t')
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?;
                let stages: usize = s
                    .strip_prefix('s')
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?;
                let beta0: f64 = b
                    .strip_prefix('b')
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?;
                if theta < 2 || stages == 0 || !(0.0..=1.0).contains(&beta0) {
                    return Err(bad());
                }
                let kind = if *kind == "sctt" {
                    SkipKind::Sctt
                } else {
                    SkipKind::Dasc
                };
                Ok(Method::Skip {
                    kind,
                    theta,
                    stages,
                    beta0,
                })
            }
            ["cd", s] => {
                let stages: usize = s
                    .strip_prefix('s')
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?;
                if stages < 2 {
                    return Err(bad());
                }
                Ok(Method::Cd {
                    stages,
                    theta_max: 10,
                })
            }
            _ => Err(bad()),
        }
    }

    pub fn name(&self) -> String {
        match *self {
            Method::Base => "base".into(),
            Method::Skip {
                kind,
                theta,
                stages,
                beta0,
            } => format!(
                "{}-t{theta}-s{stages}-b{beta0}",
                if kind == SkipKind::Sctt {
                    "sctt"
                } else {
                    "dasc"
                }
            ),
            Method::Cd { stages, .. } => format!("cd-s{stages}"),
        }
    }

    /// The reference sweep's settings (`main_standardtasks.py`, `main_standardtasks_cd.py`).
    pub fn reference_sweep() -> Vec<Method> {
        let mut out = vec![Method::Base];
        for kind in [SkipKind::Sctt, SkipKind::Dasc] {
            for theta in [10, 20, 40] {
                for stages in [1, 2, 6, 11] {
                    for beta0 in [0.0, 0.2, 0.5, 0.8] {
                        out.push(Method::Skip {
                            kind,
                            theta,
                            stages,
                            beta0,
                        });
                    }
                }
            }
        }
        for stages in [2, 6, 11] {
            out.push(Method::Cd {
                stages,
                theta_max: 10,
            });
        }
        out
    }

    /// The stages before plain training: (beta, skip theta, dt factor).
    pub fn stages(&self) -> Vec<Stage> {
        match *self {
            Method::Base => vec![],
            Method::Skip {
                kind,
                theta,
                stages,
                beta0,
            } => {
                if stages <= 1 {
                    return vec![];
                }
                (0..stages)
                    .map(|e| Stage {
                        skip: Some((
                            kind,
                            theta,
                            beta0 + (1.0 - beta0) * e as f64 / (stages - 1) as f64,
                        )),
                        dt_factor: 1,
                    })
                    .collect()
            }
            Method::Cd { stages, theta_max } => (0..stages)
                .map(|e| Stage {
                    skip: None,
                    dt_factor: ((theta_max * (stages - 1 - e)) as f64 / (stages - 1) as f64)
                        .floor()
                        .max(1.0) as usize,
                })
                .collect(),
        }
    }
}

impl TryFrom<String> for Method {
    type Error = Error;
    fn try_from(name: String) -> Result<Method> {
        Method::parse(&name)
    }
}

impl From<Method> for String {
    fn from(m: Method) -> String {
        m.name()
    }
}

/// A task of the suite by its name in configs.
pub(crate) mod ts_rule_name {
    use biornn_tasks::temporalskip::TsRule;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rule: &TsRule, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(rule.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TsRule, D::Error> {
        let name = String::deserialize(d)?;
        TsRule::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = TsRule::ALL.iter().map(|r| r.name()).collect();
            serde::de::Error::custom(format!(
                "invalid `task` = {name}: allowed: {}",
                names.join(", ")
            ))
        })
    }
}

/// One stage: a skip (kind, theta, beta) or a coarse step (dt factor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub skip: Option<(SkipKind, usize, f64)>,
    pub dt_factor: usize,
}

/// Where skip blocks restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockScope {
    /// at every epoch boundary, as the reference
    Epoch,
    /// only after the pre-trial period: blocks run across the whole trial
    Trial,
}

/// A long-term run's settings; as `config.toml`, `protocol = "longterm"` and every field below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongTermConfig {
    /// always "longterm": what `biornn train --resume` reads to know the run
    #[serde(default = "longterm_protocol")]
    pub protocol: String,
    #[serde(with = "ts_rule_name")]
    pub task: TsRule,
    pub method: Method,
    pub networks: usize,
    pub n_rec: usize,
    pub dt: f64,
    pub batch: usize,
    pub eval_trials: usize,
    pub updates_per_round: usize,
    /// rounds for all method stages together (each stage gets floor(stage_rounds / S))
    pub stage_rounds: usize,
    pub max_rounds: usize,
    pub criterion: f64,
    /// fraction of networks dropped at each end before averaging
    pub trim: f64,
    pub derivative: DascDerivative,
    pub scope: BlockScope,
    /// keep Adam's state across CD stages (the reference resets it)
    pub keep_optimizer: bool,
    pub reference_nonmatch: bool,
    /// the reference's Euler-discretised OU noise instead of the exact one
    pub euler_noise: bool,
    pub seed: u64,
    /// rounds between checkpoints
    #[serde(default = "crate::rounds::ten")]
    pub checkpoint_every: usize,
}

fn longterm_protocol() -> String {
    "longterm".into()
}

impl LongTermConfig {
    /// The reference's settings for `task` and `method`, with `networks` networks.
    pub fn reference(task: TsRule, method: Method, networks: usize) -> Self {
        LongTermConfig {
            protocol: longterm_protocol(),
            task,
            method,
            networks,
            n_rec: 50,
            dt: 5.0,
            batch: 20,
            eval_trials: 200,
            updates_per_round: 10,
            stage_rounds: 2000,
            max_rounds: 4000,
            criterion: 0.99,
            trim: 0.1,
            derivative: DascDerivative::BlockStart,
            scope: BlockScope::Epoch,
            keep_optimizer: false,
            reference_nonmatch: false,
            euler_noise: false,
            seed: 1,
            checkpoint_every: 10,
        }
    }

    /// The method's name with every option that departs from the defaults and acts on it
    /// (`+stale` for DASC's stale derivative, `+trial` for trial-wide skip blocks,
    /// `+keep-optimizer` for CD, `+euler-noise`, `+reference-nonmatch`): what tells two runs of
    /// one method apart in a summary.
    pub fn label(&self) -> String {
        let mut label = self.method.name();
        let skip = |k: Option<SkipKind>| match self.method {
            Method::Skip { kind, .. } => k.is_none_or(|k| k == kind),
            _ => false,
        };
        let mut add = |on: bool, tag: &str| {
            if on {
                label.push('+');
                label.push_str(tag);
            }
        };
        add(
            self.derivative == DascDerivative::Stale && skip(Some(SkipKind::Dasc)),
            "stale",
        );
        add(self.scope == BlockScope::Trial && skip(None), "trial");
        add(
            self.keep_optimizer && matches!(self.method, Method::Cd { .. }),
            "keep-optimizer",
        );
        add(self.euler_noise, "euler-noise");
        add(self.reference_nonmatch, "reference-nonmatch");
        label
    }

    pub fn validate(&self) -> Result<()> {
        check_settings(
            (&self.protocol, "longterm"),
            &[
                ("checkpoint_every", self.checkpoint_every),
                ("networks", self.networks),
                ("batch", self.batch),
                ("eval_trials", self.eval_trials),
                ("updates_per_round", self.updates_per_round),
            ],
            self.dt,
            self.seed,
        )?;
        if self.n_rec < 5 {
            return Err(Error::invalid(
                "n_rec",
                self.n_rec,
                "allowed: at least 5 (input and readout are 40% each)",
            ));
        }
        if !(0.0..0.5).contains(&self.trim) {
            return Err(Error::invalid(
                "trim",
                self.trim,
                "allowed: a fraction in [0, 0.5)",
            ));
        }
        // NaN compares false with every score: a criterion no one could read
        if self.criterion.is_nan() {
            return Err(Error::invalid(
                "criterion",
                self.criterion,
                "allowed: a performance level (0 or below: met at once; above 1: never met)",
            ));
        }
        validate_schedule(self.method, self.stage_rounds, self.dt)
    }

    /// The network of the reference: ReLU, rate state, tau 100 ms (50 ms for the last 20%), OU noise
    /// of std 0.1 and correlation time 100 ms inside the nonlinearity, input to the first 40% of
    /// units, readout (sigmoid, no bias) from the next 40%, the reference's initialisation.
    pub fn model(&self) -> ModelConfig {
        let n = self.n_rec;
        let k = (0.4 * n as f64) as usize;
        let mut m = reference_model(n, self.euler_noise);
        m.mask.input_units = Some([0, k]);
        m.mask.readout_units = Some([k, 2 * k]);
        m
    }
}

/// Checks shared by the long-term trainers: at least one round per stage, and CD steps that are
/// whole numbers of fine steps and no coarser than the fast units' tau.
pub(crate) fn validate_schedule(method: Method, stage_rounds: usize, dt: f64) -> Result<()> {
    let stages = method.stages().len();
    if stage_rounds < stages {
        return Err(Error::invalid(
            "stage_rounds",
            stage_rounds,
            &format!("allowed: at least one round per stage ({stages} stages)"),
        ));
    }
    if let Method::Cd { stages, theta_max } = method {
        if theta_max % (stages - 1) != 0 {
            return Err(Error::invalid(
                "method",
                method.name(),
                &format!("allowed: CD stages S with S - 1 dividing {theta_max} (2, 3, 6 or 11), so that every step is a whole number of fine steps"),
            ));
        }
        // the fast units have tau = 50 ms: alpha = dt theta / 50 must stay at most 1
        if dt * theta_max as f64 > 50.0 {
            return Err(Error::invalid(
                "method",
                method.name(),
                "the coarsest step must not exceed 50 ms (tau of the fast units)",
            ));
        }
    }
    Ok(())
}

/// The reference's network without its input and readout populations: ReLU, rate state, tau
/// 100 ms (50 ms for the last 20%), OU noise of std 0.1 and correlation time 100 ms inside the
/// nonlinearity (exact, or the reference's Euler form), the reference's initialisation, no
/// trainable readout bias.
pub fn reference_model(n: usize, euler_noise: bool) -> ModelConfig {
    let mut m = ModelConfig {
        n_rec: n,
        activation: Activation::Relu,
        tau: 100.0,
        tau_inhibitory: Some(50.0),
        noise: NoiseConfig {
            sigma: 0.1,
            placement: NoisePlacement::Inside,
            kind: NoiseKind::Ou,
            tau_ou: 100.0,
        },
        ..ModelConfig::default()
    };
    if euler_noise {
        m.noise.kind = NoiseKind::OuEuler;
    }
    m.init.w_rec = RecInit::Temporalskip;
    m.trainable.b_out = false;
    m
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct LongTermResult {
    pub method: String,
    pub task: String,
    /// rounds run, and whether the criterion was met at the last one
    pub rounds: usize,
    pub reached: bool,
    /// training wall-clock seconds (evaluations excluded)
    pub train_seconds: f64,
    /// per round, from `metrics.csv`: (stage index or None for plain training, trimmed mean,
    /// fraction of networks at or above the criterion, cumulative training seconds)
    pub history: Vec<(Option<usize>, f64, f64, f64)>,
    /// per network: the first round (1-based) after which its own performance reached the criterion
    pub network_rounds: Vec<Option<usize>>,
    pub final_perf: Vec<f64>,
    /// per round: the training loss averaged over the round's updates and the networks
    pub train_loss: Vec<f64>,
}

/// One network in training, with its optimiser and reused buffers.
pub(crate) struct NetState {
    pub(crate) net: Ctrnn<f32>,
    pub(crate) opt: Optimizer<f32>,
    pub(crate) traj: Trajectory<f32>,
    pub(crate) grads: Grads<f32>,
    pub(crate) d_out: Vec<f32>,
    pub(crate) d_rate: Vec<f32>,
    /// the readout at a pause of a closed-loop pass
    pub(crate) readout: Vec<f32>,
    /// this network's learning-rate multiplier, halved each time it alone diverges
    pub(crate) lr_scale: f64,
    /// how many times it has diverged
    pub(crate) rollbacks: usize,
    /// retired by the guard after diverging too often: frozen, it takes no more updates
    pub(crate) retired: bool,
    /// its training loss in the last round
    pub(crate) last_loss: f64,
}

impl NetState {
    /// `count` networks of `model`, network k initialised from `root.child("network", k)`.
    pub(crate) fn many(
        model: &ModelConfig,
        tcfg: &TrainConfig,
        n_in: usize,
        n_out: usize,
        dt: f64,
        count: usize,
        root: &Streams,
    ) -> Result<Vec<NetState>> {
        (0..count)
            .map(|k| {
                let net =
                    Ctrnn::<f32>::new(model, n_in, n_out, dt, &root.child("network", k as u64))?;
                Ok(NetState {
                    net,
                    opt: Optimizer::new(tcfg, n_in, model.n_rec, n_out),
                    traj: Trajectory::default(),
                    grads: Grads::zeros(n_in, model.n_rec, n_out),
                    d_out: vec![],
                    d_rate: vec![],
                    readout: vec![],
                    lr_scale: 1.0,
                    rollbacks: 0,
                    retired: false,
                    last_loss: 0.0,
                })
            })
            .collect()
    }

    /// The backward pass of the trajectory against `d_out` and `d_rate`, the weight regulariser
    /// (returned: its loss term), and one optimiser step.
    pub(crate) fn backward_and_step(&mut self, wreg: f64, lr: f64) -> f64 {
        self.net.backward(
            &mut self.traj,
            &self.d_out,
            Some(&self.d_rate),
            &mut self.grads,
        );
        self.regularize_and_step(wreg, lr)
    }

    /// [`Self::backward_and_step`] of a pass run by `forward_on` on `input` (a batch the K
    /// networks share, never copied into each one's trajectory).
    pub(crate) fn backward_on_and_step(&mut self, input: &[f32], wreg: f64, lr: f64) -> f64 {
        self.net.backward_on(
            input,
            &mut self.traj,
            &self.d_out,
            Some(&self.d_rate),
            &mut self.grads,
        );
        self.regularize_and_step(wreg, lr)
    }

    fn regularize_and_step(&mut self, wreg: f64, lr: f64) -> f64 {
        let loss = self.l1_weights(wreg);
        self.opt.step(&mut self.net, &self.grads, lr);
        loss
    }

    /// After a rollback for this network's divergence: its learning rate times `factor` from now
    /// on. Returns its divergences so far.
    pub(crate) fn slow_down(&mut self, factor: f64) -> usize {
        self.lr_scale *= factor;
        self.rollbacks += 1;
        self.rollbacks
    }

    /// A fresh optimiser state (CD's stages).
    pub(crate) fn reset_optimizer(&mut self, tcfg: &TrainConfig) {
        let net = &self.net;
        self.opt = Optimizer::new(tcfg, net.n_in, net.n_rec, net.n_out);
    }

    /// Add wreg mean |W_rec| to the loss and its slope to the gradient; returns the loss term.
    pub(crate) fn l1_weights(&mut self, wreg: f64) -> f64 {
        let nn = self.net.params.w_rec.len() as f64;
        let mut loss = 0.0;
        for (g, w) in self.grads.w_rec.iter_mut().zip(&self.net.params.w_rec) {
            loss += wreg * w.abs() as f64 / nn;
            *g += (wreg / nn) as f32 * l1_slope(*w as f64) as f32;
        }
        loss
    }
}

/// The Adam settings of the reference (TensorFlow's epsilon 1e-7).
pub(crate) fn reference_optimizer() -> TrainConfig {
    TrainConfig {
        optimizer: OptimizerKind::Adam,
        adam_eps: 1e-7,
        ..TrainConfig::default()
    }
}

fn plan_for(batch: &TaskBatch, stage: Option<&Stage>, cfg: &LongTermConfig) -> TimePlan {
    let pre = batch
        .epochs
        .iter()
        .find(|e| e.0 == "pre")
        .map_or(0, |e| e.2[0].max(0) as usize);
    let segments = match cfg.scope {
        BlockScope::Epoch => batch
            .epochs
            .iter()
            .map(|e| e.1[0].max(0) as usize)
            .collect(),
        BlockScope::Trial => vec![pre],
    };
    TimePlan {
        skip: stage.and_then(|s| s.skip).map(|(kind, theta, beta)| Skip {
            kind,
            theta,
            beta,
            derivative: cfg.derivative,
        }),
        segments,
        grad_start: pre,
        trial_spans: vec![],
    }
}

/// One Adam update of one network on `batch` (loss: the window means of the squared error, plus
/// 1e-5 mean |r| over the recorded steps and 1e-5 mean |W_rec|, as the reference).
fn update(s: &mut NetState, batch: &TaskBatch, plan: &TimePlan, noise: &Streams, lr: f64) -> f64 {
    let net = &s.net;
    let (n, no, steps, b) = (net.n_rec, net.n_out, batch.steps, batch.batch);
    net.sample_noise(&mut s.traj, steps, b, &mut noise.stream("noise", 0));
    // every network reads the shared batch where it lies: no copy of its input per network
    net.forward_on(&batch.x, steps, b, true, plan, &mut s.traj);
    s.d_out.resize(no * steps * b, 0.0);
    let norm = (b * no) as f64;
    // the gradient element by element, in f64 as before; the loss in eight partial sums, divided
    // once, so that the loop vectorises
    let mut partial = [0.0f64; 8];
    let squared_error = |y: f32, t: f32, c: f32, d: &mut f32| {
        let (e, c2) = ((y - t) as f64, (c as f64).powi(2));
        *d = (2.0 * c2 * e / norm) as f32;
        c2 * e * e
    };
    let all = s.traj.output.len();
    let whole = all - all % 8;
    for (k0, d) in (0..whole).step_by(8).zip(s.d_out.chunks_exact_mut(8)) {
        for (j, d) in d.iter_mut().enumerate() {
            let k = k0 + j;
            partial[j] += squared_error(s.traj.output[k], batch.y[k], batch.cost[k], d);
        }
    }
    for k in whole..all {
        partial[0] += squared_error(s.traj.output[k], batch.y[k], batch.cost[k], &mut s.d_out[k]);
    }
    let mut loss = partial.iter().sum::<f64>() / norm;
    net.readout_backward(&s.traj, &mut s.d_out);
    let (ureg, wreg) = (1e-5, 1e-5);
    let recorded = (steps - plan.grad_start) * b * n;
    s.d_rate.resize(n * steps * b, 0.0);
    let rates = &s.traj.rate[n * b..];
    let (blk, slope) = (n * b, (ureg / recorded as f64) as f32);
    let g0 = plan.grad_start.min(steps) * blk;
    s.d_rate[..g0].fill(0.0);
    let abs_sum = l1_rates(&rates[g0..blk * steps], &mut s.d_rate[g0..], slope);
    loss += ureg * abs_sum / recorded as f64;
    loss + s.backward_on_and_step(&batch.x, wreg, lr)
}

/// Training batch `index` of a run (`dt`: the stage's step), from the run's "train_batch" stream:
/// the same for every network, method and stage but for its step.
fn draw_train_batch(
    cfg: &LongTermConfig,
    task: &TsTask,
    root: &Streams,
    dt: f64,
    index: u64,
    out: &mut TaskBatch,
) {
    let spec = BatchSpec {
        dt,
        batch_size: cfg.batch,
        timing: Timing::PerBatch,
        input_noise_std: 0.0,
    };
    generate_into(task, &spec, &root.child("train_batch", 0), index, out);
}

/// The evaluation batch after round `step` (fine dt, the task without jitter).
fn draw_eval_batch(
    cfg: &LongTermConfig,
    eval_task: &TsTask,
    root: &Streams,
    step: u64,
    out: &mut TaskBatch,
) {
    let spec = BatchSpec {
        dt: cfg.dt,
        batch_size: cfg.eval_trials,
        timing: Timing::PerBatch,
        input_noise_std: 0.0,
    };
    generate_into(eval_task, &spec, &root.child("eval_batch", 0), step, out);
}

/// The trial lengths (steps) of the batches a run of `cfg` trains on in round `round` (at the
/// fine step, as plain training), each with the step its gradient starts at (the end of the
/// "pre" epoch: nothing before it is trained through), and the length of the evaluation batch
/// after the round: what the protocol's arithmetic is counted on (`bench::bench_longterm_floor`).
pub fn round_steps(cfg: &LongTermConfig, round: usize) -> (Vec<(usize, usize)>, usize) {
    let root = Streams::new(cfg.seed);
    let task = TsTask {
        rule: cfg.task,
        jitter: true,
        reference_nonmatch: cfg.reference_nonmatch,
    };
    let mut batch = TaskBatch::default();
    let train = (0..cfg.updates_per_round)
        .map(|j| {
            let index = (round * cfg.updates_per_round + j) as u64;
            draw_train_batch(cfg, &task, &root, cfg.dt, index, &mut batch);
            (batch.steps, plan_for(&batch, None, cfg).grad_start)
        })
        .collect();
    let eval_task = TsTask {
        jitter: false,
        ..task
    };
    draw_eval_batch(cfg, &eval_task, &root, (round + 1) as u64, &mut batch);
    (train, batch.steps)
}

/// The trials of `batch` in chunks of `chunk` (their spans), each chunk's input gathered into the
/// network layout (`[n_in, steps*trials]`) once, for all K networks to read.
fn gather_chunks(batch: &TaskBatch, chunk: usize, inputs: &mut Vec<((usize, usize), Vec<f32>)>) {
    let chunk = chunk.max(1);
    let count = batch.batch.div_ceil(chunk);
    inputs.resize_with(count, Default::default);
    inputs
        .par_iter_mut()
        .enumerate()
        .for_each(|(c, (span, input))| {
            *span = (c * chunk, ((c + 1) * chunk).min(batch.batch));
            gather_input(batch, span.0, span.1, batch.steps, input);
        });
}

/// The plain network's score counts on `batch` (fine dt, no skip), with its recurrent noise from
/// `noise` (none: without), run a chunk of trials at a time (`chunks`, from [`gather_chunks`]) so
/// that the buffers stay the size of a training batch.
fn evaluate(
    s: &mut NetState,
    batch: &TaskBatch,
    chunks: &[((usize, usize), Vec<f32>)],
    dt: f64,
    noise: Option<&Streams>,
) -> ScoreCounts {
    let steps = batch.steps;
    let mut counts = ScoreCounts::default();
    for (c, ((b0, b1), input)) in chunks.iter().enumerate() {
        let bc = b1 - b0;
        if let Some(noise) = noise {
            s.net
                .sample_noise(&mut s.traj, steps, bc, &mut noise.stream("noise", c as u64));
        }
        let plain = TimePlan::plain();
        s.net
            .forward_on(input, steps, bc, noise.is_some(), &plain, &mut s.traj);
        counts.add(&score_counts(batch, *b0, *b1, &s.traj.output, dt));
    }
    counts
}

/// K networks of the long-term protocol as the driver's learner: one update is a round of
/// `updates_per_round` Adam steps of every network, one evaluation scores the plain networks.
pub struct LongTermLearner {
    cfg: LongTermConfig,
    tcfg: TrainConfig,
    lr: f64,
    root: Streams,
    task: TsTask,
    eval_task: TsTask,
    stages: Vec<Stage>,
    schedule: Stages,
    nets: Vec<NetState>,
    batches: Vec<(TaskBatch, TimePlan, u64)>,
    eval_batch: TaskBatch,
    /// the evaluation batch's trials in chunks, each chunk's input in the network layout, shared
    /// by the K networks
    eval_inputs: Vec<((usize, usize), Vec<f32>)>,
    /// per network: the first round after which it reached the criterion (saved)
    network_rounds: Vec<Option<usize>>,
    /// training seconds so far, resumes included (saved)
    train_seconds: f64,
    /// the last evaluation's performance per network
    final_perf: Vec<f64>,
}

impl LongTermLearner {
    pub fn new(cfg: &LongTermConfig) -> Result<Self> {
        cfg.validate()?;
        let tcfg = reference_optimizer();
        let root = Streams::new(cfg.seed);
        let task = TsTask {
            rule: cfg.task,
            jitter: true,
            reference_nonmatch: cfg.reference_nonmatch,
        };
        let (n_in, n_out) = (
            biornn_tasks::temporalskip::N_INPUT,
            biornn_tasks::temporalskip::N_OUTPUT,
        );
        let nets = NetState::many(
            &cfg.model(),
            &tcfg,
            n_in,
            n_out,
            cfg.dt,
            cfg.networks,
            &root,
        )?;
        let stages = cfg.method.stages();
        Ok(LongTermLearner {
            lr: 0.1 / cfg.n_rec as f64,
            eval_task: TsTask {
                jitter: false,
                ..task
            },
            task,
            schedule: Stages::new(stages.len(), cfg.stage_rounds),
            stages,
            nets,
            root,
            tcfg,
            batches: vec![],
            eval_batch: TaskBatch::default(),
            eval_inputs: vec![],
            network_rounds: vec![None; cfg.networks],
            train_seconds: 0.0,
            final_perf: vec![],
            cfg: cfg.clone(),
        })
    }

    /// The stages schedule the driver follows.
    pub fn schedule(&self) -> Stages {
        self.schedule
    }

    /// Network `k` of the K trained side by side.
    pub fn network(&self, k: usize) -> Option<&Ctrnn<f32>> {
        self.nets.get(k).map(|s| &s.net)
    }

    /// Every network's score, with its parts, on `trials` fresh trials of the run's task, scored
    /// as the protocol's evaluation scores (fine dt, no skip, fixed epoch lengths), with recurrent
    /// noise when `recurrent_noise` (the protocol's setting). The trials and the noise come from
    /// streams of their own under the run's seed, apart from training's and the protocol's
    /// evaluations, so the same call gives the same scores.
    pub fn score_networks(&mut self, trials: usize, recurrent_noise: bool) -> Result<Vec<Score>> {
        if trials == 0 {
            return Err(Error::invalid("trials", 0, "allowed: a positive count"));
        }
        let cfg = &self.cfg;
        let spec = BatchSpec {
            dt: cfg.dt,
            batch_size: trials,
            timing: Timing::PerBatch,
            input_noise_std: 0.0,
        };
        let trials_root = self.root.child("inspect_trials", 0);
        generate_into(
            &self.eval_task,
            &spec,
            &trials_root,
            0,
            &mut self.eval_batch,
        );
        gather_chunks(&self.eval_batch, cfg.batch, &mut self.eval_inputs);
        let (root, batch, chunks) = (&self.root, &self.eval_batch, &self.eval_inputs);
        Ok(self
            .nets
            .par_iter_mut()
            .enumerate()
            .map(|(k, s)| {
                let noise = root.child("network", k as u64).child("inspect_noise", 0);
                let noise = recurrent_noise.then_some(&noise);
                evaluate(s, batch, chunks, cfg.dt, noise).score(cfg.task)
            })
            .collect())
    }
}

impl Stateful for LongTermLearner {
    fn save_state(&self, _prefix: &str, out: &mut Arrays) {
        save_nets(&self.nets, out);
        put_rounds(out, "network_rounds", &self.network_rounds);
        put_f64(out, "train_seconds", &[], &[self.train_seconds]);
    }
    fn load_state(&mut self, _prefix: &str, arrays: &Arrays) -> Result<()> {
        load_nets(&mut self.nets, arrays)?;
        self.network_rounds = take_rounds(arrays, "network_rounds", self.cfg.networks)?;
        self.train_seconds = take_scalar(arrays, "train_seconds")?;
        Ok(())
    }
}

impl Learner for LongTermLearner {
    fn columns(&self) -> Vec<String> {
        [
            "updates",
            "stage",
            "trimmed_mean",
            "fraction_at_criterion",
            "train_s",
            "train_loss",
        ]
        .map(String::from)
        .to_vec()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let (cfg, round) = (&self.cfg, step as usize);
        let stage = phase.stage.map(|e| self.stages[e]);
        // a new stage: CD resets Adam's state unless asked to keep it
        let new_stage = round > 0 && self.schedule.at_round(round - 1) != phase.stage;
        if new_stage && matches!(cfg.method, Method::Cd { .. }) && !cfg.keep_optimizer {
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
            draw_train_batch(cfg, &self.task, &self.root, dt_train, *i, b);
            *plan = plan_for(b, stage.as_ref(), cfg);
        }
        let t0 = Instant::now();
        let lr = self.lr * phase.lr_factor * phase.lr_scale;
        let loss = train_round(
            &mut self.nets,
            &self.root,
            &self.batches,
            (dt_train, cfg.dt, lr),
            update,
        );
        self.train_seconds += t0.elapsed().as_secs_f64();
        Ok(loss)
    }

    fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let (cfg, round) = (&self.cfg, step as usize);
        draw_eval_batch(cfg, &self.eval_task, &self.root, step, &mut self.eval_batch);
        gather_chunks(&self.eval_batch, cfg.batch, &mut self.eval_inputs);
        let (root, eval_batch, chunks) = (&self.root, &self.eval_batch, &self.eval_inputs);
        let perf: Vec<f64> = self
            .nets
            .par_iter_mut()
            .enumerate()
            .map(|(k, s)| {
                let noise = root.child("network", k as u64).child("eval_noise", step);
                let counts = evaluate(s, eval_batch, chunks, cfg.dt, Some(&noise));
                counts.score(cfg.task).performance
            })
            .collect();
        for (k, p) in perf.iter().enumerate() {
            // a retired network takes no more updates: a frozen one that crosses the level on
            // another evaluation batch has not reached it by training
            if *p >= cfg.criterion && self.network_rounds[k].is_none() && !self.nets[k].retired {
                self.network_rounds[k] = Some(round);
            }
        }
        let tm = trimmed_mean(&perf, cfg.trim);
        let at = perf.iter().filter(|p| **p >= cfg.criterion).count() as f64 / perf.len() as f64;
        self.final_perf = perf;
        let stage = round.checked_sub(1).and_then(|r| self.schedule.at_round(r));
        Ok(Evaluation {
            cells: vec![
                (round * cfg.updates_per_round).to_string(),
                stage_name(stage),
                format!("{tm:.5}"),
                format!("{at:.4}"),
                format!("{:.3}", self.train_seconds),
                train_loss.map_or(String::new(), |l| format!("{l:.6}")),
            ],
            values: [("trimmed_mean".to_string(), tm)].into(),
            headline: format!("trimmed mean {tm:.4}"),
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

/// Train `cfg.networks` networks with `cfg.method` in the run directory `dir` until the criterion
/// or the round limit, or continue such a run from its newest checkpoint (`resume`). Writes
/// `config.toml`, `metrics.csv` (a row per round), checkpoints, `model.npz` and `summary.json`.
pub fn train_long_term(
    cfg: &LongTermConfig,
    dir: &Path,
    resume: bool,
    opts: &RoundsOptions,
) -> Result<LongTermResult> {
    cfg.validate()?;
    let mut learner = LongTermLearner::new(cfg)?;
    let schedule = learner.schedule();
    let criterion = Criterion::AtLeast {
        key: "trimmed_mean".into(),
        level: cfg.criterion,
    };
    let (max, every) = (cfg.max_rounds, cfg.checkpoint_every);
    let done = run_rounds(
        &mut learner,
        cfg,
        dir,
        resume,
        (max, every, criterion),
        &schedule,
        opts,
    )?;
    let result = LongTermResult {
        method: cfg.method.name(),
        task: cfg.task.name().to_string(),
        rounds: done.rounds,
        reached: done.reached,
        train_seconds: learner.train_seconds,
        history: done.history,
        network_rounds: learner.network_rounds.clone(),
        final_perf: learner.final_perf.clone(),
        train_loss: done.train_loss,
    };
    let upr = cfg.updates_per_round;
    let summary = serde_json::json!({
        "task": result.task, "method": result.method, "label": cfg.label(),
        "networks": cfg.networks, "seed": cfg.seed,
        "reached": result.reached, "rounds": result.rounds, "updates": result.rounds * upr,
        "train_seconds": result.train_seconds,
        "network_updates_to_criterion": result.network_rounds.iter().map(|n| n.map(|v| v * upr)).collect::<Vec<_>>(),
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

    #[test]
    fn round_steps_are_the_lengths_the_learner_trains_and_evaluates_on() {
        use biornn_core::Schedule;
        let cfg = LongTermConfig {
            n_rec: 10,
            eval_trials: 6,
            updates_per_round: 3,
            ..LongTermConfig::reference(TsRule::DlyGo, Method::Base, 1)
        };
        let mut learner = LongTermLearner::new(&cfg).unwrap();
        let schedule = learner.schedule();
        for round in [0, 2] {
            learner
                .update(round as u64, &schedule.at(round as u64))
                .unwrap();
            learner.evaluate(round as u64 + 1, None).unwrap();
            let (train, eval) = round_steps(&cfg, round);
            let trained: Vec<(usize, usize)> = learner
                .batches
                .iter()
                .map(|(b, plan, _)| (b.steps, plan.grad_start))
                .collect();
            assert_eq!(train, trained, "round {round}");
            // the gradient starts after the "pre" epoch, inside the trial
            assert!(train.iter().all(|&(steps, g0)| g0 > 0 && g0 < steps));
            assert_eq!(eval, learner.eval_batch.steps);
        }
        // jittered training trials differ in length from round to round
        assert_ne!(round_steps(&cfg, 0).0, round_steps(&cfg, 2).0);
    }

    /// The long-term learner with network `k`'s weights made NaN after update `at`, the first
    /// `times` times that update runs (a rollback replays it).
    struct Poisoned {
        inner: LongTermLearner,
        k: usize,
        at: u64,
        times: usize,
    }

    impl Stateful for Poisoned {
        fn save_state(&self, prefix: &str, out: &mut Arrays) {
            self.inner.save_state(prefix, out)
        }
        fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
            self.inner.load_state(prefix, arrays)
        }
    }

    impl Learner for Poisoned {
        fn columns(&self) -> Vec<String> {
            self.inner.columns()
        }
        fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
            let loss = self.inner.update(step, phase)?;
            if step == self.at && self.times > 0 {
                self.times -= 1;
                self.inner.nets[self.k].net.params.w_rec[0] = f32::NAN;
            }
            Ok(loss)
        }
        fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
            self.inner.evaluate(step, train_loss)
        }
        fn all_finite(&self) -> bool {
            self.inner.all_finite()
        }
        fn export(&self, step: u64, out: &mut Arrays) {
            self.inner.export(step, out)
        }
        fn diverged_members(&self) -> Option<Vec<usize>> {
            self.inner.diverged_members()
        }
        fn slow_member(&mut self, k: usize, factor: f64) -> usize {
            self.inner.slow_member(k, factor)
        }
        fn retire_member(&mut self, k: usize) -> Option<usize> {
            self.inner.retire_member(k)
        }
    }

    /// Train 3 small networks for `rounds` rounds with network 1 poisoned `times` times at
    /// update 3: how the run ended, and its `model.npz`.
    fn poisoned_run(times: usize, rounds: usize) -> (Result<()>, Arrays) {
        let cfg = LongTermConfig {
            n_rec: 10,
            batch: 4,
            eval_trials: 6,
            updates_per_round: 2,
            stage_rounds: 2,
            max_rounds: rounds,
            criterion: 1.1,
            ..LongTermConfig::reference(TsRule::Dms, Method::parse("dasc-t10-s2-b0.5").unwrap(), 3)
        };
        let inner = LongTermLearner::new(&cfg).unwrap();
        let schedule = inner.schedule();
        let mut learner = Poisoned {
            inner,
            k: 1,
            at: 3,
            times,
        };
        let dir = std::env::temp_dir().join(format!(
            "biornn-longterm-{}-poisoned-{times}-{rounds}",
            std::process::id()
        ));
        let budget = (cfg.max_rounds, 1, Criterion::Never);
        let done = run_rounds(
            &mut learner,
            &cfg,
            &dir,
            false,
            budget,
            &schedule,
            &RoundsOptions::default(),
        );
        let model = biornn_run::RunDir::open(&dir)
            .and_then(|run| biornn_numerics::npz::read_npz(&run.model_path()))
            .unwrap();
        std::fs::remove_dir_all(&dir).ok();
        (done.map(|_| ()), model)
    }

    /// One network's divergence rolls every network back, but slows that network alone: the
    /// others end bit for bit as in a run where nothing diverged, as if trained alone.
    #[test]
    fn a_diverged_network_is_slowed_alone_and_the_others_are_untouched() {
        let (done, clean) = poisoned_run(0, 5);
        done.unwrap();
        let (done, once) = poisoned_run(1, 5);
        done.unwrap();
        let net = |m: &Arrays, k: usize| -> Vec<(String, biornn_numerics::npz::NpyArray)> {
            m.iter()
                .filter(|(name, _)| name.starts_with(&format!("net{k}/")))
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect()
        };
        assert!(net(&clean, 0).len() >= 5);
        assert_eq!(net(&once, 0), net(&clean, 0));
        assert_eq!(net(&once, 2), net(&clean, 2));
        assert_ne!(
            net(&once, 1),
            net(&clean, 1),
            "network 1 trained slower after update 3"
        );
        let values = |m: &Arrays, key: &str| biornn_core::arrays::take_f64(m, key, &[3]).unwrap();
        assert_eq!(values(&once, "state_network_lr_scale"), [1.0, 0.5, 1.0]);
        assert_eq!(values(&once, "state_network_rollbacks"), [0.0, 1.0, 0.0]);
        assert_eq!(values(&clean, "state_network_rollbacks"), [0.0; 3]);
        // the whole run's rate and count are the whole-run guard's, untouched
        assert_eq!(take_scalar(&once, "state_lr_scale").unwrap(), 1.0);
        let divergences = |m: &Arrays| biornn_core::arrays::take_u64(m, "state_divergences");
        assert_eq!(divergences(&once).unwrap(), 0);
        // a network that diverges more often than allowed is retired, frozen as it was after
        // update 2 (as a clean run of 3 rounds leaves it), and the others go on as alone
        let (done, retired) = poisoned_run(4, 5);
        done.unwrap();
        assert_eq!(values(&retired, "state_network_retired"), [0.0, 1.0, 0.0]);
        assert_eq!(values(&clean, "state_network_retired"), [0.0; 3]);
        assert_eq!(values(&retired, "state_network_rollbacks"), [0.0, 4.0, 0.0]);
        assert_eq!(net(&retired, 0), net(&clean, 0));
        assert_eq!(net(&retired, 2), net(&clean, 2));
        let (done, three) = poisoned_run(0, 3);
        done.unwrap();
        assert_eq!(net(&retired, 1), net(&three, 1));
        // and stays retired when the run resumes
        let cfg = LongTermConfig {
            n_rec: 10,
            ..LongTermConfig::reference(TsRule::Dms, Method::parse("dasc-t10-s2-b0.5").unwrap(), 3)
        };
        let mut resumed = LongTermLearner::new(&cfg).unwrap();
        resumed.load_state("", &retired).unwrap();
        let flags: Vec<bool> = resumed.nets.iter().map(|s| s.retired).collect();
        assert_eq!(flags, [false, true, false]);
        // a retired network's loss is not looked at again: it is never named as diverged
        resumed.nets[1].last_loss = f64::NAN;
        resumed.nets[2].last_loss = f64::NAN;
        assert_eq!(resumed.diverged_members(), Some(vec![2]));
    }

    /// A retired network is frozen: CD's optimiser reset at a new stage leaves it as it was, it
    /// takes no update, and an evaluation that finds it above the criterion does not count it as
    /// having reached it by training.
    #[test]
    fn a_retired_network_stays_as_it_was_and_is_not_counted_as_reaching_the_criterion() {
        use biornn_core::Schedule;
        let cfg = LongTermConfig {
            n_rec: 10,
            batch: 4,
            eval_trials: 6,
            updates_per_round: 1,
            stage_rounds: 2,
            max_rounds: 4,
            criterion: 0.0,
            ..LongTermConfig::reference(TsRule::Dms, Method::parse("cd-s2").unwrap(), 2)
        };
        let mut learner = LongTermLearner::new(&cfg).unwrap();
        let schedule = learner.schedule();
        let net1 = |l: &LongTermLearner| -> Arrays {
            let mut all = Arrays::new();
            l.save_state("", &mut all);
            all.into_iter()
                .filter(|(k, _)| k.starts_with("net1/"))
                .collect()
        };
        learner.update(0, &schedule.at(0)).unwrap();
        assert_eq!(learner.retire_member(1), Some(1));
        let frozen = net1(&learner);
        // round 1 starts CD's second stage, whose optimiser reset skips the retired network
        assert_ne!(schedule.at(1).stage, schedule.at(0).stage);
        for step in 1..3 {
            learner.update(step, &schedule.at(step)).unwrap();
        }
        assert_eq!(net1(&learner), frozen);
        learner.evaluate(3, None).unwrap();
        assert_eq!(learner.network_rounds, [Some(3), None]);
    }

    #[test]
    fn labels_name_the_options_that_act_on_the_method() {
        let cfg = |m: &str| LongTermConfig::reference(TsRule::DlyGo, Method::parse(m).unwrap(), 2);
        let mut dasc = cfg("dasc-t40-s2-b0.5");
        assert_eq!(dasc.label(), "dasc-t40-s2-b0.5");
        dasc.derivative = DascDerivative::Stale;
        dasc.scope = BlockScope::Trial;
        assert_eq!(dasc.label(), "dasc-t40-s2-b0.5+stale+trial");
        // options that do nothing to a method stay out of its label
        let mut sctt = cfg("sctt-t40-s11-b0.8");
        sctt.derivative = DascDerivative::Stale;
        sctt.keep_optimizer = true;
        assert_eq!(sctt.label(), "sctt-t40-s11-b0.8");
        let mut base = cfg("base");
        base.scope = BlockScope::Trial;
        base.euler_noise = true;
        assert_eq!(base.label(), "base+euler-noise");
        let mut cd = cfg("cd-s6");
        cd.keep_optimizer = true;
        assert_eq!(cd.label(), "cd-s6+keep-optimizer");
    }

    #[test]
    fn method_names_and_stages_follow_the_reference() {
        assert_eq!(Method::reference_sweep().len(), 1 + 2 * 3 * 4 * 4 + 3);
        for m in Method::reference_sweep() {
            assert_eq!(Method::parse(&m.name()).unwrap(), m, "{}", m.name());
        }
        let betas: Vec<f64> = Method::parse("dasc-t20-s11-b0")
            .unwrap()
            .stages()
            .iter()
            .map(|s| s.skip.unwrap().2)
            .collect();
        let want: Vec<f64> = (0..11).map(|e| e as f64 / 10.0).collect();
        assert_eq!(betas, want);
        let betas: Vec<f64> = Method::parse("sctt-t10-s2-b0.5")
            .unwrap()
            .stages()
            .iter()
            .map(|s| s.skip.unwrap().2)
            .collect();
        assert_eq!(betas, vec![0.5, 1.0]);
        assert!(
            Method::parse("sctt-t40-s1-b0.8")
                .unwrap()
                .stages()
                .is_empty(),
            "S = 1 is the plain network"
        );
        let thetas = |name: &str| -> Vec<usize> {
            Method::parse(name)
                .unwrap()
                .stages()
                .iter()
                .map(|s| s.dt_factor)
                .collect()
        };
        assert_eq!(thetas("cd-s2"), vec![10, 1]);
        assert_eq!(thetas("cd-s6"), vec![10, 8, 6, 4, 2, 1]);
        assert_eq!(thetas("cd-s11"), vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1]);
        for bad in [
            "dasc-t1-s2-b0",
            "sctt-t10-s2-b1.5",
            "cd-s1",
            "skip",
            "dasc-t10-s2",
        ] {
            let e = Method::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("method") && e.contains(bad) && e.contains("dasc-t20-s6-b0.5"),
                "{e}"
            );
        }
    }
}
