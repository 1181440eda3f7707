//! FORCE on biornn's CTRNN (Sussillo and Abbott 2009, network A, on any `[model]`): the CTRNN
//! steps on forever, never reset, with its linear readout y = W_out r fed back into every unit
//! through fixed weights W_fb ~ U(-1, 1); RLS ([`Rls`]) trains W_out at every `every`-th step.
//! Everything else about the network (conventions, activation, time constants, Dale's law, masks,
//! initialisation) is the CTRNN's, from `[model]`; its recurrent, input and bias weights stay
//! fixed. The defaults make it Sussillo and Abbott's chaotic network: tanh units in the current
//! convention, W_rec random with 10% of connections, rescaled to spectral radius 1.5.
//!
//! Config: `[network] kind = "ctrnn"`, `[rule] kind = "rls"` (or `"force"`), `[model]`, `[task]
//! kind = "sines" | "triangle"`, `[train]`. Keys left out of `[model]` (and of its sections) keep
//! the FORCE defaults above, not the BPTT defaults.

use crate::config::{RlsConfig, SinesConfig};
use crate::network::{feedback_and_start, trials_from_start};
use crate::rls::TrainedReadout;
use crate::run::OnlineTrainConfig;
use crate::{Rls, Sines};
use biornn_core::arrays::{put_f32, take_f32};
use biornn_core::{Arrays, Dynamics, Environment, Network, Online, Stateful, Stepping};
use biornn_core::{Tensor, TensorMut};
use biornn_model::config::{MaskConfig, NoiseConfig, RecInit};
use biornn_model::dynamics::CtrnnDynamics;
use biornn_model::{Activation, Ctrnn, MaskSpec, ModelConfig, Readout, StateConvention};
use biornn_numerics::error::check;
use biornn_numerics::linalg::matvec;
use biornn_numerics::{Error, Result, Streams};
use serde::{Deserialize, Serialize};

/// The CTRNN with its readout fed back, stepping one time step at a time.
#[derive(Debug, Clone)]
pub struct CtrnnFeedback {
    /// the network; its own readout parameters are not used (FORCE's readout is `w_out`)
    pub net: Ctrnn<f32>,
    /// `(n, n_out)`, fixed (zero without feedback)
    pub w_fb: Vec<f32>,
    /// `(n_out, n)`, trained
    pub w_out: Vec<f32>,
    /// where every trial of [`Network::forward`] starts
    pub s0: Vec<f32>,
    /// the state, its rates and the readout of the last step
    pub s: Vec<f32>,
    pub r: Vec<f32>,
    pub y: Vec<f32>,
    extra: Vec<f32>,
    z: Vec<f32>,
}

/// `[network]` of a FORCE run on the CTRNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CtrnnForceNetwork {
    /// always "ctrnn" here
    pub kind: String,
    /// the Euler step in ms (alpha = dt / model.tau)
    pub dt: f64,
    /// feed the readout back through W_fb ~ U(-1, 1)
    pub feedback: bool,
    /// std of the initial state
    pub init_std: f64,
}

impl Default for CtrnnForceNetwork {
    fn default() -> Self {
        CtrnnForceNetwork {
            kind: "ctrnn".into(),
            dt: 10.0,
            feedback: true,
            init_std: 0.5,
        }
    }
}

