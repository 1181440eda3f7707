//! Skip connections through time, used during training only (Soo, Goudar and Wang, NeurIPS 2023;
//! wmws2/temporalskip).
//!
//! After every `theta` fine Euler steps (a block), the state is mixed with a skip target:
//!
//! ```text
//! SCTT: s_end <- beta * s_end + (1 - beta) * s_start
//! DASC: s_end <- beta * s_end + (1 - beta) * (s_start + theta * delta_start)
//! ```
//! where delta_start = s_{start+1} - s_start is the first fine step of the block: one coarse Euler
//! step from the block start, the derivative taken at the block start as in the paper's equation.
//! [`DascDerivative::Stale`] instead reproduces wmws2/temporalskip `compute_uall`, whose blocks after
//! the first use the last fine step of the previous block (taken before the previous mix).
//!
//! Blocks run within segments (by default the trial epochs, where the reference restarts them) and
//! a block cut short by the end of its segment is not mixed. beta = 1 leaves every state as it is:
//! the plain network, bit for bit. Gradients flow through both paths exactly.
//!
//! A second, coarser skip works at the scale of whole task trials (the rule-reversal task's): at
//! the end of each span, after any block mix there, s_end <- beta s_end + (1 - beta) s_span_start.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// skip connection through time: the skip carries the block-start state
    Sctt,
    /// dynamics-aligned skip connection: the skip carries one coarse Euler step
    Dasc,
}

/// Where DASC takes the derivative of its coarse step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DascDerivative {
    /// at the block start, as the paper's equation says
    #[default]
    BlockStart,
    /// the reference code's: the previous block's last fine step, for every block but a segment's first
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Skip {
    pub kind: SkipKind,
    /// fine steps per block (at least 2)
    pub theta: usize,
    /// weight of the fine path, in [0, 1]; 1 is the plain network
    pub beta: f64,
    pub derivative: DascDerivative,
}

/// A block of fine steps: states `start..=end`, mixed at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start: usize,
    pub end: usize,
    /// the block starts where the previous one ended (its start state is a mixed one)
    pub follows: bool,
}

/// How a forward pass runs in time beyond plain Euler steps: skip blocks, their segments, and where
/// gradients start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimePlan {
    pub skip: Option<Skip>,
    /// first step of each segment within which blocks run (0 is implied); blocks restart at each
    pub segments: Vec<usize>,
    /// no gradient flows to states before this step (a pre-trial period run outside the gradient):
    /// the state at this step is treated as a constant
    pub grad_start: usize,
    /// spans `(start, end)` of a second skip at the scale of whole task trials, in SCTT form at the
    /// same beta: at state `end`, after any block mix there, s <- beta s + (1 - beta) s_start.
    /// The rule-reversal task's trial-level skip; ends ascending and distinct.
    pub trial_spans: Vec<(usize, usize)>,
}

impl TimePlan {
    pub fn plain() -> TimePlan {
        TimePlan::default()
    }

    /// The skip, when it changes anything (beta < 1).
    pub fn active_skip(&self) -> Option<Skip> {
        self.skip.filter(|s| s.beta < 1.0 && s.theta >= 2)
    }

    /// The beta of the trial-level skip, when it changes anything (spans given and beta < 1).
    pub fn trial_beta(&self) -> Option<f64> {
        if self.trial_spans.is_empty() {
            return None;
        }
        self.skip.map(|s| s.beta).filter(|b| *b < 1.0)
    }

    /// The blocks of a pass of `steps` steps, in order, written into `out`.
    pub fn blocks_into(&self, steps: usize, out: &mut Vec<Block>) {
        out.clear();
        let Some(skip) = self.active_skip() else {
            return;
        };
        let mut bounds: Vec<usize> = Vec::with_capacity(self.segments.len() + 2);
        bounds.push(0);
        bounds.extend(
            self.segments
                .iter()
                .copied()
                .filter(|&s| s > 0 && s < steps),
        );
        bounds.push(steps);
        bounds.sort_unstable();
        bounds.dedup();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let mut start = a;
            let mut follows = false;
            while start + skip.theta <= b {
                out.push(Block {
                    start,
                    end: start + skip.theta,
                    follows,
                });
                start += skip.theta;
                follows = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_restart_at_segments_and_partial_blocks_are_not_mixed() {
        let plan = TimePlan {
            skip: Some(Skip {
                kind: SkipKind::Sctt,
                theta: 3,
                beta: 0.5,
                derivative: DascDerivative::BlockStart,
            }),
            segments: vec![7],
            grad_start: 0,
            trial_spans: vec![],
        };
        let mut b = vec![];
        plan.blocks_into(12, &mut b);
        let spans: Vec<(usize, usize, bool)> =
            b.iter().map(|b| (b.start, b.end, b.follows)).collect();
        // segment [0, 7): blocks 0-3, 3-6 (6-7 partial); segment [7, 12): 7-10 (10-12 partial)
        assert_eq!(spans, vec![(0, 3, false), (3, 6, true), (7, 10, false)]);
        let plain = TimePlan {
            skip: plan.skip.map(|s| Skip { beta: 1.0, ..s }),
            ..plan.clone()
        };
        plain.blocks_into(12, &mut b);
        assert!(b.is_empty(), "beta = 1 has no blocks");
    }
}
