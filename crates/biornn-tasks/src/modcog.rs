//! Mod-Cog (Khona, Chandra, Ma and Fiete 2023), as mikailkhona/Mod_Cog `mod_cog_tasks.py` generates
//! it on NeuroGym: the 20 Yang tasks in NeuroGym's form, each with the *seq* extension (the answer
//! moves around the ring during the decision), 11 with the *int* extension (the answer is the
//! remembered location rotated by an amount the network must time), and those 11 with both.
//!
//! - Observations: 0 fixation, 1-16 ring 1, 17-32 ring 2 (preferred angles 2 pi k / 16), then one
//!   channel per task of the run (the task's one-hot, on for the whole trial).
//! - Actions: 17 classes, 0 fixate and k + 1 ring unit k. Targets are classes per step (`y` one-hot,
//!   `y_loc` the target angle, `class` in the batch); the cost mask holds 1 on every step (NeuroGym's
//!   recipe) or on decision steps only ([`CostSteps`]).
//! - Families: *reach* (go, anti, rt, dly: no input noise), *dm* (two stimuli in one or both rings,
//!   with or without a delay; noise on all 33 observation channels during stimuli), *delay-match*
//!   (dms, dnms, dmc, dnmc; noise on the active ring during sample and test).
//! - seq (`*seqr`, `*seql`, direction s = +1, -1): decision 1000 ms (rt tasks keep 500); the target
//!   at decision step t is ring index i + trunc(s t omega dt), omega = 0.01 rad/ms, so one index
//!   (22.5 degrees) per 100 ms whatever dt.
//! - int (`*intr`, `*intl`, sign n = +1, -1): reach shows the stimulus at theta_i + n omega D rad
//!   with D in {0, 100, ..., 1100} ms drawn per trial and asks for i; dm asks for the chosen index
//!   shifted by n 5 (its delay is 500 ms); delay-match asks for the test index shifted by n D/100
//!   with D drawn per trial as the delay.
//! - int+seq: `*intrseqr`, `*intrseql`, `*intlseqr`, `*intlseql` (the reference builds only
//!   `*intseq`, which is `intrseqr`; the others come from its parameters).
//!
//! Latent trial parameters (in `task dump` and the batch): `ring` (the stimulus ring, -1 both),
//! `stim_index` and `stim1_loc` (the first stimulus's ring index and angle), `target_index` (the
//! answer's ring index before seq, -1 for no-go), `delay_ms`, `match` (delay-match) and
//! `evidence_margin` (dm: evidence for the first stimulus minus the second; 0 is a tie, decided by
//! the reference's 1e-6 jitter).
//!
//! Every duration is floored to whole steps of dt as NeuroGym's `sample_time` does; dt must divide
//! 100 ms (100 as the reference, 20 as Yang). The reference's bugs (docs/MODCOG.md lists them) are
//! corrected by default, each reproducible by a `faithful_*` option ([`ModCogOptions`]): (1) the
//! label wrap, (2) go and anti with dlygo's delay, (3) the delay-match delay drawn once per task,
//! (4) the two ring copies seeded alike, (6) the DMC category boundary. Draws the reference takes from numpy's global
//! generator come here from the trial's own stream.
//!
//! Reach and delay-match tasks exist in the reference as two ring copies that take turns
//! ([`RingOrder`]); here they are groups of two trials ([`Task::group_size`]).

use crate::trial::Trial;
use crate::{argmax, LastStep, Task, TrialOutputs, TrialScore};
use biornn_numerics::RngStream;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

pub const RING: usize = 16;
/// fixation and two rings, before the task one-hot
pub const N_OBS: usize = 1 + 2 * RING;
pub const N_ACTIONS: usize = 1 + RING;
/// rotation speed of seq and int, rad per ms
const OMEGA: f64 = 0.01;

/// Which steps count in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSteps {
    /// every step, fixation included (NeuroGym's supervised recipe)
    #[default]
    All,
    /// the decision period only
    Decision,
}

/// Which ring a reach or delay-match trial shows its stimuli in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingOrder {
    /// the reference's two ring copies of the task take turns, ring 1 first (its `RandomSchedule`
    /// over two environments never repeats one): in a batch, even rows ring 1 and odd rows ring 2;
    /// in a stream, each row's trials of the task alternate
    #[default]
    Alternate,
    /// each trial draws its ring (biornn before the alternation was built)
    Random,
}

