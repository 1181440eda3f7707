//! The one training loop. Every rule runs through it: it numbers updates, asks the schedule for
//! the phase, evaluates every `eval_every` updates and writes the metrics row, checkpoints, stops
//! at the criterion or the budget, and rolls back when an update diverges. It knows nothing of
//! networks or rules: the [`Learner`] does the work, and its state goes into checkpoints as
//! named arrays beside the loop's own counters.

use crate::dir::RunDir;
use biornn_core::arrays::{put_f64, put_u64, take_scalar, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Schedule};
use biornn_numerics::{Error, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// The loop's counters, saved in every checkpoint (`state_*`) so a resumed run continues from them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoopState {
    /// updates taken
    pub step: usize,
    /// training loss summed since the last evaluation, and how many updates that is
    pub loss_acc: f64,
    pub loss_count: usize,
    /// evaluations done
    pub evals: usize,
    /// learning-rate multiplier left by the divergence guard
    pub lr_scale: f64,
    /// rollbacks so far
    pub divergences: usize,
    /// wall-clock seconds spent before this process started
    pub wall_s: f64,
    /// the mean training loss the last evaluation was given: a resumed run repeats that
    /// evaluation with it, so that a run which ends there reports what it reported
    pub last_train_loss: Option<f64>,
}

impl LoopState {
    /// The state of a run about to take its first update.
    pub fn fresh() -> LoopState {
        LoopState {
            lr_scale: 1.0,
            ..Default::default()
        }
    }

    pub fn save(&self, out: &mut Arrays) {
        put_u64(out, "state_step", self.step as u64);
        put_f64(out, "state_loss_acc", &[], &[self.loss_acc]);
        put_u64(out, "state_loss_count", self.loss_count as u64);
        put_u64(out, "state_evals", self.evals as u64);
        put_f64(out, "state_lr_scale", &[], &[self.lr_scale]);
        put_u64(out, "state_divergences", self.divergences as u64);
        put_f64(out, "state_wall_s", &[], &[self.wall_s]);
        if let Some(loss) = self.last_train_loss {
            put_f64(out, "state_last_train_loss", &[], &[loss]);
        }
    }

    pub fn load(arrays: &Arrays) -> Result<LoopState> {
        Ok(LoopState {
            step: take_u64(arrays, "state_step")? as usize,
            loss_acc: take_scalar(arrays, "state_loss_acc")?,
            loss_count: take_u64(arrays, "state_loss_count")? as usize,
            evals: take_u64(arrays, "state_evals")? as usize,
            lr_scale: take_scalar(arrays, "state_lr_scale")?,
            divergences: take_u64(arrays, "state_divergences")? as usize,
            wall_s: take_scalar(arrays, "state_wall_s")?,
            // absent from checkpoints written before it was kept
            last_train_loss: match arrays.contains_key("state_last_train_loss") {
                true => Some(take_scalar(arrays, "state_last_train_loss")?),
                false => None,
            },
        })
    }
}

/// When a run has reached what it was for.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// only the budget stops it
    Never,
    /// the evaluation's value `key` reaches `level` (every task at a level: `min_perf`; the
    /// trimmed mean over K networks: `trimmed_mean`)
    AtLeast { key: String, level: f64 },
}

impl Criterion {
    pub fn met(&self, e: &Evaluation) -> bool {
        match self {
            Criterion::Never => false,
            Criterion::AtLeast { key, level } => e.values.get(key).is_some_and(|v| v >= level),
        }
    }
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// the budget in updates
    pub max_steps: usize,
    pub eval_every: usize,
    /// evaluate before the first update too (rounds protocols first evaluate after round 1)
    pub eval_at_start: bool,
    /// a checkpoint every this many evaluations (and at the first)
    pub checkpoint_every: usize,
    /// checkpoints kept, newest first
    pub keep_checkpoints: usize,
    pub criterion: Criterion,
    /// the learning rate's multiplier after each rollback
    pub divergence_lr_factor: f64,
    /// rollbacks allowed before the run stops
    pub max_divergences: usize,
    /// what to try when the run stops diverging, e.g. `Try a lower train.learning_rate.`
    pub divergence_hint: String,
    /// show a progress bar (only drawn when stderr is a terminal)
    pub progress: bool,
    /// print a line at each evaluation
    pub verbose: bool,
    /// testing hook: the loss at this step is replaced by NaN once, to exercise the divergence guard
    pub inject_nan_at_step: Option<usize>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            max_steps: 1000,
            eval_every: 100,
            eval_at_start: true,
            checkpoint_every: 1,
            keep_checkpoints: 3,
            criterion: Criterion::Never,
            divergence_lr_factor: 0.5,
            max_divergences: 3,
            divergence_hint: String::new(),
            progress: false,
            verbose: false,
            inject_nan_at_step: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// the loop's counters at the end (`wall_s`: the whole run's, resumes included)
    pub state: LoopState,
    /// the last evaluation
    pub last: Evaluation,
    pub reached: bool,
}

