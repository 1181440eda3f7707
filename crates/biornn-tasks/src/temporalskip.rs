//! The task suite of Soo, Goudar and Wang (NeurIPS 2023), as wmws2/temporalskip
//! `functions/func_standardtasks.py` builds it: Yang et al.'s tasks re-timed for dt = 5 ms, in three
//! trial structures, each trial preceded by a 1 s pre-trial period (rule input only) that is run
//! outside the gradient.
//!
//! | structure | tasks | epochs after the pre-trial |
//! |---|---|---|
//! | A | go, anti, rtgo, rtanti, dm1/2, ctxdm1/2, multsendm | fix 0.5, stim 0.5, response 0.5 s |
//! | B | dlygo, dlyanti | fix, stim, delay 1.0, response |
//! | C | dlydm1/2, ctxdlydm1/2, multsendlydm, dms, dnms, dmc, dnmc | fix, stim1, delay, stim2, response |
//!
//! Training jitters the fix, stim and delay epochs by a whole number of steps in [-0.1 s, +0.1 s),
//! drawn per batch (`shared` stream) as the reference does; evaluation uses the nominal lengths.
//! Inputs: channel 0 fixation, 1-32 and 33-64 the two stimulus rings (bump 0.8 exp(-(8 d/pi)^2/2)),
//! 65 + k the one-hot rule k in the reference's order of 20. Outputs: 0 fixation (target 0.85 until
//! the response, 0.05 after), 1-32 the response ring (bump + 0.05; all 0 when the answer is to keep
//! fixating). The loss is the mean squared error over [fix + 0.2 s, response) plus that over
//! [response + 0.2 s, end): the cost mask holds 1/sqrt(window length) so that
//! [`crate::TaskBatch`]-level sums give each window's mean (loss kind `lsq_mean`).
//!
//! DNMS and DNMC are real non-match tasks by default (respond to stimulus 2 when it does not match
//! stimulus 1, keep fixating when it does). The reference builds them exactly as DMS and DMC, apart
//! from the rule input; `reference_nonmatch` reproduces that.

use crate::trial::Trial;
pub use crate::yang::circ_dist;
use crate::Task;
use biornn_numerics::RngStream;
use std::f64::consts::PI;

pub const N_INPUT: usize = 85;
pub const N_OUTPUT: usize = 33;
const RING: usize = 32;
/// seconds
const T_SHORT: f64 = 0.5;
const T_LONG: f64 = 1.0;
const T_TEST: f64 = 0.5;
const T_JITTER: f64 = 0.1;
const T_WAIT: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsRule {
    Go,
    RtGo,
    DlyGo,
    Anti,
    RtAnti,
    DlyAnti,
    Dm1,
    Dm2,
    CtxDm1,
    CtxDm2,
    MultSenDm,
    DlyDm1,
    DlyDm2,
    CtxDlyDm1,
    CtxDlyDm2,
    MultSenDlyDm,
    Dms,
    Dnms,
    Dmc,
    Dnmc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    A,
    B,
    C,
}

use TsRule::*;

impl TsRule {
    /// The reference's list, whose order fixes the rule input channel (65 + index).
    pub const ALL: [TsRule; 20] = [
        Go,
        RtGo,
        DlyGo,
        Anti,
        RtAnti,
        DlyAnti,
        Dm1,
        Dm2,
        CtxDm1,
        CtxDm2,
        MultSenDm,
        DlyDm1,
        DlyDm2,
        CtxDlyDm1,
        CtxDlyDm2,
        MultSenDlyDm,
        Dms,
        Dnms,
        Dmc,
        Dnmc,
    ];
    /// The 16 the reference trains (`basictasks`).
    pub const TRAINED: [TsRule; 16] = [
        Go,
        RtGo,
        DlyGo,
        Anti,
        RtAnti,
        DlyAnti,
        Dm1,
        CtxDm1,
        MultSenDm,
        DlyDm1,
        CtxDlyDm1,
        MultSenDlyDm,
        Dms,
        Dnms,
        Dmc,
        Dnmc,
    ];
    /// The tasks with a delay (long-term dependencies), as the experiments use them.
    pub const DELAYED: [TsRule; 9] = [
        DlyGo,
        DlyAnti,
        DlyDm1,
        CtxDlyDm1,
        MultSenDlyDm,
        Dms,
        Dnms,
        Dmc,
        Dnmc,
    ];