/// `[task.modcog]`: Mod-Cog's options. The defaults are the corrected behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModCogOptions {
    /// the reference's label wrap: ring index 15 (label 16) and seq targets past it read as 0,
    /// "fixate" (corrected: 1 + ((i + shift) mod 16))
    pub faithful_wrap: bool,
    /// dms, dnms, dmc, dnmc: one delay per task and ring, drawn once, as the reference draws it when
    /// it builds the task (corrected: a delay per trial, U(200, 1200) ms floored to dt)
    pub faithful_match_delay: bool,
    /// dmc, dnmc: the sample at index 8 counts as category 0 but a test at 8 as category 1, so some
    /// non-match tests sit on the sample (corrected: indices 8-15 are category 1 for both)
    pub faithful_dmc_boundary: bool,
    /// reach and delay-match: the two ring copies share one seeded stream, as seeding the
    /// reference's battery seeds both copies alike, so each ring-2 trial repeats the ring-1 trial
    /// before it except for the int or delay-match delay, which the reference draws from numpy's
    /// global generator (corrected: every trial draws its own). Needs `ring_order = "alternate"`.
    pub faithful_shared_seed: bool,
    /// go, anti and their seq forms: the 500 ms delay of dlygo and dlyanti, as the reference sets
    /// the delay of both branches alike, so each task differs from its delayed form only in the
    /// task one-hot (corrected: no delay, as NeuroGym's yang19 `go` and `anti`)
    pub faithful_go_delay: bool,
    /// reach and delay-match: "alternate" (the reference's) or "random"
    pub ring_order: RingOrder,
    /// which steps count in the loss: "all" or "decision"
    pub cost: CostSteps,
}

impl ModCogOptions {
    pub fn is_default(&self) -> bool {
        *self == ModCogOptions::default()
    }
}

/// The 20 base tasks, in the reference README's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
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
    MultiDm,
    DlyDm1,
    DlyDm2,
    CtxDlyDm1,
    CtxDlyDm2,
    MultiDlyDm,
    Dms,
    Dnms,
    Dmc,
    Dnmc,
}

use Base::*;

impl Base {
    pub const ALL: [Base; 20] = [
        Go, RtGo, DlyGo, Anti, RtAnti, DlyAnti, Dm1, Dm2, CtxDm1, CtxDm2, MultiDm, DlyDm1, DlyDm2,
        CtxDlyDm1, CtxDlyDm2, MultiDlyDm, Dms, Dnms, Dmc, Dnmc,
    ];

    /// The 11 tasks with a delay, which have the int extension.
    pub const INT: [Base; 11] = [
        DlyGo, DlyAnti, DlyDm1, DlyDm2, CtxDlyDm1, CtxDlyDm2, MultiDlyDm, Dms, Dnms, Dmc, Dnmc,
    ];

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
            MultiDm => "multidm",
            DlyDm1 => "dlydm1",
            DlyDm2 => "dlydm2",
            CtxDlyDm1 => "ctxdlydm1",
            CtxDlyDm2 => "ctxdlydm2",
            MultiDlyDm => "multidlydm",
            Dms => "dms",
            Dnms => "dnms",
            Dmc => "dmc",
            Dnmc => "dnmc",
        }
    }

    fn family(self) -> Family {
        match self {
            Go | DlyGo => Family::Reach {
                anti: false,
                reaction: false,
                delayed: self == DlyGo,
            },
            Anti | DlyAnti => Family::Reach {
                anti: true,
                reaction: false,
                delayed: self == DlyAnti,
            },
            RtGo => Family::Reach {
                anti: false,
                reaction: true,
                delayed: false,
            },
            RtAnti => Family::Reach {
                anti: true,
                reaction: true,
                delayed: false,
            },
            Dm1 | DlyDm1 => Family::Dm {
                weights: [1.0, 1.0],
                rings: [true, false],
                delayed: self == DlyDm1,
            },
            Dm2 | DlyDm2 => Family::Dm {
                weights: [1.0, 1.0],
                rings: [false, true],
                delayed: self == DlyDm2,
            },
            CtxDm1 | CtxDlyDm1 => Family::Dm {
                weights: [1.0, 0.0],
                rings: [true, true],
                delayed: self == CtxDlyDm1,
            },
            CtxDm2 | CtxDlyDm2 => Family::Dm {
                weights: [0.0, 1.0],
                rings: [true, true],
                delayed: self == CtxDlyDm2,
            },
            MultiDm | MultiDlyDm => Family::Dm {
                weights: [1.0, 1.0],
                rings: [true, true],
                delayed: self == MultiDlyDm,
            },
            Dms => Family::Match {
                category: false,
                go_on_match: true,
            },
            Dnms => Family::Match {
                category: false,
                go_on_match: false,
            },
            Dmc => Family::Match {
                category: true,
                go_on_match: true,
            },
            Dnmc => Family::Match {
                category: true,
                go_on_match: false,
            },
        }
    }

    pub fn has_int(self) -> bool {
        Base::INT.contains(&self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Reach {
        anti: bool,
        reaction: bool,
        /// dlygo, dlyanti: a 500 ms delay (go and anti have none, but under `faithful_go_delay`)
        delayed: bool,
    },
    Dm {
        /// how much each ring's evidence counts
        weights: [f64; 2],
        /// which rings show stimuli
        rings: [bool; 2],
        delayed: bool,
    },
    Match {
        category: bool,
        go_on_match: bool,
    },
}

/// One Mod-Cog task: a base task with its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub base: Base,
    /// int sign: +1 (`intr`), -1 (`intl`) or 0
    pub int: i8,
    /// seq direction: +1 (`seqr`), -1 (`seql`) or 0
    pub seq: i8,
}

