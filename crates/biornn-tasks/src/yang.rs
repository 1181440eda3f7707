//! The 20 tasks of Yang et al. (2019), with the semantics of gyyang/multitask `task.py` (mode
//! `random`):
//!
//! - inputs (85): 0 fixation; 1..=32 ring 1; 33..=64 ring 2; 65 + r the one-hot rule r;
//! - outputs (33): 0 fixation, 1..=32 the response ring; preferred angles 2 pi k / 32;
//! - bumps 0.8 exp(-dist^2 / (2 (pi/8)^2)) times the strength, added into a ring over `[on, off)`;
//! - targets 0.05 everywhere, 0.8 on the fixation output until the response, the 0.8 bump added on
//!   the ring during the response; `y_loc` the response angle there, -1 elsewhere;
//! - trials end 500 ms after the response onset, except dmcgo/dmcnogo (200, 400 or 600 ms, as in
//!   the original's `dmc_`; the project's reference notes say 500, the code does not);
//! - cost mask 0 for the first 100 ms, 1 until the response, 0 for a 100 ms grace period, 5 after; the
//!   fixation output's weight doubled;
//! - a trial is correct when, at its last step, fixation is held (output 0 above 0.5) if it should
//!   be, or else fixation is released and the population vector of the ring lies within 0.2 pi of the
//!   target.
//!
//! Timing and batch-level choices (the modality of go and matching tasks) come from the shared stream,
//! so with per-batch timing a whole batch shares them as in the original. One deliberate difference:
//! the original draws multidm's modality splits from numpy's global generator; here every draw comes
//! from the trial's own stream, so runs are reproducible.

use crate::trial::Trial;
use crate::Task;
use biornn_numerics::RngStream;
use std::f64::consts::PI;

pub const N_EACHRING: usize = 32;
pub const N_RULE: usize = 20;
pub const N_INPUT: usize = 1 + 2 * N_EACHRING + N_RULE;
pub const N_OUTPUT: usize = 1 + N_EACHRING;
pub const RULE_START: usize = 1 + 2 * N_EACHRING;
/// Tolerance of the response angle in the performance metric (the code's 0.2 pi).
pub const ANGLE_TOLERANCE: f64 = 0.2 * PI;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum YangRule {
    FdGo,
    ReactGo,
    DelayGo,
    FdAnti,
    ReactAnti,
    DelayAnti,
    Dm1,
    Dm2,
    ContextDm1,
    ContextDm2,
    MultiDm,
    DelayDm1,
    DelayDm2,
    ContextDelayDm1,
    ContextDelayDm2,
    MultiDelayDm,
    DmsGo,
    DmsNogo,
    DmcGo,
    DmcNogo,
}

use YangRule::*;

/// Which ring(s) a decision-making task's answer depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attend {
    Ring1,
    Ring2,
    Both,
}

impl YangRule {
    /// In the order of `rules_dict['all']`; the position is the rule index.
    pub const ALL: [YangRule; 20] = [
        FdGo,
        ReactGo,
        DelayGo,
        FdAnti,
        ReactAnti,
        DelayAnti,
        Dm1,
        Dm2,
        ContextDm1,
        ContextDm2,
        MultiDm,
        DelayDm1,
        DelayDm2,
        ContextDelayDm1,
        ContextDelayDm2,
        MultiDelayDm,
        DmsGo,
        DmsNogo,
        DmcGo,
        DmcNogo,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap()
    }

