//! The ELiSe network: visible and latent two-compartment rate neurons (section 2 of the notes),
//! integrated by forward Euler in the reference's order (`unibe-cns/temporal_sequence_learning`
//! `mainCuda.cu`): the dendritic input from delayed rates, the soma from the old dendrite, the
//! dendrite, the PSP trace, the rates, then the scaffold's delayed conductances for the next step.
//! The Urbanczik-Senn update ([`crate::rule`]) comes between the rates and the conductances.

use crate::params::NeuronParams;
use crate::scaffold::{self, ScaffoldParams};
use biornn_numerics::{Error, Result, Streams};
use serde::{Deserialize, Serialize};

/// Which neurons have a dendrite and which weights learn (the reference's `RUN_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// the full model: every dendritic weight learns
    #[default]
    WithDendrite,
    /// the reservoir ablation: only the weights onto visible neurons learn; latent ones stay at
    /// their random start
    Reservoir,
    /// latent neurons are point neurons driven by the scaffold alone; dendrites on the visible only
    SomaOnly,
}

/// Which dendritic connections exist (the reference's `CONNECT`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Connect {
    /// every neuron onto every other
    AllToAll,
    /// visible onto latent with probability `ratio`, all else all-to-all
    InnervationRatio { ratio: f64 },
    /// every connection with probability `density`; with `protect_scaffold` a scaffold partner's
    /// connection is always kept
    Sparse {
        density: f64,
        protect_scaffold: bool,
    },
}

/// What a network is drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EliseShape {
    pub n_vis: usize,
    pub n_lat: usize,
    pub mode: Mode,
    pub connect: Connect,
    pub scaffold: ScaffoldParams,
    /// initial dendritic weights ~ N(mean, std^2), mV per unit rate
    pub w_mean: f64,
    pub w_std: f64,
    pub params: NeuronParams,
}

/// A delay line as the reference keeps it: a ring buffer whose read index is one past the write
/// index, so a line of length D delays by D - 1 pushes.
#[derive(Debug, Clone, PartialEq)]
pub struct DelayLine {
    buf: Vec<f64>,
    write: usize,
    read: usize,
}