fn suffix(prefix: &str, sign: i8) -> String {
    match sign {
        1 => format!("{prefix}r"),
        -1 => format!("{prefix}l"),
        _ => String::new(),
    }
}

impl Variant {
    pub fn name(&self) -> String {
        format!(
            "{}{}{}",
            self.base.name(),
            suffix("int", self.int),
            suffix("seq", self.seq)
        )
    }

    /// Every task of the battery: the README's 82 in its order (20 base, 22 int, 20 seqr, 20
    /// seql), then the 44 int+seq tasks (for each int task: intrseqr, intrseql, intlseqr,
    /// intlseql).
    pub fn all() -> Vec<Variant> {
        let v = |base, int, seq| Variant { base, int, seq };
        let mut out: Vec<Variant> = Base::ALL.iter().map(|&b| v(b, 0, 0)).collect();
        for b in Base::INT {
            out.extend([v(b, 1, 0), v(b, -1, 0)]);
        }
        for s in [1, -1] {
            out.extend(Base::ALL.iter().map(|&b| v(b, 0, s)));
        }
        for b in Base::INT {
            for (i, s) in [(1, 1), (1, -1), (-1, 1), (-1, -1)] {
                out.push(v(b, i, s));
            }
        }
        out
    }

    /// The variant called `name`; the reference's `*intseq` is `*intrseqr`.
    pub fn from_name(name: &str) -> Option<Variant> {
        if let Some(base) = name.strip_suffix("intseq") {
            return Variant::from_name(&format!("{base}intrseqr"));
        }
        Variant::all().into_iter().find(|v| v.name() == name)
    }

    fn decision_ms(&self) -> f64 {
        let reaction = matches!(self.base.family(), Family::Reach { reaction: true, .. });
        match self.base.family() {
            _ if self.seq != 0 && !reaction => 1000.0,
            Family::Reach { .. } => 500.0,
            Family::Dm { .. } => 200.0,
            Family::Match { .. } => 900.0,
        }
    }

    pub fn epoch_names(&self) -> &'static [&'static str] {
        match self.base.family() {
            Family::Reach { reaction: true, .. } => &["fixation", "decision"],
            Family::Reach { .. } => &["fixation", "stimulus", "delay", "decision"],
            Family::Dm { delayed: false, .. } => &["fixation", "stimulus", "decision"],
            Family::Dm { .. } => &["fixation", "stim1", "delay", "stim2", "decision"],
            Family::Match { .. } => &["fixation", "sample", "delay", "test", "decision"],
        }
    }
}

/// Preferred angle of ring unit k.
pub fn theta(k: usize) -> f64 {
    2.0 * PI * k as f64 / RING as f64
}

