//! FORCE on biornn's CTRNN: the config over its defaults, the step against the CTRNN's own
//! forward pass and its one-step map, learning the sum of sines, and resuming bit for bit.

use biornn_core::{Arrays, Learner, Network, Phase, Stateful, Stepping};
use biornn_model::{Activation, Readout, StateConvention, Trajectory};
use biornn_numerics::Streams;
use biornn_reservoir::{CtrnnFeedback, CtrnnForceRunConfig, DEFAULT_CTRNN_FORCE_TOML};

const PHASE: Phase = Phase {
    stage: None,
    lr_factor: 1.0,
    lr_scale: 1.0,
};

#[test]
fn config_keys_left_out_keep_the_force_defaults_and_bad_ones_are_named() {
    let d = CtrnnForceRunConfig::default();
    assert_eq!(
        CtrnnForceRunConfig::from_toml(DEFAULT_CTRNN_FORCE_TOML).unwrap(),
        d
    );
    assert_eq!(CtrnnForceRunConfig::from_toml(&d.to_toml()).unwrap(), d);
    // a [model] with one key keeps the chaotic tanh network around it
    let c = CtrnnForceRunConfig::from_toml(
        "[model]\nn_rec = 50\n[model.init]\nspectral_radius = 1.2\n",
    )
    .unwrap();
    assert_eq!(c.model.n_rec, 50);
    assert_eq!(c.model.activation, Activation::Tanh);
    assert_eq!(c.model.state, StateConvention::Current);
    assert_eq!(c.model.readout, Readout::Linear);
    assert_eq!(c.model.init.spectral_radius, Some(1.2));
    assert_eq!(c.model.init.gain, Some(1.0));
    // a mask spec is replaced whole, not merged with the default's keys
    let c = CtrnnForceRunConfig::from_toml(
        "[model.mask]\nrecurrent = { kind = \"ring\", radius = 3 }\n",
    )
    .unwrap();
    assert_eq!(
        c.model.mask.recurrent,
        biornn_model::MaskSpec::Ring { radius: 3 }
    );
    // an init that names its kind replaces FORCE's whole (no rescaling to radius 1.5 left over)
    let c = CtrnnForceRunConfig::from_toml("[model.init]\nw_rec = \"randortho\"\n").unwrap();
    assert_eq!(c.model.init.spectral_radius, None);
    assert_eq!(c.model.init.gain, None);
    // FORCE's other name
    assert!(CtrnnForceRunConfig::from_toml("[rule]\nkind = \"force\"\n").is_ok());
    for (text, field) in [
        ("[model]\nreadout = \"sigmoid\"\n", "model.readout"),
        ("[model.noise]\nsigma = 0.1\n", "model.noise.sigma"),
        ("[network]\ndt = 0.0\n", "network.dt"),
        ("[network]\nkind = \"reservoir\"\n", "network.kind"),
        ("[network]\nalpha = 0.1\n", "alpha"),
        ("[model]\nn_rec = 6000\n", "model.n_rec"),
        ("[rule]\nkind = \"bptt\"\n", "rule.kind"),
        (
            "[model.dale]\nenabled = true\n",
            "model.dale.readout_from_excitatory",
        ),
        (
            "[model.mask]\nreadout_units = [0, 10]\n",
            "model.mask.readout_units",
        ),
    ] {
        let e = CtrnnForceRunConfig::from_toml(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{text}: {e}");
    }
}

fn small(feedback: bool) -> CtrnnForceRunConfig {
    let mut c = CtrnnForceRunConfig::default();
    c.model.n_rec = 20;
    c.network.feedback = feedback;
    c
}

#[test]
fn without_feedback_a_step_is_the_ctrnns_own_forward_step() {
    for state in [StateConvention::Current, StateConvention::Rate] {
        let mut c = small(false);
        c.model.state = state;
        let mut net = CtrnnFeedback::new(&c, 2, 1, &Streams::new(4)).unwrap();
        net.w_out
            .iter_mut()
            .enumerate()
            .for_each(|(k, w)| *w = 0.1 * (k as f32).sin());
        // the CTRNN's own pass from the same start
        let mut ctrnn = net.net.clone();
        let mut p = ctrnn.params.clone();
        p.init_state.copy_from_slice(&net.s0);
        ctrnn.set_params(p);
        let steps = 30;
        let input: Vec<f32> = (0..2 * steps).map(|k| (0.3 * k as f32).cos()).collect();
        let mut traj = Trajectory::default();
        ctrnn.forward(&input, steps, 1, false, &mut traj);
        let mut y = [0.0f32];
        for t in 0..steps {
            net.advance(&input[2 * t..2 * t + 2], &mut y);
            let s = &traj.state[20 * (t + 1)..20 * (t + 2)];
            for (a, b) in net.s.iter().zip(s) {
                assert!((a - b).abs() < 1e-5, "{state:?} step {t}: {a} vs {b}");
            }
        }
        assert!(net.s.iter().any(|v| v.abs() > 1e-3), "the state moved");
    }
}

#[test]
fn the_one_step_map_is_the_step_with_its_feedback() {
    let c = small(true);
    let mut net = CtrnnFeedback::new(&c, 0, 1, &Streams::new(6)).unwrap();
    let mut rng = Streams::new(7).stream("w", 0);
    net.w_out
        .iter_mut()
        .for_each(|w| *w = 0.3 * rng.normal() as f32);
    net.parameters_changed();
    let x0: Vec<f64> = net.s.iter().map(|v| *v as f64).collect();
    let mut y = [0.0f32];
    net.advance(&[], &mut y);
    let f = net.dynamics(&[]);
    let mut fx = vec![0.0; 20];
    f.step(&x0, &mut fx);
    for (a, b) in fx.iter().zip(&net.s) {
        assert!((a - *b as f64).abs() < 1e-5, "{a} vs {b}");
    }
    // the export names the fed-back weights and FORCE's readout as trained, even under Dale's
    // law (whose reparameterisation would fold signs into a CTRNN readout)
    let mut c = small(true);
    c.model.dale.enabled = true;
    c.model.dale.readout_from_excitatory = false;
    let mut net = CtrnnFeedback::new(&c, 0, 1, &Streams::new(6)).unwrap();
    net.w_out
        .iter_mut()
        .for_each(|w| *w = 0.3 * rng.normal() as f32);
    let mut out = Arrays::new();
    net.export(&mut out);
    assert_eq!(out["W_fb"].shape, vec![20, 1]);
    assert_eq!(out["W_out"].shape, vec![1, 20]);
    assert_eq!(out["W_out"].to_real::<f32>().unwrap(), net.w_out);
}

#[test]
fn force_on_the_ctrnn_learns_the_sum_of_sines() {
    let c = CtrnnForceRunConfig::default();
    let mut l = c.member(1).unwrap();
    let (_, before) = l.free_run(1200);
    for s in 0..24_000 {
        l.update(s, &PHASE).unwrap();
    }
    let (mse, after) = l.free_run(1200);
    assert!(before < 0.1, "untrained r2 {before}");
    assert!(after > 0.9, "trained r2 {after}, mse {mse}");
}

#[test]
fn state_saved_mid_sequence_continues_bit_for_bit() {
    let mut c = CtrnnForceRunConfig::default();
    c.model.n_rec = 50;
    let mut whole = c.member(2).unwrap();
    for s in 0..1500 {
        whole.update(s, &PHASE).unwrap();
    }
    let mut first = c.member(2).unwrap();
    for s in 0..700 {
        first.update(s, &PHASE).unwrap();
    }
    first.evaluate(700, None).unwrap();
    let mut saved = Arrays::new();
    first.save_state("", &mut saved);
    let mut second = c.member(2).unwrap();
    second.load_state("", &saved).unwrap();
    for s in 700..1500 {
        second.update(s, &PHASE).unwrap();
    }
    let (mut a, mut b) = (Arrays::new(), Arrays::new());
    whole.save_state("", &mut a);
    second.save_state("", &mut b);
    let differing: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
    assert!(differing.is_empty(), "{differing:?}");
}
