//! The cache: a one-shot Hopfield-like sequence memory (CogControlLab/R2N2 `models.py`, class
//! `HFRNN`, demo `exp6.py`). Two weight matrices are gated by a control signal lambda:
//! ```text
//! h <- (1 - 1/tau) h + (1/tau) (lambda W_2 + (1 - lambda) W_1) sgn(h),   output sgn(h), sgn(0) = +1
//! ```
//! Storing patterns xi^0 .. xi^{K-1} (+-1) in one shot: with rho the mean of all entries and
//! p^k = xi^k - rho, pair k goes into W_2 for even k and W_1 for odd k, as
//! `W += p^k (p^{k+1} + p^k)^T` (reverse: the pair {xi^k, xi^{k+1}} becomes a basin of xi^k) or
//! `W += p^{k+1} (p^k + p^{k+1})^T` (forward: a basin of xi^{k+1}); then both are divided by N.
//! Alternating lambda then walks the sequence: started at xi^{K-1} with lambda = 1 it replays the
//! sequence in reverse (the reference's orientation); started at xi^0 with the forward storage
//! and lambda = 1 for the first pair's matrix it replays it forward.
//!
//! lambda comes from an external schedule, (1 + cos(pi t'))/2 with t' running evenly from 0 to
//! K - 1 half-periods over (K - 1) x 30 steps (`exp6.py`'s `linspace`), or is self-timed: it
//! flips whenever a step leaves the sign pattern unchanged, and recall stops once the best-matching
//! pattern is the sequence's last (reverse: xi^0).

use biornn_numerics::linalg::matvec;
use biornn_numerics::{Error, Result, Streams};

/// Which way a stored sequence replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Reverse,
    Forward,
}

/// Where lambda comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lambda {
    /// (1 + cos(pi t'))/2 over `steps_per_pattern` steps per transition
    External { steps_per_pattern: usize },
    /// flips when the sign pattern stops changing
    SelfTimed { max_steps: usize },
}

/// The most units a cache may have: its two weight matrices take 2 n^2 f64 (4 GiB here), and a
/// size past what the machine can hold should be an error, not an aborted process.
pub const MAX_CACHE_UNITS: usize = 16_384;

#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    pub n: usize,
    pub tau: f64,
    pub w1: Vec<f64>,
    pub w2: Vec<f64>,
    /// how many patterns are stored, and which way
    pub stored: usize,
    pub direction: Direction,
}