    pub fn index(self) -> usize {
        TsRule::ALL.iter().position(|r| *r == self).expect("in ALL")
    }

    pub fn name(self) -> &'static str {
        match self {
            Go => "go",
            RtGo => "rtgo",
            DlyGo => "dlygo",
            Anti => "anti",
            RtAnti => "rtanti",
            DlyAnti => "dlyanti",
            Dm1 => "dm1",
            Dm2 => "dm2",
            CtxDm1 => "ctxdm1",
            CtxDm2 => "ctxdm2",
            MultSenDm => "multsendm",
            DlyDm1 => "dlydm1",
            DlyDm2 => "dlydm2",
            CtxDlyDm1 => "ctxdlydm1",
            CtxDlyDm2 => "ctxdlydm2",
            MultSenDlyDm => "multsendlydm",
            Dms => "dms",
            Dnms => "dnms",
            Dmc => "dmc",
            Dnmc => "dnmc",
        }
    }

    pub fn from_name(name: &str) -> Option<TsRule> {
        TsRule::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn structure(self) -> Structure {
        match self {
            Go | Anti | RtGo | RtAnti | Dm1 | Dm2 | CtxDm1 | CtxDm2 | MultSenDm => Structure::A,
            DlyGo | DlyAnti => Structure::B,
            _ => Structure::C,
        }
    }
}

impl Structure {
    /// Epoch names after the pre-trial period.
    pub fn epochs(self) -> &'static [&'static str] {
        match self {
            Structure::A => &["pre", "fix", "stim", "response"],
            Structure::B => &["pre", "fix", "stim", "delay", "response"],
            Structure::C => &["pre", "fix", "stim1", "delay", "stim2", "response"],
        }
    }

    /// Weight of the fixation score in the performance: the pre-response time over the whole.
    pub fn fix_weight(self) -> f64 {
        match self {
            Structure::A => 2.0 / 3.0,
            Structure::B => 4.0 / 5.0,
            Structure::C => 5.0 / 6.0,
        }
    }
}

/// One stimulus ring bump (32 values), `0.8 exp(-(8 d / pi)^2 / 2)` over the preferred angles
/// 2 pi k / 32, with d the circular distance to `angle`.
pub fn bump(angle: f64) -> [f32; RING] {
    let mut out = [0f32; RING];
    for (k, o) in out.iter_mut().enumerate() {
        let pref = 2.0 * PI * k as f64 / RING as f64;
        let mut d = (pref - angle).rem_euclid(2.0 * PI);
        d = d.min(2.0 * PI - d);
        *o = (0.8 * (-0.5 * (8.0 * d / PI).powi(2)).exp()) as f32;
    }
    out
}

/// Population-vector angle of a ring (as the reference's `construct_ringangle`).
pub fn ring_angle(ring: &[f32]) -> f64 {
    // sin and cos of each unit's preferred angle, computed once (the scores decode every step)
    static PREFERRED: std::sync::OnceLock<[(f64, f64); RING]> = std::sync::OnceLock::new();
    let preferred = PREFERRED.get_or_init(|| {
        std::array::from_fn(|k| {
            let pref = 2.0 * PI * k as f64 / RING as f64;
            (pref.sin(), pref.cos())
        })
    });
    let (mut s, mut c, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for (y, (sin, cos)) in ring.iter().zip(preferred) {
        s += *y as f64 * sin;
        c += *y as f64 * cos;
        total += *y as f64;
    }
    let (s, c) = (s / (total + 1e-5), c / (total + 1e-5));
    (s + 1e-5).atan2(c + 1e-5).rem_euclid(2.0 * PI)
}

/// One task of the suite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsTask {
    pub rule: TsRule,
    /// jitter the epochs (training); off for evaluation
    pub jitter: bool,
    /// build DNMS/DNMC as the reference does (identical to DMS/DMC but for the rule input)
    pub reference_nonmatch: bool,
}

