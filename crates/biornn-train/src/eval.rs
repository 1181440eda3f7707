//! Per-task performance of a network on a fixed evaluation set.

use crate::config::RunConfig;
use crate::engine::Engine;
use biornn_model::Ctrnn;
use biornn_numerics::{Result, Streams};
use biornn_tasks::{generate_groups_into, BatchSpec, Task, TaskBatch};
use serde::Serialize;
use std::sync::Mutex;

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

/// The evaluation batches of a run, kept from one evaluation to the next: the evaluation set is
/// the same every time (drawn from the run's fixed "eval" streams), and building it again took
/// about a sixth of a `--seeds` run's time. They are kept while their buffers take at most the
/// buffers' limit ([`KEEP_EVAL_BYTES`] by default; the six default tasks at 256 trials each take
/// 127 MB); a larger set (many tasks, long trials) is rebuilt at each evaluation into one reused
/// buffer instead (its first evaluation holds up to the limit and one batch more for a moment).
/// Either way the batches are the same, so results do not depend on which. One `EvalBuffers`
/// serves one run: the set is keyed by the seed, batch spec and the tasks' keys and names, not by
/// every parameter of a task.
pub struct EvalBuffers {
    /// the most bytes the kept set may take
    keep_bytes: usize,
    /// one batch per task, in task order, when the whole set fits
    kept: Vec<TaskBatch>,
    /// what the kept set (or the attempt to keep it) was built for
    kept_for: Option<EvalSetKey>,
    /// the reused buffer when the set does not fit
    batch: TaskBatch,
}

/// Everything an evaluation set is drawn from.
#[derive(PartialEq)]
struct EvalSetKey {
    seed: u64,
    spec: BatchSpec,
    groups: usize,
    /// each task's key and name
    tasks: Vec<(u64, String)>,
}

/// The most memory a run keeps its evaluation batches in (per network: `--seeds` trains one
/// network per core at once).
pub const KEEP_EVAL_BYTES: usize = 256 << 20;

impl Default for EvalBuffers {
    fn default() -> Self {
        EvalBuffers::keeping_at_most(KEEP_EVAL_BYTES)
    }
}

impl EvalBuffers {
    /// Buffers that keep the evaluation set while it takes at most `bytes` (0: never kept).
    pub fn keeping_at_most(bytes: usize) -> Self {
        EvalBuffers {
            keep_bytes: bytes,
            kept: vec![],
            kept_for: None,
            batch: TaskBatch::default(),
        }
    }
}

impl Drop for EvalBuffers {
    fn drop(&mut self) {
        let mut pool = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        let set: usize = self.kept.iter().map(batch_bytes).sum();
        let held: usize = pool.batches.iter().map(batch_bytes).sum();
        // only while a run may follow to build into it, and the whole set or none, last task
        // first, so that the next run's first task takes this one's first batch back
        if pool.scopes > 0 && held + set <= KEEP_EVAL_BYTES {
            pool.batches.extend(self.kept.drain(..).rev());
        }
    }
}

/// Kept evaluation batches finished runs left behind, for the next run in this process to build
/// its own into, while a [`SpareEvalBatches`] scope is open: `--seeds` and local sweeps train one
/// network after another on each thread, and fresh memory for every network's set cost about as
/// much in page faults as keeping it saved. At most [`KEEP_EVAL_BYTES`] in all, freed when the
/// last open scope closes. The scope count sits under the same lock, so that no set is handed in
/// after the last scope has closed.
static SPARE: Mutex<SparePool> = Mutex::new(SparePool {
    scopes: 0,
    batches: Vec::new(),
});

struct SparePool {
    /// open [`SpareEvalBatches`] scopes
    scopes: usize,
    batches: Vec<TaskBatch>,
}

/// While one is alive, finished runs leave their kept evaluation batches for the next run in the
/// process; when the last is dropped they are freed. A single run (the CLI's `train`, a Python
/// call) opens none, so it leaves nothing behind.
pub struct SpareEvalBatches(());