/// sgn with sgn(0) = +1.
pub fn sgn(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// The fraction of entries on which two +-1 patterns agree (1 - the normalised Hamming distance).
pub fn overlap(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// What a replay produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    /// the output sgn(h) at every step, `steps x n`
    pub outputs: Vec<f64>,
    /// lambda at every step
    pub lambdas: Vec<f64>,
    /// self-timed: the outputs at which lambda flipped (the settled patterns), in order
    pub settled: Vec<Vec<f64>>,
}

impl Recall {
    pub fn steps(&self) -> usize {
        self.lambdas.len()
    }
    /// The output at step `t`.
    pub fn at(&self, t: usize, n: usize) -> &[f64] {
        &self.outputs[t * n..(t + 1) * n]
    }
}

impl Cache {
    /// An empty cache of `n` units: its matrices start as g N(0, 1/n) (negligible once a sequence
    /// is stored, which divides them by n), from stream `cache_w`.
    pub fn new(n: usize, g: f64, tau: f64, streams: &Streams) -> Result<Self> {
        if n == 0 || n > MAX_CACHE_UNITS {
            return Err(Error::invalid(
                "cache.n",
                n,
                &format!("allowed: 1 to {MAX_CACHE_UNITS} (two n x n matrices of f64)"),
            ));
        }
        if !(tau.is_finite() && tau >= 1.0) {
            return Err(Error::invalid(
                "cache.tau",
                tau,
                "allowed: a number of steps >= 1",
            ));
        }
        let mut r = streams.stream("cache_w", 0);
        let s = g / (n as f64).sqrt();
        let mut draw = || (0..n * n).map(|_| s * r.normal()).collect::<Vec<f64>>();
        let (w1, w2) = (draw(), draw());
        Ok(Cache {
            n,
            tau,
            w1,
            w2,
            stored: 0,
            direction: Direction::Reverse,
        })
    }

    /// Store `patterns` (`k x n`, entries +-1) in one shot.
    pub fn store(&mut self, patterns: &[f64], direction: Direction) -> Result<()> {
        let n = self.n;
        if patterns.is_empty()
            || !patterns.len().is_multiple_of(n)
            || patterns.iter().any(|v| v.abs() != 1.0)
        {
            return Err(Error::new(format!(
                "cache.store: patterns must be k x {n} entries of +1 or -1 (got {} values)",
                patterns.len()
            )));
        }
        let k = patterns.len() / n;
        let rho = patterns.iter().sum::<f64>() / patterns.len() as f64;
        let p = |i: usize| {
            patterns[i * n..(i + 1) * n]
                .iter()
                .map(|v| v - rho)
                .collect::<Vec<f64>>()
        };
        for i in 0..k.saturating_sub(1) {
            let (a, b) = (p(i), p(i + 1));
            let w = if i % 2 == 0 {
                &mut self.w2
            } else {
                &mut self.w1
            };
            // reverse: basin of xi^i for the pair; forward: basin of xi^{i+1}
            let (post, other) = match direction {
                Direction::Reverse => (&a, &b),
                Direction::Forward => (&b, &a),
            };
            for r in 0..n {
                for c in 0..n {
                    w[r * n + c] += post[r] * (other[c] + post[c]);
                }
            }
        }
        for w in self.w1.iter_mut().chain(self.w2.iter_mut()) {
            *w /= n as f64;
        }
        self.stored = k;
        self.direction = direction;
        Ok(())
    }

    /// One step at gate `lambda`; `rates` and `drive` are scratch of n.
    pub fn step(&self, h: &mut [f64], lambda: f64, rates: &mut [f64], drive: &mut [f64]) {
        for (r, v) in rates.iter_mut().zip(h.iter()) {
            *r = sgn(*v);
        }
        matvec(&self.w2, rates, drive, false);
        let leak = 1.0 - 1.0 / self.tau;
        // (lambda W_2 + (1 - lambda) W_1) sgn(h), as two products
        let n = self.n;
        for i in 0..n {
            let w1_row = &self.w1[i * n..(i + 1) * n];
            let s1: f64 = w1_row.iter().zip(rates.iter()).map(|(w, r)| w * r).sum();
            h[i] = leak * h[i] + (lambda * drive[i] + (1.0 - lambda) * s1) / self.tau;
        }
    }

    /// Replay from `start` (a pattern, e.g. the last stored for reverse replay) under `lambda`.
    /// The first transition uses W_2 (lambda = 1), the matrix of the first stored pair.
    pub fn replay(&self, start: &[f64], lambda: Lambda, patterns: &[f64]) -> Recall {
        let n = self.n;
        let mut h = start.to_vec();
        let (mut rates, mut drive) = (vec![0.0; n], vec![0.0; n]);
        let mut recall = Recall {
            outputs: vec![],
            lambdas: vec![],
            settled: vec![],
        };
        let k = self.stored;
        // the pair stored last is in W_2 when k - 2 is even; a reverse replay starts there
        let start_gate = |reverse: bool| -> f64 {
            if !reverse || (k >= 2 && (k - 2).is_multiple_of(2)) {
                1.0
            } else {
                0.0
            }
        };
        let reverse = self.direction == Direction::Reverse;
        match lambda {
            Lambda::External { steps_per_pattern } => {
                let periods = k.saturating_sub(1);
                let t_max = steps_per_pattern * periods;
                let first = start_gate(reverse);
                for t in 0..t_max {
                    let x = if t_max > 1 {
                        periods as f64 * t as f64 / (t_max - 1) as f64
                    } else {
                        0.0
                    };
                    let c = 0.5 * ((std::f64::consts::PI * x).cos() + 1.0);
                    let l = if first == 1.0 { c } else { 1.0 - c };
                    self.step(&mut h, l, &mut rates, &mut drive);
                    recall.lambdas.push(l);
                    recall.outputs.extend(h.iter().map(|v| sgn(*v)));
                }
            }
            Lambda::SelfTimed { max_steps } => {
                let mut s = if start_gate(reverse) == 1.0 {
                    1.0
                } else {
                    -1.0
                };
                let last = if reverse { 0 } else { k.saturating_sub(1) };
                for t in 0..max_steps {
                    let l = 0.5 * (s + 1.0);
                    // `step` leaves sgn(h) before the step in `rates`
                    self.step(&mut h, l, &mut rates, &mut drive);
                    recall.lambdas.push(l);
                    recall.outputs.extend(h.iter().map(|v| sgn(*v)));
                    let o = &recall.outputs[t * n..(t + 1) * n];
                    if o == rates.as_slice() {
                        s = -s;
                        recall.settled.push(o.to_vec());
                    }
                    let best = (0..k)
                        .map(|p| (p, overlap(o, &patterns[p * n..(p + 1) * n])))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(0, |(p, _)| p);
                    if best == last {
                        break;
                    }
                }
            }
        }
        recall
    }
}

/// `k` random patterns of `n` entries, a fraction `fill` of them +1 (the reference hard-codes 0.4),
/// from stream `cache_patterns`.
pub fn random_patterns(n: usize, k: usize, fill: f64, streams: &Streams) -> Vec<f64> {
    let mut r = streams.stream("cache_patterns", 0);
    let on = (n as f64 * fill) as usize;
    let mut out = vec![-1.0; n * k];
    for p in 0..k {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..on {
            let j = i + r.below(n - i);
            idx.swap(i, j);
            out[p * n + idx[i]] = 1.0;
        }
    }
    out
}