/// The reference's `_gaussianbump`: 0.8 exp(-(d / (pi/8))^2 / 2) times the strength, d the
/// circular distance to each preferred angle.
pub fn bump(loc: f64, strength: f64) -> [f32; RING] {
    let mut out = [0f32; RING];
    for (k, o) in out.iter_mut().enumerate() {
        let d = (loc - theta(k)).abs() % (2.0 * PI);
        let d = d.min(2.0 * PI - d) / (PI / 8.0);
        *o = (0.8 * (-d * d / 2.0).exp() * strength) as f32;
    }
    out
}

/// Steps of a duration floored to whole steps of dt (NeuroGym's `sample_time`, then `add_period`).
fn steps(ms: f64, dt: f64) -> usize {
    // a small tolerance, so that 500 / 20 is 25 and not 24.999...
    ((ms / dt) + 1e-9).floor().max(0.0) as usize
}

/// Whether `dt` (ms) divides 100 ms, as every Mod-Cog duration needs.
pub fn dt_fits(dt: f64) -> bool {
    let k = 100.0 / dt;
    dt > 0.0 && dt <= 100.0 && (k - k.round()).abs() < 1e-9
}

/// The decision label at decision step `t`: ring index `index` moved by seq, 1-based (0 is
/// fixate only under `faithful_wrap`, where label 16 wraps to 0).
pub fn seq_label(index: usize, seq: i8, t: usize, dt: f64, faithful_wrap: bool) -> usize {
    let shift = (seq as f64 * t as f64 * OMEGA * dt).trunc() as i64;
    if faithful_wrap {
        (index as i64 + 1 + shift).rem_euclid(RING as i64) as usize
    } else {
        1 + (index as i64 + shift).rem_euclid(RING as i64) as usize
    }
}

/// Where a trial's draws come from: `main`, except the ring when the ring copies take turns, and
/// the int and delay-match delays when `own` is given (the reference's numpy global draws under
/// `faithful_shared_seed`).
struct Draws<'a> {
    main: &'a mut RngStream,
    own: Option<&'a mut RngStream>,
    ring: Option<usize>,
}

impl<'a> Draws<'a> {
    fn new(main: &'a mut RngStream, own: Option<&'a mut RngStream>, ring: Option<usize>) -> Self {
        Draws { main, own, ring }
    }
    fn ring(&mut self) -> usize {
        match self.ring {
            Some(ring) => ring,
            None => self.main.below(2),
        }
    }
    fn delay(&mut self) -> &mut RngStream {
        match self.own.as_deref_mut() {
            Some(own) => own,
            None => self.main,
        }
    }
}

/// A Mod-Cog task as built for a run: the variant, its channel in the task one-hot and the width of
/// that one-hot (the number of tasks the run trains).
#[derive(Debug, Clone, PartialEq)]
pub struct ModCogTask {
    pub variant: Variant,
    /// the task's number in the whole battery
    pub key: u64,
    /// its channel in the one-hot, and the one-hot's width
    pub one_hot: (usize, usize),
    pub options: ModCogOptions,
    name: String,
}

impl ModCogTask {
    pub fn new(
        variant: Variant,
        key: u64,
        one_hot: (usize, usize),
        options: ModCogOptions,
    ) -> Self {
        ModCogTask {
            name: variant.name(),
            variant,
            key,
            one_hot,
            options,
        }
    }

    /// The periods and their durations in ms, for listings.
    pub fn periods(&self) -> String {
        let v = &self.variant;
        let decision = v.decision_ms();
        let int_delay = "0-1100 by 100 per trial";
        match v.base.family() {
            Family::Reach { reaction: true, .. } => format!("fixation 500, decision {decision}"),
            Family::Reach { delayed, .. } => format!(
                "fixation 500, stimulus 500, delay {}, decision {decision}",
                if v.int != 0 {
                    int_delay
                } else if delayed || self.options.faithful_go_delay {
                    "500"
                } else {
                    "0"
                }
            ),
            Family::Dm { delayed: false, .. } => {
                format!("fixation 200-500, stimulus 500, decision {decision}")
            }
            Family::Dm { .. } => {
                format!("fixation 200-500, stim1 500, delay 500, stim2 500, decision {decision}")
            }
            Family::Match { .. } => format!(
                "fixation 300, sample 500, delay {}, test 500, decision {decision}",
                if v.int != 0 {
                    int_delay
                } else if self.options.faithful_match_delay {
                    "one 200-1200 draw per task and ring"
                } else {
                    "200-1200 per trial"
                }
            ),
        }
    }

