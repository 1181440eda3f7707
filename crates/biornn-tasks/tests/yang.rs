//! Hand-worked trials of the Yang et al. 2019 battery (dt = 20 ms), pinning epochs, inputs, targets,
//! the cost mask and the performance metric to gyyang/multitask's semantics.

use biornn_numerics::Streams;
use biornn_tasks::yang::*;
use biornn_tasks::{generate, generate_groups, generate_groups_into, BatchSpec, TaskBatch, Timing};
use std::f64::consts::PI;

const DT: f64 = 20.0;

fn spec(rule: YangRule) -> YangTrialSpec {
    YangTrialSpec {
        rule,
        stim1_loc: PI / 2.0, // unit 8 of 32
        stim2_loc: f64::NAN,
        stim1_strength: [1.0, 0.0],
        stim2_strength: [f64::NAN; 2],
        stim1_on: 20,
        stim1_off: 75,
        stim2_on: 75,
        stim2_off: 75,
        fix_off: 50,
        response_on: 50,
        t_end: 75,
    }
}

fn x(tr: &biornn_tasks::Trial, t: usize, ch: usize) -> f32 {
    tr.x[t * N_INPUT + ch]
}
fn y(tr: &biornn_tasks::Trial, t: usize, ch: usize) -> f32 {
    tr.y[t * N_OUTPUT + ch]
}
fn c(tr: &biornn_tasks::Trial, t: usize, ch: usize) -> f32 {
    tr.cost[t * N_OUTPUT + ch]
}

#[test]
fn fdgo_by_hand() {
    let tr = build(&spec(YangRule::FdGo), DT);
    assert_eq!(tr.len, 75);
    let epochs: Vec<_> = tr.epochs.iter().map(|e| (e.name, e.on, e.off)).collect();
    assert_eq!(
        epochs,
        vec![("fix1", 0, 20), ("stim1", 20, 50), ("go1", 50, 75)]
    );
    // fixation input on until the go cue
    assert_eq!(x(&tr, 49, 0), 1.0);
    assert_eq!(x(&tr, 50, 0), 0.0);
    // stimulus: nothing before onset, 0.8 at the preferred unit, the Gaussian tail next to it,
    // kept on to the end of the trial; ring 2 silent
    assert_eq!(x(&tr, 19, 1 + 8), 0.0);
    assert!((x(&tr, 20, 1 + 8) - 0.8).abs() < 1e-6);
    let neighbour = 0.8 * (-0.5f64 * 0.25).exp();
    assert!((x(&tr, 74, 1 + 9) as f64 - neighbour).abs() < 1e-6);
    assert!((x(&tr, 30, 1 + 7) as f64 - neighbour).abs() < 1e-6);
    assert!((0..75).all(|t| (33..65).all(|ch| x(&tr, t, ch) == 0.0)));
    // rule input: channel 65 for the whole trial, the other rules off
    assert!((0..75).all(|t| x(&tr, t, 65) == 1.0 && x(&tr, t, 66) == 0.0));
    // targets
    assert_eq!(y(&tr, 49, 0), 0.8);
    assert_eq!(y(&tr, 50, 0), 0.05);
    assert_eq!(y(&tr, 49, 1 + 8), 0.05);
    assert!((y(&tr, 50, 1 + 8) - 0.85).abs() < 1e-6);
    assert!((y(&tr, 60, 1 + 24) - 0.05).abs() < 1e-6);
    assert_eq!(tr.y_loc[49], -1.0);
    assert!((tr.y_loc[50] as f64 - PI / 2.0).abs() < 1e-6);
    // cost mask: 0 for 100 ms, 1 until the response (2 on fixation), 0 for 100 ms, then 5 (10)
    for (t, ring, fix) in [
        (0, 0.0, 0.0),
        (4, 0.0, 0.0),
        (5, 1.0, 2.0),
        (49, 1.0, 2.0),
        (50, 0.0, 0.0),
        (54, 0.0, 0.0),
        (55, 5.0, 10.0),
        (74, 5.0, 10.0),
    ] {
        assert_eq!(c(&tr, t, 3), ring, "ring cost at {t}");
        assert_eq!(c(&tr, t, 0), fix, "fixation cost at {t}");
    }
}

#[test]
fn anti_responds_opposite() {
    let tr = build(&spec(YangRule::FdAnti), DT);
    assert!((y(&tr, 60, 1 + 24) - 0.85).abs() < 1e-6);
    assert!((tr.y_loc[60] as f64 - 1.5 * PI).abs() < 1e-6);
    assert_eq!(x(&tr, 0, 65 + 3), 1.0);
}

