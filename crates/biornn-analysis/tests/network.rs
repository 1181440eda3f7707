//! The analysis views of a real CTRNN agree with the network itself.

use biornn_analysis::run::lesion_units;
use biornn_analysis::{CtrnnDynamics, Dynamics};
use biornn_model::{Activation, Ctrnn, ModelConfig, StateConvention, Trajectory};
use biornn_numerics::Streams;

fn network(conv: StateConvention, dale: bool) -> Ctrnn<f64> {
    let mut cfg = ModelConfig {
        n_rec: 12,
        activation: Activation::Softplus,
        state: conv,
        ..ModelConfig::default()
    };
    cfg.dale.enabled = dale;
    cfg.tau_inhibitory = dale.then_some(50.0);
    let mut net = Ctrnn::<f64>::new(&cfg, 5, 3, 20.0, &Streams::new(7)).unwrap();
    let mut r = Streams::new(8).stream("w", 0);
    let mut p = net.params.clone();
    p.w_rec.iter_mut().for_each(|w| *w = 0.4 * r.normal());
    p.w_in.iter_mut().for_each(|w| *w = r.normal());
    p.init_state.iter_mut().for_each(|w| *w = 0.5 * r.normal());
    net.set_params(p);
    net
}

#[test]
fn the_one_step_map_is_the_networks_noise_free_step() {
    for conv in [StateConvention::Rate, StateConvention::Current] {
        for dale in [false, true] {
            let net = network(conv, dale);
            let input = [1.0, 0.0, 0.3, -0.2, 0.5];
            let mut traj = Trajectory::default();
            net.forward(&input, 1, 1, false, &mut traj);
            let x0: Vec<f64> = net.effective().init_state.clone();
            let d = CtrnnDynamics::new(&net, &input);
            let mut fx = vec![0.0; 12];
            d.step(&x0, &mut fx);
            for i in 0..12 {
                assert!(
                    (fx[i] - traj.state[12 + i]).abs() < 1e-12,
                    "{conv:?} dale {dale} unit {i}"
                );
            }
        }
    }
}

#[test]
fn lesions_silence_outgoing_weights_only() {
    let net = network(StateConvention::Rate, true).convert::<f32>();
    let lesioned = lesion_units(&net, &[2, 9]);
    let (n, no) = (12, 3);
    let (before, after) = (net.effective(), lesioned.effective());
    for i in 0..n {
        for j in 0..n {
            let w = after.w_rec[i * n + j];
            if j == 2 || j == 9 {
                assert_eq!(w, 0.0);
            } else {
                assert_eq!(w, before.w_rec[i * n + j]);
            }
        }
    }
    for o in 0..no {
        assert_eq!(after.w_out[o * n + 2], 0.0);
        assert_eq!(after.w_out[o * n + 3], before.w_out[o * n + 3]);
    }
    assert_eq!(after.w_in, before.w_in, "incoming weights stay");
    assert_eq!(after.b_rec, before.b_rec);
    // the original is untouched
    assert_ne!(net.effective().w_rec[2], 0.0);
}

#[test]
fn lesion_lists_parse_and_bad_ones_are_named() {
    use biornn_analysis::run::parse_units;
    assert_eq!(parse_units("3, 5,10-12,5").unwrap(), [3, 5, 10, 11, 12]);
    // refused before a list too long to hold is built
    for bad in ["0-99999999999", "1000000", "7-3", "a", ""] {
        let e = parse_units(bad).unwrap_err().to_string();
        assert!(e.contains("--lesion"), "{bad}: {e}");
    }
}
