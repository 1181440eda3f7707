//! a^n b^n next-symbol prediction (CogControlLab/R2N2 `data/anbngen.py`, `exp_anbn/*`): one-hot
//! symbols a, b and EOL; a sequence is a^n EOL b^n EOL (2n + 2 symbols); a dataset is the four
//! sequences with n in [m, m + 3]. Each epoch is one pass over the four in an order shuffled per
//! epoch. The network sees symbol t and should answer symbol t + 1; a trial succeeds when the
//! arg-max answer is wrong at most once (the end of the a-run cannot be predicted).

use biornn_core::arrays::{put_u64, take_u64};
use biornn_core::{Arrays, Environment, Stateful, Step};
use biornn_numerics::{Result, Streams};

pub const SYMBOLS: usize = 3;
/// sequences in a dataset
pub const SET: usize = 4;

/// Symbol `t` of a^n EOL b^n EOL: 0 a, 1 b, 2 EOL.
fn symbol(n: usize, t: usize) -> usize {
    if t < n {
        0
    } else if t == n || t == 2 * n + 1 {
        2
    } else {
        1
    }
}

/// The sequence a^n EOL b^n EOL, `(2n + 2) x 3` row-major.
pub fn sequence(n: usize) -> Vec<f64> {
    let len = 2 * n + 2;
    let mut x = vec![0.0; len * SYMBOLS];
    for t in 0..len {
        x[t * SYMBOLS + symbol(n, t)] = 1.0;
    }
    x
}

/// Whether the arg-max of each output row names the hot symbol of its target row, at all steps but
/// at most one.
pub fn success(outputs: &[f64], targets: &[f64], width: usize) -> bool {
    let argmax =
        |row: &[f64]| (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best });
    let wrong = outputs
        .chunks(width)
        .zip(targets.chunks(width))
        .filter(|(o, y)| y[argmax(o)] != 1.0)
        .count();
    wrong <= 1
}

/// The dataset as a stream of steps: trial k is sequence `order(k / 4)[k % 4]`, step t hands out
/// symbol t as input and symbol t + 1 as target, and the trial's last step is marked.
#[derive(Debug, Clone, PartialEq)]
pub struct Anbn {
    /// the smallest n (the dataset is n = m .. m + 3)
    pub m: usize,
    streams: Streams,
    /// trials begun, and the step within the current one
    trial: u64,
    step: usize,
    /// the current trial's n (derived from `trial`)
    n: usize,
}

impl Anbn {
    pub fn new(m: usize, streams: &Streams) -> Self {
        let mut env = Anbn {
            m,
            streams: *streams,
            trial: 0,
            step: 0,
            n: 0,
        };
        env.n = env.n_of(0);
        env
    }

    /// The n of trial `k`: the epoch's order is a shuffle drawn from stream `anbn_order` by epoch.
    pub fn n_of(&self, k: u64) -> usize {
        let mut order = [0, 1, 2, 3];
        let mut rng = self.streams.stream("anbn_order", k / SET as u64);
        for i in (1..SET).rev() {
            order.swap(i, rng.below(i + 1));
        }
        self.m + order[(k % SET as u64) as usize]
    }
}

impl Stateful for Anbn {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_u64(out, &format!("{prefix}trial"), self.trial);
        put_u64(out, &format!("{prefix}step"), self.step as u64);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.trial = take_u64(arrays, &format!("{prefix}trial"))?;
        self.step = take_u64(arrays, &format!("{prefix}step"))? as usize;
        self.n = self.n_of(self.trial);
        Ok(())
    }
}

impl Environment for Anbn {
    fn name(&self) -> &str {
        "anbn"
    }
    fn n_in(&self) -> usize {
        SYMBOLS
    }
    fn n_out(&self) -> usize {
        SYMBOLS
    }
    fn next(&mut self, input: &mut [f32], target: &mut [f32]) -> Step {
        let (n, t) = (self.n, self.step);
        input.fill(0.0);
        target.fill(0.0);
        input[symbol(n, t)] = 1.0;
        target[symbol(n, t + 1)] = 1.0;
        let last = t + 2 == 2 * n + 2;
        if last {
            self.trial += 1;
            self.step = 0;
            self.n = self.n_of(self.trial);
        } else {
            self.step += 1;
        }
        Step { weight: 1.0, last }
    }
}

impl crate::sequences::SequenceEnv for Anbn {
    fn goal(&self) -> crate::sequences::Goal {
        crate::sequences::Goal::NextStep
    }
    fn eval_set(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        dataset(self.m)
    }
    fn success(&self, outputs: &[f64], targets: &[f64]) -> bool {
        success(outputs, targets, SYMBOLS)
    }
    fn trials_done(&self) -> u64 {
        self.trial
    }
}

/// The four sequences of the dataset n = m .. m + 3 as (inputs, next-symbol targets), each
/// `(2n + 1) x 3`.
pub fn dataset(m: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
    (m..m + SET)
        .map(|n| {
            let seq = sequence(n);
            (seq[..seq.len() - SYMBOLS].to_vec(), seq[SYMBOLS..].to_vec())
        })
        .collect()
}

