//! Building and running what a config describes, in a run directory.

use crate::config::Config;
use biornn_core::{Learner, StepDecay};
use biornn_numerics::{Error, Result};
use biornn_reservoir::run::OnlineTrainConfig;
use biornn_reservoir::{CtrnnForceRunConfig, ForceRunConfig};
use biornn_run::{drive, open_run, Criterion, DriveOptions, Ensemble, LoopState, Outcome, RunDir};
use biornn_train::longterm::{LongTermConfig, LongTermResult, RoundsOptions};
use biornn_train::reversal::{ReversalConfig, ReversalResult};
use biornn_train::trainer::{self, TrainOptions};
use std::fmt;
use std::path::{Path, PathBuf};

/// How a run reports while it goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// a progress bar (drawn only when stderr is a terminal)
    pub progress: bool,
    /// a line at each evaluation
    pub verbose: bool,
}

/// What a finished run reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub dir: PathBuf,
    pub reached: bool,
    pub steps: usize,
    /// trials seen, for rules that learn from batches of trials
    pub trials: Option<usize>,
    pub wall_s: f64,
    /// the headline figures, e.g. `min perf`, `mean perf`
    pub scores: Vec<(String, f64)>,
    /// per task, where there are tasks
    pub per_task: Vec<(String, f64)>,
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trials = self
            .trials
            .map_or(String::new(), |t| format!("{t} trials, "));
        let scores: Vec<String> = self
            .scores
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect();
        writeln!(
            f,
            "{} after {} steps ({trials}{:.1} s): {}",
            if self.reached {
                "reached target"
            } else {
                "stopped"
            },
            self.steps,
            self.wall_s,
            scores.join(", ")
        )?;
        for (task, p) in &self.per_task {
            writeln!(f, "  {task:<16} {p:.3}")?;
        }
        write!(f, "run directory: {}", self.dir.display())
    }
}

fn bptt_finished(dir: &Path, s: &trainer::Summary) -> Finished {
    Finished {
        dir: dir.to_path_buf(),
        reached: s.reached_target,
        steps: s.steps,
        trials: Some(s.trials),
        wall_s: s.wall_s,
        scores: [
            ("min perf", Some(s.min_perf)),
            ("mean perf", Some(s.mean_perf)),
            ("min acc", s.min_acc),
            ("mean acc", s.mean_acc),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name.to_string(), v)))
        .collect(),
        // per task: the step accuracy where the tasks score steps, else the fraction correct
        per_task: s
            .accuracy
            .as_ref()
            .unwrap_or(&s.perf)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
    }
}

fn train_options(opts: &RunOptions) -> TrainOptions {
    TrainOptions {
        progress: opts.progress,
        verbose: opts.verbose,
        ..Default::default()
    }
}

/// Train what `cfg` describes in a fresh run directory under `runs` (named after the config).
pub fn train(cfg: &Config, runs: &Path, opts: &RunOptions) -> Result<Finished> {
    cfg.validate()?;
    let dir = RunDir::create_unique(runs, &cfg.name())?;
    train_in(cfg, dir.path(), opts)
}

/// Train what `cfg` describes in the run directory `dir` (created if missing).
pub fn train_in(cfg: &Config, dir: &Path, opts: &RunOptions) -> Result<Finished> {
    cfg.validate()?;
    // one process per run: a second one (a resubmitted task) is refused before it writes
    let _held = RunDir::create_at(dir)?.lock()?;
    train_held(cfg, dir, opts)
}

/// [`train_in`] in a run directory this process holds.
fn train_held(cfg: &Config, dir: &Path, opts: &RunOptions) -> Result<Finished> {
    match cfg {
        Config::Bptt(c) => {
            let s = trainer::train(c, dir, &train_options(opts))?;
            Ok(bptt_finished(dir, &s))
        }
        other => train_learner(other, dir, false, opts),
    }
}

