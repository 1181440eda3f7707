//! RFLO's local credit (`Credit::Local`) against RFLO written as Murray writes it: eligibility
//! traces carried forward step by step, and the change summed over the trial.

use biornn_model::config::*;
use biornn_model::{Activation, Credit, Ctrnn, Grads, Trajectory};
use biornn_numerics::Streams;

const N_IN: usize = 3;
const N_OUT: usize = 2;
const STEPS: usize = 7;
const BATCH: usize = 2;

fn perturbed(cfg: &ModelConfig, seed: u64) -> Ctrnn<f64> {
    let streams = Streams::new(seed);
    let mut net = Ctrnn::<f64>::new(cfg, N_IN, N_OUT, 20.0, &streams).unwrap();
    let mut rng = streams.stream("test", 0);
    let mut params = net.params.clone();
    for t in params.tensors_mut() {
        for v in t.iter_mut() {
            *v += 0.3 * rng.normal();
        }
    }
    net.set_params(params);
    net
}

/// A forward pass and dL/d(out_pre) for L = sum(weights * y).
fn run(net: &Ctrnn<f64>, seed: u64) -> (Trajectory<f64>, Vec<f64>) {
    let mut rng = Streams::new(seed).stream("probe", 0);
    let tb = STEPS * BATCH;
    let input: Vec<f64> = (0..N_IN * tb).map(|_| rng.normal()).collect();
    let mut traj = Trajectory::default();
    net.forward(&input, STEPS, BATCH, false, &mut traj);
    let mut d_out: Vec<f64> = (0..N_OUT * tb).map(|_| rng.normal()).collect();
    net.readout_backward(&traj, &mut d_out);
    (traj, d_out)
}

/// RFLO by its forward traces: p_ij <- (1 - a_i) p_ij + a_i psi'(z_i) pre_j, and
/// dL/dW_ij ~ sum_t rho'(s_i) (B d_out_pre)_i p_ij, for W_rec (pre = r_{t-1}), W_in (pre = u_t)
/// and b_rec (pre = 1). Returns (w_rec, w_in, b_rec) gradients of the effective weights.
fn by_traces(
    net: &Ctrnn<f64>,
    traj: &Trajectory<f64>,
    d_out: &[f64],
    b: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = net.n_rec;
    let act = net.activation;
    let rate_conv = net.convention == StateConvention::Rate;
    let (mut g_rec, mut g_in, mut g_b) = (vec![0.0; n * n], vec![0.0; n * N_IN], vec![0.0; n]);
    for bi in 0..BATCH {
        let (mut p_rec, mut p_in, mut p_b) = (vec![0.0; n * n], vec![0.0; n * N_IN], vec![0.0; n]);
        for t in 0..STEPS {
            let col = t * BATCH + bi;
            let z = &traj.drive[col * n..(col + 1) * n];
            let s = &traj.state[(col + BATCH) * n..(col + BATCH + 1) * n];
            let r_prev = &traj.rate[col * n..(col + 1) * n];
            let u = &traj.input[col * N_IN..(col + 1) * N_IN];
            let dz = &d_out[col * N_OUT..(col + 1) * N_OUT];
            for i in 0..n {
                let a = net.alpha()[i];
                let psi_p = if rate_conv { act.df(z[i]) } else { 1.0 };
                let rho_p = if rate_conv { 1.0 } else { act.df(s[i]) };
                let e: f64 = rho_p * (0..N_OUT).map(|k| b[i * N_OUT + k] * dz[k]).sum::<f64>();
                for j in 0..n {
                    let p = &mut p_rec[i * n + j];
                    *p = (1.0 - a) * *p + a * psi_p * r_prev[j];
                    g_rec[i * n + j] += e * *p;
                }
                for j in 0..N_IN {
                    let p = &mut p_in[i * N_IN + j];
                    *p = (1.0 - a) * *p + a * psi_p * u[j];
                    g_in[i * N_IN + j] += e * *p;
                }
                p_b[i] = (1.0 - a) * p_b[i] + a * psi_p;
                g_b[i] += e * p_b[i];
            }
        }
    }
    (g_rec, g_in, g_b)
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-10 * (1.0 + y.abs()),
            "{what}[{k}]: {x} vs {y}"
        );
    }
}

#[test]
fn local_credit_is_the_forward_traces_summed_over_the_trial() {
    for state in [StateConvention::Rate, StateConvention::Current] {
        for act in [Activation::Tanh, Activation::Softplus] {
            let cfg = ModelConfig {
                n_rec: 5,
                tau: 50.0,
                // units with two time constants: each trace leaks at its own unit's rate
                tau_inhibitory: Some(30.0),
                activation: act,
                state,
                readout: Readout::Sigmoid,
                noise: NoiseConfig {
                    sigma: 0.0,
                    ..Default::default()
                },
                ..Default::default()
            };
            let net = perturbed(&cfg, 3);
            assert!(net.alpha()[0] != net.alpha()[4], "two time constants");
            let (mut traj, d_out) = run(&net, 4);
            let mut rng = Streams::new(5).stream("feedback", 0);
            let b: Vec<f64> = (0..5 * N_OUT).map(|_| rng.normal()).collect();
            let mut g = Grads::zeros(N_IN, 5, N_OUT);
            net.backward_with(&mut traj, &d_out, None, Credit::Local(Some(&b)), &mut g);
            let (g_rec, g_in, g_b) = by_traces(&net, &traj, &d_out, &b);
            let label = format!("{state:?}/{act:?}");
            close(&g.w_rec, &g_rec, &format!("{label} w_rec"));
            close(&g.w_in, &g_in, &format!("{label} w_in"));
            close(&g.b_rec, &g_b, &format!("{label} b_rec"));
            // the readout learns by the delta rule: its exact gradient
            let mut exact = Grads::zeros(N_IN, 5, N_OUT);
            net.backward(&mut traj, &d_out, None, &mut exact);
            close(&g.w_out, &exact.w_out, &format!("{label} w_out"));
            close(&g.b_out, &exact.b_out, &format!("{label} b_out"));
            // and the local credit is not the exact one
            let diff: f64 = g
                .w_rec
                .iter()
                .zip(&exact.w_rec)
                .map(|(x, y)| (x - y).abs())
                .sum();
            assert!(diff > 1e-3, "{label}: RFLO equals BPTT?");
        }
    }
}

#[test]
fn readout_feedback_without_recurrence_is_exact_bptt() {
    // With W_rec = 0 no credit can flow through it, and B = W_out^T is what BPTT uses: RFLO is exact.
    let cfg = ModelConfig {
        n_rec: 6,
        tau: 40.0,
        noise: NoiseConfig {
            sigma: 0.0,
            ..Default::default()
        },
        trainable: Trainable {
            init_state: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut net = perturbed(&cfg, 7);
    let mut p = net.params.clone();
    p.w_rec.iter_mut().for_each(|w| *w = 0.0);
    net.set_params(p);
    let (mut traj, d_out) = run(&net, 8);
    let mut local = Grads::zeros(N_IN, 6, N_OUT);
    net.backward_with(&mut traj, &d_out, None, Credit::Local(None), &mut local);
    let mut exact = Grads::zeros(N_IN, 6, N_OUT);
    net.backward(&mut traj, &d_out, None, &mut exact);
    for (k, name) in biornn_model::ctrnn::PARAM_NAMES.iter().enumerate() {
        close(local.tensors()[k], exact.tensors()[k], name);
    }
    assert!(
        local.w_rec.iter().any(|g| g.abs() > 1e-6),
        "W_rec still learns"
    );
}