    pub fn name(self) -> &'static str {
        match self {
            FdGo => "fdgo",
            ReactGo => "reactgo",
            DelayGo => "delaygo",
            FdAnti => "fdanti",
            ReactAnti => "reactanti",
            DelayAnti => "delayanti",
            Dm1 => "dm1",
            Dm2 => "dm2",
            ContextDm1 => "contextdm1",
            ContextDm2 => "contextdm2",
            MultiDm => "multidm",
            DelayDm1 => "delaydm1",
            DelayDm2 => "delaydm2",
            ContextDelayDm1 => "contextdelaydm1",
            ContextDelayDm2 => "contextdelaydm2",
            MultiDelayDm => "multidelaydm",
            DmsGo => "dmsgo",
            DmsNogo => "dmsnogo",
            DmcGo => "dmcgo",
            DmcNogo => "dmcnogo",
        }
    }

    pub fn from_name(name: &str) -> Option<YangRule> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            FdGo => "go to the stimulus once fixation goes off; stimulus stays on",
            ReactGo => "go to the stimulus as soon as it appears; fixation stays on",
            DelayGo => "remember a brief stimulus over a delay, go when fixation goes off",
            FdAnti => "as fdgo, but respond opposite the stimulus",
            ReactAnti => "as reactgo, but respond opposite the stimulus",
            DelayAnti => "as delaygo, but respond opposite the stimulus",
            Dm1 => "two stimuli in ring 1, go to the stronger",
            Dm2 => "two stimuli in ring 2, go to the stronger",
            ContextDm1 => "stimuli in both rings, go to the stronger in ring 1",
            ContextDm2 => "stimuli in both rings, go to the stronger in ring 2",
            MultiDm => "stimuli in both rings, go to the stronger summed over rings",
            DelayDm1 => "two stimuli in ring 1 separated by a delay, go to the stronger",
            DelayDm2 => "two stimuli in ring 2 separated by a delay, go to the stronger",
            ContextDelayDm1 => "delayed stimuli in both rings, go to the stronger in ring 1",
            ContextDelayDm2 => "delayed stimuli in both rings, go to the stronger in ring 2",
            MultiDelayDm => "delayed stimuli in both rings, go to the stronger summed",
            DmsGo => "go to the second stimulus if it matches the first in direction",
            DmsNogo => "go to the second stimulus if it does not match the first",
            DmcGo => "go to the second stimulus if it matches the first in category",
            DmcNogo => "go to the second stimulus if its category differs from the first",
        }
    }

    fn is_anti(self) -> bool {
        matches!(self, FdAnti | ReactAnti | DelayAnti)
    }

    fn attend(self) -> Attend {
        match self {
            Dm1 | ContextDm1 | DelayDm1 | ContextDelayDm1 => Attend::Ring1,
            Dm2 | ContextDm2 | DelayDm2 | ContextDelayDm2 => Attend::Ring2,
            _ => Attend::Both,
        }
    }

    pub fn epoch_names(self) -> &'static [&'static str] {
        match self {
            FdGo | FdAnti | Dm1 | Dm2 | ContextDm1 | ContextDm2 | MultiDm => {
                &["fix1", "stim1", "go1"]
            }
            ReactGo | ReactAnti => &["fix1", "go1"],
            DelayGo | DelayAnti => &["fix1", "stim1", "delay1", "go1"],
            DelayDm1 | DelayDm2 | ContextDelayDm1 | ContextDelayDm2 | MultiDelayDm => {
                &["fix1", "stim1", "delay1", "stim2", "delay2", "go1"]
            }
            DmsGo | DmsNogo | DmcGo | DmcNogo => &["fix1", "stim1", "delay1", "go1"],
        }
    }
}

/// Everything that defines one trial, in steps of `dt`. Build trials from explicit values (for
/// psychometric curves) by filling this and calling [`build`]; the correct answer is worked out by
/// [`resolve`]. Fields a task does not use are NaN (angles, strengths) and the times are as documented.
#[derive(Debug, Clone, PartialEq)]
pub struct YangTrialSpec {
    pub rule: YangRule,
    pub stim1_loc: f64,
    pub stim2_loc: f64,
    /// strength of stimulus 1 in ring 1 and ring 2 (0: absent from that ring)
    pub stim1_strength: [f64; 2],
    pub stim2_strength: [f64; 2],
    pub stim1_on: usize,
    pub stim1_off: usize,
    /// stimulus 2's span; equal to stimulus 1's when both are shown together, empty when absent
    pub stim2_on: usize,
    pub stim2_off: usize,
    /// the fixation input is on over `[0, fix_off)`; `fix_off == t_end` means it never goes off
    pub fix_off: usize,
    /// when the response is due (the go cue); the cost mask's pre-response period ends here
    pub response_on: usize,
    pub t_end: usize,
}

