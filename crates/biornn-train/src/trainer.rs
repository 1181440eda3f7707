//! BPTT as a learning rule ([`Bptt`], a `biornn_core::Rule` over batches of trials), and a CTRNN
//! trained by it on the Yang battery as a [`Learner`] that the run layer's driver runs
//! ([`BpttLearner`]); evaluation is the per-task performance. The run directory, checkpoints,
//! resume and the divergence guard are the driver's (`biornn_run`).

use crate::checkpoint::{self, load_raw, save_raw};
use crate::config::{RunConfig, TrainConfig};
use crate::engine::Engine;
use crate::eval::{evaluate_tasks, min_mean, min_mean_accuracy, EvalBuffers, TaskScore};
use crate::optim::{clip, Optimizer};
use crate::rflo::Rflo;
use biornn_core::{Arrays, Evaluation, Learner, Phase, Rule, Stateful, StepDecay};
use biornn_model::{Credit, Ctrnn, Grads};
use biornn_numerics::{Result, Streams};
use biornn_run::{drive, Criterion, DriveOptions, LoopState, RunDir};
use biornn_tasks::config::Layout;
use biornn_tasks::{BatchSource, BatchSpec, Battery, StreamBattery, Task};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub trials: usize,
    pub wall_s: f64,
    pub perf: BTreeMap<String, f64>,
    pub min_perf: f64,
    pub mean_perf: f64,
    /// per task, the fraction of scored steps right (tasks that score steps only)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_acc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_acc: Option<f64>,
    /// per task with trials whose answer is a coin flip (Mod-Cog's evidence ties): the step
    /// accuracy without them
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub accuracy_without_ties: BTreeMap<String, f64>,
    pub reached_target: bool,
    pub target_perf: f64,
    pub seed: u64,
    /// the per-step recurrent product's kernel the run ended on ([`Ctrnn::recurrent_kernel`]):
    /// `mask.sparse_kernels = "auto"` decides by the mask, the packed kernel's instruction set by
    /// the processor (or `BIORNN_ISA`), and the kernels agree to rounding only
    pub recurrent_kernel: String,
}

/// Pick a fresh run directory `<base>/<name>`, adding `-2`, `-3`, ... if it exists, and make sure it
/// can be written to now rather than after an hour of training.
pub fn create_run_dir(base: &Path, name: &str) -> Result<PathBuf> {
    Ok(RunDir::create_unique(base, name)?.path().to_path_buf())
}

#[derive(Default)]
pub struct TrainOptions {
    /// show a progress bar (only drawn when stderr is a terminal)
    pub progress: bool,
    /// print a line at each evaluation
    pub verbose: bool,
    /// testing hook: the loss at this step is replaced by NaN once, to exercise the divergence guard
    pub inject_nan_at_step: Option<usize>,
    /// on resume: the new budget (`train.max_steps`), to continue a finished run
    pub max_steps: Option<usize>,
}

/// Backpropagation through time for the CTRNN on batches of trials: the loss and its exact
/// gradient (`Engine`), clipping, and a step of the optimiser over the named parameters. Its
/// state is the optimiser's moments.
pub struct Bptt {
    train: TrainConfig,
    opt: Optimizer<f32>,
    /// the parameters' shapes, for the optimiser's named arrays
    shapes: Vec<Vec<usize>>,
    /// recurrent noise, indexed by update
    noise: Streams,
    grads: Grads<f32>,
    engine: Engine<f32>,
}

impl Bptt {
    pub fn new(train: &TrainConfig, net: &Ctrnn<f32>, opt: Optimizer<f32>, noise: Streams) -> Self {
        Bptt {
            train: train.clone(),
            opt,
            shapes: net.param_shapes().to_vec(),
            noise,
            grads: Grads::zeros(net.n_in, net.n_rec, net.n_out),
            engine: Engine::default(),
        }
    }
}

impl Bptt {
    pub(crate) fn optimizer(&self) -> &Optimizer<f32> {
        &self.opt
    }
}

impl Stateful for Bptt {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        self.opt.save(prefix, &self.shapes, out);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.opt.load(prefix, &self.shapes, arrays)
    }
}

