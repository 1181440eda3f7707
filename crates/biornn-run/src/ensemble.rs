//! K networks at once: any learner, K times (K seeds), as one learner for the driver. Members
//! update and evaluate side by side on threads of their own; each member's result depends only on
//! its own seed, never on the number of threads. A checkpoint holds member k under `net<k>/`, as
//! `model.npz` does, and the stopping criterion tests the trimmed mean of one value over the
//! members (the skip-connection paper's "middle 80% of 20 networks").

use biornn_core::arrays::{put_f64, take_f64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::{Error, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// The mean of `values` after dropping the lowest and the highest `trim` fraction (rounded down;
/// at least one value is kept).
pub fn trimmed_mean(values: &[f64], trim: f64) -> f64 {
    let mut p = values.to_vec();
    p.sort_by(f64::total_cmp);
    let n = p.len();
    let lo = (trim * n as f64).floor() as usize;
    let hi = (((1.0 - trim) * n as f64).floor() as usize)
        .max(lo + 1)
        .min(n);
    let kept = &p[lo.min(n.saturating_sub(1))..hi];
    kept.iter().sum::<f64>() / kept.len().max(1) as f64
}

/// The state prefix of member `k`.
pub fn member_prefix(k: usize) -> String {
    format!("net{k}/")
}

/// K learners trained side by side as one. Its metrics row holds the training loss (the members'
/// mean), the trimmed mean, minimum and maximum of the members' `value`, then `value` per member;
/// its evaluation's values are `trimmed_mean`, `min`, `max` and `mean` of it.
pub struct Ensemble<L> {
    members: Vec<L>,
    value: String,
    trim: f64,
    /// per member: the divergence guard's multiplier of its learning rate, and its divergences
    /// (saved under `net<k>/`)
    lr_scales: Vec<f64>,
    rollbacks: Vec<usize>,
    /// per member: retired by the guard (frozen; saved under `net<k>/` once retired)
    retired: Vec<bool>,
    /// per member: its loss in the last update
    last_losses: Vec<f64>,
}

impl<L: Learner> Ensemble<L> {
    /// `members` (at least one) summarised by their evaluations' `value`, trimming `trim` of them
    /// at each end (0.1: the middle 80%).
    pub fn new(members: Vec<L>, value: &str, trim: f64) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::invalid(
                "networks",
                0,
                "allowed: at least one network",
            ));
        }
        if !(0.0..0.5).contains(&trim) {
            return Err(Error::invalid(
                "trim",
                trim,
                "allowed: a fraction in [0, 0.5)",
            ));
        }
        let k = members.len();
        Ok(Ensemble {
            members,
            value: value.to_string(),
            trim,
            lr_scales: vec![1.0; k],
            rollbacks: vec![0; k],
            retired: vec![false; k],
            last_losses: vec![0.0; k],
        })
    }

    pub fn members(&self) -> &[L] {
        &self.members
    }

    /// The members the divergence guard retired, in order.
    pub fn retired(&self) -> Vec<usize> {
        (self.retired.iter().enumerate())
            .filter(|(_, r)| **r)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Run `f` on every member, side by side on the thread pool, and collect the results in member
/// order (members are independent, so the results do not depend on the number of threads).
fn each<L: Send, T: Send>(members: &mut [L], f: impl Fn(&mut L) -> T + Sync + Send) -> Vec<T> {
    members.par_iter_mut().map(f).collect()
}

impl<L: Learner> Stateful for Ensemble<L> {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        for (k, m) in self.members.iter().enumerate() {
            let at = format!("{prefix}{}", member_prefix(k));
            m.save_state(&at, out);
            // only once the guard has slowed it: a run that never diverged keeps the members'
            // own state and nothing else
            if self.rollbacks[k] > 0 {
                let guard = [self.lr_scales[k], self.rollbacks[k] as f64];
                put_f64(
                    out,
                    &format!("{at}state_guard_lr_scale_rollbacks"),
                    &[2],
                    &guard,
                );
            }
            if self.retired[k] {
                put_f64(out, &format!("{at}state_guard_retired"), &[], &[1.0]);
            }
        }
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        for (k, m) in self.members.iter_mut().enumerate() {
            let at = format!("{prefix}{}", member_prefix(k));
            m.load_state(&at, arrays)?;
            // absent from checkpoints written before members were slowed one by one
            let key = format!("{at}state_guard_lr_scale_rollbacks");
            let guard = match arrays.contains_key(&key) {
                true => take_f64(arrays, &key, &[2])?,
                false => vec![1.0, 0.0],
            };
            self.lr_scales[k] = guard[0];
            self.rollbacks[k] = guard[1] as usize;
            self.retired[k] = arrays.contains_key(&format!("{at}state_guard_retired"));
        }
        Ok(())
    }
}

