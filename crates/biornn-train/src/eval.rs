//! Per-task performance of a network on a fixed evaluation set.

use crate::config::RunConfig;
use crate::engine::Engine;
use biornn_model::Ctrnn;
use biornn_numerics::{Result, Streams};
use biornn_tasks::{generate_groups_into, BatchSpec, Task, TaskBatch};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TaskScore {
    pub task: String,
    /// the fraction of trials correct
    pub perf: f64,
    /// the fraction of scored steps right, for tasks that score steps (Mod-Cog's decision steps)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// trials whose answer is a coin flip by construction (Mod-Cog's evidence ties), and the step
    /// accuracy without them, when there are any
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambiguous_trials: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_without_ambiguous: Option<f64>,
    pub loss: f64,
    pub trials: usize,
}

/// Trials per timing draw in an evaluation (gyyang evaluates 16 groups of 32).
pub const EVAL_GROUP: usize = 32;

/// The buffers of a run's evaluation batches, reused from one evaluation to the next: building a
/// batch into fresh memory cost as much again in zeroing and page faults. (Keeping the batches
/// themselves, which are the same every time, would save their building too, but costs about
/// 100 MB per network for the six default tasks.)
#[derive(Default)]
pub struct EvalBuffers {
    batch: TaskBatch,
}

/// Evaluate every task of the config on `trials` trials each, drawn from the run's "eval" streams (the
/// same trials at every evaluation). Recurrent noise only with `train.eval_recurrent_noise` (as the
/// original gyyang/multitask evaluates), then from the fixed "eval_noise" streams.
pub fn evaluate(
    net: &Ctrnn<f32>,
    cfg: &RunConfig,
    trials: usize,
    engine: &mut Engine<f32>,
) -> Result<Vec<TaskScore>> {
    let mut buffers = EvalBuffers::default();
    Ok(evaluate_tasks(
        net,
        cfg,
        &cfg.task.tasks()?,
        trials,
        engine,
        &mut buffers,
    ))
}

/// [`evaluate`] on tasks already resolved from the config (a trainer resolves them once).
pub fn evaluate_tasks(
    net: &Ctrnn<f32>,
    cfg: &RunConfig,
    tasks: &[impl Task],
    trials: usize,
    engine: &mut Engine<f32>,
    buffers: &mut EvalBuffers,
) -> Vec<TaskScore> {
    let eval_streams = Streams::new(cfg.seed).child("eval", 0);
    let spec = BatchSpec {
        dt: cfg.task.dt,
        batch_size: EVAL_GROUP.min(trials),
        timing: cfg.task.timing,
        input_noise_std: cfg.task.input_noise_std(cfg.model.tau),
    };
    let mut scores = vec![];
    let groups = trials.div_ceil(EVAL_GROUP);
    for task in tasks {
        let streams = eval_streams.child("task", task.key());
        // a dataset's held-out split, where the task has one
        let held_out = task.evaluation();
        let task: &dyn Task = match &held_out {
            Some(t) => &**t,
            None => task,
        };
        let batch = &mut buffers.batch;
        generate_groups_into(task, &spec, &streams, groups, batch);
        let trials = batch.batch;
        let judge = |trial: &biornn_tasks::TrialOutputs| task.score(trial);
        let noise_streams = Streams::new(cfg.seed).child("eval_noise", 0);
        let noise = cfg
            .train
            .eval_recurrent_noise
            .then_some((&noise_streams, task.key()));
        let (loss, counts) = engine.evaluate(net, batch, &cfg.train, noise, &judge);
        scores.push(TaskScore {
            task: task.name().to_string(),
            perf: counts.correct as f64 / trials as f64,
            accuracy: task
                .scores_steps()
                .then(|| counts.steps_right as f64 / counts.steps_scored.max(1) as f64),
            ambiguous_trials: (counts.ambiguous > 0).then_some(counts.ambiguous),
            accuracy_without_ambiguous: (counts.ambiguous > 0)
                .then(|| counts.clear_steps_right as f64 / counts.clear_steps_scored.max(1) as f64),
            loss,
            trials,
        });
    }
    scores
}

/// The smallest and the mean step accuracy, when the tasks score steps.
pub fn min_mean_accuracy(scores: &[TaskScore]) -> Option<(f64, f64)> {
    let acc: Option<Vec<f64>> = scores.iter().map(|s| s.accuracy).collect();
    let acc = acc.filter(|a| !a.is_empty())?;
    let min = acc.iter().copied().fold(f64::INFINITY, f64::min);
    Some((min, acc.iter().sum::<f64>() / acc.len() as f64))
}

pub fn min_mean(scores: &[TaskScore]) -> (f64, f64) {
    let min = scores.iter().map(|s| s.perf).fold(f64::INFINITY, f64::min);
    let mean = scores.iter().map(|s| s.perf).sum::<f64>() / scores.len().max(1) as f64;
    (min, mean)
}
