//! Recursive least squares on the readout (FORCE): at every `every`-th step, with e = z - f,
//! k = P r / (1 + r' P r), P <- P - k (P r)', W_out <- W_out - e k'. P (the running inverse of the
//! rates' correlation plus I / alpha) is kept in f64 and is the rule's state.

use crate::config::RlsConfig;
use biornn_core::arrays::{put_f64, put_u64, take_f64, take_u64};
use biornn_core::{Arrays, Environment, Phase, Rule, Stateful, Stepping};
use biornn_numerics::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Rls {
    pub every: usize,
    n: usize,
    /// `(n, n)`, row-major, symmetric
    pub p: Vec<f64>,
    /// time steps taken
    pub steps: u64,
    // buffers reused at every step
    input: Vec<f32>,
    target: Vec<f32>,
    output: Vec<f32>,
    pr: Vec<f64>,
}

impl Rls {
    pub fn new(cfg: &RlsConfig, n: usize) -> Result<Self> {
        cfg.validate()?;
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            p[i * n + i] = 1.0 / cfg.alpha;
        }
        Ok(Rls {
            every: cfg.every,
            n,
            p,
            steps: 0,
            input: vec![],
            target: vec![],
            output: vec![],
            pr: vec![0.0; n],
        })
    }
}

impl Stateful for Rls {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_f64(out, &format!("{prefix}P"), &[self.n, self.n], &self.p);
        put_u64(out, &format!("{prefix}steps"), self.steps);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.p = take_f64(arrays, &format!("{prefix}P"), &[self.n, self.n])?;
        self.steps = take_u64(arrays, &format!("{prefix}steps"))?;
        Ok(())
    }
}

/// A network whose linear readout y = W_out r RLS trains: the reservoir, the CTRNN with feedback.
pub trait TrainedReadout: Stepping {
    /// The rates the readout reads, `n_units` values.
    fn rates(&self) -> &[f32];
    /// W_out, `(n_out, n_units)` row-major, to change in place.
    fn readout_mut(&mut self) -> &mut [f32];
}

