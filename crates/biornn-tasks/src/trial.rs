//! The trial builder, in the spirit of NeuroGym: periods with durations in ms, then inputs and targets
//! written over named periods or step ranges.

use std::ops::Range;

/// A named span of steps, `[on, off)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    pub name: &'static str,
    pub on: usize,
    pub off: usize,
}

/// One trial, time-major: `x[t * n_in + i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub dt: f64,
    pub n_in: usize,
    pub n_out: usize,
    pub len: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    /// weight of each output at each step in the loss
    pub cost: Vec<f32>,
    /// target angle per step, or -1 where the network should fixate
    pub y_loc: Vec<f32>,
    pub epochs: Vec<Epoch>,
    /// every latent parameter of the trial, by name (see the task's documentation)
    pub latents: Vec<(&'static str, f64)>,
}

impl Trial {
    pub fn new(n_in: usize, n_out: usize, dt: f64) -> Self {
        Trial {
            dt,
            n_in,
            n_out,
            len: 0,
            x: vec![],
            y: vec![],
            cost: vec![],
            y_loc: vec![],
            epochs: vec![],
            latents: vec![],
        }
    }

    /// Empty this trial for reuse, keeping its buffers' capacity.
    pub fn reset(&mut self, n_in: usize, n_out: usize, dt: f64) {
        (self.n_in, self.n_out, self.dt, self.len) = (n_in, n_out, dt, 0);
        self.x.clear();
        self.y.clear();
        self.cost.clear();
        self.y_loc.clear();
        self.epochs.clear();
        self.latents.clear();
    }

    /// Number of steps of a duration, floored as gyyang/multitask does (`int(ms / dt)`), separately for
    /// each segment.
    pub fn steps(&self, ms: f64) -> usize {
        (ms / self.dt).floor().max(0.0) as usize
    }

    /// Append a period of `steps` steps; returns its range.
    pub fn add_period_steps(&mut self, name: &'static str, steps: usize) -> Range<usize> {
        let on = self.len;
        self.len += steps;
        self.x.resize(self.len * self.n_in, 0.0);
        self.y.resize(self.len * self.n_out, 0.0);
        self.cost.resize(self.len * self.n_out, 0.0);
        self.y_loc.resize(self.len, -1.0);
        self.epochs.push(Epoch {
            name,
            on,
            off: self.len,
        });
        on..self.len
    }

    /// Append a period of `ms` milliseconds.
    pub fn add_period(&mut self, name: &'static str, ms: f64) -> Range<usize> {
        let s = self.steps(ms);
        self.add_period_steps(name, s)
    }

    /// The range of a named period.
    pub fn period(&self, name: &str) -> Option<Range<usize>> {
        self.epochs
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.on..e.off)
    }

    /// Set input channel `channel` to `value` over `steps`.
    pub fn set_input(&mut self, steps: Range<usize>, channel: usize, value: f32) {
        for t in steps {
            self.x[t * self.n_in + channel] = value;
        }
    }

    /// Add `values` onto channels `first..first+len` over `steps` (bumps add up, as in gyyang).
    pub fn add_input(&mut self, steps: Range<usize>, first: usize, values: &[f32]) {
        for t in steps {
            let row = &mut self.x[t * self.n_in + first..t * self.n_in + first + values.len()];
            for (a, v) in row.iter_mut().zip(values) {
                *a += v;
            }
        }
    }

    pub fn fill_target(&mut self, value: f32) {
        self.y.fill(value);
    }

    pub fn set_target(&mut self, steps: Range<usize>, channel: usize, value: f32) {
        for t in steps {
            self.y[t * self.n_out + channel] = value;
        }
    }

    pub fn add_target(&mut self, steps: Range<usize>, first: usize, values: &[f32]) {
        for t in steps {
            let row = &mut self.y[t * self.n_out + first..t * self.n_out + first + values.len()];
            for (a, v) in row.iter_mut().zip(values) {
                *a += v;
            }
        }
    }

    pub fn set_y_loc(&mut self, steps: Range<usize>, loc: f32) {
        for t in steps {
            self.y_loc[t] = loc;
        }
    }

    /// Set the loss weight of every output over `steps`.
    pub fn set_cost(&mut self, steps: Range<usize>, value: f32) {
        for t in steps {
            self.cost[t * self.n_out..(t + 1) * self.n_out].fill(value);
        }
    }

    /// Multiply the loss weight of one output channel at every step.
    pub fn scale_cost_channel(&mut self, channel: usize, factor: f32) {
        for t in 0..self.len {
            self.cost[t * self.n_out + channel] *= factor;
        }
    }

    pub fn latent(&mut self, name: &'static str, value: f64) {
        self.latents.push((name, value));
    }
}