#[test]
fn reactgo_never_releases_fixation_input() {
    let mut s = spec(YangRule::ReactGo);
    s.fix_off = 75;
    s.response_on = 20;
    let tr = build(&s, DT);
    assert!((0..75).all(|t| x(&tr, t, 0) == 1.0));
    assert_eq!(y(&tr, 19, 0), 0.8);
    assert_eq!(y(&tr, 20, 0), 0.05);
    assert_eq!(c(&tr, 24, 0), 0.0);
    assert_eq!(c(&tr, 25, 0), 10.0);
    let names: Vec<_> = tr.epochs.iter().map(|e| e.name).collect();
    assert_eq!(names, vec!["fix1", "go1"]);
}

fn dm_spec(rule: YangRule, s1: [f64; 2], s2: [f64; 2]) -> YangTrialSpec {
    YangTrialSpec {
        rule,
        stim1_loc: 0.0,
        stim2_loc: PI,
        stim1_strength: s1,
        stim2_strength: s2,
        stim1_on: 10,
        stim1_off: 50,
        stim2_on: 10,
        stim2_off: 50,
        fix_off: 50,
        response_on: 50,
        t_end: 75,
    }
}

#[test]
fn decision_tasks_attend_the_right_ring() {
    // ring 1 favours stimulus 1, ring 2 favours stimulus 2 by more
    let (s1, s2) = ([1.1, 0.6], [0.9, 1.3]);
    let cases = [
        (YangRule::Dm1, 0.0),
        (YangRule::ContextDm1, 0.0),
        (YangRule::Dm2, PI),
        (YangRule::ContextDm2, PI),
        (YangRule::MultiDm, PI), // 1.7 vs 2.2
    ];
    for (rule, want) in cases {
        let out = resolve(&dm_spec(rule, s1, s2));
        assert!((out.response_loc - want).abs() < 1e-12, "{rule:?}");
    }
    // both stimuli are summed into their ring over the stimulus epoch
    let tr = build(&dm_spec(YangRule::ContextDm1, s1, s2), DT);
    assert!((x(&tr, 10, 1) - 0.8 * 1.1).abs() < 1e-6);
    assert!((x(&tr, 10, 1 + 16) - 0.8 * 0.9).abs() < 1e-6);
    assert!((x(&tr, 49, 33) - 0.8 * 0.6).abs() < 1e-6);
    assert!((x(&tr, 49, 33 + 16) - 0.8 * 1.3).abs() < 1e-6);
    assert_eq!(x(&tr, 50, 1), 0.0);
}

#[test]
fn delayed_decision_epochs() {
    let s = YangTrialSpec {
        stim1_on: 10,
        stim1_off: 20,
        stim2_on: 40,
        stim2_off: 50,
        fix_off: 60,
        response_on: 60,
        t_end: 85,
        ..dm_spec(YangRule::DelayDm1, [1.2, 0.0], [0.8, 0.0])
    };
    let tr = build(&s, DT);
    let e: Vec<_> = tr.epochs.iter().map(|e| (e.name, e.on, e.off)).collect();
    assert_eq!(
        e,
        vec![
            ("fix1", 0, 10),
            ("stim1", 10, 20),
            ("delay1", 20, 40),
            ("stim2", 40, 50),
            ("delay2", 50, 60),
            ("go1", 60, 85)
        ]
    );
    assert!(x(&tr, 15, 1) > 0.9 && x(&tr, 25, 1) == 0.0 && x(&tr, 45, 1 + 16) > 0.6);
    assert!((tr.y_loc[70] as f64).abs() < 1e-6);
}

fn match_spec(rule: YangRule, loc1: f64, loc2: f64) -> YangTrialSpec {
    YangTrialSpec {
        rule,
        stim1_loc: loc1,
        stim2_loc: loc2,
        stim1_strength: [1.0, 0.0],
        stim2_strength: [0.0, 1.0],
        stim1_on: 10,
        stim1_off: 20,
        stim2_on: 40,
        stim2_off: 65,
        fix_off: 65,
        response_on: 40,
        t_end: 65,
    }
}