impl<N: TrainedReadout, E: Environment + ?Sized> Rule<N, E> for Rls {
    fn kind(&self) -> &'static str {
        "rls"
    }

    /// One time step: the network answers, and the readout learns when the step is due. Returns
    /// the squared error of the answer before learning (weighted by the step's weight).
    fn update(&mut self, net: &mut N, env: &mut E, _index: u64, _phase: &Phase) -> Result<f64> {
        let (n_in, n_out) = (net.n_in(), net.n_out());
        if env.n_in() != n_in || env.n_out() != n_out {
            return Err(Error::new(format!(
                "task {} has {} inputs and {} outputs; the network has {} and {}",
                env.name(),
                env.n_in(),
                env.n_out(),
                n_in,
                n_out
            )));
        }
        let n = self.n;
        self.input.resize(n_in, 0.0);
        self.target.resize(n_out, 0.0);
        self.output.resize(n_out, 0.0);
        let step = env.next(&mut self.input, &mut self.target);
        net.advance(&self.input, &mut self.output);
        env.answer(&self.output);
        self.steps += 1;
        let loss: f64 = self
            .output
            .iter()
            .zip(&self.target)
            .map(|(z, f)| step.weight as f64 * ((z - f) as f64).powi(2))
            .sum();
        if step.weight == 0.0 || !self.steps.is_multiple_of(self.every as u64) {
            return Ok(loss);
        }
        let r = net.rates();
        for i in 0..n {
            self.pr[i] = self.p[i * n..(i + 1) * n]
                .iter()
                .zip(r)
                .map(|(p, r)| p * *r as f64)
                .sum();
        }
        let rpr: f64 = self.pr.iter().zip(r).map(|(a, r)| a * *r as f64).sum();
        let c = 1.0 / (1.0 + rpr);
        for i in 0..n {
            let ci = c * self.pr[i];
            for (p, prj) in self.p[i * n..(i + 1) * n].iter_mut().zip(&self.pr) {
                *p -= ci * prj;
            }
        }
        let w_out = net.readout_mut();
        for k in 0..n_out {
            let e = (self.output[k] - self.target[k]) as f64;
            for (w, pr) in w_out[k * n..(k + 1) * n].iter_mut().zip(&self.pr) {
                *w -= (e * c * pr) as f32;
            }
        }
        Ok(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ReservoirConfig, SinesConfig};
    use crate::network::Reservoir;
    use crate::sines::Sines;
    use biornn_core::{Learner, Online, Phase};
    use biornn_numerics::Streams;

    fn learner(n: usize) -> Online<Reservoir, Rls, Sines> {
        let cfg = ReservoirConfig {
            n_rec: n,
            ..Default::default()
        };
        Online {
            net: Reservoir::new(&cfg, 0, 1, &Streams::new(3)).unwrap(),
            // learning at every step, as these hand-worked cases assume
            rule: Rls::new(
                &RlsConfig {
                    every: 1,
                    ..Default::default()
                },
                n,
            )
            .unwrap(),
            env: Sines::new(&SinesConfig::default()),
            eval_steps: 1200,
        }
    }

    #[test]
    fn one_step_by_hand() {
        // one unit, one output, no recurrence: r = tanh(x), P = 1 / alpha
        let mut l = learner(1);
        l.net.w_rec = vec![0.0];
        l.net.w_fb = vec![0.0];
        l.net.x = vec![0.5];
        l.net.rates_and_readout_for_test();
        l.rule.p = vec![2.0];
        let mut env = Sines {
            triangle: false,
            amplitude: 1.5,
            period_steps: 4,
            t: 1,
        };
        // target at t = 1: phase pi/2: sin + sin(pi)/2 + sin(3pi/2)/6 + sin(2pi)/3 = 1 - 1/6
        let f = 1.0 - 1.0 / 6.0;
        let phase = Phase {
            stage: None,
            lr_factor: 1.0,
            lr_scale: 1.0,
        };
        let loss = l.rule.update(&mut l.net, &mut env, 0, &phase).unwrap();
        let x = 0.9f64 * 0.5; // (1 - a) x with no drive
        assert!((l.net.x[0] as f64 - x).abs() < 1e-7);
        let r = l.net.r[0] as f64;
        assert!((r - x.tanh()).abs() < 1e-7);
        assert!((loss - f * f).abs() < 1e-6, "{loss}");
        // k = 2 r / (1 + 2 r^2); W_out = 0 - (0 - f) k; P = 2 - 2 r k
        let c = 1.0 / (1.0 + 2.0 * r * r);
        assert!((l.net.w_out[0] as f64 - f * c * 2.0 * r).abs() < 1e-6);
        assert!((l.rule.p[0] - (2.0 - 2.0 * r * c * 2.0 * r)).abs() < 1e-12);
        assert_eq!(env.t, 2);
    }

    #[test]
    fn force_learns_the_periodic_target() {
        // 300 units, 20 periods of the target (FORCE's paper: 1000 units, 12 periods)
        let mut l = learner(300);
        let (_, before) = l.free_run(1200);
        let phase = Phase {
            stage: None,
            lr_factor: 1.0,
            lr_scale: 1.0,
        };
        for s in 0..24_000 {
            l.update(s, &phase).unwrap();
        }
        let (mse, after) = l.free_run(1200);
        assert!(before < 0.1, "untrained r2 {before}");
        assert!(after > 0.9, "trained r2 {after}, mse {mse}");
    }
}

#[cfg(test)]
mod resume_tests {
    use crate::run::ForceRunConfig;
    use biornn_core::{Arrays, Learner, Phase, Stateful};

    #[test]
    fn state_saved_mid_sequence_continues_bit_for_bit() {
        let mut cfg = ForceRunConfig::default();
        cfg.network.n_rec = 50;
        let phase = Phase {
            stage: None,
            lr_factor: 1.0,
            lr_scale: 1.0,
        };
        let mut whole = cfg.learner().unwrap();
        for s in 0..1500 {
            whole.update(s, &phase).unwrap();
        }
        let mut first = cfg.learner().unwrap();
        for s in 0..700 {
            first.update(s, &phase).unwrap();
        }
        first.evaluate(700, None).unwrap();
        let mut saved = Arrays::new();
        first.save_state("", &mut saved);
        let mut second = cfg.learner().unwrap();
        second.load_state("", &saved).unwrap();
        for s in 700..1500 {
            second.update(s, &phase).unwrap();
        }
        let (mut a, mut b) = (Arrays::new(), Arrays::new());
        whole.save_state("", &mut a);
        second.save_state("", &mut b);
        let differing: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
        assert!(differing.is_empty(), "{differing:?}");
    }
}