impl TsTask {
    pub fn new(rule: TsRule) -> Self {
        TsTask {
            rule,
            jitter: true,
            reference_nonmatch: false,
        }
    }
}

/// Steps of a duration in seconds, `int(s / dt)` as the reference (dt in ms here).
pub(crate) fn steps(dt_ms: f64, seconds: f64) -> usize {
    // a small tolerance, so that 0.5 s / 5 ms is 100 and not 99.99...
    (seconds * 1000.0 / dt_ms + 1e-9).floor() as usize
}

/// A jittered length: uniform over whole steps in [T - J, T + J), as `tf.random.uniform` with ints.
pub(crate) fn jittered(shared: &mut RngStream, dt: f64, seconds: f64, jitter: bool) -> usize {
    let (t, j) = (steps(dt, seconds), steps(dt, T_JITTER));
    if !jitter || j == 0 {
        return t;
    }
    t - j + shared.below(2 * j)
}

/// What one trial shows and asks for.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    /// ring input added during stimulus 1 and stimulus 2 (64 values: ring 1 then ring 2)
    stim1: [f32; 2 * RING],
    stim2: [f32; 2 * RING],
    /// target angle, or None to keep fixating
    target: Option<f64>,
}

fn add_bump(into: &mut [f32; 2 * RING], modality: usize, angle: f64, strength: f64) {
    let b = bump(angle);
    let off = (modality - 1) * RING;
    for k in 0..RING {
        into[off + k] += (strength as f32) * b[k];
    }
}