#[test]
fn matching_go_and_nogo() {
    let m = 0.3 * PI;
    for (rule, l2, respond) in [
        (YangRule::DmsGo, m, true),
        (YangRule::DmsGo, m + 1.0, false),
        (YangRule::DmsNogo, m, false),
        (YangRule::DmsNogo, m + 1.0, true),
        (YangRule::DmcGo, 0.9 * PI, true), // both below pi
        (YangRule::DmcGo, 1.1 * PI, false),
        (YangRule::DmcNogo, 1.9 * PI, true),
    ] {
        let s = match_spec(rule, m, l2);
        let tr = build(&s, DT);
        assert!(
            (0..65).all(|t| x(&tr, t, 0) == 1.0),
            "fixation input never goes off"
        );
        if respond {
            assert_eq!(y(&tr, 40, 0), 0.05, "{rule:?}");
            assert!((tr.y_loc[64] as f64 - l2).abs() < 1e-6);
        } else {
            assert!(
                (0..65).all(|t| y(&tr, t, 0) == 0.8 && tr.y_loc[t] == -1.0),
                "{rule:?}"
            );
        }
        // cost mask is the same either way
        assert_eq!(c(&tr, 39, 0), 2.0);
        assert_eq!(c(&tr, 44, 0), 0.0);
        assert_eq!(c(&tr, 45, 0), 10.0);
        // stimulus 2 in ring 2 from its onset to the end
        assert!(
            x(
                &tr,
                64,
                33 + ((l2 / (2.0 * PI) * 32.0).round() as usize % 32)
            ) > 0.7
        );
    }
}

#[test]
fn performance_metric() {
    let mut out = vec![0.05f32; N_OUTPUT];
    out[0] = 0.9;
    assert!(correct(&out, -1.0));
    assert!(!correct(&out, 1.0), "fixating when a response is due");
    out[0] = 0.1;
    assert!(!correct(&out, -1.0), "breaking fixation on a no-go trial");
    let target = PI / 2.0;
    out[1..].copy_from_slice(&bump(target + 0.19 * PI, 1.0));
    assert!(correct(&out, target as f32), "within 0.2 pi");
    out[1..].copy_from_slice(&bump(target + 0.21 * PI, 1.0));
    assert!(!correct(&out, target as f32), "outside 0.2 pi");
    assert!((popvec(&bump(5.0, 1.0)) - 5.0).abs() < 1e-6);
    // gyyang divides by the summed output: all-negative outputs decode to the same angle (a plain
    // vector sum would point the opposite way), and a zero sum scores wrong
    let neg: Vec<f32> = bump(1.0, 1.0).iter().map(|v| -v).collect();
    assert!((popvec(&neg) - 1.0).abs() < 1e-6);
    let mut zero = vec![0.0f32; N_OUTPUT];
    assert!(!correct(&zero, 0.0));
    zero[0] = 0.9;
    assert!(correct(&zero, -1.0));
}

fn batch(rule: YangRule, timing: Timing, noise: f64, seed: u64, index: u64) -> TaskBatch {
    let spec = BatchSpec {
        dt: DT,
        batch_size: 64,
        timing,
        input_noise_std: noise,
    };
    generate(
        &YangTask { rule, easy: false },
        &spec,
        &Streams::new(seed),
        index,
    )
}

#[test]
fn groups_built_into_used_buffers_equal_groups_built_afresh() {
    let spec = BatchSpec {
        dt: DT,
        batch_size: 8,
        timing: Timing::PerBatch,
        input_noise_std: 0.1,
    };
    let streams = Streams::new(3);
    let task = |rule| YangTask { rule, easy: false };
    // a longer task with more groups first, so every buffer holds stale values
    let mut reused = generate_groups(&task(YangRule::DelayDm1), &spec, &streams, 4);
    for (rule, groups) in [(YangRule::FdGo, 2), (YangRule::DmsGo, 3)] {
        generate_groups_into(&task(rule), &spec, &streams, groups, &mut reused);
        let fresh = generate_groups(&task(rule), &spec, &streams, groups);
        assert_eq!(reused.batch, groups * 8);
        // latents absent from a task are NaN, so they are compared by their bits
        let bits = |b: &TaskBatch| -> Vec<(&str, Vec<u64>)> {
            let l = b.latents.iter();
            l.map(|(n, v)| (*n, v.iter().map(|x| x.to_bits()).collect()))
                .collect()
        };
        assert_eq!(bits(&reused), bits(&fresh), "{rule:?}: latents");
        let mut reused_rest = reused.clone();
        reused_rest.latents.clear();
        let mut fresh_rest = fresh.clone();
        fresh_rest.latents.clear();
        for t in reused_rest
            .trials
            .iter_mut()
            .chain(fresh_rest.trials.iter_mut())
        {
            t.latents.clear();
        }
        assert!(
            reused_rest == fresh_rest,
            "{rule:?}: reused buffers changed the batch"
        );
    }
}