/// The m values of the reference's datasets (`data/anbngen.py` builds them all; its scripts use
/// the first six).
pub const MS: [usize; 8] = [1, 6, 11, 16, 21, 26, 31, 36];

/// a^n b^n as a [`crate::Task`], for the rules that learn from batches of trials (BPTT on the
/// CTRNN, the comparison's usual alternative): trial n is drawn uniformly from m .. m + 3 (the
/// reference instead shuffles each epoch of four, as [`Anbn`] does), input symbol t, target symbol
/// t + 1, every step scored. The target class of a step is its symbol (0 a, 1 b, 2 EOL), so the
/// cross-entropy loss and the class-based scores apply too.
#[derive(Debug, Clone, PartialEq)]
pub struct AnbnTask {
    pub m: usize,
    pub key: u64,
    name: String,
}

impl AnbnTask {
    pub fn new(m: usize, key: u64) -> Self {
        AnbnTask {
            m,
            key,
            name: format!("anbn{m}"),
        }
    }
}

impl crate::Task for AnbnTask {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self) -> u64 {
        self.key
    }
    fn n_in(&self) -> usize {
        SYMBOLS
    }
    fn n_out(&self) -> usize {
        SYMBOLS
    }
    fn summary(&self) -> String {
        format!(
            "a^n EOL b^n EOL with n in {} .. {}, next-symbol prediction; {} to {} steps",
            self.m,
            self.m + 3,
            2 * self.m + 1,
            2 * self.m + 7
        )
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        &["sequence"]
    }
    fn trial_into(
        &self,
        dt: f64,
        _shared: &mut biornn_numerics::RngStream,
        content: &mut biornn_numerics::RngStream,
        t: &mut crate::Trial,
    ) {
        t.reset(SYMBOLS, SYMBOLS, dt);
        let n = self.m + content.below(SET);
        let seq = sequence(n);
        let steps = t.add_period_steps("sequence", 2 * n + 1);
        for s in steps.clone() {
            let hot = |row: usize| {
                (0..SYMBOLS)
                    .find(|k| seq[row * SYMBOLS + k] == 1.0)
                    .unwrap()
            };
            let (input, target) = (hot(s), hot(s + 1));
            t.set_input(s..s + 1, input, 1.0);
            t.set_target(s..s + 1, target, 1.0);
            // the class of a step is its target symbol (class_of: loc < 0 is 0, 0 is 1, pi is 2)
            let loc = [-1.0, 0.0, std::f32::consts::PI][target];
            t.set_y_loc(s..s + 1, loc);
        }
        t.set_cost(steps, 1.0);
        t.latent("n", n as f64);
    }
    /// The last step: the final EOL predicted.
    fn correct(&self, last: &crate::LastStep) -> bool {
        crate::argmax(last.output) as i32 == last.class
    }
    fn scores_steps(&self) -> bool {
        true
    }
    /// Every step's arg-max against its symbol; the trial succeeds with at most one wrong (the
    /// reference's definition: the end of the a-run cannot be predicted).
    fn score(&self, trial: &crate::TrialOutputs) -> crate::TrialScore {
        let steps_scored = trial.len();
        let steps_right = (0..steps_scored)
            .filter(|&t| crate::argmax(trial.at(t)) as i32 == trial.class[t])
            .count();
        crate::TrialScore {
            correct: steps_scored > 0 && steps_right + 1 >= steps_scored,
            steps_right,
            steps_scored,
            ambiguous: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_and_the_stream_follow_the_reference_generator() {
        // n = 2: a a EOL b b EOL
        let s = sequence(2);
        let hot: Vec<usize> = s
            .chunks(3)
            .map(|r| r.iter().position(|v| *v == 1.0).unwrap())
            .collect();
        assert_eq!(hot, [0, 0, 2, 1, 1, 2]);
        // each epoch of four trials is a permutation of n = m .. m + 3
        let mut env = Anbn::new(6, &Streams::new(1));
        let (mut x, mut y) = ([0.0f32; 3], [0.0f32; 3]);
        for epoch in 0..5 {
            let mut ns = vec![];
            for _ in 0..SET {
                let n = env.n_of(crate::sequences::SequenceEnv::trials_done(&env));
                let mut steps = 0;
                loop {
                    steps += 1;
                    if env.next(&mut x, &mut y).last {
                        break;
                    }
                }
                assert_eq!(steps, 2 * n + 1, "inputs 0..len-1");
                ns.push(n);
            }
            ns.sort();
            assert_eq!(ns, [6, 7, 8, 9], "epoch {epoch}");
        }
        // one wrong answer is allowed, two are not
        let t = sequence(3)[3..].to_vec();
        let mut o = t.clone();
        assert!(success(&o, &t, 3));
        o[0] = 0.0;
        o[1] = 2.0;
        assert!(success(&o, &t, 3));
        o[4] = -1.0;
        o[5] = 3.0;
        assert!(!success(&o, &t, 3));
    }
}
