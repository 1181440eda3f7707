//! Environments that hand a learning rule whole batches of trials, one batch per update.

use crate::batch::class_of;
use crate::{generate_into, BatchSpec, Task, TaskBatch, Trial};
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

/// NeuroGym's `Dataset` layout: every batch row is an endless stream of whole trials back to back
/// (the task of each trial drawn by weight, never the task just before it, as NeuroGym's
/// `RandomSchedule`), cut into windows of `window` steps; batch `i` holds steps
/// `i * window .. (i + 1) * window` of every row's stream. Windows cut across trials, so no step is
/// padding, and the network's state starts afresh at each window. Trial k of row b comes from the
/// streams `("stream_task", b)` and `("stream_trial", b)` at index k, so batch i is the same
/// whenever it is asked for: the rows are replayed from the start when an earlier batch is asked
/// for (a resumed run replays its rows once).
pub struct StreamBattery<T: Task> {
    tasks: Vec<T>,
    weights: Vec<f64>,
    root: Streams,
    spec: BatchSpec,
    window: usize,
    rows: Vec<Row>,
    batch: TaskBatch,
}

/// Where one row's stream stands: `trial` (the `k`-th, of task `task`) starts at step `start`.
struct Row {
    k: u64,
    task: Option<usize>,
    /// how many trials of each task the row has had, for grouped tasks' turns
    count: Vec<u64>,
    trial: Trial,
    start: u64,
}

impl<T: Task> StreamBattery<T> {
    pub fn new(
        tasks: Vec<T>,
        weights: Vec<f64>,
        spec: BatchSpec,
        window: usize,
        root: &Streams,
    ) -> Self {
        StreamBattery {
            rows: vec![],
            tasks,
            weights,
            root: *root,
            spec,
            window: window.max(1),
            batch: TaskBatch::default(),
        }
    }

    pub fn tasks(&self) -> &[T] {
        &self.tasks
    }

    /// The next trial of row `b` after `row`'s current one.
    fn next_trial(&self, b: usize, row: &mut Row) {
        let k = row.k;
        let mut pick = self.root.child("stream_task", b as u64).stream("trial", k);
        // never the task just before, when there is another to choose
        let mut weights = self.weights.clone();
        if let Some(prev) = row
            .task
            .filter(|_| weights.iter().filter(|w| **w > 0.0).count() > 1)
        {
            weights[prev] = 0.0;
        }
        let task = pick.weighted_index(&weights);
        let s = self.root.child("stream_trial", b as u64);
        let mut shared = s.stream("timing", k);
        let mut content = s.stream("content", k);
        row.start += row.trial.len as u64;
        row.count.resize(self.tasks.len(), 0);
        let n = row.count[task];
        row.count[task] += 1;
        let (dt, out) = (self.spec.dt, &mut row.trial);
        match self.tasks[task].group_size() as u64 {
            1 => self.tasks[task].trial_into(dt, &mut shared, &mut content, out),
            g => {
                let mut group = s.child("group", task as u64).stream("group", n / g);
                let member = (n % g) as usize;
                self.tasks[task].member_into(dt, &mut shared, &mut group, &mut content, member, out)
            }
        }
        row.task = Some(task);
        row.k += 1;
    }
}

impl<T: Task> BatchSource for StreamBattery<T> {
    fn batch(&mut self, index: u64) -> &TaskBatch {
        let (rows, window) = (self.spec.batch_size, self.window);
        let from = index * window as u64;
        // a batch before the rows' positions: replay them from the start
        if self.rows.len() != rows || self.rows.iter().any(|r| r.start > from) {
            let (n_in, n_out) = (self.tasks[0].n_in(), self.tasks[0].n_out());
            self.rows = (0..rows)
                .map(|_| Row {
                    k: 0,
                    task: None,
                    count: vec![],
                    trial: Trial::new(n_in, n_out, self.spec.dt),
                    start: 0,
                })
                .collect();
        }
        let (n_in, n_out) = (self.tasks[0].n_in(), self.tasks[0].n_out());
        // every step of every row is written below
        self.batch.reshape(window, rows, n_in, n_out);
        self.batch.lengths.resize(rows, window);
        let mut rows_state = std::mem::take(&mut self.rows);
        for (b, row) in rows_state.iter_mut().enumerate() {
            for t in 0..window {
                let at = from + t as u64;
                while at >= row.start + row.trial.len as u64 {
                    self.next_trial(b, row);
                }
                let s = (at - row.start) as usize;
                let c = t * rows + b;
                let tr = &row.trial;
                self.batch.x[c * n_in..(c + 1) * n_in]
                    .copy_from_slice(&tr.x[s * n_in..(s + 1) * n_in]);
                self.batch.y[c * n_out..(c + 1) * n_out]
                    .copy_from_slice(&tr.y[s * n_out..(s + 1) * n_out]);
                self.batch.cost[c * n_out..(c + 1) * n_out]
                    .copy_from_slice(&tr.cost[s * n_out..(s + 1) * n_out]);
                self.batch.y_loc[c] = tr.y_loc[s];
                self.batch.class[c] = class_of(tr.y_loc[s], n_out);
            }
        }
        self.rows = rows_state;
        if self.spec.input_noise_std > 0.0 {
            let mut rng = self.root.stream("stream_noise", index).bulk();
            rng.add_normal_f32(&mut self.batch.x, self.spec.input_noise_std as f32);
        }
        &self.batch
    }
}