#[test]
fn per_batch_timing_is_shared_and_per_trial_is_not() {
    let b = batch(YangRule::DelayDm1, Timing::PerBatch, 0.0, 1, 0);
    assert!(b.lengths.iter().all(|l| *l == b.lengths[0]));
    let b = batch(YangRule::DelayDm1, Timing::PerTrial, 0.0, 1, 0);
    assert!(b.lengths.iter().any(|l| *l != b.lengths[0]));
    // padding is masked and marked
    let b0 = b.lengths.iter().position(|l| *l < b.steps).unwrap();
    let t = b.steps - 1;
    let cidx = t * b.batch + b0;
    assert_eq!(b.class[cidx], -1);
    assert!(b.cost[cidx * N_OUTPUT..(cidx + 1) * N_OUTPUT]
        .iter()
        .all(|v| *v == 0.0));
}

#[test]
fn sampled_values_follow_the_reference_ranges() {
    for index in 0..40 {
        let b = batch(YangRule::FdGo, Timing::PerBatch, 0.0, 2, index);
        let on = b.latent("stim1_on").unwrap()[0];
        let off = b.latent("fix_off").unwrap()[0];
        assert!((15.0..35.0).contains(&on), "stim_on {on} steps");
        assert!((25.0..=75.0).contains(&(off - on)));
        assert_eq!(b.steps as f64, off + 25.0);
        let b = batch(YangRule::Dm1, Timing::PerBatch, 0.0, 2, index);
        for i in 0..64 {
            let s1 = b.latent("stim1_mod1_strength").unwrap()[i];
            let s2 = b.latent("stim2_mod1_strength").unwrap()[i];
            let coh = ((s1 - s2) / 2.0).abs();
            assert!(
                [0.01, 0.02, 0.04, 0.08]
                    .iter()
                    .any(|c| (c - coh).abs() < 1e-9),
                "{coh}"
            );
            let d = circ_dist(
                b.latent("stim1_loc").unwrap()[i],
                b.latent("stim2_loc").unwrap()[i],
            );
            assert!(d >= 0.5 * PI - 1e-9);
        }
        for (rule, tails) in [
            (YangRule::DmsGo, &[25.0][..]),
            (YangRule::DmcNogo, &[10.0, 20.0, 30.0][..]),
        ] {
            let b = batch(rule, Timing::PerBatch, 0.0, 2, index);
            let tail = b.latent("t_end").unwrap()[0] - b.latent("response_on").unwrap()[0];
            assert!(
                tails.contains(&tail),
                "{rule:?}: response period of {tail} steps"
            );
        }
        let b = batch(YangRule::DmsGo, Timing::PerBatch, 0.0, 2, index);
        let matches = b.latent("match").unwrap().iter().sum::<f64>();
        assert!(matches > 10.0 && matches < 54.0);
    }
}

#[test]
fn input_noise_has_the_gyyang_scale() {
    let std = 0.01 * (2.0f64 / 0.2).sqrt();
    let clean = batch(YangRule::FdGo, Timing::PerBatch, 0.0, 4, 0);
    let noisy = batch(YangRule::FdGo, Timing::PerBatch, std, 4, 0);
    let n = clean.x.len() as f64;
    let var = clean
        .x
        .iter()
        .zip(&noisy.x)
        .map(|(a, b)| ((b - a) as f64).powi(2))
        .sum::<f64>()
        / n;
    assert!((var.sqrt() - 0.0316).abs() < 0.001, "{}", var.sqrt());
}

#[test]
fn batches_are_reproducible() {
    let a = batch(YangRule::ContextDm1, Timing::PerTrial, 0.03, 9, 5);
    let b = batch(YangRule::ContextDm1, Timing::PerTrial, 0.03, 9, 5);
    // NaN marks absent latents, so compare through their printed form
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let c = batch(YangRule::ContextDm1, Timing::PerTrial, 0.03, 9, 6);
    assert_ne!(a.x, c.x);
}

#[test]
fn class_targets() {
    let b = TaskBatch::assemble(&[build(&spec(YangRule::FdGo), DT)]);
    assert_eq!(b.class[0], 0);
    assert_eq!(b.class[60], 1 + 8);
}