impl YangTrialSpec {
    /// Check a spec handed in by a user (for psychometric trials): times in order and within the
    /// trial, angles and strengths finite where used. [`build`] assumes a valid spec.
    pub fn validate(&self) -> biornn_numerics::Result<()> {
        use biornn_numerics::Error;
        let s = self;
        let order = |field: &str, a: usize, b: usize, what: &str| -> biornn_numerics::Result<()> {
            if a > b {
                return Err(Error::invalid(field, a, what));
            }
            Ok(())
        };
        if s.t_end == 0 || s.t_end > 1_000_000 {
            return Err(Error::invalid(
                "t_end",
                s.t_end,
                "allowed: 1 to 1000000 steps",
            ));
        }
        order(
            "stim1_on",
            s.stim1_on,
            s.stim1_off,
            "must not exceed stim1_off",
        )?;
        order("stim1_off", s.stim1_off, s.t_end, "must not exceed t_end")?;
        order(
            "stim2_on",
            s.stim2_on,
            s.stim2_off,
            "must not exceed stim2_off",
        )?;
        order("stim2_off", s.stim2_off, s.t_end, "must not exceed t_end")?;
        order("fix_off", s.fix_off, s.t_end, "must not exceed t_end")?;
        order(
            "response_on",
            s.response_on,
            s.t_end,
            "must not exceed t_end",
        )?;
        order(
            "stim1_on",
            s.stim1_on,
            s.response_on,
            "must not exceed response_on",
        )?;
        let epochs = self.rule.epoch_names().len();
        if epochs >= 4 {
            order(
                "stim1_off",
                s.stim1_off,
                s.response_on,
                "must not exceed response_on",
            )?;
        }
        if epochs == 6 {
            order(
                "stim1_off",
                s.stim1_off,
                s.stim2_on,
                "must not exceed stim2_on",
            )?;
            order(
                "stim2_off",
                s.stim2_off,
                s.response_on,
                "must not exceed response_on",
            )?;
        }
        if !s.stim1_loc.is_finite() {
            return Err(Error::invalid(
                "stim1_loc",
                s.stim1_loc,
                "allowed: a finite angle in radians",
            ));
        }
        if s.stim1_strength.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "stim1_strength",
                format!("{:?}", s.stim1_strength),
                "allowed: finite strengths",
            ));
        }
        let needs_stim2 = !matches!(
            self.rule,
            FdGo | ReactGo | DelayGo | FdAnti | ReactAnti | DelayAnti
        );
        if needs_stim2 && s.stim2_loc.is_nan() {
            return Err(Error::invalid(
                "stim2_loc",
                s.stim2_loc,
                &format!("{} needs a second stimulus", self.rule.name()),
            ));
        }
        if !s.stim2_loc.is_nan()
            && (!s.stim2_loc.is_finite() || s.stim2_strength.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "stim2",
                format!("{} {:?}", s.stim2_loc, s.stim2_strength),
                "allowed: a finite angle and strengths, or stim2_loc NaN for none",
            ));
        }
        Ok(())
    }
}

/// The correct behaviour for a spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub respond: bool,
    /// the angle to saccade to (NaN when the answer is to keep fixating)
    pub response_loc: f64,
    /// whether the two stimuli match (matching tasks only)
    pub is_match: Option<bool>,
}

pub fn pref_angles() -> [f64; N_EACHRING] {
    std::array::from_fn(|k| 2.0 * PI * k as f64 / N_EACHRING as f64)
}

/// Circular distance.
pub fn circ_dist(a: f64, b: f64) -> f64 {
    let d = (a - b).abs() % (2.0 * PI);
    d.min(2.0 * PI - d)
}

/// The 0.8-peaked Gaussian bump of width pi/8 centred at `loc`, on the 32 preferred angles.
pub fn bump(loc: f64, strength: f64) -> [f32; N_EACHRING] {
    let pref = pref_angles();
    std::array::from_fn(|k| {
        let d = circ_dist(loc, pref[k]) / (PI / 8.0);
        (0.8 * (-0.5 * d * d).exp() * strength) as f32
    })
}