    /// The fixed delay of a delay-match task under `faithful_match_delay`: one U(200, 1200) draw per
    /// task and ring, from a stream named by the task alone.
    fn instance_delay(&self, ring: usize, dt: f64) -> usize {
        let mut rng = biornn_numerics::Streams::new(0)
            .stream("modcog_match_delay", 2 * self.key + ring as u64);
        steps(rng.uniform_in(200.0, 1200.0), dt)
    }

    fn build(&self, dt: f64, d: &mut Draws, t: &mut Trial) {
        t.reset(self.n_in(), N_ACTIONS, dt);
        match self.variant.base.family() {
            Family::Reach {
                anti,
                reaction,
                delayed,
            } => self.reach(anti, reaction, delayed, dt, d, t),
            Family::Dm {
                weights,
                rings,
                delayed,
            } => self.dm(weights, rings, delayed, dt, d.main, t),
            Family::Match {
                category,
                go_on_match,
            } => self.delay_match(category, go_on_match, dt, d, t),
        }
        t.set_input(0..t.len, N_OBS + self.one_hot.0, 1.0);
    }

    /// Write the targets: fixate everywhere, and over `decision` the label of `index` (moved by
    /// seq) when the trial asks for an answer.
    fn set_targets(
        &self,
        t: &mut Trial,
        decision: std::ops::Range<usize>,
        index: Option<usize>,
        dt: f64,
    ) {
        let n_out = t.n_out;
        for s in 0..t.len {
            t.y[s * n_out] = 1.0;
        }
        if let Some(index) = index {
            for (k, s) in decision.clone().enumerate() {
                let label = seq_label(index, self.variant.seq, k, dt, self.options.faithful_wrap);
                t.y[s * n_out] = 0.0;
                t.y[s * n_out + label] = 1.0;
                if label > 0 {
                    t.y_loc[s] = theta(label - 1) as f32;
                }
            }
        }
        match self.options.cost {
            CostSteps::All => t.set_cost(0..t.len, 1.0),
            CostSteps::Decision => t.set_cost(decision, 1.0),
        }
    }

    fn reach(
        &self,
        anti: bool,
        reaction: bool,
        delayed: bool,
        dt: f64,
        d: &mut Draws,
        t: &mut Trial,
    ) {
        let v = &self.variant;
        let index = d.main.below(RING);
        let ring = d.ring();
        let delay_ms = if v.int != 0 {
            100.0 * d.delay().below(12) as f64
        } else if delayed || self.options.faithful_go_delay {
            500.0
        } else {
            0.0
        };
        let loc = (theta(index) + v.int as f64 * OMEGA * delay_ms + if anti { PI } else { 0.0 })
            .rem_euclid(2.0 * PI);
        let stim = bump(loc, 1.0);
        let first = 1 + RING * ring;
        let fixation = t.add_period_steps("fixation", steps(500.0, dt));
        let decision;
        if reaction {
            decision = t.add_period_steps("decision", steps(v.decision_ms(), dt));
            t.set_input(fixation, 0, 1.0);
            t.add_input(decision.clone(), first, &stim);
        } else {
            let stimulus = t.add_period_steps("stimulus", steps(500.0, dt));
            let delay = t.add_period_steps("delay", steps(delay_ms, dt));
            decision = t.add_period_steps("decision", steps(v.decision_ms(), dt));
            t.set_input(fixation.start..delay.end, 0, 1.0);
            t.add_input(stimulus, first, &stim);
        }
        self.set_targets(t, decision, Some(index), dt);
        for (name, value) in [
            ("ring", ring as f64),
            ("stim_index", index as f64),
            ("stim1_loc", theta(index)),
            ("target_index", index as f64),
            ("delay_ms", delay_ms),
            ("match", f64::NAN),
            ("evidence_margin", f64::NAN),
        ] {
            t.latent(name, value);
        }
    }