/// Train (or with `resume`, continue) any run but a BPTT one in a directory this process holds.
fn train_learner(cfg: &Config, dir: &Path, resume: bool, opts: &RunOptions) -> Result<Finished> {
    let rounds = rounds_options(opts);
    match cfg {
        Config::Bptt(_) => Err(Error::new("a BPTT run goes through the BPTT trainer")),
        Config::Force(c) => force(force_run_of(c)?, dir, resume, opts),
        Config::CtrnnForce(c) => force(ctrnn_force_run_of(c)?, dir, resume, opts),
        Config::R2n2(c) => r2n2(c, dir, resume, opts),
        Config::Rflo(c) => rflo(c, dir, resume, opts),
        Config::Elise(c) => elise(c, dir, resume, opts),
        Config::CordsNet(c) => cordsnet(c, dir, resume, opts),
        Config::MultiArea(c) => multiarea(c, dir, resume, opts),
        Config::LongTerm(c) => Ok(longterm_finished(
            dir,
            &biornn_train::longterm::train_long_term(c, dir, resume, &rounds)?,
        )),
        Config::Reversal(c) => Ok(reversal_finished(
            dir,
            &biornn_train::reversal::train_reversal(c, dir, resume, &rounds)?,
        )),
    }
}

fn rounds_options(opts: &RunOptions) -> RoundsOptions {
    RoundsOptions {
        verbose: opts.verbose,
        progress: opts.progress,
    }
}

