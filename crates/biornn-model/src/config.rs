//! What a network is, as read from the `[model]` section of a run's TOML config. Every struct rejects
//! unknown keys, and `validate` names the field, the value and what is allowed.

use crate::mask::MaskSpec;
use crate::sparse::SparseKernels;
use crate::Activation;
use biornn_numerics::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which quantity the Euler update integrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateConvention {
    /// gyyang/multitask: r <- (1-a) r + a f(W_rec r + W_in u + b + noise); the state is the rate.
    Rate,
    /// PsychRNN, Song et al. 2016: x <- (1-a) x + a (W_rec f(x) + W_in u + b) + noise; r = f(x).
    Current,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    /// y = sigmoid(W_out r + b_out) (gyyang/multitask with the squared-error loss)
    Sigmoid,
    /// y = W_out r + b_out (PsychRNN)
    Linear,
    /// y = W_out r + b_out, read as logits by a cross-entropy loss
    Logits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoisePlacement {
    /// gyyang: N(0, (sqrt(2/a) sigma)^2) added to the input of f each step (rate convention), i.e.
    /// to the drive W_rec r + W_in u + b.
    Inside,
    /// PsychRNN: sqrt(2a) sigma N(0,1) added to the state after the Euler step.
    Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// Independent Gaussian each step, with the scaling of its placement (see NoisePlacement).
    White,
    /// Ornstein-Uhlenbeck, discretised exactly: eta <- eta e^{-dt/tau_ou} + sigma sqrt(1 - e^{-2 dt/tau_ou}) xi,
    /// started from its stationary law, so its standard deviation is sigma at every step; added
    /// unscaled.
    Ou,
    /// Ornstein-Uhlenbeck by an Euler step, as wmws2/temporalskip: eta <- (1 - dt/tau_ou) eta +
    /// sqrt(2 dt/tau_ou) xi from eta ~ N(0, 1), times sigma. Its variance differs from sigma^2 by
    /// O(dt/tau_ou), which matters at coarse steps.
    #[serde(rename = "ou_euler")]
    OuEuler,
}

/// Recurrent noise. sigma = 0 switches it off; evaluation always runs without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    pub sigma: f64,
    pub placement: NoisePlacement,
    pub kind: NoiseKind,
    /// time constant of OU noise in ms
    pub tau_ou: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            sigma: 0.05,
            placement: NoisePlacement::Inside,
            kind: NoiseKind::White,
            tau_ou: 100.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaleMode {
    /// PsychRNN: the effective weight is |W| times the sign of the presynaptic unit.
    Reparam,
    /// nn4n: after each update, weights of the wrong sign are set to zero.
    Project,
}

/// Dale's law: each unit is excitatory or inhibitory; the first `round(excitatory_fraction * N)`
/// units are excitatory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaleConfig {
    pub enabled: bool,
    pub excitatory_fraction: f64,
    pub mode: DaleMode,
    /// input weights are kept non-negative (by the same mode)
    pub nonneg_input: bool,
    /// the readout sees excitatory units only, with non-negative weights
    pub readout_from_excitatory: bool,
}

