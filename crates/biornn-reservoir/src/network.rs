//! The reservoir: x <- (1 - a) x + a (W r + W_fb z + W_in u), r = tanh(x), z = W_out r, with W
//! sparse, N(0, g^2 / (density N)) (Sussillo and Abbott 2009). Only the readout W_out is trained;
//! the activity x carries over between updates and is part of the network's state.

use crate::config::ReservoirConfig;
use biornn_core::arrays::{put_f32, take_f32};
use biornn_core::{Arrays, Dynamics, Network, Stateful, Stepping, Tensor, TensorMut};
use biornn_model::dynamics::CtrnnDynamics;
use biornn_model::{Activation, StateConvention};
use biornn_numerics::{Result, Streams};

#[derive(Debug, Clone, PartialEq)]
pub struct Reservoir {
    pub n: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub alpha: f32,
    /// recurrent weights, row-major `(post, pre)`, fixed
    pub w_rec: Vec<f32>,
    /// input weights `(n, n_in)`, fixed
    pub w_in: Vec<f32>,
    /// feedback weights `(n, n_out)`, fixed (zero without feedback)
    pub w_fb: Vec<f32>,
    /// readout `(n_out, n)`, trained
    pub w_out: Vec<f32>,
    /// the state where every trial of [`Network::forward`] starts
    pub x0: Vec<f32>,
    /// the current state, its rates and readout
    pub x: Vec<f32>,
    pub r: Vec<f32>,
    pub z: Vec<f32>,
    /// the drive of the step being computed (kept to avoid allocating at every step)
    drive: Vec<f32>,
}

impl Reservoir {
    /// A reservoir drawn from `streams` (`reservoir_w`, `reservoir_fb`, `reservoir_in`,
    /// `reservoir_x0`); the readout starts at zero.
    pub fn new(
        cfg: &ReservoirConfig,
        n_in: usize,
        n_out: usize,
        streams: &Streams,
    ) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.n_rec;
        let scale = cfg.g / (cfg.density * n as f64).sqrt();
        let mut rng = streams.stream("reservoir_w", 0);
        let w_rec = (0..n * n)
            .map(|_| {
                let keep = rng.bernoulli(cfg.density);
                let w = rng.normal() * scale;
                if keep {
                    w as f32
                } else {
                    0.0
                }
            })
            .collect();
        let (w_fb, x0) = feedback_and_start(n, n_out, cfg.feedback, cfg.init_std, streams);
        let mut rng = streams.stream("reservoir_in", 0);
        let w_in = (0..n * n_in).map(|_| rng.normal() as f32).collect();
        let mut net = Reservoir {
            n,
            n_in,
            n_out,
            alpha: cfg.alpha as f32,
            w_rec,
            w_in,
            w_fb,
            w_out: vec![0.0; n_out * n],
            x: x0.clone(),
            x0,
            r: vec![0.0; n],
            z: vec![0.0; n_out],
            drive: vec![0.0; n],
        };
        net.reset();
        Ok(net)
    }

    /// Back to the initial state.
    pub fn reset(&mut self) {
        self.x.copy_from_slice(&self.x0);
        self.rates_and_readout();
    }

    fn rates_and_readout(&mut self) {
        for (r, x) in self.r.iter_mut().zip(&self.x) {
            *r = x.tanh();
        }
        for (k, z) in self.z.iter_mut().enumerate() {
            *z = dot(&self.w_out[k * self.n..(k + 1) * self.n], &self.r);
        }
    }
}

/// The feedback weights `(n, n_out)`, U(-1, 1) (zero without feedback), from stream
/// `reservoir_fb`, and the initial state N(0, init_std^2), from `reservoir_x0`: FORCE's draws,
/// shared by the reservoir and the CTRNN it trains.
pub(crate) fn feedback_and_start(
    n: usize,
    n_out: usize,
    feedback: bool,
    init_std: f64,
    streams: &Streams,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = streams.stream("reservoir_fb", 0);
    let w_fb = (0..n * n_out)
        .map(|_| {
            let w = rng.uniform_in(-1.0, 1.0) as f32;
            if feedback {
                w
            } else {
                0.0
            }
        })
        .collect();
    let mut rng = streams.stream("reservoir_x0", 0);
    let x0 = (0..n).map(|_| (rng.normal() * init_std) as f32).collect();
    (w_fb, x0)
}