impl<E: BatchSource + ?Sized> Rule<Ctrnn<f32>, E> for Bptt {
    fn kind(&self) -> &'static str {
        "bptt"
    }

    fn update(
        &mut self,
        net: &mut Ctrnn<f32>,
        env: &mut E,
        index: u64,
        phase: &Phase,
    ) -> Result<f64> {
        self.update_with(net, env, index, phase, Credit::Exact)
    }
}

impl Bptt {
    /// One update with the credit assignment `credit` (exact here; RFLO's rule passes its own).
    pub(crate) fn update_with<E: BatchSource + ?Sized>(
        &mut self,
        net: &mut Ctrnn<f32>,
        env: &mut E,
        index: u64,
        phase: &Phase,
        credit: Credit<'_, f32>,
    ) -> Result<f64> {
        let tc = &self.train;
        let batch = env.batch(index);
        let report = self.engine.loss_and_grad_with(
            net,
            batch,
            tc,
            Some((&self.noise, index)),
            credit,
            &mut self.grads,
        );
        if !report.total.is_finite() || !self.grads.all_finite() {
            return Ok(f64::NAN);
        }
        clip(&mut self.grads, tc.clip_value, tc.clip_norm);
        let lr = tc.learning_rate * phase.lr_factor * phase.lr_scale;
        self.opt.step(net, &self.grads, lr);
        Ok(report.total)
    }
}

/// The rules that train a CTRNN on batches of trials (`[rule] kind`).
enum CtrnnRule {
    Bptt(Bptt),
    Rflo(Rflo),
}

impl CtrnnRule {
    fn optimizer(&self) -> &Optimizer<f32> {
        match self {
            CtrnnRule::Bptt(r) => r.optimizer(),
            CtrnnRule::Rflo(r) => r.optimizer(),
        }
    }

    fn as_rule(&mut self) -> &mut dyn Rule<Ctrnn<f32>, dyn BatchSource> {
        match self {
            CtrnnRule::Bptt(r) => r,
            CtrnnRule::Rflo(r) => r,
        }
    }

    fn as_state(&self) -> &dyn Stateful {
        match self {
            CtrnnRule::Bptt(r) => r,
            CtrnnRule::Rflo(r) => r,
        }
    }
}

/// One CTRNN, its rule (BPTT or RFLO) and the config's battery of tasks, as the driver's
/// learner: evaluation is the per-task performance.
pub struct BpttLearner {
    cfg: RunConfig,
    net: Ctrnn<f32>,
    rule: CtrnnRule,
    /// the tasks, in the config's order (evaluated one by one)
    tasks: Vec<Arc<dyn Task>>,
    /// the training batches (one trial per row, or trials back to back)
    env: Box<dyn BatchSource>,
    eval_engine: Engine<f32>,
    eval_buffers: EvalBuffers,
    /// the last evaluation's scores (for the summary)
    scores: Vec<TaskScore>,
}

impl BpttLearner {
    pub fn new(cfg: &RunConfig, net: Ctrnn<f32>, opt: Optimizer<f32>) -> Result<Self> {
        let streams = Streams::new(cfg.seed);
        let spec = BatchSpec {
            dt: cfg.task.dt,
            batch_size: cfg.train.batch_size,
            timing: cfg.task.timing,
            input_noise_std: cfg.task.input_noise_std(cfg.model.tau),
        };
        let (tasks, weights) = (cfg.task.tasks()?, cfg.task.weights()?);
        Ok(BpttLearner {
            env: match cfg.task.layout {
                Layout::Trials => Box::new(Battery::new(tasks.clone(), weights, spec, &streams)),
                Layout::Stream => Box::new(StreamBattery::new(
                    tasks.clone(),
                    weights,
                    spec,
                    cfg.task.window,
                    &streams,
                )),
            },
            tasks,
            rule: match (cfg.rule.kind.as_str(), cfg.rule.feedback) {
                ("rflo", feedback) => CtrnnRule::Rflo(Rflo::new(
                    &cfg.train,
                    &net,
                    opt,
                    streams.child("noise", 0),
                    feedback.unwrap_or_default(),
                    &streams,
                )),
                _ => CtrnnRule::Bptt(Bptt::new(&cfg.train, &net, opt, streams.child("noise", 0))),
            },
            eval_engine: Engine::default(),
            eval_buffers: EvalBuffers::default(),
            scores: vec![],
            cfg: cfg.clone(),
            net,
        })
    }

