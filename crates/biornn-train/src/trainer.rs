//! The training loop and the run directory it fills:
//!
//! ```text
//! runs/<name>/config.toml       the resolved config (every default written out)
//!             metrics.csv       step, trials, train_loss, eval_loss, perf_<task>..., min_perf, mean_perf, wall_s
//!             checkpoints/      step_<n>.npz every few evaluations
//!             model.npz         the final weights
//!             summary.json      steps, trials, wall_s, perf per task, min_perf, mean_perf
//! ```

use crate::checkpoint::{self, LoopState};
use crate::config::RunConfig;
use crate::engine::Engine;
use crate::eval::{evaluate, min_mean, TaskScore};
use crate::optim::{clip, learning_rate, Optimizer};
use biornn_model::{Ctrnn, Grads};
use biornn_numerics::npz::write_atomic;
use biornn_numerics::{Error, Result, Streams};
use biornn_tasks::{generate_into, BatchSpec, Task, TaskBatch};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub trials: usize,
    pub wall_s: f64,
    pub perf: BTreeMap<String, f64>,
    pub min_perf: f64,
    pub mean_perf: f64,
    pub reached_target: bool,
    pub target_perf: f64,
    pub seed: u64,
}

/// Pick a fresh run directory `<base>/<name>`, adding `-2`, `-3`, ... if it exists, and make sure it
/// can be written to now rather than after an hour of training.
pub fn create_run_dir(base: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(base)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", base.display())))?;
    let mut dir = base.join(name);
    let mut k = 2;
    while dir.exists() {
        dir = base.join(format!("{name}-{k}"));
        k += 1;
    }
    std::fs::create_dir_all(dir.join("checkpoints")).map_err(|e| {
        Error::new(format!(
            "cannot create run directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

pub struct TrainOptions {
    /// show a progress bar (only drawn when stderr is a terminal)
    pub progress: bool,
    /// print a line at each evaluation
    pub verbose: bool,
    /// testing hook: the loss at this step is replaced by NaN once, to exercise the divergence guard
    pub inject_nan_at_step: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            progress: false,
            verbose: false,
            inject_nan_at_step: None,
        }
    }
}

/// Train the network a config describes, writing everything into `run_dir`.
pub fn train(cfg: &RunConfig, run_dir: &Path, opts: &TrainOptions) -> Result<Summary> {
    cfg.validate()?;
    // Written first: an unwritable directory is reported now, not after an hour of training.
    write_atomic(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    let (n_in, n_out) = (cfg.task.n_in(), cfg.task.n_out());
    let net = Ctrnn::<f32>::new(
        &cfg.model,
        n_in,
        n_out,
        cfg.task.dt,
        &Streams::new(cfg.seed),
    )?;
    let opt = Optimizer::<f32>::new(&cfg.train, n_in, cfg.model.n_rec, n_out);
    let metrics_path = run_dir.join("metrics.csv");
    let tasks = cfg.task.tasks()?;
    let header: Vec<String> = ["step", "trials", "train_loss", "eval_loss"]
        .iter()
        .map(|s| s.to_string())
        .chain(tasks.iter().map(|t| format!("perf_{}", t.name())))
        .chain(
            ["min_perf", "mean_perf", "wall_s"]
                .iter()
                .map(|s| s.to_string()),
        )
        .collect();
    write_atomic(&metrics_path, format!("{}\n", header.join(",")).as_bytes())?;
    let state = LoopState {
        lr_scale: 1.0,
        ..Default::default()
    };
    run(cfg, run_dir, net, opt, state, false, opts)
}

/// Continue a run from its newest readable checkpoint; corrupt or truncated ones are reported and
/// skipped. The result is bit-identical to a run that was never interrupted.
pub fn resume(run_dir: &Path, opts: &TrainOptions) -> Result<Summary> {
    let dir = run_dir.join("checkpoints");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::new(format!("{}: {e}: not a run directory?", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npz"))
        .filter(|p| {
            !p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .starts_with('.')
        })
        .collect();
    files.sort();
    let mut failures = vec![];
    for path in files.iter().rev() {
        match checkpoint::load_training(path) {
            Ok((loaded, opt, state)) => {
                for f in &failures {
                    eprintln!("warning: {f}; fell back to {}", path.display());
                }
                if !failures.is_empty() && files.len() > 1 {
                    eprintln!(
                        "resuming from the previous good checkpoint, step {}",
                        state.step
                    );
                }
                truncate_metrics(&run_dir.join("metrics.csv"), state.step)?;
                return run(&loaded.config, run_dir, loaded.net, opt, state, true, opts);
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(Error::new(format!(
        "{}: no readable checkpoint to resume from{}",
        run_dir.display(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(" ({})", failures.join("; "))
        }
    )))
}

/// Keep the header and the rows up to `step` (the rows a resumed run would otherwise write twice),
/// and drop a last line cut short by a crash.
fn truncate_metrics(path: &Path, step: usize) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    // Only newline-terminated lines were written whole.
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = whole.lines();
    let header = lines.next().unwrap_or("");
    let mut kept = format!("{header}\n");
    for line in lines {
        if line
            .split(',')
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .is_some_and(|s| s <= step)
        {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    write_atomic(path, kept.as_bytes())
}

/// The state the divergence guard returns to.
struct Snapshot {
    params: biornn_model::Params<f32>,
    opt: Optimizer<f32>,
    state: LoopState,
}

fn run(
    cfg: &RunConfig,
    run_dir: &Path,
    mut net: Ctrnn<f32>,
    mut opt: Optimizer<f32>,
    mut state: LoopState,
    resumed: bool,
    opts: &TrainOptions,
) -> Result<Summary> {
    let start = Instant::now();
    let streams = Streams::new(cfg.seed);
    let (n_in, n_out) = (cfg.task.n_in(), cfg.task.n_out());
    let tasks = cfg.task.tasks()?;
    let weights = cfg.task.weights()?;
    let tc = &cfg.train;
    let mut grads = Grads::<f32>::zeros(n_in, cfg.model.n_rec, n_out);
    let mut engine = Engine::<f32>::default();
    let mut eval_engine = Engine::<f32>::default();
    let train_streams = streams.child("train", 0);
    let noise_streams = streams.child("noise", 0);
    let mut batch = TaskBatch::default();
    let spec = BatchSpec {
        dt: cfg.task.dt,
        batch_size: tc.batch_size,
        timing: cfg.task.timing,
        input_noise_std: cfg.task.input_noise_std(cfg.model.tau),
    };
    let metrics_path = run_dir.join("metrics.csv");
    let mut metrics = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::new(format!("{}: {e}", metrics_path.display())))?;

    let bar = ProgressBar::new(tc.max_steps as u64);
    if opts.progress && std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
                .unwrap()
                .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_position(state.step as u64);

    let wall = |start: &Instant, state: &LoopState| state.wall_s + start.elapsed().as_secs_f64();
    // After a rollback, the evaluation at the step rolled back to was done and did not stop the run.
    let mut skip_eval_at: Option<usize> = None;
    // After a resume, the evaluation at the checkpoint's step is already in metrics.csv: it is redone
    // (it is deterministic) only to decide whether the run had finished, and not recorded again.
    let mut replay_eval_at = resumed.then_some(state.step);
    let mut snapshot = Snapshot {
        params: net.params.clone(),
        opt: opt.clone(),
        state,
    };
    let mut injected = false;
    let mut scores: Vec<TaskScore> = vec![];
    loop {
        let finishing = state.step >= tc.max_steps;
        let due = state.step % tc.eval_every == 0 || finishing;
        if due && replay_eval_at == Some(state.step) {
            scores = evaluate(&net, cfg, tc.eval_trials, &mut eval_engine)?;
            if min_mean(&scores).0 >= tc.target_perf || finishing {
                break;
            }
        } else if due && skip_eval_at != Some(state.step) {
            scores = evaluate(&net, cfg, tc.eval_trials, &mut eval_engine)?;
            let (min_perf, mean_perf) = min_mean(&scores);
            let eval_loss = scores.iter().map(|s| s.loss).sum::<f64>() / scores.len() as f64;
            // mean training loss since the previous evaluation (none before the first update)
            let train_loss =
                (state.loss_count > 0).then(|| state.loss_acc / state.loss_count as f64);
            let w = wall(&start, &state);
            let mut row = vec![
                state.step.to_string(),
                (state.step * tc.batch_size).to_string(),
                train_loss.map_or(String::new(), |l| format!("{l:.6}")),
                format!("{eval_loss:.6}"),
            ];
            row.extend(scores.iter().map(|s| format!("{:.4}", s.perf)));
            row.extend([
                format!("{min_perf:.4}"),
                format!("{mean_perf:.4}"),
                format!("{w:.2}"),
            ]);
            writeln!(metrics, "{}", row.join(","))?;
            metrics.flush()?;
            let loss_text = train_loss.map_or("-".to_string(), |l| format!("{l:.5}"));
            bar.set_message(format!("min perf {min_perf:.3}"));
            if opts.verbose {
                let step = state.step;
                bar.suspend(|| {
                    eprintln!(
                        "step {step:>7}  loss {loss_text:>7}  min perf {min_perf:.3}  mean perf {mean_perf:.3}  {w:.1} s"
                    )
                });
            }
            state.loss_acc = 0.0;
            state.loss_count = 0;
            state.evals += 1;
            // The first checkpoint comes at once, so a full disk is reported at the start.
            if state.evals % tc.checkpoint_every == 0 || state.evals == 1 {
                let mut saved = state;
                saved.wall_s = w;
                let path = run_dir
                    .join("checkpoints")
                    .join(format!("step_{:08}.npz", state.step));
                checkpoint::save_training(&path, &net, &opt, cfg, &saved)?;
                prune_checkpoints(&run_dir.join("checkpoints"), 3);
            }
            snapshot = Snapshot {
                params: net.params.clone(),
                opt: opt.clone(),
                state,
            };
            if min_perf >= tc.target_perf || finishing {
                break;
            }
        }
        skip_eval_at = None;
        replay_eval_at = None;

        let r = streams
            .stream("rule", state.step as u64)
            .weighted_index(&weights);
        generate_into(
            &tasks[r],
            &spec,
            &train_streams,
            state.step as u64,
            &mut batch,
        );
        let mut report = engine.loss_and_grad(
            &net,
            &batch,
            tc,
            Some((&noise_streams, state.step as u64)),
            &mut grads,
        );
        if opts.inject_nan_at_step == Some(state.step) && !injected {
            injected = true;
            report.total = f64::NAN;
        }
        let mut diverged = !report.total.is_finite() || !grads.all_finite();
        if !diverged {
            clip(&mut grads, tc.clip_value, tc.clip_norm);
            opt.step(
                &mut net,
                &grads,
                learning_rate(tc, state.step) * state.lr_scale,
            );
            diverged = !net.params.all_finite() || !opt.m.all_finite() || !opt.v.all_finite();
        }
        if diverged {
            let failed_at = state.step;
            let divergences = state.divergences + 1;
            let lr_scale = state.lr_scale * tc.divergence_lr_factor;
            net.set_params(snapshot.params.clone());
            opt = snapshot.opt.clone();
            state = snapshot.state;
            if divergences > tc.max_divergences {
                checkpoint::save(&run_dir.join("model.npz"), &net, cfg, state.step)?;
                return Err(Error::new(format!(
                    "training diverged {divergences} times (the last at step {failed_at}, task {}); \
                     stopping. The last good weights (step {}) are in {}. Try a lower train.learning_rate \
                     or set train.clip_norm.",
                    tasks[r].name(),
                    state.step,
                    run_dir.join("model.npz").display()
                )));
            }
            state.divergences = divergences;
            state.lr_scale = lr_scale;
            bar.suspend(|| {
                eprintln!(
                    "warning: NaN or infinity at step {failed_at} (task {}); rolled back to step {} and \
                     scaled the learning rate by {} to {:.3e} ({divergences} of at most {} rollbacks)",
                    tasks[r].name(),
                    state.step,
                    tc.divergence_lr_factor,
                    learning_rate(tc, state.step) * lr_scale,
                    tc.max_divergences
                )
            });
            snapshot.state.divergences = divergences;
            snapshot.state.lr_scale = lr_scale;
            skip_eval_at = Some(state.step);
            continue;
        }
        state.loss_acc += report.total;
        state.loss_count += 1;
        state.step += 1;
        bar.set_position(state.step as u64);
    }
    bar.finish_and_clear();

    let mut saved = state;
    saved.wall_s = wall(&start, &state);
    checkpoint::save_training(&run_dir.join("model.npz"), &net, &opt, cfg, &saved)?;
    let (min_perf, mean_perf) = min_mean(&scores);
    let summary = Summary {
        steps: state.step,
        trials: state.step * tc.batch_size,
        wall_s: saved.wall_s,
        perf: scores.iter().map(|s| (s.task.clone(), s.perf)).collect(),
        min_perf,
        mean_perf,
        reached_target: min_perf >= tc.target_perf,
        target_perf: tc.target_perf,
        seed: cfg.seed,
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    write_atomic(&run_dir.join("summary.json"), json.as_bytes())?;
    Ok(summary)
}

/// Train `k` independent networks with seeds `cfg.seed .. cfg.seed + k`, in parallel, each in
/// `base/seed-<seed>`. Each network's result is the one it gets when trained alone.
pub fn train_seeds(cfg: &RunConfig, base: &Path, k: usize) -> Result<Vec<(u64, Summary)>> {
    use rayon::prelude::*;
    (0..k as u64)
        .into_par_iter()
        .map(|i| {
            let mut c = cfg.clone();
            c.seed = cfg.seed + i;
            let dir = base.join(format!("seed-{}", c.seed));
            std::fs::create_dir_all(dir.join("checkpoints"))
                .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
            let s = train(&c, &dir, &TrainOptions::default())?;
            Ok((c.seed, s))
        })
        .collect()
}

/// Keep only the newest `keep` step checkpoints.
fn prune_checkpoints(dir: &Path, keep: usize) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "npz"))
            .collect();
        files.sort();
        if files.len() > keep {
            for f in &files[..files.len() - keep] {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}
