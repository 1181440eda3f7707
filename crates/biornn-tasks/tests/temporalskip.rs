//! The skip-connection paper's task suite, pinned on hand-worked cases.

use biornn_numerics::Streams;
use biornn_tasks::temporalskip::{bump, ring_angle, score_batch, Structure, TsRule, TsTask};
use biornn_tasks::{generate, BatchSpec, Task, Timing};
use std::f64::consts::PI;

fn eval_task(rule: TsRule) -> TsTask {
    TsTask {
        jitter: false,
        ..TsTask::new(rule)
    }
}

fn one_trial(task: &TsTask, seed: u64) -> biornn_tasks::Trial {
    let s = Streams::new(seed);
    task.trial(5.0, &mut s.stream("timing", 0), &mut s.stream("content", 0))
}

#[test]
fn dlygo_epochs_inputs_targets_and_cost_by_hand() {
    let t = one_trial(&eval_task(TsRule::DlyGo), 1);
    let spans: Vec<(&str, usize, usize)> = t.epochs.iter().map(|e| (e.name, e.on, e.off)).collect();
    assert_eq!(
        spans,
        vec![
            ("pre", 0, 200),
            ("fix", 200, 300),
            ("stim", 300, 400),
            ("delay", 400, 600),
            ("response", 600, 700)
        ]
    );
    let x = |step: usize, ch: usize| t.x[step * 85 + ch];
    let y = |step: usize, ch: usize| t.y[step * 33 + ch];
    let c = |step: usize, ch: usize| t.cost[step * 33 + ch];
    let rule_ch = 65 + 2;
    for step in [0, 199, 200, 450, 699] {
        assert_eq!(x(step, rule_ch), 1.0);
        let others: f32 = (65..85).filter(|&k| k != rule_ch).map(|k| x(step, k)).sum();
        assert_eq!(others, 0.0);
    }
    // fixation input off in the pre-trial period and the response, on in between
    assert_eq!(
        (x(199, 0), x(200, 0), x(599, 0), x(600, 0)),
        (0.0, 1.0, 1.0, 0.0)
    );
    // the stimulus only during the stim epoch, a 0.8 bump in one ring at the target angle
    let angle = t.latents.iter().find(|l| l.0 == "target_angle").unwrap().1;
    let ring = |step: usize| -> Vec<f32> { (1..65).map(|k| x(step, k)).collect() };
    assert!(ring(299).iter().all(|v| *v == 0.0) && ring(400).iter().all(|v| *v == 0.0));
    let r = ring(350);
    let (r1, r2) = r.split_at(32);
    let shown = if r1.iter().any(|v| *v > 0.0) { r1 } else { r2 };
    assert!((shown.iter().copied().fold(0.0f32, f32::max) - 0.8).abs() < 0.2);
    assert!(
        (ring_angle(shown) - angle).abs() < 1e-3
            || (ring_angle(shown) - angle).abs() > 2.0 * PI - 1e-3
    );
    assert_eq!(shown, &bump(angle)[..]);
    // targets: fixate (0.85 / 0.05) from the fix epoch to the response, then the answer
    assert_eq!(
        (y(199, 0), y(200, 0), y(599, 0), y(600, 0)),
        (0.0, 0.85, 0.85, 0.05)
    );
    assert_eq!(y(300, 7), 0.05);
    let answer: Vec<f32> = (1..33).map(|k| y(650, k)).collect();
    let want: Vec<f32> = bump(angle).iter().map(|v| v + 0.05).collect();
    assert_eq!(answer, want);
    // cost: 1/sqrt(360) over [240, 600), 1/sqrt(60) over [640, 700), 0 elsewhere
    let w1 = (1.0 / 360f64.sqrt()) as f32;
    let w2 = (1.0 / 60f64.sqrt()) as f32;
    assert_eq!(
        (
            c(239, 0),
            c(240, 0),
            c(599, 5),
            c(600, 0),
            c(639, 0),
            c(640, 3),
            c(699, 32)
        ),
        (0.0, w1, w1, 0.0, 0.0, w2, w2)
    );
    assert_eq!(c(10, 0), 0.0, "the pre-trial period is outside the loss");
}