fn content(rule: TsRule, reference_nonmatch: bool, c: &mut RngStream) -> Content {
    let mut out = Content {
        stim1: [0.0; 2 * RING],
        stim2: [0.0; 2 * RING],
        target: None,
    };
    let modality = |c: &mut RngStream| 1 + c.below(2);
    let two_angles = |c: &mut RngStream| {
        let a1 = c.uniform() * 2.0 * PI;
        let a2 = (a1 + c.uniform() * PI + PI / 2.0).rem_euclid(2.0 * PI);
        (a1, a2)
    };
    // coherences: (stronger first?, coher1, coher2)
    let pair = |c: &mut RngStream| {
        let coher = c.uniform_in(0.8, 1.2);
        let delta = c.uniform_in(0.1, 0.2);
        if c.uniform() < 0.5 {
            (true, coher + delta, coher - delta)
        } else {
            (false, coher - delta, coher + delta)
        }
    };
    match rule {
        Go | Anti | RtGo | RtAnti | DlyGo | DlyAnti => {
            let m = modality(c);
            let angle = c.uniform() * 2.0 * PI;
            add_bump(&mut out.stim1, m, angle, 1.0);
            let anti = matches!(rule, Anti | RtAnti | DlyAnti);
            out.target = Some(if anti {
                (angle + PI).rem_euclid(2.0 * PI)
            } else {
                angle
            });
        }
        Dm1 | Dm2 | CtxDm1 | CtxDm2 | DlyDm1 | DlyDm2 | CtxDlyDm1 | CtxDlyDm2 => {
            let m = if matches!(rule, Dm1 | CtxDm1 | DlyDm1 | CtxDlyDm1) {
                1
            } else {
                2
            };
            let (a1, a2) = two_angles(c);
            let (first, c1, c2) = pair(c);
            let delayed = matches!(rule, DlyDm1 | DlyDm2 | CtxDlyDm1 | CtxDlyDm2);
            add_bump(&mut out.stim1, m, a1, c1);
            let second = if delayed {
                &mut out.stim2
            } else {
                &mut out.stim1
            };
            add_bump(second, m, a2, c2);
            if matches!(rule, CtxDm1 | CtxDm2 | CtxDlyDm1 | CtxDlyDm2) {
                let (_, o1, o2) = pair(c);
                add_bump(&mut out.stim1, 3 - m, a1, o1);
                let second = if delayed {
                    &mut out.stim2
                } else {
                    &mut out.stim1
                };
                add_bump(second, 3 - m, a2, o2);
            }
            out.target = Some(if first { a1 } else { a2 });
        }
        MultSenDm | MultSenDlyDm => {
            let m = modality(c);
            let (a1, a2) = two_angles(c);
            let coher = c.uniform_in(0.8, 1.2);
            let delta = c.uniform_in(0.1, 0.2);
            let (c1, c2) = (coher + delta, coher - delta);
            let coeff = c.uniform_in(1.2, 1.4);
            if rule == MultSenDm {
                for (mm, w) in [(m, coeff), (3 - m, 2.0 - coeff)] {
                    add_bump(&mut out.stim1, mm, a1, w * c1);
                    add_bump(&mut out.stim1, mm, a2, w * c2);
                }
            } else {
                // the stronger stimulus comes first or second at random
                let (s_a1, s_a2) = if c.uniform() < 0.5 {
                    (&mut out.stim1, &mut out.stim2)
                } else {
                    (&mut out.stim2, &mut out.stim1)
                };
                for (mm, w) in [(m, coeff), (3 - m, 2.0 - coeff)] {
                    add_bump(s_a1, mm, a1, w * c1);
                    add_bump(s_a2, mm, a2, w * c2);
                }
            }
            out.target = Some(a1);
        }
        Dms | Dnms => {
            let (m1, m2) = (modality(c), modality(c));
            let a1 = c.uniform() * 2.0 * PI;
            let matched = c.uniform() < 0.5;
            let a2 = if matched {
                (a1 + c.uniform() * PI / 9.0 - PI / 18.0).rem_euclid(2.0 * PI)
            } else {
                (a1 + c.uniform() * PI + PI / 2.0).rem_euclid(2.0 * PI)
            };
            add_bump(&mut out.stim1, m1, a1, 1.0);
            add_bump(&mut out.stim2, m2, a2, 1.0);
            let respond = if rule == Dnms && !reference_nonmatch {
                !matched
            } else {
                matched
            };
            out.target = respond.then_some(a2);
        }
        Dmc | Dnmc => {
            let (m1, m2) = (modality(c), modality(c));
            let matched = c.uniform() < 0.5;
            let first_half = c.uniform() < 0.5;
            let q = |c: &mut RngStream| c.uniform() * PI / 2.0;
            let (a1, a2) = match (matched, first_half) {
                (true, true) => (q(c), q(c)),
                (true, false) => (q(c) + PI, q(c) + PI),
                // the reference's second non-match branch adds pi twice, so stimulus 1 wraps back
                // into [0, pi/2) in both non-match branches
                (false, _) => (q(c), q(c) + PI),
            };
            add_bump(&mut out.stim1, m1, a1, 1.0);
            add_bump(&mut out.stim2, m2, a2, 1.0);
            let respond = if rule == Dnmc && !reference_nonmatch {
                !matched
            } else {
                matched
            };
            out.target = respond.then_some(a2);
        }
    }
    out
}

