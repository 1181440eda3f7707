//! Silent units decay geometrically; over a long trial their states and gradients would sink into
//! the subnormal range, where Intel processors run about a hundred times slower. The recurrent
//! loops flush them to zero instead: exactly zero, never subnormal, and the same on every processor.

use biornn_model::config::*;
use biornn_model::{Activation, Ctrnn, Grads, Trajectory};
use biornn_numerics::{Real, Streams};

fn is_subnormal(x: f32) -> bool {
    x != 0.0 && x.abs() < f32::MIN_POSITIVE
}

#[test]
fn flush_subnormal_zeroes_only_subnormals() {
    for x in [
        f32::MIN_POSITIVE / 2.0,
        -f32::MIN_POSITIVE / 3.0,
        f32::from_bits(1),
    ] {
        assert_eq!(x.flush_subnormal(), 0.0, "{x:e}");
    }
    for x in [
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-30,
        -2.5,
        0.0,
        f32::INFINITY,
    ] {
        assert_eq!(x.flush_subnormal(), x);
    }
    assert!(f32::NAN.flush_subnormal().is_nan());
    assert_eq!((f64::MIN_POSITIVE / 2.0).flush_subnormal(), 0.0);
    assert_eq!(1e-300f64.flush_subnormal(), 1e-300);
}

#[test]
fn a_long_silent_trial_never_leaves_subnormal_states_or_gradients() {
    for state in [StateConvention::Rate, StateConvention::Current] {
        let cfg = ModelConfig {
            n_rec: 8,
            tau: 100.0,
            activation: Activation::Relu,
            state,
            noise: NoiseConfig {
                sigma: 0.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut net = Ctrnn::<f32>::new(&cfg, 2, 2, 20.0, &Streams::new(1)).unwrap();
        // no recurrent drive and a negative bias: every unit only leaks, by 0.8 a step, from 1
        let mut p = net.params.clone();
        p.w_rec.iter_mut().for_each(|w| *w = 0.0);
        p.b_rec.iter_mut().for_each(|b| *b = -1.0);
        p.init_state.iter_mut().for_each(|s| *s = 1.0);
        net.set_params(p);
        let (steps, batch) = (600, 3); // 0.8^600 is 1e-58: far below f32's smallest normal
        let input = vec![0.0f32; 2 * steps * batch];
        let mut traj = Trajectory::default();
        net.forward(&input, steps, batch, false, &mut traj);
        assert!(
            traj.state.iter().all(|x| !is_subnormal(*x)),
            "{state:?}: a subnormal state"
        );
        let last = &traj.state[traj.state.len() - 8 * batch..];
        if state == StateConvention::Rate {
            // the leak reached zero exactly
            assert!(last.iter().all(|x| *x == 0.0), "{last:?}");
        }
        // a loss on the first step's output only: its gradient decays back through time
        let mut d_out = vec![0.0f32; 2 * steps * batch];
        d_out[..2 * batch].fill(1.0);
        net.readout_backward(&traj, &mut d_out);
        let mut grads = Grads::zeros(2, 8, 2);
        let d_rate = vec![0.0f32; 8 * steps * batch];
        let mut d_late = d_rate.clone();
        d_late[8 * batch * (steps - 1)..].fill(1.0); // and one on the last step's rates
        net.backward(&mut traj, &d_out, Some(&d_late), &mut grads);
        for t in grads.tensors() {
            assert!(
                t.iter().all(|x| !is_subnormal(*x)),
                "{state:?}: a subnormal gradient"
            );
        }
    }
}

/// A batch of no trials runs forward and backward to nothing (the whole-step loops over the
/// repeated per-column constants meet an empty step), in both state conventions, with noise.
#[test]
fn an_empty_batch_runs_to_nothing() {
    for state in [StateConvention::Rate, StateConvention::Current] {
        let cfg = ModelConfig {
            n_rec: 8,
            state,
            noise: NoiseConfig {
                sigma: 0.1,
                ..Default::default()
            },
            ..Default::default()
        };
        let net = Ctrnn::<f32>::new(&cfg, 2, 2, 20.0, &Streams::new(1)).unwrap();
        let mut traj = Trajectory::default();
        net.sample_noise(&mut traj, 5, 0, &mut Streams::new(2).stream("noise", 0));
        net.forward(&[], 5, 0, true, &mut traj);
        assert!(traj.output.is_empty());
        let mut grads = Grads::zeros(2, 8, 2);
        net.backward(&mut traj, &[], None, &mut grads);
        assert!(grads.tensors().iter().all(|t| t.iter().all(|x| *x == 0.0)));
    }
}
