//! A target pattern (0/1 per visible neuron and pattern step) and the teacher it makes (the
//! reference's `initTeacherCounting`): the target potential u*(t) is E_L when off and E_L + 20 mV
//! when on, with logistic ramps of slope 1/ms around the step boundaries, and the teacher's
//! conductances nudge each visible soma towards it with strength lambda.

use crate::params::NeuronParams;
use biornn_numerics::{Error, Result};
use std::path::Path;

/// A binary pattern: `on[neuron * steps + step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub name: String,
    pub neurons: usize,
    pub steps: usize,
    pub on: Vec<bool>,
}

impl Pattern {
    /// The reference's text format: a header `# name: NAME nNeurons: N nSteps: S`, then one row
    /// per neuron of S values 0 or 1 separated by spaces.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let bad = |what: String| Error::new(format!("{source}: {what}"));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or_else(|| bad("empty file".into()))?;
        let words: Vec<&str> = header.split_whitespace().collect();
        let field = |key: &str| -> Result<&str> {
            let k = words
                .iter()
                .position(|w| *w == key)
                .ok_or_else(|| bad(format!("header `{header}` lacks `{key}` (expected `# name: NAME nNeurons: N nSteps: S`)")))?;
            words
                .get(k + 1)
                .copied()
                .ok_or_else(|| bad(format!("header `{header}`: `{key}` has no value")))
        };
        if words.first() != Some(&"#") {
            return Err(bad(format!(
                "first line `{header}`: expected `# name: NAME nNeurons: N nSteps: S`"
            )));
        }
        let name = field("name:")?.to_string();
        let count = |key: &str| -> Result<usize> {
            let v = field(key)?;
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("`{key} {v}`: expected a positive count")))
        };
        let (neurons, steps) = (count("nNeurons:")?, count("nSteps:")?);
        // the header's counts are not trusted for memory: the rows themselves must hold them
        let mut on = Vec::new();
        let mut rows = 0;
        for (k, line) in lines.enumerate() {
            let values: Vec<&str> = line.split_whitespace().collect();
            if values.len() != steps {
                return Err(bad(format!(
                    "row {} has {} values (allowed: nSteps = {steps})",
                    k + 1,
                    values.len()
                )));
            }
            for v in values {
                on.push(match v {
                    "0" => false,
                    "1" => true,
                    _ => return Err(bad(format!("row {}: value `{v}` (allowed: 0 or 1)", k + 1))),
                });
            }
            rows += 1;
        }
        if rows != neurons {
            return Err(bad(format!("{rows} rows (allowed: nNeurons = {neurons})")));
        }
        Ok(Pattern {
            name,
            neurons,
            steps,
            on,
        })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Several patterns learned at once, each by its own visible population (rows in order): one
    /// pattern as long as the longest, the shorter ones followed by rests (every neuron off).
    /// Named by the names joined with `+`. One pattern stacks to itself.
    pub fn stack(patterns: &[Pattern]) -> Pattern {
        let steps = patterns.iter().map(|p| p.steps).max().unwrap_or(0);
        let mut on = vec![];
        for p in patterns {
            for row in p.on.chunks(p.steps) {
                on.extend_from_slice(row);
                on.resize(on.len() + steps - p.steps, false);
            }
        }
        Pattern {
            name: patterns
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            neurons: patterns.iter().map(|p| p.neurons).sum(),
            steps,
            on,
        }
    }

    pub fn is_on(&self, neuron: usize, step: usize) -> bool {
        self.on[neuron * self.steps + step]
    }
}

/// The teacher of one pattern cycle: per visible neuron and time step (of `dt`), the target
/// potential and the nudging conductances.
#[derive(Debug, Clone, PartialEq)]
pub struct Teacher {
    pub neurons: usize,
    /// time steps in one cycle
    pub len: usize,
    /// `[t * neurons + neuron]`: a step's values for every visible neuron side by side
    pub u_star: Vec<f64>,
    pub g_e: Vec<f64>,
    pub g_i: Vec<f64>,
    /// the nudging strength the conductances were made with
    pub lambda: f64,
}

/// Conductances whose reversal potential is u* and whose sum is lambda/(1-lambda)(g_L+g_D).
fn conductances(u_star: &[f64], p: &NeuronParams, lambda: f64) -> (Vec<f64>, Vec<f64>) {
    let total = lambda / (1.0 - lambda) * (p.g_l + p.g_d);
    let g_e = u_star
        .iter()
        .map(|u| total * (p.e_i - u) / (p.e_i - p.e_e))
        .collect();
    let g_i = u_star
        .iter()
        .map(|u| total * (u - p.e_e) / (p.e_i - p.e_e))
        .collect();
    (g_e, g_i)
}

