//! Replay after training (the reference's replay loop and `plotMetrics.plot_replay_decay`): the
//! network runs on from where training left it, the first cycles nudged and the rest free,
//! plasticity on; a disruption clamps visible somata in one free cycle. Each free cycle is scored
//! against the target with the time-shift search: its window slid by 0 .. one cycle into the
//! next, the best MSE (and, separately, the best correlation) kept, which forgives a phase drift.

use crate::learner::EliseLearner;
use std::ops::Range;

/// Visible somata clamped at `potential` for `steps` of replay cycle `cycle` (the reference's
/// `pattern_disruptions/*.txt`, always in replay cycle 4, the second free one).
#[derive(Debug, Clone, PartialEq)]
pub struct Disruption {
    pub cycle: usize,
    pub steps: Range<usize>,
    pub neurons: Range<usize>,
    pub potential: f64,
    /// a cue afterwards: the teacher on in this cycle for these steps only (cued completion)
    pub cue: Option<(usize, Range<usize>)>,
}

/// The reference's four disruptions by name: `full` (every visible neuron silenced at E_L for a
/// whole cycle), `full_offset` (held at E_L + 15 mV, a tonic rate of 0.71), `small` and
/// `small_offset` (the same from 90 to 150 ms); and ours, `cued`: the visible neurons silenced
/// for the whole cycle 4, then the teacher on for the first 50 ms of cycle 5 only (cued
/// completion: does the network finish the pattern from its opening?).
pub const DISRUPTIONS: [&str; 5] = ["full", "full_offset", "small", "small_offset", "cued"];

impl Disruption {
    pub fn preset(name: &str, n_vis: usize, cycle_len: usize, e_l: f64) -> Option<Self> {
        let (steps, offset) = match name {
            "full" | "cued" => (0..cycle_len, 0.0),
            "full_offset" => (0..cycle_len, 15.0),
            "small" => (900.min(cycle_len)..1500.min(cycle_len), 0.0),
            "small_offset" => (900.min(cycle_len)..1500.min(cycle_len), 15.0),
            _ => return None,
        };
        Some(Disruption {
            cycle: 4,
            steps,
            neurons: 0..n_vis,
            potential: e_l + offset,
            cue: (name == "cued").then(|| (5, 0..500.min(cycle_len))),
        })
    }
}

/// What a replay recorded: the visible rates every 2nd step, `[cycle][sample][neuron]`, and the
/// target's over one cycle, `[sample][neuron]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub n_vis: usize,
    pub samples: usize,
    pub nudged: usize,
    pub rates: Vec<f64>,
    pub target: Vec<f64>,
}

/// A free replay cycle's best scores under the time-shift search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftScore {
    pub cycle: usize,
    pub mse: f64,
    /// the shift, in samples of 2 steps (0.2 ms), that gave the best MSE
    pub shift: usize,
    pub correlation: f64,
}

impl EliseLearner {
    /// `cycles` replay cycles, the first `nudged` with the teacher, plasticity on; the learner
    /// goes on from where it stands (the reference replays after training, without a reset).
    pub fn replay(
        &mut self,
        cycles: usize,
        nudged: usize,
        disruption: Option<&Disruption>,
    ) -> Replay {
        let n_vis = self.net.n_vis;
        let len = self.teacher.len;
        let samples = len.div_ceil(2);
        let mut rates = Vec::with_capacity(cycles * samples * n_vis);
        let p = self.net.p;
        let target: Vec<f64> = (0..len)
            .step_by(2)
            .flat_map(|t| self.teacher.target_rates(&p, t).collect::<Vec<_>>())
            .collect();
        let mut mask = vec![false; n_vis];
        for c in 0..cycles {
            for t in 0..len {
                let cued = disruption
                    .and_then(|d| d.cue.as_ref())
                    .is_some_and(|(cycle, steps)| *cycle == c && steps.contains(&t));
                let teacher = (c < nudged || cued).then(|| self.teacher.at(t));
                let clamp = disruption
                    .filter(|d| d.cycle == c && d.steps.contains(&t))
                    .map(|d| {
                        for (i, m) in mask.iter_mut().enumerate() {
                            *m = d.neurons.contains(&i);
                        }
                        (&mask[..], d.potential)
                    });
                self.net.step_neurons(teacher, clamp);
                self.rule.apply(&mut self.net);
                self.net.step_scaffold();
                if t % 2 == 0 {
                    rates.extend_from_slice(self.net.output());
                }
            }
        }
        Replay {
            n_vis,
            samples,
            nudged,
            rates,
            target,
        }
    }
}

impl Replay {
    pub fn cycles(&self) -> usize {
        self.rates.len() / (self.samples * self.n_vis)
    }

    /// Every free cycle but the last (its window cannot slide) scored with the time-shift search.
    pub fn scores(&self) -> Vec<ShiftScore> {
        let (k, s) = (self.n_vis, self.samples);
        let cycles = self.cycles();
        (self.nudged..cycles.saturating_sub(1))
            .map(|c| {
                let mut best = (f64::INFINITY, 0);
                let mut best_corr = f64::NEG_INFINITY;
                for shift in 0..s {
                    let start = (c * s + shift) * k;
                    let window = &self.rates[start..start + s * k];
                    let mse = window
                        .iter()
                        .zip(&self.target)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        / (s * k) as f64;
                    if mse < best.0 {
                        best = (mse, shift);
                    }
                    best_corr = best_corr.max(correlation(window, &self.target, k));
                }
                ShiftScore {
                    cycle: c,
                    mse: best.0,
                    shift: best.1,
                    correlation: best_corr,
                }
            })
            .collect()
    }
}

/// The sum over the `k` interleaved series of their Pearson correlation (0 for a flat series).
pub fn correlation(a: &[f64], b: &[f64], k: usize) -> f64 {
    let n = (a.len() / k) as f64;
    (0..k)
        .map(|i| {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (x, y) in a.iter().skip(i).step_by(k).zip(b.iter().skip(i).step_by(k)) {
                sa += x;
                sb += y;
                saa += x * x;
                sbb += y * y;
                sab += x * y;
            }
            pearson([sa, sb, saa, sbb, sab], n)
        })
        .sum()
}

/// Pearson's correlation from the sums of x, y, xx, yy and xy over `n` samples (0 for a flat
/// series).
pub(crate) fn pearson([sa, sb, saa, sbb, sab]: [f64; 5], n: f64) -> f64 {
    let cov = sab / n - sa * sb / (n * n);
    let (va, vb) = (saa / n - (sa / n).powi(2), sbb / n - (sb / n).powi(2));
    if va > 0.0 && vb > 0.0 {
        cov / (va * vb).sqrt()
    } else {
        0.0
    }
}