/// The long-term protocol in the run directory `dir`, from the start or resumed.
pub fn longterm(
    cfg: &LongTermConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<LongTermResult> {
    let _held = hold(dir, resume)?;
    biornn_train::longterm::train_long_term(cfg, dir, resume, &rounds_options(opts))
}

/// The run lock of `dir` for this process (one process per run, as [`train_in`]): a new run's
/// directory is created first, a resumed one must exist.
fn hold(dir: &Path, resume: bool) -> Result<biornn_run::RunLock> {
    match resume {
        true => RunDir::open(dir)?.lock(),
        false => RunDir::create_at(dir)?.lock(),
    }
}

/// The rule-reversal protocol in the run directory `dir`, from the start or resumed.
pub fn reversal(
    cfg: &ReversalConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<ReversalResult> {
    let _held = hold(dir, resume)?;
    biornn_train::reversal::train_reversal(cfg, dir, resume, &rounds_options(opts))
}

fn longterm_finished(dir: &Path, r: &LongTermResult) -> Finished {
    Finished {
        dir: dir.to_path_buf(),
        reached: r.reached,
        steps: r.rounds,
        trials: None,
        wall_s: r.train_seconds,
        scores: vec![(
            "trimmed mean".into(),
            r.history.last().map_or(f64::NAN, |h| h.1),
        )],
        per_task: vec![],
    }
}

fn reversal_finished(dir: &Path, r: &ReversalResult) -> Finished {
    let mean = r.final_perf.iter().sum::<f64>() / r.final_perf.len().max(1) as f64;
    Finished {
        dir: dir.to_path_buf(),
        reached: false,
        steps: r.rounds,
        trials: None,
        wall_s: r.train_seconds,
        scores: vec![("mean accuracy".into(), mean)],
        per_task: vec![],
    }
}

/// A fresh run directory `<runs>/<name>` (`-2`, `-3`, ... added if it exists).
pub fn fresh_run_dir(runs: &Path, name: &str) -> Result<PathBuf> {
    Ok(RunDir::create_unique(runs, name)?.path().to_path_buf())
}

/// What [`continue_in`] found in a run directory, and did.
#[derive(Debug)]
pub enum Continued {
    /// `dir` holds no run yet: the caller starts it there
    Empty,
    /// the run met its criterion, or stands at the budget asked for: left as it is
    Done { steps: usize },
    /// the run went on: resumed after a kill, or taken from its end to the larger budget
    Trained(Finished),
}

/// The run of `cfg` in `dir` taken to `cfg`'s budget, whatever state it was left in, so that
/// asking for the same run again (a rerun script, a resubmitted job) goes on with it rather than
/// starting it over or reporting a shorter run as done: a killed run resumes from its newest
/// checkpoint, a finished one short of the budget continues from its final state, one that met
/// its criterion or reached the budget is left as it is, and an empty `dir` is left to the
/// caller. A run of another config (anything but the budget, the checkpoint interval and the
/// name) is refused with what differs, as are a killed run already past the budget and a
/// finished run kept without its weights that would have to go further. A run that met its
/// criterion is done whatever the budget (its summary says so).
pub fn continue_in(cfg: &Config, dir: &Path, opts: &RunOptions) -> Result<Continued> {
    Ok(match standing(cfg, dir)? {
        Standing::Empty => Continued::Empty,
        Standing::Done { steps } => Continued::Done { steps },
        Standing::GoesOn { budget } => Continued::Trained(resume_to(dir, budget, opts)?),
    })
}

/// Where the run of `cfg` in `dir` stands, reading only ([`continue_in`] acts on it); an error
/// when `dir` holds a run that cannot be it (other settings, results without weights short of
/// the budget, a killed run past it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// no run yet
    Empty,
    /// it met its criterion, or stands at the budget
    Done { steps: usize },
    /// it goes on ([`resume_to`] with this budget): killed, or finished short of the budget
    GoesOn { budget: Option<usize> },
}

/// [`Standing`] of the run of `cfg` in `dir`.
pub fn standing(cfg: &Config, dir: &Path) -> Result<Standing> {
    if !dir.is_dir() {
        return Ok(Standing::Empty);
    }
    let run = RunDir::open(dir)?;
    let Some(text) = run.read_config() else {
        if run.has_checkpoint() || run.model_path().exists() {
            return Err(Error::new(format!(
                "{} holds a run without a config.toml (written before the run layer): continue it \
                 with `biornn train --resume`, or choose another directory",
                dir.display()
            )));
        }
        return Ok(Standing::Empty);
    };
    let held = Config::from_toml(&text).map_err(|e| e.context(run.config_path().display()))?;
    let differs = held.differences(cfg);
    if !differs.is_empty() {
        return Err(Error::new(format!(
            "{} holds another run than the one asked for (setting: the run's, asked): {}; remove \
             it or choose another directory",
            dir.display(),
            differs.join("; ")
        )));
    }
    let (budget, held_budget) = (cfg.max_steps(), held.max_steps());
    let at_weights = run.final_step()?;
    if let Some(summary) = run.read_summary() {
        // the run's own word on its criterion
        let summary: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
        let reached = biornn_report::summaries::met_criterion(&summary);
        // results kept without weights (`experiments/carry.sh --results`) say how far the run
        // went in their metrics
        let last_row = || {
            let metrics = run.read_metrics();
            metrics
                .lines()
                .last()?
                .split(',')
                .next()?
                .parse::<usize>()
                .ok()
        };
        let done = at_weights.or_else(last_row).unwrap_or(held_budget);
        if reached || done >= budget {
            return Ok(Standing::Done { steps: done });
        }
        if at_weights.is_none() {
            return Err(Error::new(format!(
                "{} holds this run's results only (no checkpoint or final state): it cannot go \
                 on from {done} steps to {budget}",
                dir.display()
            )));
        }
        return Ok(Standing::GoesOn {
            budget: Some(budget),
        });
    }
    // killed (or never started): the budget asked is passed on, as a BPTT checkpoint holds the
    // budget it was written under
    let new_budget = match at_weights {
        Some(done) if done > budget || (done == budget && held_budget != budget) => {
            return Err(Error::new(format!(
                "{} holds this run, killed after {done} steps on its way to {held_budget}: \
                 it cannot be the run of {budget} asked for",
                dir.display()
            )))
        }
        // killed between its last checkpoint and its summary: resumed, it finishes
        Some(done) if done == budget => None,
        _ => Some(budget),
    };
    Ok(Standing::GoesOn { budget: new_budget })
}

/// Continue the run in `dir` from its newest readable checkpoint, whatever it trains.
pub fn resume(dir: &Path, opts: &RunOptions) -> Result<Finished> {
    resume_to(dir, None, opts)
}

/// [`resume`], and with `max_steps` a new budget: a finished run then continues from its final
/// state up to it (the config in the run directory records the new budget). When the old budget
/// was a multiple of the evaluation interval, the result is the run trained to the new budget at
/// once, bit for bit; otherwise the weights are, but `metrics.csv` keeps the extra row at the old
/// budget (and the training-loss average after it restarts there).
pub fn resume_to(dir: &Path, max_steps: Option<usize>, opts: &RunOptions) -> Result<Finished> {
    let run = RunDir::open(dir)?;
    // held only when the directory holds a run (no lock file left in a directory of runs)
    let looks_like_a_run =
        run.config_path().exists() || run.has_checkpoint() || run.model_path().exists();
    let _held = if looks_like_a_run {
        Some(run.lock()?)
    } else {
        None
    };
    let Some(n) = max_steps else {
        return resume_held(&run, dir, None, opts);
    };
    crate::config::check_max_steps(n)?;
    let done = run.checkpoint_final_model()?;
    if let Some(done) = done.filter(|d| n <= *d) {
        return Err(Error::invalid(
            "--max-steps",
            n,
            &format!("allowed: more than the {done} updates the run has done"),
        ));
    }
    // set aside first: killed from here on, the run reads as killed (and resumes), not as
    // finished where it stood
    let config = run.read_config();
    run.set_summary_aside()?;
    let out = resume_held(&run, dir, Some(n), opts);
    match &out {
        // failed before a step (a config or its data no longer loading, a stop asked at once):
        // the run stands as it was, finished, with its budget
        Err(_) if run.final_step().ok().flatten() == done => {
            run.restore_summary_aside();
            if let Some(text) = config {
                run.write_config(&text)?;
            }
        }
        // trained on (the summary no longer describes it), or finished with a new summary
        _ => run.drop_summary_aside(),
    }
    out
}

/// [`resume_to`] in a run this process holds, its summary set aside when `max_steps` is a new
/// budget.
fn resume_held(
    run: &RunDir,
    dir: &Path,
    max_steps: Option<usize>,
    opts: &RunOptions,
) -> Result<Finished> {
    let bptt = || -> Result<Finished> {
        // the checkpoint holds the config a BPTT run resumes with
        let s = trainer::resume(
            dir,
            &TrainOptions {
                max_steps,
                ..train_options(opts)
            },
        )?;
        Ok(bptt_finished(dir, &s))
    };
    // runs written before the run layer may have no config.toml: they are BPTT runs
    let Some(text) = run.read_config() else {
        return bptt();
    };
    let mut cfg = Config::from_toml(&text).map_err(|e| e.context(run.config_path().display()))?;
    if let Some(n) = max_steps {
        cfg.set_max_steps(n)?;
        run.write_config(&cfg.to_toml())?;
    }
    // killed before its first checkpoint: the run starts over from its config (it is deterministic)
    if !run.has_checkpoint() && !run.model_path().exists() {
        biornn_run::progress::line(&format!(
            "{}: no checkpoint yet; starting the run over",
            dir.display()
        ));
        run.clear_unstarted()?;
        cfg.validate()?;
        return train_held(&cfg, dir, opts);
    }
    match &cfg {
        Config::Bptt(_) => bptt(),
        other => train_learner(other, dir, true, opts),
    }
}

/// What a FORCE run (on the reservoir or on the CTRNN) hands the driver: its untrained
/// networks, its `[train]`, its resolved config and what it is.
struct ForceRun<L> {
    members: Vec<L>,
    train: OnlineTrainConfig,
    seed: u64,
    toml: String,
    kind: &'static str,
}

fn force_run_of(c: &ForceRunConfig) -> Result<ForceRun<biornn_reservoir::ForceLearner>> {
    Ok(ForceRun {
        members: c.learners()?,
        train: c.train.clone(),
        seed: c.seed,
        toml: c.to_toml(),
        kind: "reservoir/rls",
    })
}

fn ctrnn_force_run_of(
    c: &CtrnnForceRunConfig,
) -> Result<ForceRun<biornn_reservoir::CtrnnForceLearner>> {
    Ok(ForceRun {
        members: c.learners()?,
        train: c.train.clone(),
        seed: c.seed,
        toml: c.to_toml(),
        kind: "ctrnn/rls",
    })
}

/// Networks trained online by RLS (FORCE), through the driver, from the start or resumed.
/// With `train.networks` > 1, the networks train side by side as one [`Ensemble`] and the
/// criterion is their trimmed mean.
fn force<L: Learner + 'static>(
    cfg: ForceRun<L>,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let ForceRun {
        mut members,
        train,
        seed,
        toml,
        kind,
    } = cfg;
    let t = &train;
    let (mut single, mut ensemble) = (None, None);
    let (learner, key): (&mut dyn Learner, &str) = if t.networks == 1 {
        (single.insert(members.remove(0)), "eval_r2")
    } else {
        (
            ensemble.insert(Ensemble::new(members, "eval_r2", 0.1)?),
            "trimmed_mean",
        )
    };
    let (run, state) = open_run(dir, resume, &toml, learner)?;
    let drive_opts = DriveOptions {
        max_steps: t.max_steps,
        eval_every: t.eval_every,
        eval_at_start: true,
        checkpoint_every: t.checkpoint_every,
        keep_checkpoints: 3,
        criterion: t
            .target_r2
            .map_or(Criterion::Never, |level| Criterion::AtLeast {
                key: key.into(),
                level,
            }),
        // RLS has no learning rate to lower: a divergence stops the run, or with K networks
        // retires the one that diverged (the others go on)
        divergence_lr_factor: 0.5,
        max_divergences: 0,
        divergence_hint: "Try a larger rule.alpha or a smaller network.g.".into(),
        progress: opts.progress,
        verbose: opts.verbose,
        inject_nan_at_step: None,
    };
    let out = drive_constant(&run, learner, &drive_opts, state)?;
    let value = |k: &str| out.last.values.get(k).copied().unwrap_or(f64::NAN);
    // (summary key, printed label, evaluation value)
    let found: &[(&str, &str, &str)] = if t.networks == 1 {
        &[
            ("eval_mse", "eval mse", "eval_mse"),
            ("eval_r2", "eval r2", "eval_r2"),
        ]
    } else {
        &[
            (
                "eval_r2_trimmed_mean",
                "eval r2, trimmed mean",
                "trimmed_mean",
            ),
            ("eval_r2_min", "eval r2, min", "min"),
            ("eval_r2_max", "eval r2, max", "max"),
        ]
    };
    let mut summary = serde_json::json!({
        "kind": kind,
        "steps": out.state.step,
        "wall_s": out.state.wall_s,
        "reached_target": out.reached,
        "target_r2": t.target_r2,
        "seed": seed,
        "networks": t.networks,
    });
    for (key, _, v) in found {
        summary[*key] = serde_json::json!(value(v));
    }
    if let Some(e) = &ensemble {
        summary["retired_networks"] = serde_json::json!(e.retired());
    }
    let scores = found
        .iter()
        .map(|(_, label, v)| (label.to_string(), value(v)))
        .collect();
    run.write_summary(&serde_json::to_string_pretty(&summary).unwrap_or_default())?;
    Ok(Finished {
        dir: run.path().to_path_buf(),
        reached: out.reached,
        steps: out.state.step,
        trials: None,
        wall_s: out.state.wall_s,
        scores,
        per_task: vec![],
    })
}