    fn dm(
        &self,
        weights: [f64; 2],
        rings: [bool; 2],
        delayed: bool,
        dt: f64,
        rng: &mut RngStream,
        t: &mut Trial,
    ) {
        let v = &self.variant;
        let fix_ms = rng.uniform_in(200.0, 500.0);
        let i1 = rng.below(RING);
        let i2 = loop {
            let i = rng.below(RING);
            if i != i1 {
                break i;
            }
        };
        let fixation = t.add_period_steps("fixation", steps(fix_ms, dt));
        let (first, second, decision) = if delayed {
            let s1 = t.add_period_steps("stim1", steps(500.0, dt));
            t.add_period_steps("delay", steps(500.0, dt));
            let s2 = t.add_period_steps("stim2", steps(500.0, dt));
            let d = t.add_period_steps("decision", steps(v.decision_ms(), dt));
            (s1, s2, d)
        } else {
            let s = t.add_period_steps("stimulus", steps(500.0, dt));
            let d = t.add_period_steps("decision", steps(v.decision_ms(), dt));
            (s.clone(), s, d)
        };
        t.set_input(fixation.start..decision.start, 0, 1.0);
        // noise on every observation channel during the stimuli, before the bumps
        let sd = 1.0 / dt.sqrt();
        let mut stim_steps: Vec<usize> = first.clone().collect();
        if delayed {
            stim_steps.extend(second.clone());
        }
        for &s in &stim_steps {
            for c in 0..N_OBS {
                t.x[s * t.n_in + c] += (rng.normal() * sd) as f32;
            }
        }
        let (mut ev1, mut ev2) = (0.0, 0.0);
        for (m, &on) in rings.iter().enumerate() {
            if !on {
                continue;
            }
            let (c1, c2) = if delayed {
                let cohs = [0.3, 0.6, 1.0];
                let a = rng.below(3);
                let b = loop {
                    let b = rng.below(3);
                    if b != a {
                        break b;
                    }
                };
                (cohs[a], cohs[b])
            } else {
                let coh = [0.08, 0.16, 0.32, 0.64][rng.below(4)]
                    * if rng.below(2) == 0 { -1.0 } else { 1.0 };
                (0.5 + coh / 2.0, 0.5 - coh / 2.0)
            };
            let ch = 1 + RING * m;
            t.add_input(first.clone(), ch, &bump(theta(i1), c1));
            t.add_input(second.clone(), ch, &bump(theta(i2), c2));
            ev1 += weights[m] * c1;
            ev2 += weights[m] * c2;
        }
        let jitter = rng.uniform_in(-1e-6, 1e-6);
        let chosen = if ev1 + jitter > ev2 { i1 } else { i2 };
        let target = (chosen as i64 + 5 * v.int as i64).rem_euclid(RING as i64) as usize;
        self.set_targets(t, decision, Some(target), dt);
        for (name, value) in [
            (
                "ring",
                if rings == [true, true] {
                    -1.0
                } else {
                    rings[1] as usize as f64
                },
            ),
            ("stim_index", i1 as f64),
            ("stim1_loc", theta(i1)),
            ("target_index", target as f64),
            ("delay_ms", if delayed { 500.0 } else { 0.0 }),
            ("match", f64::NAN),
            ("evidence_margin", ev1 - ev2),
        ] {
            t.latent(name, value);
        }
    }

    fn delay_match(
        &self,
        category: bool,
        go_on_match: bool,
        dt: f64,
        d: &mut Draws,
        t: &mut Trial,
    ) {
        let v = &self.variant;
        let matched = d.main.below(2) == 0;
        let ring = d.ring();
        let sample = d.main.below(RING);
        let half = RING / 2;
        let test = if category {
            let sample_category = if self.options.faithful_dmc_boundary {
                (sample > half) as usize
            } else {
                (sample >= half) as usize
            };
            let test_category = if matched {
                sample_category
            } else {
                1 - sample_category
            };
            d.main.below(half) + test_category * half
        } else if matched {
            sample
        } else {
            (sample + half) % RING
        };
        let (delay_steps, delay_ms) = if v.int != 0 {
            let ms = 100.0 * d.delay().below(12) as f64;
            (steps(ms, dt), ms)
        } else if self.options.faithful_match_delay {
            let s = self.instance_delay(ring, dt);
            (s, s as f64 * dt)
        } else {
            let s = steps(d.delay().uniform_in(200.0, 1200.0), dt);
            (s, s as f64 * dt)
        };
        let fixation = t.add_period_steps("fixation", steps(300.0, dt));
        let sample_on = t.add_period_steps("sample", steps(500.0, dt));
        t.add_period_steps("delay", delay_steps);
        let test_on = t.add_period_steps("test", steps(500.0, dt));
        let decision = t.add_period_steps("decision", steps(v.decision_ms(), dt));
        t.set_input(fixation.start..decision.start, 0, 1.0);
        let first = 1 + RING * ring;
        t.add_input(sample_on.clone(), first, &bump(theta(sample), 1.0));
        t.add_input(test_on.clone(), first, &bump(theta(test), 1.0));
        // noise on the active ring during sample and test, after the bumps
        let sd = 1.0 / dt.sqrt();
        for s in sample_on.chain(test_on) {
            for c in first..first + RING {
                t.x[s * t.n_in + c] += (d.main.normal() * sd) as f32;
            }
        }
        let go = matched == go_on_match;
        let shift = (v.int as f64 * delay_ms / 100.0).round() as i64;
        let target = (test as i64 + shift).rem_euclid(RING as i64) as usize;
        self.set_targets(t, decision, go.then_some(target), dt);
        for (name, value) in [
            ("ring", ring as f64),
            ("stim_index", sample as f64),
            ("stim1_loc", theta(sample)),
            ("target_index", if go { target as f64 } else { -1.0 }),
            ("delay_ms", delay_ms),
            ("match", matched as usize as f64),
            ("evidence_margin", f64::NAN),
        ] {
            t.latent(name, value);
        }
    }
}