/// Population-vector decode of the ring outputs, in [0, 2 pi), as gyyang's `popvec`: both components
/// are divided by the summed output (so a negative sum flips the angle and a zero sum gives NaN, which
/// no tolerance accepts).
pub fn popvec(ring: &[f32]) -> f64 {
    let pref = pref_angles();
    let (mut s, mut c, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for (y, p) in ring.iter().zip(pref) {
        s += *y as f64 * p.sin();
        c += *y as f64 * p.cos();
        total += *y as f64;
    }
    (s / total).atan2(c / total).rem_euclid(2.0 * PI)
}

/// gyyang/multitask `get_perf` for one trial's last step.
pub fn correct(output_last: &[f32], y_loc_last: f32) -> bool {
    let fixating = output_last[0] > 0.5;
    if y_loc_last < 0.0 {
        fixating
    } else {
        !fixating && circ_dist(popvec(&output_last[1..]), y_loc_last as f64) < ANGLE_TOLERANCE
    }
}

/// `int(ms / dt)`, as the original floors each segment.
fn steps(dt: f64, ms: f64) -> usize {
    (ms / dt).floor().max(0.0) as usize
}

/// Draw a trial's spec the way gyyang/multitask's `random` mode does.
pub fn sample(
    rule: YangRule,
    dt: f64,
    easy: bool,
    shared: &mut RngStream,
    content: &mut RngStream,
) -> YangTrialSpec {
    let st = |ms: f64| steps(dt, ms);
    let nan2 = [f64::NAN; 2];
    match rule {
        FdGo | ReactGo | DelayGo | FdAnti | ReactAnti | DelayAnti => {
            let (stim_on, stim_off, fix_off, t_end, response_on);
            match rule {
                FdGo | FdAnti => {
                    stim_on = st(shared.uniform_in(300.0, 700.0));
                    fix_off = stim_on + st(shared.uniform_in(500.0, 1500.0));
                    t_end = fix_off + st(500.0);
                    stim_off = t_end;
                    response_on = fix_off;
                }
                ReactGo | ReactAnti => {
                    stim_on = st(shared.uniform_in(500.0, 2500.0));
                    t_end = stim_on + st(500.0);
                    stim_off = t_end;
                    fix_off = t_end;
                    response_on = stim_on;
                }
                _ => {
                    stim_on = st(shared.choice(&[300.0, 500.0, 700.0]));
                    stim_off = stim_on + st(shared.choice(&[200.0, 400.0, 600.0]));
                    fix_off = stim_off + st(shared.choice(&[200.0, 400.0, 800.0, 1600.0]));
                    t_end = fix_off + st(500.0);
                    response_on = fix_off;
                }
            }
            let ring = shared.below(2);
            let loc = content.uniform_in(0.0, 2.0 * PI);
            let mut s1 = [0.0; 2];
            s1[ring] = 1.0;
            YangTrialSpec {
                rule,
                stim1_loc: loc,
                stim2_loc: f64::NAN,
                stim1_strength: s1,
                stim2_strength: nan2,
                stim1_on: stim_on,
                stim1_off: stim_off,
                stim2_on: t_end,
                stim2_off: t_end,
                fix_off,
                response_on,
                t_end,
            }
        }
        Dm1 | Dm2 | ContextDm1 | ContextDm2 | MultiDm | DelayDm1 | DelayDm2 | ContextDelayDm1
        | ContextDelayDm2 | MultiDelayDm => {
            let delayed = matches!(
                rule,
                DelayDm1 | DelayDm2 | ContextDelayDm1 | ContextDelayDm2 | MultiDelayDm
            );
            let (s1_on, s1_off, s2_on, s2_off, fix_off);
            if delayed {
                s1_on = st(shared.choice(&[200.0, 400.0, 600.0]));
                s1_off = s1_on + st(shared.choice(&[200.0, 400.0, 600.0]));
                s2_on = s1_off + st(shared.choice(&[200.0, 400.0, 800.0, 1600.0]));
                s2_off = s2_on + st(shared.choice(&[200.0, 400.0, 600.0]));
                fix_off = s2_off + st(shared.uniform_in(100.0, 300.0));
            } else {
                s1_on = st(shared.uniform_in(100.0, 400.0));
                s1_off = s1_on + st(shared.choice(&[400.0, 800.0, 1600.0]));
                s2_on = s1_on;
                s2_off = s1_off;
                fix_off = s1_off;
            }
            let t_end = fix_off + st(500.0);
            let coh: &[f64] = match (delayed, easy) {
                (false, false) => &[0.01, 0.02, 0.04, 0.08],
                (false, true) => &[0.1, 0.2, 0.4, 0.8],
                (true, false) => &[0.08, 0.16, 0.32],
                (true, true) => &[0.16, 0.32, 0.64],
            };
            let dist = content.uniform_in(0.5 * PI, 1.5 * PI) * content.sign();
            let loc1 = content.uniform_in(0.0, 2.0 * PI);
            let loc2 = (loc1 + dist).rem_euclid(2.0 * PI);
            let pair = |c: &mut RngStream| {
                let mean = c.uniform_in(0.8, 1.2);
                let k = c.choice(coh);
                let sign = c.sign();
                (mean + k * sign, mean - k * sign)
            };
            let (s1, s2) = match rule {
                Dm1 | DelayDm1 => {
                    let (a, b) = pair(content);
                    ([a, 0.0], [b, 0.0])
                }
                Dm2 | DelayDm2 => {
                    let (a, b) = pair(content);
                    ([0.0, a], [0.0, b])
                }
                ContextDm1 | ContextDm2 | ContextDelayDm1 | ContextDelayDm2 => {
                    let (a1, b1) = pair(content);
                    let (a2, b2) = pair(content);
                    ([a1, a2], [b1, b2])
                }
                _ => {
                    // multi: overall strengths, each split unevenly across the two rings
                    let (a, b) = pair(content);
                    let da = a * content.uniform_in(0.2, 0.8) * content.sign();
                    let db = b * content.uniform_in(0.2, 0.8) * content.sign();
                    ([a + da / 2.0, a - da / 2.0], [b + db / 2.0, b - db / 2.0])
                }
            };
            YangTrialSpec {
                rule,
                stim1_loc: loc1,
                stim2_loc: loc2,
                stim1_strength: s1,
                stim2_strength: s2,
                stim1_on: s1_on,
                stim1_off: s1_off,
                stim2_on: s2_on,
                stim2_off: s2_off,
                fix_off,
                response_on: fix_off,
                t_end,
            }
        }
        DmsGo | DmsNogo | DmcGo | DmcNogo => {
            let ring1 = shared.below(2);
            let ring2 = shared.below(2);
            let s1_on = st(shared.choice(&[200.0, 400.0, 600.0]));
            let s1_off = s1_on + st(shared.choice(&[200.0, 400.0, 600.0]));
            let s2_on = s1_off + st(shared.choice(&[200.0, 400.0, 800.0, 1600.0]));
            // gyyang's dms_ responds for 500 ms; its dmc_ for 200, 400 or 600 ms, drawn per batch
            let response = match rule {
                DmcGo | DmcNogo => shared.choice(&[200.0, 400.0, 600.0]),
                _ => 500.0,
            };
            let t_end = s2_on + st(response);
            let (loc1, loc2) = if matches!(rule, DmsGo | DmsNogo) {
                let is_match = content.below(2) == 1;
                let dist = content.uniform_in(PI / 9.0, 17.0 * PI / 9.0) * content.sign();
                let loc1 = content.uniform_in(0.0, 2.0 * PI);
                let loc2 = if is_match {
                    loc1
                } else {
                    (loc1 + dist).rem_euclid(2.0 * PI)
                };
                (loc1, loc2)
            } else {
                let grid: [f64; 10] = std::array::from_fn(|k| (0.1 + 0.2 * k as f64) * PI);
                (content.choice(&grid), content.choice(&grid))
            };
            let mut s1 = [0.0; 2];
            s1[ring1] = 1.0;
            let mut s2 = [0.0; 2];
            s2[ring2] = 1.0;
            YangTrialSpec {
                rule,
                stim1_loc: loc1,
                stim2_loc: loc2,
                stim1_strength: s1,
                stim2_strength: s2,
                stim1_on: s1_on,
                stim1_off: s1_off,
                stim2_on: s2_on,
                stim2_off: t_end,
                fix_off: t_end,
                response_on: s2_on,
                t_end,
            }
        }
    }
}

/// The correct behaviour for a spec: the task's logic, separate from how its values were drawn.
pub fn resolve(spec: &YangTrialSpec) -> Outcome {
    let rule = spec.rule;
    match rule {
        FdGo | ReactGo | DelayGo | FdAnti | ReactAnti | DelayAnti => {
            let shift = if rule.is_anti() { PI } else { 0.0 };
            Outcome {
                respond: true,
                response_loc: (spec.stim1_loc + shift).rem_euclid(2.0 * PI),
                is_match: None,
            }
        }
        DmsGo | DmsNogo | DmcGo | DmcNogo => {
            let is_match = if matches!(rule, DmsGo | DmsNogo) {
                circ_dist(spec.stim1_loc, spec.stim2_loc) < 1e-9
            } else {
                (spec.stim1_loc < PI) == (spec.stim2_loc < PI)
            };
            let respond = if matches!(rule, DmsGo | DmcGo) {
                is_match
            } else {
                !is_match
            };
            Outcome {
                respond,
                response_loc: if respond { spec.stim2_loc } else { f64::NAN },
                is_match: Some(is_match),
            }
        }
        _ => {
            let [a1, a2] = spec.stim1_strength;
            let [b1, b2] = spec.stim2_strength;
            let (a, b) = match rule.attend() {
                Attend::Ring1 => (a1, b1),
                Attend::Ring2 => (a2, b2),
                Attend::Both => (a1 + a2, b1 + b2),
            };
            // gyyang: stimulus 1 if strictly stronger, else stimulus 2
            let loc = if a > b {
                spec.stim1_loc
            } else {
                spec.stim2_loc
            };
            Outcome {
                respond: true,
                response_loc: loc,
                is_match: None,
            }
        }
    }
}

/// Build the trial a spec describes.
pub fn build(spec: &YangTrialSpec, dt: f64) -> Trial {
    let mut trial = Trial::new(N_INPUT, N_OUTPUT, dt);
    build_into(spec, dt, &mut trial);
    trial
}

/// Build the trial a spec describes into `trial`, reusing its buffers.
pub fn build_into(spec: &YangTrialSpec, dt: f64, trial: &mut Trial) {
    let outcome = resolve(spec);
    trial.reset(N_INPUT, N_OUTPUT, dt);
    let s = spec;
    // Epochs, in gyyang's names.
    match s.rule.epoch_names().len() {
        2 => {
            trial.add_period_steps("fix1", s.stim1_on);
            trial.add_period_steps("go1", s.t_end - s.stim1_on);
        }
        3 => {
            trial.add_period_steps("fix1", s.stim1_on);
            trial.add_period_steps("stim1", s.response_on - s.stim1_on);
            trial.add_period_steps("go1", s.t_end - s.response_on);
        }
        4 => {
            trial.add_period_steps("fix1", s.stim1_on);
            trial.add_period_steps("stim1", s.stim1_off - s.stim1_on);
            trial.add_period_steps("delay1", s.response_on - s.stim1_off);
            trial.add_period_steps("go1", s.t_end - s.response_on);
        }
        _ => {
            trial.add_period_steps("fix1", s.stim1_on);
            trial.add_period_steps("stim1", s.stim1_off - s.stim1_on);
            trial.add_period_steps("delay1", s.stim2_on - s.stim1_off);
            trial.add_period_steps("stim2", s.stim2_off - s.stim2_on);
            trial.add_period_steps("delay2", s.response_on - s.stim2_off);
            trial.add_period_steps("go1", s.t_end - s.response_on);
        }
    }
    debug_assert_eq!(trial.len, s.t_end);

    // Inputs.
    trial.set_input(0..s.fix_off, 0, 1.0);
    for (loc, strengths, on, off) in [
        (s.stim1_loc, s.stim1_strength, s.stim1_on, s.stim1_off),
        (s.stim2_loc, s.stim2_strength, s.stim2_on, s.stim2_off),
    ] {
        if loc.is_nan() {
            continue;
        }
        for (ring, strength) in strengths.iter().enumerate() {
            if *strength != 0.0 && !strength.is_nan() {
                trial.add_input(on..off, 1 + ring * N_EACHRING, &bump(loc, *strength));
            }
        }
    }
    trial.set_input(0..s.t_end, RULE_START + s.rule.index(), 1.0);

    // Targets.
    trial.fill_target(0.05);
    if outcome.respond {
        trial.set_target(0..s.response_on, 0, 0.8);
        trial.add_target(s.response_on..s.t_end, 1, &bump(outcome.response_loc, 1.0));
        trial.set_y_loc(s.response_on..s.t_end, outcome.response_loc as f32);
    } else {
        trial.set_target(0..s.t_end, 0, 0.8);
    }

    // Cost mask.
    let pre_on = trial.steps(100.0);
    let post_on = s.response_on + trial.steps(100.0);
    trial.set_cost(post_on.min(s.t_end)..s.t_end, 5.0);
    trial.set_cost(pre_on.min(s.response_on)..s.response_on, 1.0);
    trial.scale_cost_channel(0, 2.0);

    let nan_if = |v: usize, absent: bool| if absent { f64::NAN } else { v as f64 };
    let no_stim2 = s.stim2_loc.is_nan();
    trial.latent("rule", s.rule.index() as f64);
    trial.latent("stim1_loc", s.stim1_loc);
    trial.latent("stim2_loc", s.stim2_loc);
    trial.latent("stim1_mod1_strength", s.stim1_strength[0]);
    trial.latent("stim1_mod2_strength", s.stim1_strength[1]);
    trial.latent("stim2_mod1_strength", s.stim2_strength[0]);
    trial.latent("stim2_mod2_strength", s.stim2_strength[1]);
    trial.latent("stim1_on", s.stim1_on as f64);
    trial.latent("stim1_off", s.stim1_off as f64);
    trial.latent("stim2_on", nan_if(s.stim2_on, no_stim2));
    trial.latent("stim2_off", nan_if(s.stim2_off, no_stim2));
    trial.latent("fix_off", s.fix_off as f64);
    trial.latent("response_on", s.response_on as f64);
    trial.latent("t_end", s.t_end as f64);
    trial.latent("respond", outcome.respond as u8 as f64);
    trial.latent("response_loc", outcome.response_loc);
    trial.latent(
        "match",
        outcome.is_match.map_or(f64::NAN, |m| m as u8 as f64),
    );
}

/// One Yang task as a [`Task`].
#[derive(Debug, Clone, Copy)]
pub struct YangTask {
    pub rule: YangRule,
    /// gyyang's `easy_task`: coherences 10x (dm) or 2x (delayed dm)
    pub easy: bool,
}

impl Task for YangTask {
    fn name(&self) -> &str {
        self.rule.name()
    }
    fn key(&self) -> u64 {
        self.rule.index() as u64
    }
    fn n_in(&self) -> usize {
        N_INPUT
    }
    fn n_out(&self) -> usize {
        N_OUTPUT
    }
    fn summary(&self) -> String {
        self.rule.description().to_string()
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        self.rule.epoch_names()
    }
    fn trial_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        content: &mut RngStream,
        out: &mut Trial,
    ) {
        build_into(&sample(self.rule, dt, self.easy, shared, content), dt, out)
    }
    fn correct(&self, last: &crate::LastStep) -> bool {
        correct(last.output, last.y_loc)
    }
}