/// Drive `learner` at a constant learning rate (no schedule): the online and sequence rules.
fn drive_constant(
    run: &RunDir,
    learner: &mut dyn Learner,
    opts: &DriveOptions,
    state: Option<LoopState>,
) -> Result<Outcome> {
    let schedule = StepDecay {
        steps: vec![],
        factor: 1.0,
    };
    drive(run, learner, &schedule, opts, state)
}

/// A learner that updates once per sequence (R2N2, RFLO, the echo-state network) through the
/// driver, from the start or resumed; `kind` names it in `summary.json`.
#[allow(clippy::too_many_arguments)]
fn sequence_run(
    learner: &mut dyn Learner,
    kind: &str,
    config_toml: &str,
    seed: u64,
    t: &biornn_tasks::sequences::SequenceTrainConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let budget = Budget {
        kind,
        seed,
        max_steps: t.max_steps,
        eval_every: t.eval_every,
        eval_at_start: true,
        checkpoint_every: t.checkpoint_every,
        criterion: t.target_success.map(|level| ("eval_success", level)),
        max_divergences: 3,
        divergence_hint: "Try a lower rule.learning_rate.",
        keys: &["eval_success", "train_success", "eval_loss"],
        trials_are_steps: true,
        steps_also_as: None,
    };
    let extra = serde_json::json!({ "target_success": t.target_success });
    budget_run(learner, config_toml, &budget, extra, dir, resume, opts)
}

