//! Environments that hand a learning rule whole batches of trials, one batch per update.

use crate::{generate_into, BatchSpec, Task, TaskBatch};
use biornn_numerics::Streams;

/// An environment for rules that learn from batches of trials (BPTT): the batch of update
/// `index`, the same whenever it is asked for, so a resumed run sees the batches it would have.
pub trait BatchSource: Send + Sync {
    fn batch(&mut self, index: u64) -> &TaskBatch;
    /// Words that place the last batch in a message, e.g. `, task fdgo`.
    fn describe(&self) -> String {
        String::new()
    }
}

/// Several tasks, one drawn per batch with the given weights (gyyang/multitask's rule sampling):
/// the task of update `i` comes from the stream `("rule", i)`, its trials from `train` streams at
/// index `i`.
pub struct Battery<T: Task> {
    tasks: Vec<T>,
    weights: Vec<f64>,
    root: Streams,
    trials: Streams,
    spec: BatchSpec,
    batch: TaskBatch,
    last: usize,
}

impl<T: Task> Battery<T> {
    pub fn new(tasks: Vec<T>, weights: Vec<f64>, spec: BatchSpec, root: &Streams) -> Self {
        Battery {
            tasks,
            weights,
            trials: root.child("train", 0),
            root: *root,
            spec,
            batch: TaskBatch::default(),
            last: 0,
        }
    }

    pub fn tasks(&self) -> &[T] {
        &self.tasks
    }
}

impl<T: Task> BatchSource for Battery<T> {
    fn batch(&mut self, index: u64) -> &TaskBatch {
        let r = self
            .root
            .stream("rule", index)
            .weighted_index(&self.weights);
        self.last = r;
        generate_into(
            &self.tasks[r],
            &self.spec,
            &self.trials,
            index,
            &mut self.batch,
        );
        &self.batch
    }

    fn describe(&self) -> String {
        format!(", task {}", self.tasks[self.last].name())
    }
}