fn ramp_up(p: &NeuronParams, x: f64) -> f64 {
    20.0 / (1.0 + (-0.7 - x).exp()) + p.e_l
}

fn ramp_down(p: &NeuronParams, x: f64) -> f64 {
    20.0 / (1.0 + (-0.7 + x).exp()) + p.e_l
}

impl Teacher {
    /// The teacher of `pattern` with pattern steps `step_ms` long and nudging strength `lambda`
    /// (0 < lambda < 1).
    pub fn new(pattern: &Pattern, p: &NeuronParams, step_ms: f64, lambda: f64) -> Self {
        let l = (step_ms / p.dt).round() as usize;
        let len = pattern.steps * l;
        let lf = l as f64;
        let mut u_star = vec![p.e_l; pattern.neurons * len];
        for id in 0..pattern.neurons {
            for s in 0..pattern.steps {
                let at = |k: usize| pattern.is_on(id, k);
                let cur = at(s);
                let prev = at((s + pattern.steps - 1) % pattern.steps);
                let next = at((s + 1) % pattern.steps);
                for t in 0..l {
                    let tf = t as f64;
                    let x = &mut u_star[(s * l + t) * pattern.neurons + id];
                    // the reference's rules, in its order (later ones overwrite)
                    if !cur && next {
                        *x = if tf >= 2.0 / 3.0 * lf {
                            ramp_up(p, (tf - lf) * p.dt)
                        } else {
                            p.e_l
                        };
                    } else if !cur && !next {
                        *x = p.e_l;
                    } else if cur && !prev {
                        // the rise from the boundary: half the step before a fall, two thirds
                        // before a hold
                        let rise = if next { 2.0 / 3.0 } else { 0.5 };
                        if tf <= rise * lf {
                            *x = ramp_up(p, tf * p.dt);
                        } else if next {
                            *x = ramp_up(p, 10.0);
                        }
                    }
                    if cur && !next {
                        if !prev && tf >= 0.5 * lf {
                            *x = ramp_down(p, (tf - lf) * p.dt);
                        }
                        if prev && tf >= lf / 3.0 {
                            *x = ramp_down(p, (tf - lf) * p.dt);
                        }
                        if prev && tf < lf / 3.0 {
                            *x = ramp_up(p, 10.0);
                        }
                    }
                    if cur && prev && next {
                        *x = ramp_up(p, 10.0);
                    }
                    if !cur && prev && tf <= lf / 3.0 {
                        *x = ramp_down(p, tf * p.dt);
                    }
                }
            }
        }
        let (g_e, g_i) = conductances(&u_star, p, lambda);
        Teacher {
            neurons: pattern.neurons,
            len,
            u_star,
            g_e,
            g_i,
            lambda,
        }
    }

    /// This teacher with noise on its target potential (our reading of the paper's noisy targets,
    /// correlated in time and resampled each cycle): per visible neuron an Ornstein-Uhlenbeck
    /// process of standard deviation `std` mV and time constant `tau_ms`, started from its
    /// stationary distribution, drawn from `rng`.
    pub fn with_noise(
        &self,
        p: &NeuronParams,
        std: f64,
        tau_ms: f64,
        rng: &mut biornn_numerics::RngStream,
    ) -> Teacher {
        let k = self.neurons;
        let decay = (-p.dt / tau_ms).exp();
        let kick = std * (1.0 - decay * decay).sqrt();
        let mut x: Vec<f64> = (0..k).map(|_| std * rng.normal()).collect();
        let mut u_star = self.u_star.clone();
        for t in 0..self.len {
            for (i, xi) in x.iter_mut().enumerate() {
                u_star[t * k + i] += *xi;
                *xi = decay * *xi + kick * rng.normal();
            }
        }
        let (g_e, g_i) = conductances(&u_star, p, self.lambda);
        Teacher {
            neurons: k,
            len: self.len,
            u_star,
            g_e,
            g_i,
            lambda: self.lambda,
        }
    }

    /// The teacher's conductances `(g_E, g_I)` at step `t` of the cycle, one per visible neuron.
    pub fn at(&self, t: usize) -> (&[f64], &[f64]) {
        let k = self.neurons;
        (&self.g_e[t * k..(t + 1) * k], &self.g_i[t * k..(t + 1) * k])
    }

    /// The target rates phi(u*) at step `t`, one per visible neuron.
    pub fn target_rates(&self, p: &NeuronParams, t: usize) -> impl Iterator<Item = f64> + '_ {
        let p = *p;
        self.u_star[t * self.neurons..(t + 1) * self.neurons]
            .iter()
            .map(move |u| p.phi(*u))
    }
}
