//! Psychometric curves: choice probability against stimulus difference, with a logistic fit by
//! maximum likelihood, P(choice 1) = 1 / (1 + exp(-(x - bias) / scale)).
//!
//! Trials follow gyyang/multitask `analysis/performance.py` (`psychometric_choice`): the two stimuli
//! opposite each other at many locations, stimulus 1 of strength 1 + c and stimulus 2 of 1 - c in
//! the ring(s) the rule attends, onset at 300 ms, the go cue at the end of the stimulus, 400 ms to
//! answer, noise on; the choice is the population-vector readout at the last step, counted for the
//! stimulus within 0.3 pi of it (trials near neither are left out).

use biornn_numerics::{Error, Result};
use biornn_tasks::yang::{circ_dist, popvec, YangRule, YangTrialSpec};
use std::f64::consts::PI;

/// The rules a psychometric curve is defined for (both stimuli shown together).
pub const PSYCHOMETRIC_RULES: [YangRule; 5] = [
    YangRule::Dm1,
    YangRule::Dm2,
    YangRule::ContextDm1,
    YangRule::ContextDm2,
    YangRule::MultiDm,
];

/// Half the strength differences shown (c; the difference is 2c).
pub const COHERENCES: [f64; 11] = [
    -0.08, -0.04, -0.02, -0.01, -0.005, 0.0, 0.005, 0.01, 0.02, 0.04, 0.08,
];
/// Stimulus durations in ms.
pub const DURATIONS: [f64; 3] = [200.0, 400.0, 800.0];

/// The explicit trial for one rule, coherence, duration and location (stimulus 2 opposite).
pub fn trial_spec(
    rule: YangRule,
    coh: f64,
    duration_ms: f64,
    loc: f64,
    dt: f64,
) -> Result<YangTrialSpec> {
    let st = |ms: f64| (ms / dt).floor() as usize;
    let (s1, s2) = (1.0 + coh, 1.0 - coh);
    let (stim1_strength, stim2_strength) = match rule {
        YangRule::Dm1 => ([s1, 0.0], [s2, 0.0]),
        YangRule::Dm2 => ([0.0, s1], [0.0, s2]),
        // the other ring carries equal, uninformative stimuli
        YangRule::ContextDm1 => ([s1, 1.0], [s2, 1.0]),
        YangRule::ContextDm2 => ([1.0, s1], [1.0, s2]),
        YangRule::MultiDm => ([s1, s1], [s2, s2]),
        other => {
            return Err(Error::invalid(
                "rule",
                other.name(),
                "allowed: dm1, dm2, contextdm1, contextdm2, multidm",
            ))
        }
    };
    let on = st(300.0);
    let off = on + st(duration_ms);
    let spec = YangTrialSpec {
        rule,
        stim1_loc: loc,
        stim2_loc: (loc + PI).rem_euclid(2.0 * PI),
        stim1_strength,
        stim2_strength,
        stim1_on: on,
        stim1_off: off,
        stim2_on: on,
        stim2_off: off,
        fix_off: off,
        response_on: off,
        t_end: off + st(400.0),
    };
    spec.validate()?;
    Ok(spec)
}

/// Which stimulus a trial's last output chose: Some(true) for stimulus 1, Some(false) for 2, None
/// for neither.
pub fn choice(ring_output: &[f32], stim1_loc: f64, stim2_loc: f64) -> Option<bool> {
    let angle = popvec(ring_output);
    let tol = 0.3 * PI;
    if circ_dist(angle, stim1_loc) < tol {
        Some(true)
    } else if circ_dist(angle, stim2_loc) < tol {
        Some(false)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic {
    /// the x at which P = 1/2
    pub bias: f64,
    /// x distance over which the odds grow e-fold (smaller is steeper)
    pub scale: f64,
}

impl Logistic {
    pub fn p(&self, x: f64) -> f64 {
        1.0 / (1.0 + (-(x - self.bias) / self.scale).exp())
    }
}

/// Maximum-likelihood logistic fit to `k[i]` choices of 1 out of `n[i]` trials at `x[i]`, by Newton's
/// method on the intercept and slope (IRLS) with a small ridge so that perfectly separated data still
/// gives a (steep) answer. Err where there is nothing to fit.
pub fn fit_logistic(x: &[f64], k: &[f64], n: &[f64]) -> Result<Logistic> {
    if x.len() < 2 || x.len() != k.len() || x.len() != n.len() || n.iter().sum::<f64>() <= 0.0 {
        return Err(Error::new(
            "a logistic fit needs at least two stimulus levels with trials",
        ));
    }
    let scale_x = x.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
    let (mut b0, mut b1) = (0.0f64, 0.0f64);
    let ridge = 1e-6;
    for _ in 0..100 {
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, -ridge * b1, ridge, 0.0, ridge);
        for i in 0..x.len() {
            let u = x[i] / scale_x;
            let p = 1.0 / (1.0 + (-(b0 + b1 * u)).exp());
            let r = k[i] - n[i] * p;
            let w = n[i] * p * (1.0 - p);
            g0 += r;
            g1 += r * u;
            h00 += w;
            h01 += w * u;
            h11 += w * u * u;
        }
        let det = h00 * h11 - h01 * h01;
        if det <= 0.0 || !det.is_finite() {
            break;
        }
        let d0 = (h11 * g0 - h01 * g1) / det;
        let d1 = (h00 * g1 - h01 * g0) / det;
        b0 += d0;
        b1 += d1;
        if d0.abs() + d1.abs() < 1e-12 {
            break;
        }
    }
    let slope = b1 / scale_x;
    if slope == 0.0 || !slope.is_finite() {
        return Err(Error::new(
            "choices do not depend on the stimulus: no logistic to fit",
        ));
    }
    Ok(Logistic {
        bias: -b0 / slope,
        scale: 1.0 / slope,
    })
}

/// One psychometric curve.
#[derive(Debug, Clone)]
pub struct Curve {
    pub rule: YangRule,
    pub duration_ms: f64,
    /// stimulus 1 minus stimulus 2 strength
    pub x: Vec<f64>,
    pub n_choice1: Vec<f64>,
    pub n_decided: Vec<f64>,
    pub fit: Option<Logistic>,
}

impl Curve {
    pub fn p_choice1(&self) -> Vec<f64> {
        self.n_choice1
            .iter()
            .zip(&self.n_decided)
            .map(|(k, n)| if *n > 0.0 { k / n } else { f64::NAN })
            .collect()
    }
}