/// An R2N2 network learning by replay, one sequence per update.
fn r2n2(
    cfg: &biornn_r2n2::R2n2RunConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let (mut f64_learner, mut f32_learner);
    let learner: &mut dyn Learner = match cfg.network.precision {
        biornn_r2n2::Precision::F64 => {
            f64_learner = biornn_r2n2::R2n2Learner::<f64>::new(cfg, cfg.seed)?;
            &mut f64_learner
        }
        biornn_r2n2::Precision::F32 => {
            f32_learner = biornn_r2n2::R2n2Learner::<f32>::new(cfg, cfg.seed)?;
            &mut f32_learner
        }
    };
    let toml = cfg.to_toml();
    sequence_run(
        learner,
        "r2n2/r2n2",
        &toml,
        cfg.seed,
        &cfg.train,
        dir,
        resume,
        opts,
    )
}

/// An ELiSe network learning its pattern, one cycle per update; each evaluation reports the last
/// free validation cycle beside the last nudged one. Free cycles run at done = 1, 21, 41, ... (the
/// reference's c = done - 1 = 0 mod 20), evaluations at 20, 40, ...: the free scores in the row
/// of cycle C are those of cycle C - 19.
fn elise(
    cfg: &biornn_dendritic::EliseRunConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let mut learner = biornn_dendritic::EliseLearner::new(cfg)?;
    let t = &cfg.train;
    let budget = Budget {
        kind: "elise/urbanczik_senn",
        seed: cfg.seed,
        max_steps: t.max_steps,
        eval_every: t.validate_every,
        // the first free cycle is the second cycle: nothing to report before it
        eval_at_start: false,
        checkpoint_every: t.checkpoint_every,
        criterion: None,
        max_divergences: 0,
        divergence_hint: "Try smaller rule.eta_other and rule.eta_visible.",
        keys: &[
            "free_mse",
            "free_correlation",
            "nudged_mse",
            "nudged_correlation",
        ],
        trials_are_steps: false,
        steps_also_as: Some("cycles"),
    };
    let toml = cfg.to_toml();
    budget_run(
        &mut learner,
        &toml,
        &budget,
        serde_json::json!({}),
        dir,
        resume,
        opts,
    )
}

