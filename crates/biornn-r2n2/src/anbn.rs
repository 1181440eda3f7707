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

/// The sequence a^n EOL b^n EOL, `(2n + 2) x 3` row-major.
pub fn sequence(n: usize) -> Vec<f64> {
    let len = 2 * n + 2;
    let mut x = vec![0.0; len * SYMBOLS];
    for t in 0..len {
        let symbol = if t < n {
            0
        } else if t == n || t == len - 1 {
            2
        } else {
            1
        };
        x[t * SYMBOLS + symbol] = 1.0;
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
}

impl Anbn {
    pub fn new(m: usize, streams: &Streams) -> Self {
        Anbn {
            m,
            streams: *streams,
            trial: 0,
            step: 0,
        }
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

    /// Trials handed out in full.
    pub fn trials_done(&self) -> u64 {
        self.trial
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
        let n = self.n_of(self.trial);
        let len = 2 * n + 2;
        let seq = sequence(n);
        let t = self.step;
        for k in 0..SYMBOLS {
            input[k] = seq[t * SYMBOLS + k] as f32;
            target[k] = seq[(t + 1) * SYMBOLS + k] as f32;
        }
        let last = t + 2 == len;
        if last {
            self.trial += 1;
            self.step = 0;
        } else {
            self.step += 1;
        }
        Step { weight: 1.0, last }
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
                let n = env.n_of(env.trials_done());
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
