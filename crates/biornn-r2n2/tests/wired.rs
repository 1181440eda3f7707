//! The cache wired between experience and replay: when every recall is exact, learning is the
//! same as from the stored sequence, update for update; recall errors are reported.

use biornn_core::{Learner, Phase};
use biornn_r2n2::{R2n2Learner, R2n2RunConfig};

/// The schedule's phase of a plain run.
const PLAIN: Phase = Phase {
    stage: None,
    lr_factor: 1.0,
    lr_scale: 1.0,
};

#[test]
fn with_exact_recall_the_wired_learner_learns_as_the_unwired_one() {
    let phase = PLAIN;
    let mut cfg = R2n2RunConfig::default();
    cfg.network.n_hidden = 8;
    let mut plain = R2n2Learner::<f64>::new(&cfg, 1).unwrap();
    cfg.rule.cache.wired = true;
    // a larger cache than the default (256 tag units), so that recall is exact over the whole
    // run (the defaults misread a few elements in a thousand) and the two learners can agree
    cfg.rule.cache.tag_units = 512;
    let mut wired = R2n2Learner::<f64>::new(&cfg, 1).unwrap();
    assert_eq!(
        wired.columns()[3..],
        [
            "eval_success",
            "recall_error_forward",
            "recall_error_reverse",
            "replay_error"
        ]
    );
    for step in 0..12 {
        let a = plain.update(step, &phase).unwrap();
        let b = wired.update(step, &phase).unwrap();
        assert_eq!(a, b, "update {step}");
    }
    let e = wired.evaluate(12, None).unwrap();
    assert_eq!(e.values["recall_error_forward"], 0.0);
    assert_eq!(e.values["recall_error_reverse"], 0.0);
    // exact recall: the backward replay returns to the start state
    assert!(
        e.values["replay_error"] < 1e-9,
        "{}",
        e.values["replay_error"]
    );
    assert_eq!(plain.net, wired.net);
}

/// The T-maze through the same learner: sequences of 91 to 104 sensations, and the closed-loop
/// reward rate beside the open-loop scores.
#[test]
fn the_t_maze_trains_and_is_tested_in_closed_loop() {
    let phase = PLAIN;
    let mut cfg = R2n2RunConfig::default();
    cfg.network.n_hidden = 8;
    cfg.task.kind = "tmaze".into();
    cfg.task.repeats = 1;
    let mut l = R2n2Learner::<f64>::new(&cfg, 1).unwrap();
    assert_eq!(
        l.columns()[4..],
        ["reward_rate", "epoch", "replays_this_epoch", "replay_error"]
    );
    for step in 0..3 {
        assert!(l.update(step, &phase).unwrap().is_finite());
    }
    let e = l.evaluate(3, None).unwrap();
    let r = e.values["reward_rate"];
    assert!((0.0..=1.0).contains(&r) && (r * 40.0).fract() == 0.0, "{r}");
    assert_eq!(e.cells.len(), l.columns().len());
}