/// How a run of one learner to a budget is driven and summed up.
struct Budget<'a> {
    kind: &'a str,
    seed: u64,
    max_steps: usize,
    eval_every: usize,
    eval_at_start: bool,
    checkpoint_every: usize,
    /// stop early once this evaluation value reaches this level
    criterion: Option<(&'a str, f64)>,
    max_divergences: usize,
    divergence_hint: &'a str,
    /// the evaluation values the summary and the final line report
    keys: &'a [&'a str],
    /// whether an update is one trial (a sequence), so that the trial count is the step count
    trials_are_steps: bool,
    /// another name the summary gives the step count (ELiSe's `cycles`)
    steps_also_as: Option<&'a str>,
}

/// Drive `learner` to its budget (or its criterion) and write its summary: the budget's keys of
/// the last evaluation, whether the criterion was reached, and `extra` beside them. Every system
/// that trains one learner with a constant schedule runs through here.
fn budget_run(
    learner: &mut dyn Learner,
    toml: &str,
    b: &Budget,
    extra: serde_json::Value,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let (run, state) = open_run(dir, resume, toml, learner)?;
    let drive_opts = DriveOptions {
        max_steps: b.max_steps,
        eval_every: b.eval_every,
        eval_at_start: b.eval_at_start,
        checkpoint_every: b.checkpoint_every,
        keep_checkpoints: 3,
        criterion: b
            .criterion
            .map_or(Criterion::Never, |(key, level)| Criterion::AtLeast {
                key: key.into(),
                level,
            }),
        divergence_lr_factor: 0.5,
        max_divergences: b.max_divergences,
        divergence_hint: b.divergence_hint.into(),
        progress: opts.progress,
        verbose: opts.verbose,
        inject_nan_at_step: None,
    };
    let out = drive_constant(&run, learner, &drive_opts, state)?;
    let value = |k: &str| out.last.values.get(k).copied().unwrap_or(f64::NAN);
    let mut summary = serde_json::json!({
        "kind": b.kind,
        "steps": out.state.step,
        "wall_s": out.state.wall_s,
        "seed": b.seed,
        "reached_target": out.reached,
    });
    if let Some(name) = b.steps_also_as {
        summary[name] = serde_json::json!(out.state.step);
    }
    if let (Some(s), Some(e)) = (summary.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    for k in b.keys {
        summary[*k] = serde_json::json!(value(k));
    }
    run.write_summary(&serde_json::to_string_pretty(&summary).unwrap_or_default())?;
    Ok(Finished {
        dir: run.path().to_path_buf(),
        reached: out.reached,
        steps: out.state.step,
        trials: b.trials_are_steps.then_some(out.state.step),
        wall_s: out.state.wall_s,
        scores: b
            .keys
            .iter()
            .map(|k| (k.replace('_', " "), value(k)))
            .collect(),
        per_task: vec![],
    })
}

/// A CordsNet (or its compatibility CNN) learning to classify images by BPTT, one batch per
/// update; each evaluation scores the test subset at the last stimulus step.
fn cordsnet(
    cfg: &biornn_vision::CordsNetRunConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let mut learner = biornn_vision::CordsNetLearner::new(cfg)?;
    let extra = serde_json::json!({
        "form": cfg.network.form,
        "units": learner.net.units(),
        "parameters": learner.theta.len(),
    });
    let t = &cfg.train;
    let budget = Budget {
        kind: match cfg.rule.kind.as_str() {
            "inverse" => "cordsnet/inverse",
            _ => "cordsnet/bptt",
        },
        seed: cfg.seed,
        max_steps: t.max_steps,
        eval_every: t.eval_every,
        eval_at_start: true,
        checkpoint_every: t.checkpoint_every,
        criterion: None,
        max_divergences: 3,
        trials_are_steps: false,
        steps_also_as: None,
        divergence_hint: "Try a smaller rule.learning_rate or rule.clip_norm.",
        keys: &["test_accuracy", "test_loss", "train_accuracy"],
    };
    budget_run(
        &mut learner,
        &cfg.to_toml(),
        &budget,
        extra,
        dir,
        resume,
        opts,
    )
}

/// A CTRNN behind a CordsNet front end (frozen or fine-tuned) learning a task with images, one batch of trials
/// per update.
fn multiarea(
    cfg: &biornn_vision::multiarea::MultiAreaRunConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let mut learner = biornn_vision::multiarea::MultiAreaLearner::new(cfg)?;
    let t = &cfg.train;
    let budget = Budget {
        kind: "multiarea/bptt",
        seed: cfg.seed,
        max_steps: t.max_steps,
        eval_every: t.eval_every,
        eval_at_start: true,
        checkpoint_every: t.checkpoint_every,
        criterion: None,
        max_divergences: 3,
        trials_are_steps: false,
        steps_also_as: None,
        divergence_hint: "Try a smaller train.learning_rate.",
        keys: &["test_accuracy", "test_loss", "train_accuracy"],
    };
    let extra = serde_json::json!({ "task": cfg.task.kind });
    budget_run(
        &mut learner,
        &cfg.to_toml(),
        &budget,
        extra,
        dir,
        resume,
        opts,
    )
}

/// A leaky RNN learning by RFLO or as an echo-state network, one sequence per update.
fn rflo(
    cfg: &biornn_reservoir::RfloRunConfig,
    dir: &Path,
    resume: bool,
    opts: &RunOptions,
) -> Result<Finished> {
    let mut learner = biornn_reservoir::RfloLearner::new(cfg)?;
    let kind = format!("leaky_rnn/{}", cfg.rule.kind);
    let toml = cfg.to_toml();
    sequence_run(
        &mut learner,
        &kind,
        &toml,
        cfg.seed,
        &cfg.train,
        dir,
        resume,
        opts,
    )
}

/// Train `k` independent networks with seeds `seed .. seed + k`, in parallel, each in
/// `<runs>/<name>/seed-<seed>`. Each network's result is the one it gets when trained alone.
pub fn train_seeds(cfg: &Config, runs: &Path, k: usize) -> Result<(PathBuf, Vec<(u64, Finished)>)> {
    use rayon::prelude::*;
    if k == 0 || k > 10_000 {
        return Err(Error::invalid("--seeds", k, "allowed: 1 to 10000"));
    }
    cfg.validate()?;
    let networks = match cfg {
        Config::Force(c) => Some((c.seed, c.train.networks)),
        Config::CtrnnForce(c) => Some((c.seed, c.train.networks)),
        _ => None,
    };
    if let Some((seed, networks)) = networks {
        if networks > 1 {
            return Err(Error::invalid(
                "--seeds",
                k,
                &format!(
                    "allowed: no --seeds when train.networks > 1 (the run already trains seeds {} to {}; neighbouring seed runs would train the same networks)",
                    seed,
                    seed + networks as u64 - 1
                ),
            ));
        }
    }
    if cfg
        .seed()
        .checked_add(k as u64 - 1)
        .is_none_or(|last| last > i64::MAX as u64)
    {
        return Err(Error::invalid(
            "--seeds",
            k,
            &format!(
                "allowed: seeds up to 9223372036854775807 (seed {} + {k} - 1 is past it)",
                cfg.seed()
            ),
        ));
    }
    let base = RunDir::create_unique(runs, &cfg.name())?;
    // each thread trains one network after another: each builds its evaluation set into the last's
    let _spares = biornn_train::eval::SpareEvalBatches::open();
    let results = (0..k as u64)
        .into_par_iter()
        .map(|i| {
            let mut c = cfg.clone();
            c.set_seed(cfg.seed() + i);
            let dir = base.path().join(format!("seed-{}", c.seed()));
            let f = train_in(&c, &dir, &RunOptions::default())?;
            Ok((c.seed(), f))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((base.path().to_path_buf(), results))
}
