//! FORCE's periodic targets (Sussillo and Abbott 2009, Fig. 2): with phase p = 2 pi t / period,
//! the sum of sines f(t) = A/1.5 (sin p + sin(2p)/2 + sin(3p)/6 + sin(4p)/3), or the triangle wave
//! of amplitude A (A at the start of each period, -A half way). No input; the sequence never
//! restarts, so where it stands (the step count) is the environment's state.

use crate::config::SinesConfig;
use biornn_core::arrays::{put_u64, take_u64};
use biornn_core::{Arrays, Environment, Stateful, Step};
use biornn_numerics::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct Sines {
    /// the triangle wave instead of the sum of sines
    pub triangle: bool,
    pub amplitude: f64,
    pub period_steps: usize,
    /// steps handed out so far
    pub t: u64,
}

impl Sines {
    pub fn new(cfg: &SinesConfig) -> Self {
        Sines {
            triangle: cfg.kind == "triangle",
            amplitude: cfg.amplitude,
            period_steps: cfg.period_steps,
            t: 0,
        }
    }

    /// The target at step `t`.
    pub fn target_at(&self, t: u64) -> f64 {
        let phase = (t % self.period_steps as u64) as f64 / self.period_steps as f64;
        if self.triangle {
            return self.amplitude * (4.0 * (phase - 0.5).abs() - 1.0);
        }
        let p = 2.0 * std::f64::consts::PI * phase;
        self.amplitude / 1.5
            * (p.sin() + (2.0 * p).sin() / 2.0 + (3.0 * p).sin() / 6.0 + (4.0 * p).sin() / 3.0)
    }
}

impl Stateful for Sines {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_u64(out, &format!("{prefix}t"), self.t);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.t = take_u64(arrays, &format!("{prefix}t"))?;
        Ok(())
    }
}

impl Environment for Sines {
    fn name(&self) -> &str {
        if self.triangle {
            "triangle"
        } else {
            "sines"
        }
    }
    fn n_in(&self) -> usize {
        0
    }
    fn n_out(&self) -> usize {
        1
    }
    fn next(&mut self, _input: &mut [f32], target: &mut [f32]) -> Step {
        target[0] = self.target_at(self.t) as f32;
        self.t += 1;
        Step {
            weight: 1.0,
            last: self.t.is_multiple_of(self.period_steps as u64),
        }
    }
}