impl DelayLine {
    pub fn new(len: usize, fill: f64) -> Self {
        DelayLine {
            buf: vec![fill; len],
            write: 0,
            read: 1 % len,
        }
    }
    /// The value due now.
    pub fn read(&self) -> f64 {
        self.buf[self.read]
    }
    fn advance(&mut self) {
        self.write = (self.write + 1) % self.buf.len();
        self.read = (self.write + 1) % self.buf.len();
    }
    /// Write `x` and move on.
    pub fn push(&mut self, x: f64) {
        self.buf[self.write] = x;
        self.advance();
    }
    /// Write `x`, read what is due, move on (the scaffold's conductances).
    pub fn push_and_read(&mut self, x: f64) -> f64 {
        self.buf[self.write] = x;
        let out = self.buf[self.read];
        self.advance();
        out
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The buffer and its two indices, for checkpoints.
    pub fn parts(&self) -> (&[f64], usize, usize) {
        (&self.buf, self.write, self.read)
    }
    pub fn from_parts(buf: Vec<f64>, write: usize, read: usize) -> Option<Self> {
        (write < buf.len() && read < buf.len()).then_some(DelayLine { buf, write, read })
    }
}

/// The network: weights, scaffold, delays and state.
#[derive(Debug, Clone, PartialEq)]
pub struct Elise {
    pub p: NeuronParams,
    pub n_vis: usize,
    pub n_lat: usize,
    pub mode: Mode,
    /// dendritic weights `(n, n)`, row = postsynaptic neuron; zero where no connection
    pub w: Vec<f64>,
    /// whether each dendritic connection exists
    pub dend: Vec<bool>,
    /// the same as 0/1, for the products that skip absent connections
    pub dend_gain: Vec<f64>,
    /// the scaffold's presynaptic partners of each neuron (latent neurons only)
    pub scaffold: Vec<Vec<usize>>,
    /// per neuron: the lengths of its rate, excitatory and inhibitory delay lines (steps)
    pub delays: Vec<[usize; 3]>,
    /// somatic and dendritic potentials, the dendrite's prediction v*, the rates phi(u) and
    /// phi(v*), the PSP trace (dv*/dw of the neuron's outgoing synapses), the matching potential
    pub u: Vec<f64>,
    pub v: Vec<f64>,
    pub v_star: Vec<f64>,
    pub r: Vec<f64>,
    pub r_v: Vec<f64>,
    pub psp: Vec<f64>,
    pub um: Vec<f64>,
    pub rate_lines: Vec<DelayLine>,
    pub ge_lines: Vec<DelayLine>,
    pub gi_lines: Vec<DelayLine>,
    /// each neuron's delayed scaffold conductances, as its targets receive them
    pub ge_out: Vec<f64>,
    pub gi_out: Vec<f64>,
    // scratch: the delayed rates and the dendritic input of the step
    delayed: Vec<f64>,
    v_in: Vec<f64>,
}

/// A step's teacher for the visible somata: conductances `(g_E, g_I)`, one each per visible
/// neuron, or none (free run).
pub type TeacherStep<'a> = Option<(&'a [f64], &'a [f64])>;

impl Elise {
    /// Drawn from `streams`: delays (`elise_delays`), scaffold (`elise_scaffold`), dendritic
    /// connections and weights (`elise_weights`), each stream independent of the others.
    pub fn new(shape: &EliseShape, streams: &Streams) -> Result<Self> {
        let (n_vis, n_lat) = (shape.n_vis, shape.n_lat);
        let n = n_vis + n_lat;
        if n_vis == 0 {
            return Err(Error::invalid(
                "network.n_vis",
                n_vis,
                "allowed: at least 1",
            ));
        }
        let p = shape.params;
        let mut rng = streams.stream("elise_delays", 0);
        let delays: Vec<[usize; 3]> = (0..n)
            .map(|_| {
                let d = 50 + rng.below(101);
                let de = 50 + rng.below(101);
                [d, de, de + 250]
            })
            .collect();
        let scaffold = scaffold::generate(
            n_vis,
            n_lat,
            shape.scaffold,
            &mut streams.stream("elise_scaffold", 0),
        );
        let mut rng = streams.stream("elise_weights", 0);
        let (mut w, mut dend) = (vec![0.0; n * n], vec![false; n * n]);
        for i in 0..n {
            for j in 0..n {
                if i == j || (shape.mode == Mode::SomaOnly && i >= n_vis) {
                    continue;
                }
                let connected = match shape.connect {
                    Connect::AllToAll => true,
                    Connect::InnervationRatio { ratio } => {
                        !(i >= n_vis && j < n_vis) || rng.uniform() <= ratio
                    }
                    Connect::Sparse {
                        density,
                        protect_scaffold,
                    } => rng.uniform() <= density || (protect_scaffold && scaffold[i].contains(&j)),
                };
                if connected {
                    dend[i * n + j] = true;
                    w[i * n + j] = shape.w_mean + shape.w_std * rng.normal();
                }
            }
        }
        let rest = p.phi_rest();
        Ok(Elise {
            p,
            n_vis,
            n_lat,
            mode: shape.mode,
            w,
            dend_gain: dend.iter().map(|d| *d as u8 as f64).collect(),
            dend,
            scaffold,
            rate_lines: delays.iter().map(|d| DelayLine::new(d[0], rest)).collect(),
            ge_lines: delays
                .iter()
                .map(|d| DelayLine::new(d[1], p.g_e0 * rest))
                .collect(),
            gi_lines: delays
                .iter()
                .map(|d| DelayLine::new(d[2], p.g_i0 * rest))
                .collect(),
            delays,
            u: vec![p.e_l; n],
            v: vec![p.e_l; n],
            v_star: vec![p.e_l; n],
            r: vec![rest; n],
            r_v: vec![rest; n],
            psp: vec![0.0; n],
            um: vec![p.e_l; n],
            ge_out: vec![p.g_e0 * rest; n],
            gi_out: vec![p.g_i0 * rest; n],
            delayed: vec![0.0; n],
            v_in: vec![0.0; n],
        })
    }

