//! R2N2 trained in f32 (`[network] precision = "f32"`): the same learning as in f64 to within
//! f32's rounding, resumable, and able to learn a^n b^n.

use biornn_core::{Arrays, Learner, Phase, Stateful};
use biornn_r2n2::{trained_network, Precision, R2n2Learner, R2n2RunConfig};

const PLAIN: Phase = Phase {
    stage: None,
    lr_factor: 1.0,
    lr_scale: 1.0,
};

fn cfg() -> R2n2RunConfig {
    let mut c = R2n2RunConfig::default();
    c.network.precision = Precision::F32;
    c
}

/// A learner after `updates` updates, and a fresh one given its saved state.
fn saved_and_loaded<T: biornn_numerics::Real>(
    c: &R2n2RunConfig,
    updates: u64,
) -> (R2n2Learner<T>, R2n2Learner<T>) {
    let mut first = R2n2Learner::<T>::new(c, 1).unwrap();
    for step in 0..updates {
        first.update(step, &PLAIN).unwrap();
    }
    let mut saved = Arrays::new();
    first.save_state("", &mut saved);
    let mut loaded = R2n2Learner::<T>::new(c, 1).unwrap();
    loaded.load_state("", &saved).unwrap();
    (first, loaded)
}

#[test]
fn f32_training_follows_f64_training_and_resumes_bit_for_bit() {
    let c = cfg();
    let mut single = R2n2Learner::<f32>::new(&c, 1).unwrap();
    let mut double = R2n2Learner::<f64>::new(&c, 1).unwrap();
    for step in 0..20 {
        single.update(step, &PLAIN).unwrap();
        double.update(step, &PLAIN).unwrap();
    }
    // 20 Adam steps of 1e-3 apart by no more than f32's rounding carried through them
    let (mut diff, mut moved) = (0.0f64, 0.0f64);
    let start = R2n2Learner::<f64>::new(&c, 1).unwrap();
    for ((s, d), w0) in single
        .net
        .w_ab
        .iter()
        .zip(&double.net.w_ab)
        .zip(&start.net.w_ab)
    {
        diff = diff.max((*s as f64 - d).abs());
        moved = moved.max((d - w0).abs());
    }
    assert!(moved > 1e-3, "the weights moved: {moved}");
    assert!(diff < 1e-4, "f32 and f64 apart by {diff}");

    // saved after 10 updates and resumed: the same as 20 straight
    let (_, mut second) = saved_and_loaded::<f32>(&c, 10);
    for step in 10..20 {
        second.update(step, &PLAIN).unwrap();
    }
    assert_eq!(second.net, single.net);
    // analysis reads the f32 network back in f64, exactly
    let mut end = Arrays::new();
    single.save_state("", &mut end);
    let net = trained_network(&c, &end).unwrap();
    assert_eq!(net.w_ab, single.net.convert::<f64>().w_ab);
}

#[test]
fn r2n2_in_f32_learns_anbn() {
    let c = cfg();
    let mut l = R2n2Learner::<f32>::new(&c, 1).unwrap();
    let mut best: f64 = 0.0;
    for step in 0..16_000u64 {
        l.update(step, &PLAIN).unwrap();
        if (step + 1) % 2000 == 0 {
            let e = l.evaluate(step + 1, None).unwrap();
            best = best.max(e.values["eval_success"]);
            if best == 1.0 {
                break;
            }
        }
    }
    assert_eq!(
        best, 1.0,
        "all four sequences right in f32 within 16,000 sequences"
    );
}

/// `replay_error`: how far the backward replay's reconstruction of each start state fell from it,
/// the largest since the last evaluation. Within rounding in f64 on short sequences; in f32 the
/// inverse's rounding, growing like 0.9^-T, passes the states' own scale on a^n b^n with m = 40
/// (sequences of over 160 steps). The running maximum is part of the learner's state, so a run
/// resumed between evaluations reports it.
#[test]
fn replay_error_shows_where_the_inverse_loses_the_start_state() {
    fn error(l: &mut dyn Learner) -> f64 {
        for step in 0..6 {
            l.update(step, &PLAIN).unwrap();
        }
        let e = l.evaluate(6, None).unwrap();
        assert_eq!(l.columns().last().unwrap(), "replay_error");
        assert_eq!(e.cells.len(), l.columns().len());
        // the evaluation starts the next interval afresh
        assert_eq!(l.evaluate(6, None).unwrap().values["replay_error"], 0.0);
        e.values["replay_error"]
    }
    let mut c = R2n2RunConfig::default();
    let short = error(&mut R2n2Learner::<f64>::new(&c, 1).unwrap());
    assert!(short > 0.0 && short < 1e-9, "f64, m = 1: {short}");
    c.task.m = 40;
    let long = error(&mut R2n2Learner::<f32>::new(&c, 1).unwrap());
    assert!(long.is_nan() || long >= 0.1, "f32, m = 40: {long}");
    // saved between evaluations and loaded: the running maximum goes with the state
    let (mut first, mut resumed) = saved_and_loaded::<f64>(&c, 3);
    let at_end = |l: &mut R2n2Learner<f64>| l.evaluate(3, None).unwrap().values["replay_error"];
    let (a, b) = (at_end(&mut resumed), at_end(&mut first));
    assert!(a > 0.0);
    assert_eq!(a.to_bits(), b.to_bits());
}