/// The arrays of a checkpoint: the learner's weights for users, its state, the loop's counters.
fn checkpoint_arrays(learner: &dyn Learner, state: &LoopState) -> Arrays {
    let mut m = Arrays::new();
    learner.export(state.step as u64, &mut m);
    learner.save_state("", &mut m);
    state.save(&mut m);
    m
}

/// `network 3` or `networks 1, 3`: how warnings, errors and the summaries name networks.
pub fn name_networks(ks: &[usize]) -> String {
    let names: Vec<String> = ks.iter().map(|k| k.to_string()).collect();
    match ks.len() {
        1 => format!("network {}", names[0]),
        _ => format!("networks {}", names.join(", ")),
    }
}

/// `network 7 diverged 4 times (the last at step 149)`, or `diverged once (at step N)` where no
/// rollback is allowed.
fn diverged_too_often(ks: &[usize], failed_at: usize, max_divergences: usize) -> String {
    let how_often = match max_divergences {
        0 => format!("once (at step {failed_at})"),
        n => format!("{} times (the last at step {failed_at})", n + 1),
    };
    format!("{} diverged {how_often}", name_networks(ks))
}

/// The error that stops a run which diverged too often, after writing its last good state (the
/// loop's counters, with the wall clock at that state), whole, as `model.npz` (so that it can be
/// analysed and inspected); `what` says what diverged.
fn stop_diverged(
    run: &RunDir,
    learner: &dyn Learner,
    metrics: &mut crate::dir::MetricsWriter,
    (state, wall_s): (LoopState, f64),
    what: &str,
    opts: &DriveOptions,
) -> Error {
    let saved = LoopState { wall_s, ..state };
    let written = metrics
        .sync()
        .and_then(|()| run.write_model(checkpoint_arrays(learner, &saved)));
    if let Err(e) = written {
        return e;
    }
    Error::new(format!(
        "{what}; stopping. The last good weights (step {}) are in {}. {}",
        saved.step,
        run.model_path().display(),
        opts.divergence_hint
    ))
}

/// Read the newest good checkpoint for [`drive`] to continue from: the arrays (for the caller to
/// rebuild its learner from, then [`Learner::load_state`]) and the loop's counters. The caller
/// then drops the metrics rows after it ([`RunDir::truncate_metrics`]), once the state has loaded.
pub fn resume(run: &RunDir) -> Result<(Arrays, LoopState)> {
    let (found, _) = run.newest_good(|p| {
        let a = crate::checkpoint::read_checked(p)?;
        let s = LoopState::load(&a).map_err(|e| e.context(p.display()))?;
        Ok((a, s))
    })?;
    Ok(found)
}

/// The run directory `dir` for `learner`, ready for [`drive`]: with `resume`, the existing run,
/// with the learner's state and the loop's counters read back from its newest good checkpoint;
/// otherwise a fresh directory with `config` written first (an unwritable one fails at once).
pub fn open_run(
    dir: &Path,
    resume: bool,
    config: &str,
    learner: &mut dyn Learner,
) -> Result<(RunDir, Option<LoopState>)> {
    if resume {
        let run = RunDir::open(dir)?;
        let (arrays, state) = self::resume(&run)?;
        learner.load_state("", &arrays)?;
        run.truncate_metrics(state.step)?;
        Ok((run, Some(state)))
    } else {
        let run = RunDir::create_fresh(dir)?;
        run.write_config(config)?;
        Ok((run, None))
    }
}

