//! The training loop and the run directory it fills:
//!
//! ```text
//! runs/<name>/config.toml       the resolved config (every default written out)
//!             metrics.csv       step, trials, train_loss, eval_loss, perf_<task>..., min_perf, mean_perf, wall_s
//!             checkpoints/      step_<n>.npz every few evaluations
//!             model.npz         the final weights
//!             summary.json      steps, trials, wall_s, perf per task, min_perf, mean_perf
//! ```

use crate::checkpoint;
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
}

/// Train the network a config describes, writing everything into `run_dir`.
pub fn train(cfg: &RunConfig, run_dir: &Path, opts: &TrainOptions) -> Result<Summary> {
    cfg.validate()?;
    write_atomic(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    let start = Instant::now();
    let streams = Streams::new(cfg.seed);
    let (n_in, n_out) = (cfg.task.n_in(), cfg.task.n_out());
    let mut net = Ctrnn::<f32>::new(&cfg.model, n_in, n_out, cfg.task.dt, &streams)?;
    let tasks = cfg.task.tasks()?;
    let weights = cfg.task.weights()?;
    let tc = &cfg.train;
    let mut opt = Optimizer::<f32>::new(tc, n_in, cfg.model.n_rec, n_out);
    let mut grads = Grads::<f32>::zeros(n_in, cfg.model.n_rec, n_out);
    let mut engine = Engine::<f32>::default();
    let mut eval_engine = Engine::<f32>::default();
    let train_streams = streams.child("train", 0);
    let noise_streams = streams.child("noise", 0);
    let mut rule_rng = streams.stream("rule", 0);
    let mut batch = TaskBatch::default();
    let spec = BatchSpec {
        dt: cfg.task.dt,
        batch_size: tc.batch_size,
        timing: cfg.task.timing,
        input_noise_std: cfg.task.input_noise_std(cfg.model.tau),
    };

    let metrics_path = run_dir.join("metrics.csv");
    let mut metrics = std::fs::File::create(&metrics_path)
        .map_err(|e| Error::new(format!("{}: {e}", metrics_path.display())))?;
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
    writeln!(metrics, "{}", header.join(","))?;

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

    let mut loss_acc = 0.0;
    let mut loss_count = 0usize;
    let mut evals = 0usize;
    let mut step = 0usize;
    let mut scores: Vec<TaskScore>;
    loop {
        // Evaluate at step 0, every eval_every steps, and at the end.
        let finishing = step >= tc.max_steps;
        if step % tc.eval_every == 0 || finishing {
            scores = evaluate(&net, cfg, tc.eval_trials, &mut eval_engine)?;
            let (min_perf, mean_perf) = min_mean(&scores);
            let eval_loss = scores.iter().map(|s| s.loss).sum::<f64>() / scores.len() as f64;
            // mean training loss since the previous evaluation (none before the first update)
            let train_loss = (loss_count > 0).then(|| loss_acc / loss_count as f64);
            let wall = start.elapsed().as_secs_f64();
            let mut row = vec![
                step.to_string(),
                (step * tc.batch_size).to_string(),
                train_loss.map_or(String::new(), |l| format!("{l:.6}")),
                format!("{eval_loss:.6}"),
            ];
            row.extend(scores.iter().map(|s| format!("{:.4}", s.perf)));
            row.extend([
                format!("{min_perf:.4}"),
                format!("{mean_perf:.4}"),
                format!("{wall:.2}"),
            ]);
            writeln!(metrics, "{}", row.join(","))?;
            metrics.flush()?;
            let loss_text = train_loss.map_or("-".to_string(), |l| format!("{l:.5}"));
            let line = format!(
                "step {step:>7}  loss {loss_text:>7}  min perf {min_perf:.3}  mean perf {mean_perf:.3}  {wall:.1} s"
            );
            bar.set_message(format!("min perf {min_perf:.3}"));
            if opts.verbose {
                bar.suspend(|| eprintln!("{line}"));
            }
            loss_acc = 0.0;
            loss_count = 0;
            evals += 1;
            if evals % tc.checkpoint_every == 0 {
                let path = run_dir
                    .join("checkpoints")
                    .join(format!("step_{step:08}.npz"));
                checkpoint::save(&path, &net, cfg, step)?;
                prune_checkpoints(&run_dir.join("checkpoints"), 3);
            }
            if min_perf >= tc.target_perf || finishing {
                break;
            }
        }

        let r = rule_rng.weighted_index(&weights);
        generate_into(&tasks[r], &spec, &train_streams, step as u64, &mut batch);
        let report = engine.loss_and_grad(
            &net,
            &batch,
            tc,
            Some((&noise_streams, step as u64)),
            &mut grads,
        );
        if !report.total.is_finite() || !grads.all_finite() {
            checkpoint::save(&run_dir.join("model.npz"), &net, cfg, step)?;
            return Err(Error::new(format!(
                "training diverged at step {step} (loss {}, task {}); the last good weights are in {}. \
                 Try a lower train.learning_rate or train.clip_norm.",
                report.total,
                tasks[r].name(),
                run_dir.join("model.npz").display()
            )));
        }
        clip(&mut grads, tc.clip_value, tc.clip_norm);
        opt.step(&mut net, &grads, learning_rate(tc, step));
        loss_acc += report.total;
        loss_count += 1;
        step += 1;
        bar.set_position(step as u64);
    }
    bar.finish_and_clear();

    checkpoint::save(&run_dir.join("model.npz"), &net, cfg, step)?;
    let (min_perf, mean_perf) = min_mean(&scores);
    let summary = Summary {
        steps: step,
        trials: step * tc.batch_size,
        wall_s: start.elapsed().as_secs_f64(),
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
            let s = train(
                &c,
                &dir,
                &TrainOptions {
                    progress: false,
                    verbose: false,
                },
            )?;
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