/// The `[model]` FORCE starts from: Sussillo and Abbott's chaotic network as a CTRNN.
pub fn force_model() -> ModelConfig {
    ModelConfig {
        n_rec: 300,
        activation: Activation::Tanh,
        state: StateConvention::Current,
        tau: 100.0,
        readout: Readout::Linear,
        noise: NoiseConfig {
            sigma: 0.0,
            ..Default::default()
        },
        init: biornn_model::InitConfig {
            w_rec: RecInit::Randgauss,
            gain: Some(1.0),
            spectral_radius: Some(1.5),
            ..Default::default()
        },
        mask: MaskConfig {
            recurrent: MaskSpec::Random { density: 0.1 },
            ..Default::default()
        },
        ..Default::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CtrnnForceRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: CtrnnForceNetwork,
    pub model: ModelConfig,
    pub rule: RlsConfig,
    pub task: SinesConfig,
    pub train: OnlineTrainConfig,
}

impl Default for CtrnnForceRunConfig {
    fn default() -> Self {
        CtrnnForceRunConfig {
            name: "force-ctrnn".into(),
            seed: 1,
            network: CtrnnForceNetwork::default(),
            model: force_model(),
            rule: RlsConfig::default(),
            task: SinesConfig::default(),
            train: OnlineTrainConfig::default(),
        }
    }
}

/// The commented default: what `biornn config --kind ctrnn_force` prints.
pub const DEFAULT_CTRNN_FORCE_TOML: &str = include_str!("default_ctrnn_force.toml");

/// `over` laid over `base`: tables `levels` deep are merged key by key, deeper values replaced
/// whole (a mask spec such as `{ kind = "local", radius = 4 }` is one value, not merged).
fn merge(base: &mut toml::Table, over: toml::Table, levels: usize) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if levels > 1 => {
                merge(b, o, levels - 1)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl CtrnnForceRunConfig {
    /// Parse TOML text over the FORCE defaults; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str) -> Result<Self> {
        let over: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::new(e.to_string()))?;
        let mut base = toml::Table::try_from(CtrnnForceRunConfig::default())
            .expect("the default config serialises");
        // an init that names its kind is taken whole: FORCE's rescaling to spectral radius 1.5
        // belongs to its own random init, not to "diag" or "randortho"
        let names_init = over
            .get("model")
            .and_then(|m| m.get("init"))
            .and_then(|i| i.get("w_rec"))
            .is_some();
        if names_init {
            if let Some(toml::Value::Table(m)) = base.get_mut("model") {
                m.remove("init");
            }
        }
        merge(&mut base, over, 3);
        let cfg: CtrnnForceRunConfig = base
            .try_into()
            .map_err(|e: toml::de::Error| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn validate(&self) -> Result<()> {
        biornn_numerics::error::check_seed(self.seed)?;
        let n = &self.network;
        check(n.kind == "ctrnn", "network.kind", &n.kind, "allowed: ctrnn")?;
        check(
            n.dt.is_finite() && n.dt > 0.0,
            "network.dt",
            n.dt,
            "allowed: a positive step in ms",
        )?;
        check(
            n.init_std.is_finite() && n.init_std >= 0.0,
            "network.init_std",
            n.init_std,
            "allowed: a finite std >= 0",
        )?;
        self.model.validate(n.dt)?;
        check(
            self.model.n_rec <= 5000,
            "model.n_rec",
            self.model.n_rec,
            "allowed: 1 to 5000 (the RLS matrix has n_rec^2 entries)",
        )?;
        check(
            self.model.readout == Readout::Linear,
            "model.readout",
            format!("{:?}", self.model.readout).to_lowercase(),
            "allowed: linear (RLS fits a linear readout)",
        )?;
        check(
            self.model.noise.sigma == 0.0,
            "model.noise.sigma",
            self.model.noise.sigma,
            "allowed: 0 (FORCE runs noise-free here)",
        )?;
        // RLS trains the readout from every unit, signed
        let m = &self.model;
        check(
            !(m.dale.enabled && m.dale.readout_from_excitatory),
            "model.dale.readout_from_excitatory",
            "true",
            "allowed: false (FORCE's readout reads every unit)",
        )?;
        check(
            m.mask.readout_units.is_none(),
            "model.mask.readout_units",
            format!("{:?}", m.mask.readout_units),
            "allowed: none (FORCE's readout reads every unit)",
        )?;
        check(
            m.mask.output == MaskSpec::Dense,
            "model.mask.output",
            format!("{:?}", m.mask.output),
            "allowed: dense (FORCE's readout reads every unit)",
        )?;
        self.rule.validate()?;
        self.task.validate()?;
        self.train.validate(self.seed)
    }

    /// The untrained learner of the network with seed `seed`.
    pub fn member(&self, seed: u64) -> Result<Online<CtrnnFeedback, Rls, Sines>> {
        let env = Sines::new(&self.task);
        let net = CtrnnFeedback::new(self, env.n_in(), env.n_out(), &Streams::new(seed))?;
        Ok(Online {
            rule: Rls::new(&self.rule, net.net.n_rec)?,
            net,
            env,
            eval_steps: self.train.eval_steps,
        })
    }

    /// The untrained learners of every network, seeds `seed .. seed + train.networks`.
    pub fn learners(&self) -> Result<Vec<Online<CtrnnFeedback, Rls, Sines>>> {
        self.validate()?;
        self.train.members(self.seed, |seed| self.member(seed))
    }
}

impl CtrnnFeedback {
    /// The CTRNN `[model]` describes, drawn from `streams`; W_fb and the initial state from the
    /// reservoir's streams (`reservoir_fb`, `reservoir_x0`); the readout starts at zero.
    pub fn new(
        cfg: &CtrnnForceRunConfig,
        n_in: usize,
        n_out: usize,
        streams: &Streams,
    ) -> Result<Self> {
        cfg.validate()?;
        let net = Ctrnn::<f32>::new(&cfg.model, n_in, n_out, cfg.network.dt, streams)?;
        let n = net.n_rec;
        let (w_fb, s0) = feedback_and_start(
            n,
            n_out,
            cfg.network.feedback,
            cfg.network.init_std,
            streams,
        );
        let mut me = CtrnnFeedback {
            net,
            w_fb,
            w_out: vec![0.0; n_out * n],
            s: s0.clone(),
            s0,
            r: vec![0.0; n],
            y: vec![0.0; n_out],
            extra: vec![0.0; n],
            z: vec![0.0; n],
        };
        me.reset();
        Ok(me)
    }

    /// Back to the initial state.
    pub fn reset(&mut self) {
        self.s.copy_from_slice(&self.s0);
        self.rates_and_readout();
    }

    fn rates_and_readout(&mut self) {
        let act = self.net.activation;
        for (r, s) in self.r.iter_mut().zip(&self.s) {
            *r = match self.net.convention {
                StateConvention::Rate => *s,
                StateConvention::Current => act.f(*s),
            };
        }
        matvec(&self.w_out, &self.r, &mut self.y, false);
    }
}

impl Stepping for CtrnnFeedback {
    fn advance(&mut self, input: &[f32], output: &mut [f32]) {
        matvec(&self.w_fb, &self.y, &mut self.extra, false);
        self.net
            .step_in_place(input, &self.extra, &mut self.s, &mut self.r, &mut self.z);
        matvec(&self.w_out, &self.r, &mut self.y, false);
        output.copy_from_slice(&self.y);
    }
}

impl TrainedReadout for CtrnnFeedback {
    fn rates(&self) -> &[f32] {
        &self.r
    }
    fn readout_mut(&mut self) -> &mut [f32] {
        &mut self.w_out
    }
}

impl Stateful for CtrnnFeedback {
    /// The readout, the state and the last output (fed back at the next step); the fixed weights
    /// come back from the seed.
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let (n, no) = (self.net.n_rec, self.net.n_out);
        put_f32(out, &format!("{prefix}W_out"), &[no, n], &self.w_out);
        put_f32(out, &format!("{prefix}x"), &[n], &self.s);
        put_f32(out, &format!("{prefix}z"), &[no], &self.y);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let (n, no) = (self.net.n_rec, self.net.n_out);
        self.w_out = take_f32(arrays, &format!("{prefix}W_out"), &[no, n])?;
        self.s = take_f32(arrays, &format!("{prefix}x"), &[n])?;
        let y = take_f32(arrays, &format!("{prefix}z"), &[no])?;
        self.rates_and_readout();
        // the output saved was read out before the rule last changed W_out: it, not W_out r, is
        // what the next step feeds back
        self.y = y;
        Ok(())
    }
}

impl Network for CtrnnFeedback {
    fn kind(&self) -> &'static str {
        "ctrnn"
    }
    fn n_in(&self) -> usize {
        self.net.n_in
    }
    fn n_out(&self) -> usize {
        self.net.n_out
    }
    fn n_units(&self) -> usize {
        self.net.n_rec
    }
    fn parameters(&self) -> Vec<Tensor<'_>> {
        vec![Tensor {
            name: "W_out",
            shape: vec![self.net.n_out, self.net.n_rec],
            data: &self.w_out,
        }]
    }
    fn parameters_mut(&mut self) -> Vec<TensorMut<'_>> {
        vec![TensorMut {
            name: "W_out",
            shape: vec![self.net.n_out, self.net.n_rec],
            data: &mut self.w_out,
        }]
    }
    fn parameters_changed(&mut self) {
        self.rates_and_readout();
    }
    fn forward(&self, input: &[f32], steps: usize, batch: usize, output: &mut Vec<f32>) {
        trials_from_start(self, CtrnnFeedback::reset, input, (steps, batch), output)
    }
    fn export(&self, out: &mut Arrays) {
        let (n, no) = (self.net.n_rec, self.net.n_out);
        // the CTRNN's weights, with FORCE's readout (no bias) in place of its own
        self.net.export(out);
        put_f32(out, "W_out", &[no, n], &self.w_out);
        put_f32(out, "b_out", &[no], &vec![0.0; no]);
        put_f32(out, "W_fb", &[n, no], &self.w_fb);
        put_f32(out, "init_state", &[n], &self.s0);
    }
    /// With the readout fed back, the network at a constant input is a CTRNN whose recurrent
    /// weights are W_rec + W_fb W_out.
    fn dynamics(&self, input: &[f64]) -> Box<dyn Dynamics + '_> {
        let mut d = CtrnnDynamics::new(&self.net, input);
        let (n, no) = (self.net.n_rec, self.net.n_out);
        for i in 0..n {
            for k in 0..no {
                let fb = self.w_fb[i * no + k] as f64;
                for j in 0..n {
                    d.w_rec[i * n + j] += fb * self.w_out[k * n + j] as f64;
                }
            }
        }
        Box::new(d)
    }
}