/// `Network::forward` of a network that steps on forever: each of `batch` trials of `steps`
/// steps runs a copy from its start (`reset`), without learning; input `[T, B, n_in]`, output
/// `[T, B, n_out]`.
pub(crate) fn trials_from_start<N: Network + Stepping + Clone>(
    net: &N,
    reset: fn(&mut N),
    input: &[f32],
    (steps, batch): (usize, usize),
    output: &mut Vec<f32>,
) {
    let (ni, no) = (net.n_in(), net.n_out());
    output.resize(steps * batch * no, 0.0);
    let mut net = net.clone();
    for b in 0..batch {
        reset(&mut net);
        for t in 0..steps {
            let k = t * batch + b;
            net.advance(
                &input[k * ni..(k + 1) * ni],
                &mut output[k * no..(k + 1) * no],
            );
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Stepping for Reservoir {
    fn advance(&mut self, input: &[f32], output: &mut [f32]) {
        let (n, ni, no) = (self.n, self.n_in, self.n_out);
        for i in 0..n {
            let mut d = dot(&self.w_rec[i * n..(i + 1) * n], &self.r);
            d += dot(&self.w_in[i * ni..(i + 1) * ni], input);
            d += dot(&self.w_fb[i * no..(i + 1) * no], &self.z);
            self.drive[i] = d;
        }
        let a = self.alpha;
        for (x, d) in self.x.iter_mut().zip(&self.drive) {
            *x = (1.0 - a) * *x + a * d;
        }
        self.rates_and_readout();
        output.copy_from_slice(&self.z);
    }
}

impl crate::rls::TrainedReadout for Reservoir {
    fn rates(&self) -> &[f32] {
        &self.r
    }
    fn readout_mut(&mut self) -> &mut [f32] {
        &mut self.w_out
    }
}

impl Stateful for Reservoir {
    /// The readout, the activity and the last output: what changes while the run goes (the fixed
    /// weights come back from the seed). The output is state of its own: it was read out before
    /// the rule last changed W_out, and it is what the next step feeds back.
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let (n, no) = (self.n, self.n_out);
        put_f32(out, &format!("{prefix}W_out"), &[no, n], &self.w_out);
        put_f32(out, &format!("{prefix}x"), &[n], &self.x);
        put_f32(out, &format!("{prefix}z"), &[no], &self.z);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let (n, no) = (self.n, self.n_out);
        self.w_out = take_f32(arrays, &format!("{prefix}W_out"), &[no, n])?;
        self.x = take_f32(arrays, &format!("{prefix}x"), &[n])?;
        self.z = take_f32(arrays, &format!("{prefix}z"), &[no])?;
        for (r, x) in self.r.iter_mut().zip(&self.x) {
            *r = x.tanh();
        }
        Ok(())
    }
}

impl Network for Reservoir {
    fn kind(&self) -> &'static str {
        "reservoir"
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    fn n_units(&self) -> usize {
        self.n
    }
    fn parameters(&self) -> Vec<Tensor<'_>> {
        vec![Tensor {
            name: "W_out",
            shape: vec![self.n_out, self.n],
            data: &self.w_out,
        }]
    }
    fn parameters_mut(&mut self) -> Vec<TensorMut<'_>> {
        vec![TensorMut {
            name: "W_out",
            shape: vec![self.n_out, self.n],
            data: &mut self.w_out,
        }]
    }
    fn parameters_changed(&mut self) {
        self.rates_and_readout();
    }
    fn forward(&self, input: &[f32], steps: usize, batch: usize, output: &mut Vec<f32>) {
        trials_from_start(self, Reservoir::reset, input, (steps, batch), output)
    }
    fn export(&self, out: &mut Arrays) {
        let (n, ni, no) = (self.n, self.n_in, self.n_out);
        put_f32(out, "W_rec", &[n, n], &self.w_rec);
        put_f32(out, "W_in", &[n, ni], &self.w_in);
        put_f32(out, "W_fb", &[n, no], &self.w_fb);
        put_f32(out, "W_out", &[no, n], &self.w_out);
        put_f32(out, "init_state", &[n], &self.x0);
        put_f32(out, "alpha", &[], &[self.alpha]);
    }
    fn dynamics(&self, input: &[f64]) -> Box<dyn Dynamics + '_> {
        Box::new(reservoir_dynamics(self, input))
    }
}