    /// Whether the tasks score steps, so that evaluations report step accuracies too.
    fn scores_steps(&self) -> bool {
        self.tasks.iter().all(|t| t.scores_steps())
    }

    /// A fresh network and optimiser for `cfg`.
    pub fn fresh(cfg: &RunConfig) -> Result<Self> {
        let (n_in, n_out) = cfg.task.sizes()?;
        let net = Ctrnn::<f32>::new(
            &cfg.model,
            n_in,
            n_out,
            cfg.task.dt,
            &Streams::new(cfg.seed),
        )?;
        let opt = Optimizer::<f32>::new(&cfg.train, n_in, cfg.model.n_rec, n_out);
        Self::new(cfg, net, opt)
    }
}

impl Stateful for BpttLearner {
    fn save_state(&self, _prefix: &str, out: &mut Arrays) {
        save_raw("", &self.net, out);
        self.rule.as_state().save_state("", out);
    }
    fn load_state(&mut self, _prefix: &str, arrays: &Arrays) -> Result<()> {
        match &mut self.rule {
            CtrnnRule::Bptt(r) => r.load_state("", arrays)?,
            CtrnnRule::Rflo(r) => r.load_state("", arrays)?,
        }
        load_raw("", &mut self.net, arrays)
    }
}

impl Learner for BpttLearner {
    fn columns(&self) -> Vec<String> {
        ["trials", "train_loss", "eval_loss"]
            .iter()
            .map(|s| s.to_string())
            .chain(self.tasks.iter().map(|t| format!("perf_{}", t.name())))
            .chain(["min_perf", "mean_perf"].iter().map(|s| s.to_string()))
            .chain(
                self.scores_steps()
                    .then(|| {
                        self.tasks
                            .iter()
                            .map(|t| format!("acc_{}", t.name()))
                            .chain(["min_acc".to_string(), "mean_acc".to_string()])
                    })
                    .into_iter()
                    .flatten(),
            )
            .collect()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        self.rule
            .as_rule()
            .update(&mut self.net, &mut *self.env, step, phase)
    }

    fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let tc = &self.cfg.train;
        self.scores = evaluate_tasks(
            &self.net,
            &self.cfg,
            &self.tasks,
            tc.eval_trials,
            &mut self.eval_engine,
            &mut self.eval_buffers,
        );
        let (min_perf, mean_perf) = min_mean(&self.scores);
        let eval_loss = self.scores.iter().map(|s| s.loss).sum::<f64>() / self.scores.len() as f64;
        let mut cells = vec![
            (step as usize * tc.batch_size).to_string(),
            train_loss.map_or(String::new(), |l| format!("{l:.6}")),
            format!("{eval_loss:.6}"),
        ];
        cells.extend(self.scores.iter().map(|s| format!("{:.4}", s.perf)));
        cells.extend([format!("{min_perf:.4}"), format!("{mean_perf:.4}")]);
        let mut values: std::collections::BTreeMap<String, f64> = [
            ("min_perf".to_string(), min_perf),
            ("mean_perf".to_string(), mean_perf),
        ]
        .into();
        let mut headline = format!("min perf {min_perf:.3}  mean perf {mean_perf:.3}");
        if let Some((min_acc, mean_acc)) = min_mean_accuracy(&self.scores) {
            cells.extend(
                self.scores
                    .iter()
                    .map(|s| format!("{:.4}", s.accuracy.unwrap_or(f64::NAN))),
            );
            cells.extend([format!("{min_acc:.4}"), format!("{mean_acc:.4}")]);
            values.insert("min_acc".into(), min_acc);
            values.insert("mean_acc".into(), mean_acc);
            headline += &format!("  min acc {min_acc:.3}  mean acc {mean_acc:.3}");
        }
        Ok(Evaluation {
            cells,
            values,
            headline,
        })
    }

    fn all_finite(&self) -> bool {
        self.net.params.all_finite() && self.rule.optimizer().all_finite()
    }

    fn export(&self, step: u64, out: &mut Arrays) {
        out.extend(checkpoint::to_arrays(&self.net, &self.cfg, step as usize));
    }

    fn describe(&self, _step: u64) -> String {
        self.env.describe()
    }
}