impl Default for DaleConfig {
    fn default() -> Self {
        DaleConfig {
            enabled: false,
            excitatory_fraction: 0.8,
            mode: DaleMode::Reparam,
            nonneg_input: false,
            readout_from_excitatory: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecInit {
    /// gain * I
    Diag,
    /// gain * a Haar-random orthogonal matrix
    Randortho,
    /// gain * N(0,1) / sqrt(N)
    Randgauss,
    /// wmws2/temporalskip: W_rec ~ N(0,1) / N, and W_in, W_out, b_rec ~ N(0,1) unscaled
    Temporalskip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitConfig {
    pub w_rec: RecInit,
    /// gain of the recurrent init; when absent, gyyang's choice: 1.0 for tanh, 0.5 otherwise
    pub gain: Option<f64>,
    /// rescale W_rec (after masks, Dale's law and `rescale_masked_rows`) to this spectral radius
    pub spectral_radius: Option<f64>,
    /// randgauss and randortho under a recurrent mask, without Dale's law: scale each row by
    /// sqrt(N / k), k the row's connections, so that a unit's summed input keeps the unmasked
    /// variance (randgauss: each weight's variance g^2 / k, not g^2 / N); masks otherwise thin the
    /// input of sparse local networks
    pub rescale_masked_rows: bool,
    /// W_in ~ w_in_scale * N(0,1)/sqrt(n_in)
    pub w_in_scale: f64,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig {
            w_rec: RecInit::Diag,
            gain: None,
            spectral_radius: None,
            rescale_masked_rows: false,
            w_in_scale: 1.0,
        }
    }
}

/// Fixed connectivity. Masked weights are exactly zero at all times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskConfig {
    pub input: MaskSpec,
    pub recurrent: MaskSpec,
    pub output: MaskSpec,
    /// `[start, end)`: only these units receive input (all when absent)
    pub input_units: Option<[usize; 2]>,
    /// `[start, end)`: only these units are read out (all when absent)
    pub readout_units: Option<[usize; 2]>,
    /// run the recurrent products over the mask's entries only: "auto" (a banded mask such as a
    /// local ring at most 20% dense, a scattered one at most 4%), "on" or "off"
    #[serde(skip_serializing_if = "SparseKernels::is_default")]
    pub sparse_kernels: SparseKernels,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            input: MaskSpec::Dense,
            recurrent: MaskSpec::Dense,
            output: MaskSpec::Dense,
            input_units: None,
            readout_units: None,
            sparse_kernels: SparseKernels::Auto,
        }
    }
}

/// Which parameters the optimiser changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trainable {
    pub w_in: bool,
    pub w_rec: bool,
    pub w_out: bool,
    pub b_rec: bool,
    pub b_out: bool,
    pub init_state: bool,
}

impl Default for Trainable {
    fn default() -> Self {
        Trainable {
            w_in: true,
            w_rec: true,
            w_out: true,
            b_rec: true,
            b_out: true,
            init_state: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub n_rec: usize,
    pub activation: Activation,
    pub state: StateConvention,
    /// time constant in ms of every unit (of the excitatory ones under Dale's law)
    pub tau: f64,
    /// time constant in ms of the last (1 - dale.excitatory_fraction) of the units, the
    /// inhibitory ones under Dale's law (`tau` when absent)
    pub tau_inhibitory: Option<f64>,
    pub readout: Readout,
    pub noise: NoiseConfig,
    pub dale: DaleConfig,
    pub init: InitConfig,
    pub mask: MaskConfig,
    pub trainable: Trainable,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            n_rec: 128,
            activation: Activation::Softplus,
            state: StateConvention::Rate,
            tau: 100.0,
            tau_inhibitory: None,
            readout: Readout::Sigmoid,
            noise: NoiseConfig::default(),
            dale: DaleConfig::default(),
            init: InitConfig::default(),
            mask: MaskConfig::default(),
            trainable: Trainable::default(),
        }
    }
}

fn check_range(field: &str, v: f64, lo: f64, hi: f64, allowed: &str) -> Result<()> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        return Err(Error::invalid(field, v, allowed));
    }
    Ok(())
}