impl<L: Learner> Learner for Ensemble<L> {
    fn columns(&self) -> Vec<String> {
        let v = &self.value;
        let mut c = vec![
            "train_loss".to_string(),
            format!("{v}_trimmed_mean"),
            format!("{v}_min"),
            format!("{v}_max"),
        ];
        c.extend((0..self.members.len()).map(|k| format!("net{k}_{v}")));
        c
    }

    /// Every member's update but the retired, each at its own learning-rate scale; the loss is
    /// their mean (not finite when any member's is not).
    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let scales = &self.lr_scales;
        let mut members: Vec<(usize, &mut L)> = (self.members.iter_mut().enumerate())
            .filter(|(k, _)| !self.retired[*k])
            .collect();
        let losses = each(&mut members, |(k, m)| {
            let own = Phase {
                lr_scale: phase.lr_scale * scales[*k],
                ..*phase
            };
            (*k, m.update(step, &own))
        });
        let (mut sum, count) = (0.0, losses.len());
        for (k, l) in losses {
            self.last_losses[k] = l?;
            sum += self.last_losses[k];
        }
        Ok(sum / count.max(1) as f64)
    }

    fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let found = each(&mut self.members, |m| m.evaluate(step, train_loss));
        let mut per_member = vec![];
        for (k, e) in found.into_iter().enumerate() {
            let e = e?;
            let v = e.values.get(&self.value).copied().ok_or_else(|| {
                Error::new(format!(
                    "network {k}'s evaluation has no value `{}` (it has: {})",
                    self.value,
                    e.values.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            per_member.push(v);
        }
        let trimmed = trimmed_mean(&per_member, self.trim);
        let min = per_member.iter().copied().fold(f64::INFINITY, f64::min);
        let max = per_member.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = per_member.iter().sum::<f64>() / per_member.len() as f64;
        let mut cells = vec![train_loss.map_or(String::new(), |l| format!("{l:.6e}"))];
        cells.extend([trimmed, min, max].iter().map(|v| format!("{v}")));
        cells.extend(per_member.iter().map(|v| format!("{v}")));
        let values: BTreeMap<String, f64> = [
            ("trimmed_mean", trimmed),
            ("min", min),
            ("max", max),
            ("mean", mean),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(Evaluation {
            cells,
            values,
            headline: format!(
                "{} over {} networks: trimmed mean {trimmed:.4}  min {min:.4}  max {max:.4}",
                self.value,
                self.members.len()
            ),
        })
    }

    fn all_finite(&self) -> bool {
        self.members.iter().all(|m| m.all_finite())
    }

    fn diverged_members(&self) -> Option<Vec<usize>> {
        let diverged = self
            .members
            .iter()
            .zip(&self.last_losses)
            .enumerate()
            .filter(|(k, (m, loss))| !(self.retired[*k] || loss.is_finite() && m.all_finite()))
            .map(|(k, _)| k)
            .collect();
        Some(diverged)
    }

    fn slow_member(&mut self, k: usize, factor: f64) -> usize {
        self.lr_scales[k] *= factor;
        self.rollbacks[k] += 1;
        self.rollbacks[k]
    }

    fn retire_member(&mut self, k: usize) -> Option<usize> {
        self.retired[k] = true;
        Some(self.retired.iter().filter(|r| !**r).count())
    }

    fn export(&self, step: u64, out: &mut Arrays) {
        for (k, m) in self.members.iter().enumerate() {
            let mut mine = Arrays::new();
            m.export(step, &mut mine);
            let prefix = member_prefix(k);
            out.extend(mine.into_iter().map(|(n, a)| (format!("{prefix}{n}"), a)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A learner that walks towards 1 at its own speed.
    struct Walker {
        speed: f64,
        x: f64,
    }

    impl Stateful for Walker {
        fn save_state(&self, prefix: &str, out: &mut Arrays) {
            put_f64(out, &format!("{prefix}x"), &[1], &[self.x]);
        }
        fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
            self.x = take_f64(arrays, &format!("{prefix}x"), &[1])?[0];
            Ok(())
        }
    }

    impl Learner for Walker {
        fn columns(&self) -> Vec<String> {
            vec!["x".into()]
        }
        fn update(&mut self, _: u64, phase: &Phase) -> Result<f64> {
            self.x += self.speed * phase.lr_factor * (1.0 - self.x);
            Ok(1.0 - self.x)
        }
        fn evaluate(&mut self, _: u64, _: Option<f64>) -> Result<Evaluation> {
            Ok(Evaluation {
                cells: vec![format!("{}", self.x)],
                values: [("x".to_string(), self.x)].into(),
                headline: String::new(),
            })
        }
        fn all_finite(&self) -> bool {
            self.x.is_finite()
        }
        fn export(&self, _: u64, out: &mut Arrays) {
            put_f64(out, "x", &[1], &[self.x]);
        }
    }

    fn walkers(speeds: &[f64]) -> Ensemble<Walker> {
        let members = speeds
            .iter()
            .map(|&speed| Walker { speed, x: 0.0 })
            .collect();
        Ensemble::new(members, "x", 0.1).unwrap()
    }

    const PHASE: Phase = Phase {
        stage: None,
        lr_factor: 1.0,
        lr_scale: 1.0,
    };

    #[test]
    fn trimmed_mean_drops_the_ends() {
        let p: Vec<f64> = (0..10).map(|i| i as f64).collect();
        assert_eq!(trimmed_mean(&p, 0.1), 4.5);
        assert_eq!(trimmed_mean(&[3.0], 0.1), 3.0);
        let mut q = vec![1.0; 8];
        q.extend([0.0, 0.0]);
        // the worst one of ten is dropped, one 0 remains among eight
        assert!((trimmed_mean(&q, 0.1) - 7.0 / 8.0).abs() < 1e-12);
        // 15 networks: wmws2/temporalskip keeps sorted indices 1..13
        let r: Vec<f64> = (0..15).map(|i| i as f64).collect();
        assert_eq!(trimmed_mean(&r, 0.1), (1..13).sum::<usize>() as f64 / 12.0);
        assert_eq!(trimmed_mean(&[1.0, 2.0, 9.0], 0.0), 4.0);
    }

    #[test]
    fn members_update_side_by_side_and_are_summarised() {
        let speeds: Vec<f64> = (1..=10).map(|i| i as f64 / 20.0).collect();
        let mut e = walkers(&speeds);
        let loss = e.update(0, &PHASE).unwrap();
        // after one update x_k = speed_k and the loss is the mean of 1 - x_k
        let mean_speed = speeds.iter().sum::<f64>() / 10.0;
        assert!((loss - (1.0 - mean_speed)).abs() < 1e-12);
        let ev = e.evaluate(1, None).unwrap();
        assert_eq!(ev.values["min"], 0.05);
        assert_eq!(ev.values["max"], 0.5);
        // the middle 80%: speeds 2..=9 of 20
        assert!((ev.values["trimmed_mean"] - 44.0 / 160.0).abs() < 1e-12);
        assert_eq!(e.columns().len(), ev.cells.len());
        assert_eq!(e.columns()[4], "net0_x");
        assert_eq!(e.columns()[0], "train_loss");
    }

    #[test]
    fn state_and_export_hold_each_member_under_its_prefix() {
        let mut e = walkers(&[0.1, 0.2, 0.3]);
        for step in 0..3 {
            e.update(step, &PHASE).unwrap();
        }
        let mut state = Arrays::new();
        e.save_state("", &mut state);
        let mut exported = Arrays::new();
        e.export(3, &mut exported);
        assert_eq!(
            state.keys().collect::<Vec<_>>(),
            ["net0/x", "net1/x", "net2/x"]
        );
        assert_eq!(state, exported);
        let mut again = walkers(&[0.1, 0.2, 0.3]);
        again.load_state("", &state).unwrap();
        for step in 3..6 {
            e.update(step, &PHASE).unwrap();
            again.update(step, &PHASE).unwrap();
        }
        assert_eq!(
            e.members().iter().map(|m| m.x).collect::<Vec<_>>(),
            again.members().iter().map(|m| m.x).collect::<Vec<_>>()
        );
        // a missing member is an error, not a silent default
        state.remove("net2/x");
        assert!(again.load_state("", &state).is_err());
    }

    /// A walker that turns NaN after update `at` the first `times` times it runs.
    struct Stumbler {
        walker: Walker,
        at: u64,
        times: usize,
    }

    impl Stateful for Stumbler {
        fn save_state(&self, prefix: &str, out: &mut Arrays) {
            self.walker.save_state(prefix, out)
        }
        fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
            self.walker.load_state(prefix, arrays)
        }
    }

    impl Learner for Stumbler {
        fn columns(&self) -> Vec<String> {
            self.walker.columns()
        }
        fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
            // the walk's speed follows the guard's scale, as a learning rate does
            self.walker.x += self.walker.speed * phase.lr_scale * (1.0 - self.walker.x);
            if step == self.at && self.times > 0 {
                self.times -= 1;
                self.walker.x = f64::NAN;
            }
            Ok(1.0 - self.walker.x)
        }
        fn evaluate(&mut self, step: u64, loss: Option<f64>) -> Result<Evaluation> {
            self.walker.evaluate(step, loss)
        }
        fn all_finite(&self) -> bool {
            self.walker.all_finite()
        }
        fn export(&self, step: u64, out: &mut Arrays) {
            self.walker.export(step, out)
        }
    }

    /// `learner` driven for 6 updates, evaluated every 2, in a fresh run directory (removed after).
    fn drive_six(learner: &mut dyn Learner, name: &str) -> Result<crate::Outcome> {
        drive_six_allowing(
            learner,
            name,
            crate::DriveOptions::default().max_divergences,
        )
    }

    /// [`drive_six`] with `max_divergences` rollbacks allowed per member.
    fn drive_six_allowing(
        learner: &mut dyn Learner,
        name: &str,
        max_divergences: usize,
    ) -> Result<crate::Outcome> {
        // tests run side by side, some with the same members: a directory for each call
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("biornn-ensemble-{id}-{call}-{name}"));
        let (run, _) = crate::open_run(&dir, false, "", learner).unwrap();
        let opts = crate::DriveOptions {
            max_steps: 6,
            eval_every: 2,
            max_divergences,
            ..Default::default()
        };
        let plain = biornn_core::StepDecay {
            steps: vec![],
            factor: 1.0,
        };
        let out = crate::drive(&run, learner, &plain, &opts, None);
        std::fs::remove_dir_all(&dir).ok();
        out
    }

    /// Three stumblers driven for 6 updates; member k turns NaN `times[k]` times at update 3.
    fn stumble(times: [usize; 3]) -> (Result<crate::Outcome>, Vec<f64>, Arrays) {
        stumble_at(times.map(|t| (3, t)))
    }

    /// Three stumblers driven for 6 updates; member k turns NaN `plan[k].1` times at update
    /// `plan[k].0`.
    fn stumble_at(plan: [(u64, usize); 3]) -> (Result<crate::Outcome>, Vec<f64>, Arrays) {
        let members = [0.1, 0.2, 0.3]
            .iter()
            .zip(plan)
            .map(|(&speed, (at, times))| Stumbler {
                walker: Walker { speed, x: 0.0 },
                at,
                times,
            })
            .collect();
        let mut e = Ensemble::new(members, "x", 0.1).unwrap();
        let out = drive_six(&mut e, &format!("stumble-{plan:?}"));
        let xs = e.members().iter().map(|m| m.walker.x).collect();
        let mut state = Arrays::new();
        e.save_state("", &mut state);
        (out, xs, state)
    }

    #[test]
    fn a_diverged_member_is_slowed_alone() {
        let (clean, clean_x, clean_state) = stumble([0, 0, 0]);
        clean.unwrap();
        let (once, once_x, state) = stumble([0, 1, 0]);
        let once = once.unwrap();
        // the others end where they would alone; member 1 walked slower after its rollback
        assert_eq!((once_x[0], once_x[2]), (clean_x[0], clean_x[2]));
        assert!(once_x[1] < clean_x[1], "{once_x:?} against {clean_x:?}");
        assert_eq!(
            take_f64(&state, "net1/state_guard_lr_scale_rollbacks", &[2]).unwrap(),
            [0.5, 1.0]
        );
        assert!(!state.contains_key("net0/state_guard_lr_scale_rollbacks"));
        assert!(!clean_state.keys().any(|k| k.contains("guard")));
        assert_eq!((once.state.divergences, once.state.lr_scale), (0, 1.0));
    }

    /// A member that diverges more often than allowed is retired, frozen at the last evaluation
    /// before its last divergence, and the others go on as alone; the run stops only when none
    /// is left to train.
    #[test]
    fn a_member_that_keeps_diverging_is_retired_and_the_others_go_on() {
        let (_, clean_x, _) = stumble([0, 0, 0]);
        let (retired, retired_x, state) = stumble([0, 4, 0]);
        let retired = retired.unwrap();
        assert_eq!((retired_x[0], retired_x[2]), (clean_x[0], clean_x[2]));
        // frozen at step 2 (the evaluation before update 3): two steps of 0.2 from 0
        assert!(
            (retired_x[1] - (1.0 - 0.8f64 * 0.8)).abs() < 1e-12,
            "{retired_x:?}"
        );
        assert_eq!(
            take_f64(&state, "net1/state_guard_retired", &[]).unwrap(),
            [1.0]
        );
        assert!(!state.contains_key("net0/state_guard_retired"));
        assert_eq!(
            take_f64(&state, "net1/state_guard_lr_scale_rollbacks", &[2]).unwrap(),
            [0.0625, 4.0]
        );
        assert_eq!(retired.state.step, 6);
        // retired across a resume: loaded, it takes no update
        let mut again = walkers(&[0.1, 0.2, 0.3]);
        again.load_state("", &state).unwrap();
        again.update(6, &PHASE).unwrap();
        assert_eq!(again.members()[1].x, retired_x[1]);
        assert_ne!(again.members()[0].x, retired_x[0]);
        // another member's later divergence slows it alone, and leaves the retired one as it was
        let (later, later_x, state) = stumble_at([(3, 0), (3, 4), (4, 1)]);
        later.unwrap();
        assert_eq!((later_x[0], later_x[1]), (clean_x[0], retired_x[1]));
        let guard = |k: usize| {
            take_f64(
                &state,
                &format!("net{k}/state_guard_lr_scale_rollbacks"),
                &[2],
            )
        };
        assert_eq!(guard(1).unwrap(), [0.0625, 4.0]);
        assert_eq!(guard(2).unwrap(), [0.5, 1.0]);
        // every member retired: the run stops, saying so, with the last good state as it was
        // (three rollbacks each, none retired)
        let (stopped, _, state) = stumble([4, 4, 4]);
        let err = stopped.unwrap_err().to_string();
        assert!(
            err.contains("networks 0, 1, 2 diverged 4 times") && err.contains("no network is left"),
            "{err}"
        );
        assert!(!state.keys().any(|k| k.contains("retired")));
        for k in 0..3 {
            let key = format!("net{k}/state_guard_lr_scale_rollbacks");
            assert_eq!(take_f64(&state, &key, &[2]).unwrap(), [0.125, 3.0]);
        }
    }

    /// With no rollback allowed (FORCE's ensembles, which have no rate to slow), a member that
    /// diverges is retired at once; the run stops when they all have.
    #[test]
    fn with_no_rollback_allowed_a_diverged_member_is_retired_at_once() {
        let members = |times: [usize; 3]| -> Vec<Stumbler> {
            (times.iter().zip([0.1, 0.2, 0.3]))
                .map(|(&times, speed)| Stumbler {
                    walker: Walker { speed, x: 0.0 },
                    at: 3,
                    times,
                })
                .collect()
        };
        let mut e = Ensemble::new(members([0, 1, 0]), "x", 0.1).unwrap();
        drive_six_allowing(&mut e, "no-rollback-one", 0).unwrap();
        assert_eq!(e.retired(), [1]);
        let x: Vec<f64> = e.members().iter().map(|m| m.walker.x).collect();
        assert!((x[1] - (1.0 - 0.8f64 * 0.8)).abs() < 1e-12, "{x:?}");
        let mut e = Ensemble::new(members([1, 1, 1]), "x", 0.1).unwrap();
        let err = drive_six_allowing(&mut e, "no-rollback-all", 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("networks 0, 1, 2 diverged once (at step 3), and no network is left"),
            "{err}"
        );
    }

    /// An ensemble that names its diverged members but keeps no rate for each (the trait's
    /// default `slow_member`).
    struct NamesOnly(Ensemble<Walker>);

    impl Stateful for NamesOnly {
        fn save_state(&self, prefix: &str, out: &mut Arrays) {
            self.0.save_state(prefix, out)
        }
        fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
            self.0.load_state(prefix, arrays)
        }
    }

    impl Learner for NamesOnly {
        fn columns(&self) -> Vec<String> {
            self.0.columns()
        }
        fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
            let loss = self.0.update(step, phase)?;
            self.0.members[1].x = f64::NAN; // every time: it never recovers
            Ok(loss)
        }
        fn evaluate(&mut self, step: u64, loss: Option<f64>) -> Result<Evaluation> {
            self.0.evaluate(step, loss)
        }
        fn all_finite(&self) -> bool {
            self.0.all_finite()
        }
        fn export(&self, step: u64, out: &mut Arrays) {
            self.0.export(step, out)
        }
        fn diverged_members(&self) -> Option<Vec<usize>> {
            self.0.diverged_members()
        }
    }

    /// Members named but not slowed each: the whole run's guard takes over (and stops), where the
    /// member path would roll back forever.
    #[test]
    fn members_named_without_their_own_rates_take_the_whole_run_guard() {
        let mut e = NamesOnly(walkers(&[0.1, 0.2, 0.3]));
        let err = drive_six(&mut e, "names-only").unwrap_err().to_string();
        assert!(err.contains("training diverged 4 times"), "{err}");
    }

    #[test]
    fn a_member_without_the_value_is_named() {
        let mut e = Ensemble::new(vec![Walker { speed: 0.1, x: 0.0 }], "r2", 0.1).unwrap();
        let err = e.evaluate(0, None).unwrap_err().to_string();
        assert!(err.contains("`r2`") && err.contains("x"), "{err}");
        assert!(Ensemble::<Walker>::new(vec![], "x", 0.1).is_err());
    }
}