#[test]
fn jitter_is_per_batch_within_a_tenth_of_a_second() {
    let spec = BatchSpec {
        dt: 5.0,
        batch_size: 6,
        timing: Timing::PerBatch,
        input_noise_std: 0.0,
    };
    let mut lengths = std::collections::BTreeSet::new();
    for i in 0..40 {
        let b = generate(&TsTask::new(TsRule::Dms), &spec, &Streams::new(3), i);
        for (name, on, off) in &b.epochs {
            assert!(
                on.iter().all(|v| *v == on[0]) && off.iter().all(|v| *v == off[0]),
                "{name}: shared by the batch"
            );
            let len = (off[0] - on[0]) as usize;
            match *name {
                "pre" => assert_eq!(len, 200),
                "response" => assert_eq!(len, 100),
                "delay" => assert!((180..220).contains(&len), "delay {len}"),
                _ => assert!((80..120).contains(&len), "{name} {len}"),
            }
            if *name == "fix" {
                lengths.insert(len);
            }
        }
    }
    assert!(lengths.len() > 10, "lengths vary from batch to batch");
}

#[test]
fn reaction_time_tasks_show_the_stimulus_in_the_response_epoch_with_fixation_on() {
    let t = one_trial(&eval_task(TsRule::RtAnti), 2);
    let x = |step: usize, ch: usize| t.x[step * 85 + ch];
    let stim_energy = |step: usize| (1..65).map(|k| x(step, k)).sum::<f32>();
    assert_eq!(stim_energy(350), 0.0);
    assert!(stim_energy(450) > 0.5);
    assert_eq!(x(450, 0), 1.0, "fixation input stays on");
    assert_eq!(t.y[450 * 33], 0.05, "but the answer is due");
}

#[test]
fn non_match_tasks_invert_match_unless_the_reference_is_reproduced() {
    let mut responded = [0usize; 2];
    for seed in 0..200 {
        let dms = one_trial(&eval_task(TsRule::Dms), seed);
        let dnms = one_trial(&eval_task(TsRule::Dnms), seed);
        let reference = one_trial(
            &TsTask {
                reference_nonmatch: true,
                ..eval_task(TsRule::Dnms)
            },
            seed,
        );
        let respond =
            |t: &biornn_tasks::Trial| t.latents.iter().find(|l| l.0 == "respond").unwrap().1 == 1.0;
        // same streams, same stimuli: DNMS answers exactly where DMS fixates
        assert_eq!(respond(&dms), !respond(&dnms), "seed {seed}");
        assert_eq!(respond(&dms), respond(&reference));
        assert_eq!(dms.y, reference.y, "the reference's dnms has dms's targets");
        responded[respond(&dms) as usize] += 1;
        // no-response trials keep fixating with the ring at 0
        let end = dms.len;
        assert_eq!(end, 800);
        let last = &dms.y[(end - 1) * 33..end * 33];
        if !respond(&dms) {
            assert_eq!(last[0], 0.85);
            assert!(last[1..].iter().all(|v| *v == 0.0));
        }
    }
    assert!(responded[0] > 70 && responded[1] > 70, "{responded:?}");
}

#[test]
fn structures_and_delayed_list() {
    assert_eq!(TsRule::ALL.len(), 20);
    assert_eq!(TsRule::TRAINED.len(), 16);
    assert_eq!(TsRule::Dnmc.index(), 19);
    assert_eq!(TsRule::Go.structure(), Structure::A);
    assert_eq!(TsRule::DlyAnti.structure(), Structure::B);
    assert_eq!(TsRule::MultSenDlyDm.structure(), Structure::C);
    for r in TsRule::ALL {
        assert_eq!(TsRule::from_name(r.name()), Some(r));
    }
    assert!((bump(0.0)[0] - 0.8).abs() < 1e-7);
    assert!((bump(PI / 8.0)[0] as f64 - 0.8 * (-0.5f64).exp()).abs() < 1e-6);
}

#[test]
fn the_score_of_perfect_and_of_always_fixating_outputs() {
    let spec = BatchSpec {
        dt: 5.0,
        batch_size: 8,
        timing: Timing::PerBatch,
        input_noise_std: 0.0,
    };
    for rule in [TsRule::Go, TsRule::DlyGo, TsRule::Dms] {
        let b = generate(&eval_task(rule), &spec, &Streams::new(4), 0);
        // the targets themselves are a perfect output
        let s = score_batch(rule, &b, &b.y, 5.0);
        assert!((s.performance - 1.0).abs() < 1e-12, "{rule:?} {s:?}");
        // always fixating: fix1 = 1; fix2 counts only no-go trials
        let fixating: Vec<f32> =
            b.y.chunks(33)
                .flat_map(|_| {
                    let mut o = vec![0.0f32; 33];
                    o[0] = 0.9;
                    o
                })
                .collect();
        let s = score_batch(rule, &b, &fixating, 5.0);
        let w = rule.structure().fix_weight();
        let nogo = b
            .latent("respond")
            .unwrap()
            .iter()
            .filter(|r| **r == 0.0)
            .count() as f64
            / 8.0;
        assert!((s.fix1 - 1.0).abs() < 1e-12);
        assert!(
            (s.performance - (w + (1.0 - w) * nogo)).abs() < 1e-12,
            "{rule:?} {s:?} nogo {nogo}"
        );
    }
}