impl SpareEvalBatches {
    pub fn open() -> Self {
        SPARE.lock().unwrap_or_else(|e| e.into_inner()).scopes += 1;
        SpareEvalBatches(())
    }
}

impl Drop for SpareEvalBatches {
    fn drop(&mut self) {
        let mut pool = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        pool.scopes -= 1;
        if pool.scopes == 0 {
            pool.batches = Vec::new();
        }
    }
}

/// A batch to build an evaluation set into: a finished run's, or a new one.
fn spare_batch() -> TaskBatch {
    let spare = SPARE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .batches
        .pop();
    spare.unwrap_or_default()
}

/// Give back what a batch built into a spare holds beyond its data: a spare from a larger task
/// stays large, and one a little too small grows to twice its size.
fn trim(b: &mut TaskBatch) {
    fn fit<V>(v: &mut Vec<V>) {
        if v.capacity() > v.len() + v.len() / 8 {
            v.shrink_to_fit();
        }
    }
    fit(&mut b.x);
    fit(&mut b.y);
    fit(&mut b.cost);
    fit(&mut b.y_loc);
    fit(&mut b.class);
}

/// The memory a batch's per-step buffers hold (their capacity: a reused batch keeps its size).
fn batch_bytes(b: &TaskBatch) -> usize {
    (b.x.capacity() + b.y.capacity() + b.cost.capacity() + b.y_loc.capacity()) * size_of::<f32>()
        + b.class.capacity() * size_of::<i32>()
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
    // one evaluation: nothing to keep for a next one
    let mut buffers = EvalBuffers::keeping_at_most(0);
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
    let key = EvalSetKey {
        seed: cfg.seed,
        spec: spec.clone(),
        groups,
        tasks: tasks
            .iter()
            .map(|t| (t.key(), t.name().to_string()))
            .collect(),
    };
    let same_set = buffers.kept_for.as_ref() == Some(&key);
    let reuse = same_set && buffers.kept.len() == tasks.len();
    // the first evaluation of a set builds each batch into memory of its own, to keep while they
    // fit; a set found too large is not tried again
    let mut keeping = !same_set && buffers.keep_bytes > 0;
    if !reuse {
        buffers.kept.clear();
        buffers.kept_for = Some(key);
    }
    for (i, task) in tasks.iter().enumerate() {
        let streams = eval_streams.child("task", task.key());
        // a dataset's held-out split, where the task has one
        let held_out = task.evaluation();
        let task: &dyn Task = match &held_out {
            Some(t) => &**t,
            None => task,
        };
        if keeping {
            let mut built = spare_batch();
            generate_groups_into(task, &spec, &streams, groups, &mut built);
            built.trials = vec![]; // the trials' own copy is not needed again
            trim(&mut built);
            buffers.kept.push(built);
            if buffers.kept.iter().map(batch_bytes).sum::<usize>() > buffers.keep_bytes {
                keeping = false;
                buffers.batch = buffers.kept.pop().unwrap_or_default();
                buffers.kept = vec![];
            }
        } else if !reuse {
            generate_groups_into(task, &spec, &streams, groups, &mut buffers.batch);
        }
        let batch = match reuse || keeping {
            true => &buffers.kept[i],
            false => &buffers.batch,
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn small_run() -> RunConfig {
        let mut c = RunConfig::default();
        c.model.n_rec = 16;
        c.task.rules = vec!["fdgo".into(), "dmsgo".into(), "delayanti".into()];
        c
    }

    /// Held by every test that builds evaluation sets: the pool is one per process, and a test
    /// that opens a scope would otherwise hand another test's batches around.
    static POOL_TESTS: Mutex<()> = Mutex::new(());

    fn pool_to_myself() -> std::sync::MutexGuard<'static, ()> {
        POOL_TESTS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each task's (perf, loss) at each evaluation.
    type Scores = Vec<Vec<(f64, f64)>>;

    /// Scores of three evaluations with `buffers`, and each task's kept input buffer's address
    /// after each (none when the set was not kept).
    fn three_evaluations(
        c: &RunConfig,
        buffers: &mut EvalBuffers,
    ) -> (Scores, Vec<Vec<*const f32>>) {
        let (n_in, n_out) = c.task.sizes().unwrap();
        let streams = Streams::new(c.seed);
        let net = Ctrnn::<f32>::new(&c.model, n_in, n_out, c.task.dt, &streams).unwrap();
        let tasks = c.task.tasks().unwrap();
        let mut engine = Engine::default();
        let mut scores = vec![];
        let mut kept_at = vec![];
        for _ in 0..3 {
            let s = evaluate_tasks(&net, c, &tasks, 40, &mut engine, buffers);
            scores.push(s.iter().map(|s| (s.perf, s.loss)).collect());
            kept_at.push(buffers.kept.iter().map(|b| b.x.as_ptr()).collect());
        }
        (scores, kept_at)
    }

    #[test]
    fn kept_evaluation_batches_score_as_batches_built_anew() {
        let _pool = pool_to_myself();
        let c = small_run();
        // the reference: buffers that never keep, so every evaluation builds its set again
        let (fresh, fresh_at) = three_evaluations(&c, &mut EvalBuffers::keeping_at_most(0));
        assert!(
            fresh.iter().all(|s| *s == fresh[0]),
            "the same set every time"
        );
        assert!(fresh_at.iter().all(|at| at.is_empty()));
        let (kept, kept_at) = three_evaluations(&c, &mut EvalBuffers::default());
        assert_eq!(kept, fresh);
        // all three tasks kept after the first evaluation, and the same memory read after it
        assert_eq!(kept_at[0].len(), 3);
        assert!(kept_at.iter().all(|at| *at == kept_at[0]));
        // a budget the first task alone overflows: rebuilt each time, the same scores
        let (rebuilt, rebuilt_at) = three_evaluations(&c, &mut EvalBuffers::keeping_at_most(1000));
        assert_eq!(rebuilt, fresh);
        assert!(rebuilt_at.iter().all(|at| at.is_empty()));
        // a budget two tasks fit in: the third overflows it, so none is kept
        let two = {
            let mut b = EvalBuffers::default();
            three_evaluations(&c, &mut b);
            batch_bytes(&b.kept[0]) + batch_bytes(&b.kept[1])
        };
        let (partial, partial_at) = three_evaluations(&c, &mut EvalBuffers::keeping_at_most(two));
        assert_eq!(partial, fresh);
        assert!(partial_at.iter().all(|at| at.is_empty()));
        // another seed or task list is another set: not read from the kept one
        let mut buffers = EvalBuffers::default();
        three_evaluations(&c, &mut buffers);
        let mut other = small_run();
        other.seed = 2;
        let (theirs, _) = three_evaluations(&other, &mut EvalBuffers::default());
        assert_eq!(three_evaluations(&other, &mut buffers).0, theirs);
        assert_ne!(theirs, fresh);
        other.seed = c.seed;
        other.task.rules.pop();
        let (fewer, _) = three_evaluations(&other, &mut EvalBuffers::default());
        assert_eq!(three_evaluations(&other, &mut buffers).0, fewer);
    }

    #[test]
    fn spare_batches_carry_over_only_inside_a_scope_and_score_the_same() {
        let _pool = pool_to_myself();
        let c = small_run();
        let (alone, _) = three_evaluations(&c, &mut EvalBuffers::keeping_at_most(0));
        {
            let _scope = SpareEvalBatches::open();
            let mut first = EvalBuffers::default();
            let (_, first_at) = three_evaluations(&c, &mut first);
            drop(first); // its batches go to the pool for the next run to build into
            let (next, next_at) = three_evaluations(&c, &mut EvalBuffers::default());
            assert_eq!(next, alone);
            // each task built into the first run's batch for the same task
            assert_eq!(next_at[0], first_at[0]);
        }
        // the last scope closed: nothing left behind
        assert!(SPARE.lock().unwrap().batches.is_empty());
        drop(EvalBuffers::default());
        let mut outside = EvalBuffers::default();
        three_evaluations(&c, &mut outside);
        drop(outside);
        assert!(
            SPARE.lock().unwrap().batches.is_empty(),
            "a run outside a scope leaves nothing"
        );
    }
}