impl ModelConfig {
    /// Check every value that does not depend on the task; `dt` is checked against the time constants.
    pub fn validate(&self, dt: f64) -> Result<()> {
        if self.n_rec == 0 || self.n_rec > 65_536 {
            return Err(Error::invalid(
                "model.n_rec",
                self.n_rec,
                "allowed: 1 to 65536 units",
            ));
        }
        check_range(
            "model.tau",
            self.tau,
            1e-9,
            f64::MAX,
            "allowed: a positive time in ms",
        )?;
        if dt > self.tau {
            return Err(Error::invalid(
                "task.dt",
                dt,
                &format!(
                    "dt must not exceed model.tau = {} ms (alpha = dt/tau would be above 1)",
                    self.tau
                ),
            ));
        }
        if let Some(ti) = self.tau_inhibitory {
            check_range(
                "model.tau_inhibitory",
                ti,
                1e-9,
                f64::MAX,
                "allowed: a positive time in ms",
            )?;
            if dt > ti {
                return Err(Error::invalid(
                    "task.dt",
                    dt,
                    &format!("dt must not exceed model.tau_inhibitory = {ti} ms"),
                ));
            }
        }
        check_range(
            "model.noise.sigma",
            self.noise.sigma,
            0.0,
            f64::MAX,
            "allowed: sigma >= 0",
        )?;
        check_range(
            "model.noise.tau_ou",
            self.noise.tau_ou,
            1e-9,
            f64::MAX,
            "allowed: a positive time in ms",
        )?;
        if matches!(self.noise.kind, NoiseKind::Ou | NoiseKind::OuEuler) && dt > self.noise.tau_ou {
            return Err(Error::invalid(
                "model.noise.tau_ou",
                self.noise.tau_ou,
                "must be at least dt",
            ));
        }
        check_range(
            "model.dale.excitatory_fraction",
            self.dale.excitatory_fraction,
            0.0,
            1.0,
            "allowed: a fraction in [0, 1]",
        )?;
        if let Some(g) = self.init.gain {
            check_range("model.init.gain", g, 0.0, f64::MAX, "allowed: gain >= 0")?;
        }
        if let Some(r) = self.init.spectral_radius {
            check_range(
                "model.init.spectral_radius",
                r,
                0.0,
                f64::MAX,
                "allowed: a radius >= 0",
            )?;
        }
        if self.init.rescale_masked_rows {
            if !matches!(self.init.w_rec, RecInit::Randgauss | RecInit::Randortho) {
                // the config's spelling (serde's lowercase of the variant)
                let asked = format!("\"{:?}\"", self.init.w_rec).to_lowercase();
                return Err(Error::invalid(
                    "model.init.rescale_masked_rows",
                    true,
                    &format!(
                        "allowed with model.init.w_rec = \"randgauss\" or \"randortho\" (asked: {asked})"
                    ),
                ));
            }
            if self.dale.enabled {
                // a local mask leaves some rows inputs from one population only, where the
                // n_E / n_I balance does not hold; scaling them up would amplify the imbalance
                return Err(Error::invalid(
                    "model.init.rescale_masked_rows",
                    true,
                    "not built with model.dale.enabled (the E/I balance would have to be redone \
                     row by row); use model.init.spectral_radius",
                ));
            }
        }
        check_range(
            "model.init.w_in_scale",
            self.init.w_in_scale,
            0.0,
            f64::MAX,
            "allowed: scale >= 0",
        )?;
        for (field, range) in [
            ("model.mask.input_units", self.mask.input_units),
            ("model.mask.readout_units", self.mask.readout_units),
        ] {
            if let Some([a, b]) = range {
                if a >= b || b > self.n_rec {
                    return Err(Error::invalid(
                        field,
                        format!("[{a}, {b}]"),
                        &format!(
                            "allowed: [start, end) with start < end <= n_rec = {}",
                            self.n_rec
                        ),
                    ));
                }
            }
        }
        self.mask
            .recurrent
            .validate("model.mask.recurrent", self.n_rec)?;
        self.mask.input.validate("model.mask.input", self.n_rec)?;
        self.mask.output.validate("model.mask.output", self.n_rec)?;
        Ok(())
    }

    pub fn gain(&self) -> f64 {
        self.init.gain.unwrap_or(match self.activation {
            Activation::Tanh => 1.0,
            _ => 0.5,
        })
    }

    pub fn n_excitatory(&self) -> usize {
        if self.dale.enabled {
            (self.dale.excitatory_fraction * self.n_rec as f64).round() as usize
        } else {
            self.n_rec
        }
    }
}

/// What a local rule (RFLO) broadcasts the readout error through, in place of BPTT's credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// a fixed random B ~ N(0, 1/n_out)
    #[default]
    Random,
    /// the readout's transpose W_out^T (what exact gradients use)
    Readout,
}