/// The reservoir with its readout fed back, at a constant input u, is a rate network in the
/// current convention: F(x) = (1 - a) x + a (M tanh(x) + c) with M = W + W_fb W_out and
/// c = W_in u, so its one-step map is the CTRNN's (`CtrnnDynamics`), with the CTRNN's batched,
/// matrix-product Jacobian products. Its step is dt / tau, in units of tau.
pub fn reservoir_dynamics(net: &Reservoir, input: &[f64]) -> CtrnnDynamics {
    let (n, ni, no) = (net.n, net.n_in, net.n_out);
    let mut m: Vec<f64> = net.w_rec.iter().map(|w| *w as f64).collect();
    for i in 0..n {
        for k in 0..no {
            let fb = net.w_fb[i * no + k] as f64;
            for j in 0..n {
                m[i * n + j] += fb * net.w_out[k * n + j] as f64;
            }
        }
    }
    let drive = (0..n)
        .map(|i| {
            (0..ni)
                .map(|k| net.w_in[i * ni + k] as f64 * input[k])
                .sum()
        })
        .collect();
    CtrnnDynamics {
        activation: Activation::Tanh,
        convention: StateConvention::Current,
        alpha: vec![net.alpha as f64; n],
        w_rec: m,
        drive,
        dt: net.alpha as f64,
    }
}

#[cfg(test)]
impl Reservoir {
    pub(crate) fn rates_and_readout_for_test(&mut self) {
        self.rates_and_readout();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReservoirConfig;

    /// The map analysis sees is the step the network takes (with its feedback), and its Jacobian
    /// products agree with finite differences of it.
    #[test]
    fn the_one_step_map_is_the_networks_step() {
        let cfg = ReservoirConfig {
            n_rec: 12,
            ..Default::default()
        };
        let mut net = Reservoir::new(&cfg, 2, 1, &Streams::new(4)).unwrap();
        let mut rng = Streams::new(5).stream("w", 0);
        net.w_out
            .iter_mut()
            .for_each(|w| *w = 0.3 * rng.normal() as f32);
        net.parameters_changed();
        let u = [0.5f32, -1.0];
        let x0 = net.x.clone();
        let mut z = [0.0f32];
        net.advance(&u, &mut z);
        let f = net.dynamics(&[0.5, -1.0]);
        let mut fx = vec![0.0; 12];
        f.step(&x0.iter().map(|v| *v as f64).collect::<Vec<_>>(), &mut fx);
        for (a, b) in fx.iter().zip(&net.x) {
            assert!((a - *b as f64).abs() < 1e-5, "{a} vs {b}");
        }
        let x: Vec<f64> = (0..12).map(|i| 0.1 * i as f64 - 0.5).collect();
        let v: Vec<f64> = (0..12).map(|i| (i as f64).sin()).collect();
        let (mut jv, mut plus, mut minus) = (vec![0.0; 12], vec![0.0; 12], vec![0.0; 12]);
        f.jvp(&x, &v, &mut jv);
        let h = 1e-6;
        let shifted = |s: f64| x.iter().zip(&v).map(|(a, b)| a + s * b).collect::<Vec<_>>();
        f.step(&shifted(h), &mut plus);
        f.step(&shifted(-h), &mut minus);
        for i in 0..12 {
            let fd = (plus[i] - minus[i]) / (2.0 * h);
            assert!((fd - jv[i]).abs() < 1e-7, "{i}: {fd} vs {}", jv[i]);
        }
    }
}