impl Task for TsTask {
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
        format!("structure {:?}", self.rule.structure())
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        self.rule.structure().epochs()
    }

    fn trial_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        content_rng: &mut RngStream,
        t: &mut Trial,
    ) {
        t.reset(N_INPUT, N_OUTPUT, dt);
        let structure = self.rule.structure();
        let rule_ch = 65 + self.rule.index();
        // epoch lengths first, in the reference's order of draws
        let pre = steps(dt, T_LONG);
        let fix = jittered(shared, dt, T_SHORT, self.jitter);
        let stim = jittered(shared, dt, T_SHORT, self.jitter);
        let (delay, stim2) = match structure {
            Structure::A => (0, 0),
            Structure::B => (jittered(shared, dt, T_LONG, self.jitter), 0),
            Structure::C => {
                let d = jittered(shared, dt, T_LONG, self.jitter);
                (d, jittered(shared, dt, T_SHORT, self.jitter))
            }
        };
        let response = steps(dt, T_TEST);
        let c = content(self.rule, self.reference_nonmatch, content_rng);
        let names = structure.epochs();
        let mut ranges = vec![
            t.add_period_steps(names[0], pre),
            t.add_period_steps(names[1], fix),
            t.add_period_steps(names[2], stim),
        ];
        match structure {
            Structure::A => {}
            Structure::B => ranges.push(t.add_period_steps(names[3], delay)),
            Structure::C => {
                ranges.push(t.add_period_steps(names[3], delay));
                ranges.push(t.add_period_steps(names[4], stim2));
            }
        }
        let resp = t.add_period_steps("response", response);
        t.set_input(0..t.len, rule_ch, 1.0);
        t.set_input(ranges[1].start..resp.start, 0, 1.0);
        let rt = matches!(self.rule, RtGo | RtAnti);
        let stim_range = ranges[2].clone();
        if rt {
            // reaction time: fixation stays on and the stimulus appears in the response epoch
            t.set_input(resp.clone(), 0, 1.0);
            t.add_input(resp.clone(), 1, &c.stim1);
        } else {
            t.add_input(stim_range, 1, &c.stim1);
        }
        if structure == Structure::C {
            t.add_input(ranges[4].clone(), 1, &c.stim2);
        }
        // targets: fixate (0.85, ring 0.05) until the response, then the answer
        let fix_on = ranges[1].start;
        t.set_target(fix_on..resp.start, 0, 0.85);
        for k in 0..RING {
            t.set_target(fix_on..resp.start, 1 + k, 0.05);
        }
        match c.target {
            Some(angle) => {
                t.set_target(resp.clone(), 0, 0.05);
                let b = bump(angle);
                let ring: Vec<f32> = b.iter().map(|v| v + 0.05).collect();
                t.add_target(resp.clone(), 1, &ring);
                t.set_y_loc(resp.clone(), angle as f32);
            }
            None => t.set_target(resp.clone(), 0, 0.85),
        }
        // cost: each window's mean, through weights 1/sqrt(length)
        let wait = steps(dt, T_WAIT);
        let w1 = (fix_on + wait)..resp.start;
        let w2 = (resp.start + wait).min(resp.end)..resp.end;
        for w in [w1, w2] {
            if !w.is_empty() {
                t.set_cost(w.clone(), (1.0 / (w.len() as f64).sqrt()) as f32);
            }
        }
        t.latent("rule", self.rule.index() as f64);
        t.latent("target_angle", c.target.unwrap_or(f64::NAN));
        t.latent("respond", c.target.is_some() as i32 as f64);
        t.latent("pre_steps", pre as f64);
    }

    /// The reference scores whole batches ([`score_batch`]); per trial, the answer at the last step.
    fn correct(&self, last: &crate::LastStep) -> bool {
        let fixating = last.output[0] > 0.5;
        if last.y_loc < 0.0 {
            fixating
        } else {
            !fixating && circ_dist(ring_angle(&last.output[1..]), last.y_loc as f64) < 0.2 * PI
        }
    }
}

/// The reference's performance of a batch (`evalA/B/C`): fix1, the fraction of (step, trial)
/// pairs from 0.2 s into the fixation epoch to the response with the fixation output above 0.5;
/// fix2, the fraction of the response window (after its first 0.2 s) with it below 0.5 (for
/// no-response trials, above); res, the fraction of response-window points whose decoded angle is
/// within 0.2 pi of the target (response trials only). Performance = w fix1 + (1 - w) fix2 res,
/// or, when some trials need no response, w fix1 + (1 - w) (P(no-go and fixating) + P(go and
/// released) res) with joint fractions over all response-window points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub fix1: f64,
    pub fix2: f64,
    pub res: f64,
    pub performance: f64,
}