/// Every trained task, worked out from the reference's `construct_trial`: the epochs of its
/// structure, its rule channel, the fixation input, which ring carries input in which epoch, the
/// targets, how the answer follows from the stimuli, and the score of a perfect output.
#[test]
fn every_trained_task_by_hand() {
    use TsRule::*;
    // (task, rule channel, rings shown in the first and second stimulus epochs: "1", "2", "12"
    // both, "?" one of the two, "-" none)
    let table = [
        (Go, 65, "?", "-"),
        (RtGo, 66, "?", "-"),
        (DlyGo, 67, "?", "-"),
        (Anti, 68, "?", "-"),
        (RtAnti, 69, "?", "-"),
        (DlyAnti, 70, "?", "-"),
        (Dm1, 71, "1", "-"),
        (CtxDm1, 73, "12", "-"),
        (MultSenDm, 75, "12", "-"),
        (DlyDm1, 76, "1", "1"),
        (CtxDlyDm1, 78, "12", "12"),
        (MultSenDlyDm, 80, "12", "12"),
        (Dms, 81, "?", "?"),
        (Dnms, 82, "?", "?"),
        (Dmc, 83, "?", "?"),
        (Dnmc, 84, "?", "?"),
    ];
    assert_eq!(table.len(), TsRule::TRAINED.len());
    let circ = |a: f64, b: f64| {
        let d = (a - b).rem_euclid(2.0 * PI);
        d.min(2.0 * PI - d)
    };
    for (rule, rule_ch, first, second) in table {
        for seed in 0..6 {
            let t = one_trial(&eval_task(rule), seed);
            let x = |step: usize, ch: usize| t.x[step * 85 + ch];
            let y = |step: usize, ch: usize| t.y[step * 33 + ch];
            // epochs: pre 1 s, fix 0.5 s, stimulus 0.5 s, delay 1 s, stimulus 2 0.5 s, response 0.5 s
            let spans: Vec<(&str, usize, usize)> =
                t.epochs.iter().map(|e| (e.name, e.on, e.off)).collect();
            let want: Vec<(&str, usize, usize)> = match rule.structure() {
                Structure::A => vec![
                    ("pre", 0, 200),
                    ("fix", 200, 300),
                    ("stim", 300, 400),
                    ("response", 400, 500),
                ],
                Structure::B => vec![
                    ("pre", 0, 200),
                    ("fix", 200, 300),
                    ("stim", 300, 400),
                    ("delay", 400, 600),
                    ("response", 600, 700),
                ],
                Structure::C => vec![
                    ("pre", 0, 200),
                    ("fix", 200, 300),
                    ("stim1", 300, 400),
                    ("delay", 400, 600),
                    ("stim2", 600, 700),
                    ("response", 700, 800),
                ],
            };
            assert_eq!(spans, want, "{rule:?}");
            let resp = want.last().unwrap().1;
            let end = want.last().unwrap().2;
            // the rule input, one-hot, all along
            for step in [0, 250, resp, end - 1] {
                for ch in 65..85 {
                    assert_eq!(x(step, ch), f32::from(ch == rule_ch), "{rule:?} {ch}");
                }
            }
            // fixation input from fix to the response (and through it for reaction-time tasks)
            let rt = matches!(rule, RtGo | RtAnti);
            assert_eq!((x(199, 0), x(200, 0), x(resp - 1, 0)), (0.0, 1.0, 1.0));
            assert_eq!(x(resp, 0), f32::from(rt), "{rule:?}");
            // rings per epoch
            let ring_on = |step: usize, ring: usize| {
                (1 + 32 * (ring - 1)..1 + 32 * ring).any(|k| x(step, k) != 0.0)
            };
            let shown = |step: usize| -> String {
                match (ring_on(step, 1), ring_on(step, 2)) {
                    (false, false) => "-".into(),
                    (true, false) => "1".into(),
                    (false, true) => "2".into(),
                    (true, true) => "12".into(),
                }
            };
            let matches = |got: &str, want: &str| match want {
                "?" => got == "1" || got == "2",
                _ => got == want,
            };
            let (s1, s2) = if rt { (resp, None) } else { (350, Some(650)) };
            assert!(matches(&shown(s1), first), "{rule:?}: {}", shown(s1));
            if rule.structure() == Structure::C {
                assert!(matches(&shown(s2.unwrap()), second), "{rule:?}");
            }
            // nothing in the pre-trial, fix and delay (or, for structure A, response) epochs
            for quiet in [100, 250, 450] {
                if !(rt && quiet >= resp) {
                    assert_eq!(shown(quiet), "-", "{rule:?} step {quiet}");
                }
            }
            // targets: fixate until the response; then answer at the target angle, or keep fixating
            let angle = t.latents.iter().find(|l| l.0 == "target_angle").unwrap().1;
            let respond = t.latents.iter().find(|l| l.0 == "respond").unwrap().1 == 1.0;
            assert_eq!((y(199, 0), y(200, 0), y(resp - 1, 0)), (0.0, 0.85, 0.85));
            if respond {
                assert_eq!(y(resp, 0), 0.05);
                let ring: Vec<f32> = (1..33).map(|k| y(resp + 50, k)).collect();
                let want: Vec<f32> = bump(angle).iter().map(|v| v + 0.05).collect();
                assert_eq!(ring, want, "{rule:?}");
            } else {
                assert_eq!(y(resp, 0), 0.85);
                assert!((1..33).all(|k| y(resp + 50, k) == 0.0));
            }
            // how the answer follows from the stimuli
            let ring_vals = |step: usize, ring: usize| -> Vec<f32> {
                (1 + 32 * (ring - 1)..1 + 32 * ring)
                    .map(|k| x(step, k))
                    .collect()
            };
            let single = |step: usize| {
                let r = if ring_on(step, 1) { 1 } else { 2 };
                ring_angle(&ring_vals(step, r))
            };
            let peak = |step: usize, ring: usize| {
                ring_vals(step, ring).iter().copied().fold(0.0f32, f32::max)
            };
            match rule {
                Go | RtGo | DlyGo => assert!(circ(angle, single(s1)) < 1e-3),
                Anti | RtAnti | DlyAnti => assert!(circ(angle, single(s1) + PI) < 1e-3),
                DlyDm1 | CtxDlyDm1 => {
                    // the stronger of the two ring-1 stimuli
                    let stronger = if peak(350, 1) > peak(650, 1) {
                        350
                    } else {
                        650
                    };
                    assert!(circ(angle, ring_angle(&ring_vals(stronger, 1))) < 1e-3);
                }
                MultSenDlyDm => {
                    let total = |s: usize| peak(s, 1) + peak(s, 2);
                    let stronger = if total(350) > total(650) { 350 } else { 650 };
                    assert!(circ(angle, ring_angle(&ring_vals(stronger, 1))) < 1e-3);
                }
                Dms | Dnms | Dmc | Dnmc => {
                    let (a1, a2) = (single(350), single(650));
                    let matched = if matches!(rule, Dms | Dnms) {
                        circ(a1, a2) < PI / 18.0 + 1e-3
                    } else {
                        // category: the half of the circle, [0, pi) or [pi, 2 pi)
                        (a1 < PI) == (a2 < PI)
                    };
                    let nonmatch_task = matches!(rule, Dnms | Dnmc);
                    assert_eq!(respond, matched != nonmatch_task, "{rule:?} {a1} {a2}");
                    if respond {
                        assert!(circ(angle, a2) < 1e-3);
                    }
                }
                // two stimuli in one ring at once: the answer is one of them
                Dm1 | CtxDm1 | MultSenDm => assert!(respond && angle.is_finite()),
                _ => unreachable!(),
            }
        }
        // the metric: the targets themselves score 1
        let spec = BatchSpec {
            dt: 5.0,
            batch_size: 6,
            timing: Timing::PerBatch,
            input_noise_std: 0.0,
        };
        let b = generate(&eval_task(rule), &spec, &Streams::new(4), 0);
        let s = score_batch(rule, &b, &b.y, 5.0);
        assert!((s.performance - 1.0).abs() < 1e-12, "{rule:?} {s:?}");
    }
}