/// How the driver runs a config's training.
fn drive_options(cfg: &RunConfig, opts: &TrainOptions) -> (DriveOptions, StepDecay) {
    let tc = &cfg.train;
    let drive = DriveOptions {
        max_steps: tc.max_steps,
        eval_every: tc.eval_every,
        eval_at_start: true,
        checkpoint_every: tc.checkpoint_every,
        keep_checkpoints: 3,
        criterion: Criterion::AtLeast {
            key: tc.criterion.key().into(),
            level: tc.target_perf,
        },
        divergence_lr_factor: tc.divergence_lr_factor,
        max_divergences: tc.max_divergences,
        divergence_hint: "Try a lower train.learning_rate or set train.clip_norm.".into(),
        progress: opts.progress,
        verbose: opts.verbose,
        inject_nan_at_step: opts.inject_nan_at_step,
    };
    let schedule = StepDecay {
        steps: tc.lr_decay_steps.clone(),
        factor: tc.lr_decay_factor,
    };
    (drive, schedule)
}

fn run(
    cfg: &RunConfig,
    run: &RunDir,
    learner: &mut BpttLearner,
    resumed: Option<LoopState>,
    opts: &TrainOptions,
) -> Result<Summary> {
    let (drive_opts, schedule) = drive_options(cfg, opts);
    let outcome = drive(run, learner, &schedule, &drive_opts, resumed)?;
    let (min_perf, mean_perf) = min_mean(&learner.scores);
    let summary = Summary {
        steps: outcome.state.step,
        trials: outcome.state.step * cfg.train.batch_size,
        wall_s: outcome.state.wall_s,
        perf: learner
            .scores
            .iter()
            .map(|s| (s.task.clone(), s.perf))
            .collect(),
        min_perf,
        mean_perf,
        accuracy: learner
            .scores
            .iter()
            .map(|s| s.accuracy.map(|a| (s.task.clone(), a)))
            .collect(),
        accuracy_without_ties: learner
            .scores
            .iter()
            .filter_map(|s| s.accuracy_without_ambiguous.map(|a| (s.task.clone(), a)))
            .collect(),
        min_acc: min_mean_accuracy(&learner.scores).map(|m| m.0),
        mean_acc: min_mean_accuracy(&learner.scores).map(|m| m.1),
        reached_target: outcome.reached,
        target_perf: cfg.train.target_perf,
        seed: cfg.seed,
        recurrent_kernel: learner.net.recurrent_kernel(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    run.write_summary(&json)?;
    Ok(summary)
}

/// Train the network a config describes, writing everything into `run_dir`.
pub fn train(cfg: &RunConfig, run_dir: &Path, opts: &TrainOptions) -> Result<Summary> {
    cfg.validate()?;
    let dir = RunDir::create_fresh(run_dir)?;
    // Written first: an unwritable directory is reported now, not after an hour of training.
    dir.write_config(&cfg.to_toml())?;
    let mut learner = BpttLearner::fresh(cfg)?;
    run(cfg, &dir, &mut learner, None, opts)
}

/// Continue a run from its newest readable checkpoint; corrupt or truncated ones are reported and
/// skipped. The result is bit-identical to a run that was never interrupted.
pub fn resume(run_dir: &Path, opts: &TrainOptions) -> Result<Summary> {
    let dir = RunDir::open(run_dir)?;
    let ((mut loaded, opt, state), _) = dir.newest_good(checkpoint::load_training)?;
    if let Some(n) = opts.max_steps {
        loaded.config.train.max_steps = n;
    }
    dir.truncate_metrics(state.step)?;
    let mut learner = BpttLearner::new(&loaded.config, loaded.net, opt)?;
    run(&loaded.config, &dir, &mut learner, Some(state), opts)
}