/// Counts behind a [`Score`], summable over parts of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreCounts {
    fix1_hits: f64,
    fix1_points: f64,
    released_go: f64,
    fixating_nogo: f64,
    right: f64,
    points: f64,
    go_points: f64,
}

impl ScoreCounts {
    pub fn add(&mut self, o: &ScoreCounts) {
        self.fix1_hits += o.fix1_hits;
        self.fix1_points += o.fix1_points;
        self.released_go += o.released_go;
        self.fixating_nogo += o.fixating_nogo;
        self.right += o.right;
        self.points += o.points;
        self.go_points += o.go_points;
    }

    pub fn score(&self, rule: TsRule) -> Score {
        let c = self;
        let fix1 = if c.fix1_points > 0.0 {
            c.fix1_hits / c.fix1_points
        } else {
            0.0
        };
        let w = rule.structure().fix_weight();
        let res = if c.go_points > 0.0 {
            c.right / c.go_points
        } else {
            0.0
        };
        let (fix2, performance) = if c.go_points == c.points {
            let fix2 = if c.points > 0.0 {
                c.released_go / c.points
            } else {
                0.0
            };
            (fix2, w * fix1 + (1.0 - w) * fix2 * res)
        } else {
            let (p_nogo_fix, p_go_rel) = (c.fixating_nogo / c.points, c.released_go / c.points);
            (
                p_nogo_fix + p_go_rel,
                w * fix1 + (1.0 - w) * (p_nogo_fix + p_go_rel * res),
            )
        };
        Score {
            fix1,
            fix2,
            res,
            performance,
        }
    }
}

/// Score a batch of one task (all trials share epoch lengths, as with per-batch timing) built at
/// `dt` ms; `output` is `[T, B, 33]` time-major.
pub fn score_batch(rule: TsRule, batch: &crate::TaskBatch, output: &[f32], dt: f64) -> Score {
    score_counts(batch, 0, batch.batch, output, dt).score(rule)
}

/// The counts of trials `b0..b1` of `batch`, whose outputs are `output` (`[T, b1 - b0, 33]`).
pub fn score_counts(
    batch: &crate::TaskBatch,
    b0: usize,
    b1: usize,
    output: &[f32],
    dt: f64,
) -> ScoreCounts {
    let (b, no) = (b1 - b0, batch.n_out);
    let epoch = |name: &str| {
        batch
            .epochs
            .iter()
            .find(|e| e.0 == name)
            .map(|e| (e.1[0].max(0) as usize, e.2[0].max(0) as usize))
    };
    let (fix_on, _) = epoch("fix").expect("every structure has a fix epoch");
    let (resp_on, resp_off) = epoch("response").expect("every structure has a response epoch");
    let wait = steps(dt, T_WAIT);
    let targets = batch.latent("target_angle").unwrap_or(&[]);
    let out = |t: usize, j: usize| &output[(t * b + j) * no..(t * b + j + 1) * no];
    let mut c = ScoreCounts::default();
    for t in fix_on + wait..resp_on {
        for j in 0..b {
            c.fix1_hits += (out(t, j)[0] > 0.5) as i32 as f64;
            c.fix1_points += 1.0;
        }
    }
    for t in resp_on + wait..resp_off {
        for j in 0..b {
            let o = out(t, j);
            let target = targets.get(b0 + j).copied().unwrap_or(f64::NAN);
            c.points += 1.0;
            if target.is_finite() {
                c.go_points += 1.0;
                c.released_go += (o[0] < 0.5) as i32 as f64;
                c.right += (circ_dist(ring_angle(&o[1..]), target) < 0.2 * PI) as i32 as f64;
            } else {
                c.fixating_nogo += (o[0] > 0.5) as i32 as f64;
            }
        }
    }
    c
}