/// Train `learner` in `run` until the criterion or the budget. A fresh run (`resumed` `None`)
/// starts `metrics.csv`; a resumed one continues from the checkpoint's counters, with the
/// learner's state already loaded from it. Writes `model.npz` (weights, state and counters) at the
/// end; `summary.json` is the caller's, through [`RunDir::write_summary`].
pub fn drive(
    run: &RunDir,
    learner: &mut dyn Learner,
    schedule: &dyn Schedule,
    opts: &DriveOptions,
    resumed: Option<LoopState>,
) -> Result<Outcome> {
    let start = Instant::now();
    let mut header = vec!["step".to_string()];
    header.extend(learner.columns());
    header.push("wall_s".into());
    if resumed.is_none() {
        run.start_metrics(&header)?;
    } else if let Ok(text) = std::fs::read_to_string(run.metrics_path()) {
        // a config edited between the kill and the resume (another number of networks, other
        // tasks) would append rows under another run's columns
        let had = text.lines().next().unwrap_or("");
        // a run written before the learner's late columns existed: its rows gain them, empty
        let late = learner.late_columns();
        let without_late: Vec<&String> = header.iter().filter(|c| !late.contains(c)).collect();
        let widen = !late.is_empty()
            && had != header.join(",")
            && had.split(',').eq(without_late.iter().map(|c| c.as_str()));
        if widen {
            run.widen_metrics(&header)?;
        } else if had != header.join(",") {
            return Err(Error::new(format!(
                "{}: its columns ({had}) are not this run's ({}): the config changed since the \
                 run started, or an earlier version of biornn started it with other columns; \
                 start a new run",
                run.metrics_path().display(),
                header.join(",")
            )));
        }
    }
    let mut state = resumed.unwrap_or_else(LoopState::fresh);
    let mut metrics = run.metrics_writer()?;
    let bar = ProgressBar::new(opts.max_steps as u64);
    if opts.progress && std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_position(state.step as u64);

    let wall = |state: &LoopState| state.wall_s + start.elapsed().as_secs_f64();
    // After a rollback, the evaluation at the step rolled back to was done and did not stop the run.
    let mut skip_eval_at: Option<usize> = None;
    // After a resume, the evaluation at the checkpoint's step is already in metrics.csv: it is redone
    // (it is deterministic) only to decide whether the run had finished, and not recorded again.
    let mut replay_eval_at = resumed.map(|s| s.step);
    // The state the divergence guard returns to: the learner's and the loop's at the last evaluation.
    let mut snapshot = (Arrays::new(), state);
    learner.save_state("", &mut snapshot.0);
    // the wall clock at that evaluation: what a checkpoint written from the snapshot records (the
    // snapshot's own `wall_s` stays this process's starting point, from which `wall` counts)
    let mut snapshot_wall = state.wall_s;
    let mut injected = false;
    let mut last: Evaluation;
    loop {
        let finishing = state.step >= opts.max_steps;
        let due = (state.step.is_multiple_of(opts.eval_every)
            && (state.step > 0 || opts.eval_at_start))
            || finishing;
        if due && replay_eval_at == Some(state.step) {
            last = learner.evaluate(state.step as u64, state.last_train_loss)?;
            if opts.criterion.met(&last) || finishing {
                break;
            }
        } else if due && skip_eval_at != Some(state.step) {
            // mean training loss since the previous evaluation (none before the first update)
            let train_loss =
                (state.loss_count > 0).then(|| state.loss_acc / state.loss_count as f64);
            last = learner.evaluate(state.step as u64, train_loss)?;
            let w = wall(&state);
            let mut row = vec![state.step.to_string()];
            row.extend(last.cells.iter().cloned());
            row.push(format!("{w:.2}"));
            metrics.row(&row)?;
            bar.set_message(last.headline.clone());
            if opts.verbose {
                let loss_text = train_loss.map_or("-".to_string(), |l| format!("{l:.5}"));
                let (step, headline) = (state.step, &last.headline);
                bar.suspend(|| {
                    crate::progress::line(&format!(
                        "step {step:>7}  loss {loss_text:>7}  {headline}  {w:.1} s"
                    ))
                });
            }
            state.loss_acc = 0.0;
            state.loss_count = 0;
            state.last_train_loss = train_loss;
            state.evals += 1;
            // The first checkpoint comes at once, so a full disk is reported at the start.
            if state.evals.is_multiple_of(opts.checkpoint_every) || state.evals == 1 {
                let mut saved = state;
                saved.wall_s = w;
                metrics.sync()?;
                run.save_checkpoint(
                    state.step,
                    checkpoint_arrays(learner, &saved),
                    opts.keep_checkpoints,
                )?;
            }
            snapshot.0.clear();
            learner.save_state("", &mut snapshot.0);
            snapshot.1 = state;
            snapshot_wall = w;
            if opts.criterion.met(&last) || finishing {
                break;
            }
        }
        skip_eval_at = None;
        replay_eval_at = None;

        if crate::progress::interrupted() {
            // back to the last evaluation, saved whole: resuming continues as if never stopped
            learner.load_state("", &snapshot.0)?;
            state = snapshot.1;
            if state.evals > 0 {
                let mut saved = state;
                saved.wall_s = snapshot_wall;
                metrics.sync()?;
                run.save_checkpoint(
                    state.step,
                    checkpoint_arrays(learner, &saved),
                    opts.keep_checkpoints,
                )?;
            }
            return Err(Error::new(format!(
                "interrupted; {} is saved at step {} (its last evaluation): resume it to go on",
                run.path().display(),
                state.step
            )));
        }
        let mut phase = schedule.at(state.step as u64);
        phase.lr_scale = state.lr_scale;
        let mut loss = learner.update(state.step as u64, &phase)?;
        if opts.inject_nan_at_step == Some(state.step) && !injected {
            injected = true;
            loss = f64::NAN;
        }
        if !loss.is_finite() || !learner.all_finite() {
            if let Some(members) = learner.diverged_members().filter(|m| !m.is_empty()) {
                // independent members: every one goes back to the last evaluation, only the diverged
                // are slowed, and the others replay the same updates to the same bits
                let failed_at = state.step;
                learner.load_state("", &snapshot.0)?;
                state = snapshot.1;
                let factor = opts.divergence_lr_factor;
                let counts: Vec<usize> = members
                    .iter()
                    .map(|k| learner.slow_member(*k, factor))
                    .collect();
                // a learner that names members but keeps no rate for each (counts of 0) takes the
                // whole run's guard below
                if counts.iter().all(|c| *c > 0) {
                    type Counted = Vec<(usize, usize)>;
                    let (over, slowed): (Counted, Counted) = (members.iter().copied().zip(counts))
                        .partition(|(_, c)| *c > opts.max_divergences);
                    if !over.is_empty() {
                        // those that diverged too often are retired, frozen at the last good
                        // state, and the others go on; the run stops when none is left or the
                        // learner cannot retire one
                        let over: Vec<usize> = over.iter().map(|(k, _)| *k).collect();
                        let what = diverged_too_often(&over, failed_at, opts.max_divergences);
                        let left: Option<Vec<usize>> =
                            over.iter().map(|k| learner.retire_member(*k)).collect();
                        match left.as_ref().and_then(|l| l.last()) {
                            Some(&left) if left > 0 => bar.suspend(|| {
                                crate::progress::line(&format!(
                                    "warning: {what}; retired, frozen as at step {} ({left} \
                                     still training)",
                                    state.step
                                ))
                            }),
                            left => {
                                // the last good state as it was, neither slowed nor retired
                                learner.load_state("", &snapshot.0)?;
                                let what = match left {
                                    Some(_) => format!("{what}, and no network is left to train"),
                                    None => what,
                                };
                                let stop = (state, snapshot_wall);
                                return Err(stop_diverged(
                                    run,
                                    learner,
                                    &mut metrics,
                                    stop,
                                    &what,
                                    opts,
                                ));
                            }
                        }
                    }
                    // the snapshot keeps the slowed rates and the retired, so that a later
                    // rollback keeps them too
                    snapshot.0.clear();
                    learner.save_state("", &mut snapshot.0);
                    if !slowed.is_empty() {
                        let who: Vec<usize> = slowed.iter().map(|(k, _)| *k).collect();
                        let who = name_networks(&who);
                        let worst = slowed.iter().map(|(_, c)| *c).max().unwrap_or(0);
                        bar.suspend(|| {
                            crate::progress::line(&format!(
                                "warning: NaN or infinity at step {failed_at} in {who}; rolled \
                                 every network back to step {} and scaled the learning rate of \
                                 {who} alone by {factor} ({worst} of at most {} rollbacks per \
                                 network)",
                                state.step, opts.max_divergences
                            ))
                        });
                    }
                    skip_eval_at = Some(state.step);
                    continue;
                }
            }
            let failed_at = state.step;
            let what = learner.describe(failed_at as u64);
            let divergences = state.divergences + 1;
            let lr_scale = state.lr_scale * opts.divergence_lr_factor;
            learner.load_state("", &snapshot.0)?;
            state = snapshot.1;
            if divergences > opts.max_divergences {
                let what = format!(
                    "training diverged {divergences} times (the last at step {failed_at}{what})"
                );
                let stop = (state, snapshot_wall);
                return Err(stop_diverged(run, learner, &mut metrics, stop, &what, opts));
            }
            state.divergences = divergences;
            state.lr_scale = lr_scale;
            bar.suspend(|| {
                crate::progress::line(&format!(
                    "warning: NaN or infinity at step {failed_at}{what}; rolled back to step {} and \
                     scaled the learning rate by {} ({divergences} of at most {} rollbacks)",
                    state.step, opts.divergence_lr_factor, opts.max_divergences
                ))
            });
            snapshot.1.divergences = divergences;
            snapshot.1.lr_scale = lr_scale;
            skip_eval_at = Some(state.step);
            continue;
        }
        state.loss_acc += loss;
        state.loss_count += 1;
        state.step += 1;
        bar.set_position(state.step as u64);
    }
    bar.finish_and_clear();

    state.wall_s = wall(&state);
    // the final model becomes a checkpoint when the run is extended (`checkpoint_final_model`)
    metrics.sync()?;
    run.write_model(checkpoint_arrays(learner, &state))?;
    let reached = opts.criterion.met(&last);
    Ok(Outcome {
        state,
        last,
        reached,
    })
}
