//! Fuzzing explicit trial parameters: any spec is either rejected with an error or builds a trial of
//! its length with finite values.

use biornn_tasks::yang::{build, YangRule, YangTrialSpec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::Cell;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn trial_specs_are_validated_or_built() {
    let executed = Cell::new(0usize);
    let rejected = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let float = prop_oneof![1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 8 => -10.0..10.0f64];
    // mostly ordered epoch times (valid), sometimes scrambled (invalid)
    let times =
        (prop::collection::vec(0usize..120, 7), any::<u8>()).prop_map(|(mut t, scramble)| {
            if scramble % 4 != 0 {
                t.sort();
                t.swap(4, 5); // fix_off and response_on may come in either order
                t[4] = t[4].min(t[6]);
                t[6] = t[6].max(1);
            }
            t
        });
    let strategy = (
        0usize..20,
        (
            float.clone(),
            float.clone(),
            [float.clone(), float.clone()],
            [float.clone(), float],
        ),
        times,
    );
    runner
        .run(&strategy, |(rule, (l1, l2, s1, s2), t)| {
            let (a, b, c, d, e, f, g) = (t[0], t[1], t[2], t[3], t[4], t[5], t[6]);
            let spec = YangTrialSpec {
                rule: YangRule::ALL[rule],
                stim1_loc: l1,
                stim2_loc: l2,
                stim1_strength: s1,
                stim2_strength: s2,
                stim1_on: a,
                stim1_off: b,
                stim2_on: c,
                stim2_off: d,
                fix_off: e,
                response_on: f,
                t_end: g,
            };
            executed.set(executed.get() + 1);
            match spec.validate() {
                Err(_) => rejected.set(rejected.get() + 1),
                Ok(()) => {
                    let t = build(&spec, 20.0);
                    prop_assert_eq!(t.len, spec.t_end);
                    prop_assert!(t.x.iter().chain(&t.y).chain(&t.cost).all(|v| v.is_finite()));
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz trial specs: {} inputs, {} rejected with an error, 0 panics",
        executed.get(),
        rejected.get()
    );
    assert!(rejected.get() > 0 && rejected.get() < executed.get());
}