    pub fn n(&self) -> usize {
        self.n_vis + self.n_lat
    }

    /// The neurons' part of one Euler step: dendritic input, soma, dendrite, PSP trace, rates.
    /// `teacher` nudges the visible somata; `clamp` holds the marked visible somata at a
    /// potential instead of integrating them (a disruption).
    pub fn step_neurons(&mut self, teacher: TeacherStep, clamp: Option<(&[bool], f64)>) {
        let n = self.n();
        let p = self.p;
        for (d, line) in self.delayed.iter_mut().zip(&self.rate_lines) {
            *d = line.read();
        }
        // absent connections hold weight 0 (the rule never moves them)
        for (i, v_in) in self.v_in.iter_mut().enumerate() {
            let row = &self.w[i * n..(i + 1) * n];
            *v_in = row.iter().zip(&self.delayed).map(|(w, r)| w * r).sum();
        }
        let dt = p.dt;
        let beta = dt * p.g_l * (p.g_d / (p.g_d + p.g_l));
        for i in 0..n {
            let (ge, gi, lambda) = if i < self.n_vis {
                match teacher {
                    Some((te, ti)) => (te[i], ti[i], 1.0),
                    None => (0.0, 0.0, 0.0),
                }
            } else {
                let ge: f64 = self.scaffold[i].iter().map(|k| self.ge_out[*k]).sum();
                let gi: f64 = self.scaffold[i].iter().map(|k| self.gi_out[*k]).sum();
                (ge, gi, 1.0)
            };
            if ge + gi > 0.0 {
                self.um[i] = (gi * p.e_i + ge * p.e_e) / (gi + ge);
            }
            let clamped = i < self.n_vis && clamp.is_some_and(|(m, _)| m[i]);
            let u = self.u[i];
            self.u[i] = if clamped {
                clamp.map_or(u, |(_, at)| at)
            } else if i >= self.n_vis && self.mode == Mode::SomaOnly {
                (1.0 - dt * (p.g_l + (ge + gi))) * u
                    + p.g_l * dt * p.e_l
                    + p.e_i * dt * gi
                    + p.e_e * dt * ge
            } else {
                (1.0 - dt * (p.g_d + p.g_l + lambda * (ge + gi))) * u
                    + p.g_l * dt * p.e_l
                    + p.e_i * dt * lambda * gi
                    + p.e_e * dt * lambda * ge
                    + p.g_d * dt * self.v[i]
            };
            self.v_star[i] = p.v_star(self.v[i]);
            self.v[i] = (1.0 - p.g_l * dt) * self.v[i] + p.g_l * dt * (p.e_l + self.v_in[i]);
            self.psp[i] = (1.0 - p.g_l * dt) * self.psp[i] + beta * self.delayed[i];
        }
        for i in 0..n {
            self.r[i] = p.phi(self.u[i]);
            self.r_v[i] = p.phi(self.v_star[i]);
            self.rate_lines[i].push(self.r[i]);
        }
    }

    /// The scaffold's part of the step: each neuron's conductances g0 max(r, phi(E_L)) enter its
    /// delay lines, and what is due comes out for its targets' next step.
    pub fn step_scaffold(&mut self) {
        let rest = self.p.phi_rest();
        for i in 0..self.n() {
            let r = self.r[i].max(rest);
            self.ge_out[i] = self.ge_lines[i].push_and_read(self.p.g_e0 * r);
            self.gi_out[i] = self.gi_lines[i].push_and_read(self.p.g_i0 * r);
        }
    }

    /// The visible neurons' rates, the output.
    pub fn output(&self) -> &[f64] {
        &self.r[..self.n_vis]
    }
}
