//! a^n b^n as a task of the registry: trials step by step, class targets and the reference's
//! success definition (at most one wrong step).

use biornn_numerics::Streams;
use biornn_tasks::{Task, TaskConfig, TrialOutputs};

fn task(name: &str) -> std::sync::Arc<dyn Task> {
    let cfg = TaskConfig {
        battery: "anbn".into(),
        rules: vec![name.into()],
        dt: 1.0,
        sigma_x: Some(0.0),
        ..Default::default()
    };
    cfg.validate().unwrap();
    cfg.tasks().unwrap().remove(0)
}

#[test]
fn a_trial_is_the_sequence_shifted_by_one_with_its_symbols_as_classes() {
    let t = task("anbn6");
    let mut ns = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let s = Streams::new(seed);
        let tr = t.trial(1.0, &mut s.stream("a", 0), &mut s.stream("b", 0));
        let n = tr.latents.iter().find(|l| l.0 == "n").unwrap().1 as usize;
        ns.insert(n);
        assert_eq!(tr.len, 2 * n + 1);
        let hot = |v: &[f32], t: usize| (0..3).find(|k| v[t * 3 + k] == 1.0).unwrap();
        // inputs a^n EOL b^n, targets a^(n-1) EOL b^n EOL
        let inputs: Vec<usize> = (0..tr.len).map(|s| hot(&tr.x, s)).collect();
        let targets: Vec<usize> = (0..tr.len).map(|s| hot(&tr.y, s)).collect();
        let mut want_in = vec![0; n];
        want_in.push(2);
        want_in.extend(vec![1; n]);
        let mut want_out = want_in[1..].to_vec();
        want_out.push(2);
        assert_eq!((inputs, targets), (want_in, want_out));
        assert!(tr.cost.iter().all(|c| *c == 1.0));
    }
    assert_eq!(ns.into_iter().collect::<Vec<_>>(), [6, 7, 8, 9]);
}

#[test]
fn one_wrong_step_is_allowed_and_two_are_not() {
    let t = task("anbn1");
    // n = 2: inputs a a EOL b b, classes a EOL b b EOL = 0 2 1 1 2
    let class = [0, 2, 1, 1, 2];
    let right: Vec<f32> = class
        .iter()
        .flat_map(|c| (0..3).map(move |k| if k == *c { 1.0 } else { 0.0 }))
        .collect();
    let score = |output: &[f32]| {
        t.score(&TrialOutputs {
            output,
            n_out: 3,
            class: &class,
            y_loc: &[0.0; 5],
            epochs: &[("sequence", 0, 5)],
            latents: &[],
        })
    };
    let s = score(&right);
    assert!(s.correct && s.steps_right == 5 && s.steps_scored == 5);
    let mut one = right.clone();
    one[0..3].copy_from_slice(&[0.0, 0.0, 1.0]); // the a-run's end guessed early
    assert!(score(&one).correct);
    let mut two = one.clone();
    two[12..15].copy_from_slice(&[0.0, 1.0, 0.0]);
    let s = score(&two);
    assert!(!s.correct && s.steps_right == 3);
}
