//! Replay after training: disruptions clamp the visible somata, and the time-shift search finds
//! a replay's phase.

use biornn_dendritic::{Disruption, EliseLearner, EliseRunConfig, Replay, DISRUPTIONS};

#[test]
fn the_time_shift_search_finds_a_delayed_replay() {
    // a target of 2 neurons over 50 samples, and three cycles that replay it 7 samples late
    let (k, s) = (2, 50);
    let target: Vec<f64> = (0..s)
        .flat_map(|t| [(t as f64 / 5.0).sin().abs(), (t as f64 / 3.0).cos().abs()])
        .collect();
    let rates: Vec<f64> = (0..3 * s)
        .flat_map(|t| {
            let u = (t + s - 7) % s;
            [target[u * k], target[u * k + 1]]
        })
        .collect();
    let replay = Replay {
        n_vis: k,
        samples: s,
        nudged: 0,
        rates,
        target,
    };
    let scores = replay.scores();
    assert_eq!(scores.len(), 2, "the last cycle cannot slide");
    for sc in scores {
        assert_eq!(sc.shift, 7);
        assert!(sc.mse < 1e-24, "{}", sc.mse);
        assert!((sc.correlation - 2.0).abs() < 1e-9, "{}", sc.correlation);
    }
}

#[test]
fn a_disruption_clamps_the_visible_somata_in_its_cycle() {
    let mut c = EliseRunConfig::default();
    c.network.n_latent = 10;
    let mut l = EliseLearner::new(&c).unwrap();
    let (n_vis, len) = (l.net.n_vis, l.teacher.len);
    let d = Disruption::preset("full", n_vis, len, -70.0).unwrap();
    assert_eq!((d.cycle, d.steps.clone(), d.potential), (4, 0..2500, -70.0));
    assert_eq!(d.cue, None);
    let cued = Disruption::preset("cued", n_vis, len, -70.0).unwrap();
    assert_eq!(cued.cue, Some((5, 0..500)));
    assert!(Disruption::preset("half", n_vis, len, -70.0).is_none());
    for name in DISRUPTIONS {
        assert!(
            Disruption::preset(name, n_vis, len, -70.0).is_some(),
            "{name}"
        );
    }
    let replay = l.replay(6, 3, Some(&d));
    assert_eq!(replay.cycles(), 6);
    let rest = 1.0 / (1.0 + (0.3f64 * 12.0).exp());
    let s = replay.samples;
    let cycle4 = &replay.rates[4 * s * n_vis..5 * s * n_vis];
    assert!(cycle4.iter().all(|r| (r - rest).abs() < 1e-15), "silenced");
    let cycle3 = &replay.rates[3 * s * n_vis..4 * s * n_vis];
    assert!(
        cycle3.iter().any(|r| (r - rest).abs() > 1e-6),
        "free before"
    );
    let small = Disruption::preset("small_offset", n_vis, len, -70.0).unwrap();
    assert_eq!((small.steps, small.potential), (900..1500, -55.0));
}