impl Task for ModCogTask {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self) -> u64 {
        self.key
    }
    fn n_in(&self) -> usize {
        N_OBS + self.one_hot.1
    }
    fn n_out(&self) -> usize {
        N_ACTIONS
    }
    fn summary(&self) -> String {
        let v = &self.variant;
        let family = match v.base.family() {
            Family::Reach { .. } => "reach",
            Family::Dm { .. } => "decision",
            Family::Match { .. } => "delay-match",
        };
        let mut words = vec![format!("{family}, base {}", v.base.name())];
        if v.int != 0 {
            words.push(format!("int {}", if v.int > 0 { "+" } else { "-" }));
        }
        if v.seq != 0 {
            words.push(format!("seq {}", if v.seq > 0 { "+" } else { "-" }));
        }
        words.join(", ") + "; " + &self.periods()
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        self.variant.epoch_names()
    }

    /// Everything comes from the trial's own stream (`content`): Mod-Cog draws timing per trial.
    /// A lone trial of a task whose rings take turns is the first of its group (ring 1).
    fn trial_into(&self, dt: f64, _shared: &mut RngStream, content: &mut RngStream, t: &mut Trial) {
        let ring = (self.group_size() > 1).then_some(0);
        self.build(dt, &mut Draws::new(content, None, ring), t);
    }

    /// Reach and delay-match tasks come as two ring copies that take turns
    /// ([`RingOrder::Alternate`]).
    fn group_size(&self) -> usize {
        let copies = !matches!(self.variant.base.family(), Family::Dm { .. });
        if copies && self.options.ring_order == RingOrder::Alternate {
            2
        } else {
            1
        }
    }

    /// Member `member` shows ring `member + 1`. Under `faithful_shared_seed` both members draw
    /// from the group's stream, all but the delays the reference takes from numpy's global
    /// generator.
    fn member_into(
        &self,
        dt: f64,
        _shared: &mut RngStream,
        group: &mut RngStream,
        content: &mut RngStream,
        member: usize,
        t: &mut Trial,
    ) {
        let mut draws = if self.options.faithful_shared_seed {
            Draws::new(group, Some(content), Some(member))
        } else {
            Draws::new(content, None, Some(member))
        };
        self.build(dt, &mut draws, t);
    }

    /// The arg-max class at the last step is the target class.
    fn correct(&self, last: &LastStep) -> bool {
        argmax(last.output) as i32 == last.class
    }

    fn scores_steps(&self) -> bool {
        true
    }

    /// The decision steps are scored: each is right when its arg-max class is the target; the
    /// trial is correct when every one is right.
    fn score(&self, trial: &TrialOutputs) -> TrialScore {
        let decision = trial.epoch("decision").unwrap_or(0..0);
        let steps_scored = decision.len();
        let steps_right = decision
            .filter(|&t| argmax(trial.at(t)) as i32 == trial.class[t])
            .count();
        TrialScore {
            correct: steps_scored > 0 && steps_right == steps_scored,
            steps_right,
            steps_scored,
            // exactly equal evidence (multidm, multidlydm): the reference's jitter decides
            ambiguous: trial
                .latent("evidence_margin")
                .is_some_and(|m| m.abs() < 1e-9),
        }
    }
}
