//! An RFLO or echo-state run on a^n b^n: `[network] kind = "leaky_rnn"`, `[rule] kind = "rflo"`
//! (every matrix learns) or `"esn"` (the reference's reservoir: W frozen, W_out by the delta rule
//! and W_in by RFLO's random feedback), `[task] kind = "anbn"`, `[train]`. One sequence per
//! update, plain SGD at the end of the trial as the reference scripts.

use crate::rflo::{Feedback, LeakyRnn, LeakyRnnShape, Rates, RfloOptions, Trace, Workspace};
use biornn_core::arrays::{put_f64, take_f64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::error::check_seed;
use biornn_numerics::{Error, Result, Streams};
use biornn_tasks::sequences::{
    columns, evaluation, extend_evaluation, next_sequence, Goal, SequenceEnv, SequenceTaskConfig,
    SequenceTrainConfig, SuccessCount,
};
use serde::{Deserialize, Serialize};

/// `[network] kind = "leaky_rnn"`: Murray's leaky rate network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakyRnnConfig {
    pub kind: String,
    pub n_rec: usize,
    /// time constant in steps
    pub tau: f64,
    /// W ~ g N(0, 1/n_rec)
    pub g: f64,
    /// every unit's state at the start of a sequence
    pub h0: f64,
    /// W_in = 0.1 (U - 1), all negative, as the reference (corrected: 0.1 (2U - 1))
    pub faithful_init: bool,
}

impl Default for LeakyRnnConfig {
    fn default() -> Self {
        LeakyRnnConfig {
            kind: "leaky_rnn".into(),
            n_rec: 64,
            tau: 10.0,
            g: 1.5,
            h0: 0.1,
            faithful_init: false,
        }
    }
}

/// How an echo-state network's readout learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EsnReadout {
    /// the delta rule at the end of each sequence, W_in by RFLO's trace with the error fed back as `feedback` says (random B: the reference)
    #[default]
    Delta,
    /// ridge regression of the targets on the states, solved at each evaluation, W_in frozen (the
    /// classic echo-state network)
    Ridge,
    /// the delta rule on W_out alone, W_in frozen too (the reference's older `exp9_esn.py`): the
    /// same learning as `delta` without the input weights' random-feedback updates
    DeltaOut,
}

/// `[rule] kind = "rflo" | "esn"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RfloRuleConfig {
    pub kind: String,
    /// eta of every trained matrix (the reference: 0.01 on a^n b^n, 0.1 on digits)
    pub learning_rate: f64,
    /// "random" (RFLO's B) or "readout" (W_out^T)
    pub feedback: Feedback,
    /// "local" (RFLO) or "full" (RTRL: n^3 memory, small networks only)
    pub trace: Trace,
    /// apply the changes at every step rather than at the end of the sequence
    pub online: bool,
    /// the reference's time indexing: x^0 only seeds q, the first output is 0, q lags by a step
    pub faithful_timing: bool,
    /// tanh' as 1/cosh^2(10 tanh(x/10)), as the reference
    pub faithful_derivative: bool,
    /// esn: "delta" (the reference's) or "ridge"
    pub readout: EsnReadout,
    /// ridge: added to the diagonal of the states' mean outer product
    pub ridge: f64,
}

impl Default for RfloRuleConfig {
    fn default() -> Self {
        RfloRuleConfig {
            kind: "rflo".into(),
            learning_rate: 0.01,
            feedback: Feedback::Random,
            trace: Trace::Local,
            online: false,
            faithful_timing: false,
            faithful_derivative: false,
            readout: EsnReadout::Delta,
            ridge: 1e-4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RfloRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: LeakyRnnConfig,
    pub rule: RfloRuleConfig,
    pub task: SequenceTaskConfig,
    pub train: SequenceTrainConfig,
}

impl Default for RfloRunConfig {
    fn default() -> Self {
        RfloRunConfig {
            name: "rflo-anbn".into(),
            seed: 1,
            network: LeakyRnnConfig::default(),
            rule: RfloRuleConfig::default(),
            task: SequenceTaskConfig::default(),
            train: SequenceTrainConfig::default(),
        }
    }
}

/// What `biornn config --kind rflo` prints.
pub const DEFAULT_RFLO_TOML: &str = include_str!("default_rflo.toml");
/// What `biornn config --kind esn` prints.
pub const DEFAULT_ESN_TOML: &str = include_str!("default_esn.toml");

impl RfloRunConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: RfloRunConfig = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn shape(&self) -> LeakyRnnShape {
        LeakyRnnShape {
            n: self.network.n_rec,
            n_in: self.task.sizes().0,
            n_out: self.task.sizes().1,
            tau: self.network.tau,
            g: self.network.g,
            h0: self.network.h0,
            faithful_init: self.network.faithful_init,
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_seed(self.seed)?;
        if self.network.kind != "leaky_rnn" {
            return Err(Error::invalid(
                "network.kind",
                format!("\"{}\"", self.network.kind),
                "allowed here: \"leaky_rnn\"",
            ));
        }
        if !["rflo", "esn"].contains(&self.rule.kind.as_str()) {
            return Err(Error::invalid(
                "rule.kind",
                format!("\"{}\"", self.rule.kind),
                "allowed with network.kind = \"leaky_rnn\": rflo, esn",
            ));
        }
        if self.rule.readout != EsnReadout::Delta && self.rule.kind != "esn" {
            return Err(Error::invalid(
                "rule.readout",
                match self.rule.readout {
                    EsnReadout::Ridge => "\"ridge\"",
                    _ => "\"delta_out\"",
                },
                "allowed with rule.kind = \"rflo\": \"delta\" only (RFLO trains every matrix)",
            ));
        }
        if self.rule.readout == EsnReadout::Ridge && self.rule.faithful_timing {
            // the ridge fit collects states from x^0 on; the faithful trial feeds x^0 nowhere and
            // forces y^0 = 0, so the fitted readout would be scored on shifted states
            return Err(Error::invalid(
                "rule.faithful_timing",
                "true",
                "allowed with rule.readout = \"ridge\": false only (the ridge fit reads the states of every step from the first input on)",
            ));
        }
        if !(self.rule.ridge.is_finite() && self.rule.ridge >= 0.0) {
            return Err(Error::invalid(
                "rule.ridge",
                self.rule.ridge,
                "allowed: a number >= 0",
            ));
        }
        let n = self.network.n_rec;
        if n == 0 || n > 4096 {
            return Err(Error::invalid("network.n_rec", n, "allowed: 1 to 4096"));
        }
        if self.rule.trace == Trace::Full && self.rule.faithful_timing {
            return Err(Error::invalid(
                "rule.faithful_timing",
                true,
                "allowed with rule.trace = \"local\" only (the full trace is exact RTRL of the run)",
            ));
        }
        if self.rule.trace == Trace::Full && n > 64 {
            return Err(Error::invalid(
                "network.n_rec",
                n,
                "allowed with rule.trace = \"full\": at most 64 (the trace holds n^3 numbers)",
            ));
        }
        if !(self.network.tau.is_finite() && self.network.tau >= 1.0) {
            return Err(Error::invalid(
                "network.tau",
                self.network.tau,
                "allowed: a number of steps >= 1",
            ));
        }
        for (f, v) in [
            ("network.g", self.network.g),
            ("network.h0", self.network.h0),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(f, v, "allowed: a finite number"));
            }
        }
        let lr = self.rule.learning_rate;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid(
                "rule.learning_rate",
                lr,
                "allowed: a positive number",
            ));
        }
        self.task.validate()?;
        self.train.validate()
    }
}

/// A leaky RNN learning a^n b^n by RFLO (or as an echo-state network), one sequence per update.
pub struct RfloLearner {
    pub net: LeakyRnn<f64>,
    pub env: Box<dyn SequenceEnv>,
    cfg: RfloRunConfig,
    count: SuccessCount,
    work: Workspace<f64>,
    inputs: Vec<f64>,
    targets: Vec<f64>,
    /// ridge readout: the states' and targets' summed products since the start, and how many rows
    ridge: Option<RidgeSums>,
    states: Vec<f64>,
}

/// Sum of h h^T `(n, n)`, of h y^T `(n, n_out)` and the row count.
#[derive(Debug, Clone, PartialEq)]
struct RidgeSums {
    hh: Vec<f64>,
    hy: Vec<f64>,
    rows: f64,
}

/// The matrices' names in `.npz` files.
const NAMES: [&str; 4] = ["w_in", "w_rec", "w_out", "B"];

impl RfloLearner {
    pub fn new(cfg: &RfloRunConfig) -> Result<Self> {
        cfg.validate()?;
        let streams = Streams::new(cfg.seed);
        Ok(RfloLearner {
            net: LeakyRnn::new(cfg.shape(), &streams)?,
            env: cfg.task.build(&streams)?,
            cfg: cfg.clone(),
            count: SuccessCount::default(),
            work: Workspace::default(),
            inputs: vec![],
            targets: vec![],
            ridge: (cfg.rule.kind == "esn" && cfg.rule.readout == EsnReadout::Ridge).then(|| {
                let (n, n_out) = (cfg.network.n_rec, cfg.task.sizes().1);
                RidgeSums {
                    hh: vec![0.0; n * n],
                    hy: vec![0.0; n * n_out],
                    rows: 0.0,
                }
            }),
            states: vec![],
        })
    }

    /// Add a sequence's states (every step, or the last when a class is read there) to the sums.
    fn accumulate(&mut self) {
        let Some(sums) = &mut self.ridge else { return };
        let (n, n_out) = (self.net.n, self.net.n_out);
        self.net.states(&self.inputs, &mut self.states);
        let steps = self.inputs.len() / self.net.n_in;
        let first = match self.env.goal() {
            Goal::NextStep => 0,
            Goal::ClassAtEnd => steps - 1,
        };
        for s in first..steps {
            let h = &self.states[s * n..(s + 1) * n];
            let y = &self.targets[s * n_out..(s + 1) * n_out];
            biornn_numerics::linalg::add_outer(&mut sums.hh, 1.0, h, h);
            biornn_numerics::linalg::add_outer(&mut sums.hy, 1.0, h, y);
            sums.rows += 1.0;
        }
    }

    /// W_out from the sums: (mean h h^T + ridge I)^-1 mean h y^T, transposed.
    fn solve_readout(&mut self) -> Result<()> {
        use faer::linalg::solvers::Solve;
        let Some(sums) = &self.ridge else {
            return Ok(());
        };
        if sums.rows == 0.0 {
            return Ok(());
        }
        let (n, n_out) = (self.net.n, self.net.n_out);
        let a = faer::Mat::<f64>::from_fn(n, n, |i, j| {
            sums.hh[i * n + j] / sums.rows + if i == j { self.cfg.rule.ridge } else { 0.0 }
        });
        let b = faer::Mat::<f64>::from_fn(n, n_out, |i, k| sums.hy[i * n_out + k] / sums.rows);
        let w = a.partial_piv_lu().solve(b);
        if (0..n).any(|i| (0..n_out).any(|k| !w[(i, k)].is_finite())) {
            return Err(Error::new(
                "the ridge readout is singular: raise rule.ridge above 0",
            ));
        }
        for k in 0..n_out {
            for i in 0..n {
                self.net.w_out[k * n + i] = w[(i, k)];
            }
        }
        Ok(())
    }

    fn options(&self) -> RfloOptions {
        let r = &self.cfg.rule;
        RfloOptions {
            trace: r.trace,
            feedback: r.feedback,
            online: r.online,
            faithful_timing: r.faithful_timing,
            faithful_derivative: r.faithful_derivative,
            classify: self.env.goal() == Goal::ClassAtEnd,
        }
    }

    /// What a sequence's loss is divided by: its steps when each is scored, else 1.
    fn per_step(&self, steps: usize) -> f64 {
        match self.env.goal() {
            Goal::NextStep => steps as f64,
            Goal::ClassAtEnd => 1.0,
        }
    }

    fn matrices(&self) -> [(&'static str, [usize; 2], &Vec<f64>); 4] {
        let n = &self.net;
        [
            (NAMES[0], [n.n, n.n_in], &n.w_in),
            (NAMES[1], [n.n, n.n], &n.w_rec),
            (NAMES[2], [n.n_out, n.n], &n.w_out),
            (NAMES[3], [n.n, n.n_out], &n.b),
        ]
    }
}

impl Stateful for RfloLearner {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        for (name, shape, w) in self.matrices() {
            put_f64(out, &format!("{prefix}{name}"), &shape, w);
        }
        self.count.save_state(prefix, out);
        if let Some(r) = &self.ridge {
            let (n, n_out) = (self.net.n, self.net.n_out);
            put_f64(out, &format!("{prefix}ridge_hh"), &[n, n], &r.hh);
            put_f64(out, &format!("{prefix}ridge_hy"), &[n, n_out], &r.hy);
            put_f64(out, &format!("{prefix}ridge_rows"), &[], &[r.rows]);
        }
        self.env.save_state(&format!("{prefix}env_"), out);
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let shapes: Vec<[usize; 2]> = self.matrices().iter().map(|m| m.1).collect();
        let n = &mut self.net;
        for (k, w) in [&mut n.w_in, &mut n.w_rec, &mut n.w_out, &mut n.b]
            .into_iter()
            .enumerate()
        {
            *w = take_f64(arrays, &format!("{prefix}{}", NAMES[k]), &shapes[k])?;
        }
        self.count.load_state(prefix, arrays)?;
        let (n, n_out) = (self.net.n, self.net.n_out);
        if let Some(r) = &mut self.ridge {
            r.hh = take_f64(arrays, &format!("{prefix}ridge_hh"), &[n, n])?;
            r.hy = take_f64(arrays, &format!("{prefix}ridge_hy"), &[n, n_out])?;
            r.rows = take_f64(arrays, &format!("{prefix}ridge_rows"), &[])?[0];
        }
        self.env.load_state(&format!("{prefix}env_"), arrays)
    }
}

impl Learner for RfloLearner {
    fn columns(&self) -> Vec<String> {
        columns(&*self.env)
    }

    fn update(&mut self, _step: u64, phase: &Phase) -> Result<f64> {
        let n_in = self.env.n_in();
        next_sequence(&mut *self.env, &mut self.inputs, &mut self.targets);
        let eta = self.cfg.rule.learning_rate * phase.lr_factor * phase.lr_scale;
        let rates = Rates {
            w_in: if self.cfg.rule.readout == EsnReadout::DeltaOut {
                0.0
            } else {
                eta
            },
            w_rec: if self.cfg.rule.kind == "esn" {
                0.0
            } else {
                eta
            },
            w_out: eta,
        };
        let options = self.options();
        let learning = self.ridge.is_none().then_some(rates);
        let r = self.net.trial(
            &self.inputs,
            &self.targets,
            options,
            learning,
            &mut self.work,
        );
        self.accumulate();
        let ok = self.env.success(&r.outputs, &self.targets);
        let loss = r.loss / self.per_step(self.inputs.len() / n_in);
        self.count.add(ok);
        self.env.outcome(ok, loss);
        Ok(loss)
    }

    fn evaluate(&mut self, _step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        self.solve_readout()?;
        let set = self.env.eval_set();
        let (mut loss, mut ok) = (0.0, 0);
        let options = self.options();
        let n_in = self.env.n_in();
        for (inputs, targets) in &set {
            let r = self
                .net
                .trial(inputs, targets, options, None, &mut self.work);
            loss += r.loss / self.per_step(inputs.len() / n_in) / set.len() as f64;
            ok += self.env.success(&r.outputs, targets) as usize;
        }
        let mut e = evaluation(
            train_loss,
            self.count.take_rate(),
            loss,
            ok as f64 / set.len() as f64,
        );
        let mut agent = LeakyAgent::new(&self.net, self.cfg.rule.faithful_timing);
        extend_evaluation(&*self.env, &mut e, Some(&mut agent));
        Ok(e)
    }

    fn all_finite(&self) -> bool {
        self.matrices()
            .iter()
            .all(|m| m.2.iter().all(|v| v.is_finite()))
    }

    fn export(&self, _step: u64, out: &mut Arrays) {
        for (name, shape, w) in self.matrices() {
            put_f64(out, name, &shape, w);
        }
        put_f64(out, "tau", &[], &[self.net.tau]);
    }
}

/// The trained network acting in a closed loop, from h0, on the clock it trained on.
struct LeakyAgent<'a> {
    net: &'a LeakyRnn<f64>,
    h: Vec<f64>,
    u: Vec<f64>,
    /// `faithful_timing`: a trial's first input is never fed and its first output is 0
    skip_first: bool,
    first: bool,
}

impl<'a> LeakyAgent<'a> {
    fn new(net: &'a LeakyRnn<f64>, faithful_timing: bool) -> Self {
        LeakyAgent {
            net,
            h: vec![],
            u: vec![0.0; net.n],
            skip_first: faithful_timing,
            first: true,
        }
    }
}

impl biornn_tasks::sequences::Agent for LeakyAgent<'_> {
    fn reset(&mut self) {
        self.h = vec![self.net.h0; self.net.n];
        self.first = true;
    }
    fn step(&mut self, input: &[f64], output: &mut [f64]) {
        if std::mem::take(&mut self.first) && self.skip_first {
            output.fill(0.0);
            return;
        }
        let net = self.net;
        biornn_numerics::linalg::matvec(&net.w_rec, &self.h, &mut self.u, false);
        biornn_numerics::linalg::matvec(&net.w_in, input, &mut self.u, true);
        for (h, u) in self.h.iter_mut().zip(&self.u) {
            *h += (u.tanh() - *h) / net.tau;
        }
        biornn_numerics::linalg::matvec(&net.w_out, &self.h, output, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_is_the_default_and_bad_values_are_named() {
        assert_eq!(
            RfloRunConfig::from_toml(DEFAULT_RFLO_TOML).unwrap(),
            RfloRunConfig::default()
        );
        let c = RfloRunConfig::default();
        assert_eq!(RfloRunConfig::from_toml(&c.to_toml()).unwrap(), c);
        for (text, field) in [
            ("[rule]\nkind = \"force\"\n", "rule.kind"),
            (
                "[network]\nn_rec = 100\n[rule]\nkind = \"rflo\"\ntrace = \"full\"\n",
                "network.n_rec",
            ),
            (
                "[network]\nkind = \"leaky_rnn\"\ntau = 0.5\n",
                "network.tau",
            ),
            (
                "[rule]\nkind = \"esn\"\nlearning_rate = 0.0\n",
                "rule.learning_rate",
            ),
        ] {
            let e = RfloRunConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }

    #[test]
    fn the_ridge_readout_solves_the_normal_equations_and_freezes_the_rest() {
        use biornn_core::{Learner, Phase};
        let mut cfg = RfloRunConfig::default();
        cfg.network.n_rec = 12;
        cfg.rule.kind = "esn".into();
        cfg.rule.readout = EsnReadout::Ridge;
        cfg.rule.ridge = 1e-3;
        let mut l = RfloLearner::new(&cfg).unwrap();
        let (w_in, w_rec) = (l.net.w_in.clone(), l.net.w_rec.clone());
        let phase = Phase {
            stage: None,
            lr_factor: 1.0,
            lr_scale: 1.0,
        };
        // one epoch: each of the four sequences once
        for step in 0..4 {
            l.update(step, &phase).unwrap();
        }
        l.evaluate(4, None).unwrap();
        assert_eq!((&l.net.w_in, &l.net.w_rec), (&w_in, &w_rec));
        // (mean h h' + ridge I) W_out' = mean h y' over every step of the four sequences
        let (n, k) = (12, 3);
        let (mut hh, mut hy, mut rows) = (vec![0.0; n * n], vec![0.0; n * k], 0.0);
        let mut states = vec![];
        for (x, y) in biornn_tasks::anbn::dataset(1) {
            l.net.states(&x, &mut states);
            for (h, t) in states.chunks(n).zip(y.chunks(k)) {
                biornn_numerics::linalg::add_outer(&mut hh, 1.0, h, h);
                biornn_numerics::linalg::add_outer(&mut hy, 1.0, h, t);
                rows += 1.0;
            }
        }
        for i in 0..n {
            for c in 0..k {
                let lhs: f64 = (0..n)
                    .map(|j| {
                        (hh[i * n + j] / rows + if i == j { 1e-3 } else { 0.0 })
                            * l.net.w_out[c * n + j]
                    })
                    .sum();
                assert!(
                    (lhs - hy[i * k + c] / rows).abs() < 1e-10,
                    "row {i} output {c}"
                );
            }
        }
        assert_eq!(l.env.n_out(), 3);
    }

    /// The closed-loop agent runs the network on the clock the trials train it on: under
    /// `faithful_timing` the first input is not fed and the first output is 0.
    #[test]
    fn the_closed_loop_agent_keeps_the_trials_clock() {
        use biornn_tasks::sequences::Agent;
        for faithful in [false, true] {
            let mut cfg = RfloRunConfig::default();
            cfg.network.n_rec = 12;
            cfg.rule.faithful_timing = faithful;
            let mut l = RfloLearner::new(&cfg).unwrap();
            let (inputs, targets) = biornn_tasks::anbn::dataset(2).remove(0);
            let options = l.options();
            let trial = l.net.trial(&inputs, &targets, options, None, &mut l.work);
            let mut agent = LeakyAgent::new(&l.net, l.cfg.rule.faithful_timing);
            let (n_in, n_out) = (l.net.n_in, l.net.n_out);
            agent.reset();
            let mut out = vec![0.0; n_out];
            for (s, x) in inputs.chunks(n_in).enumerate() {
                agent.step(x, &mut out);
                let want = &trial.outputs[s * n_out..(s + 1) * n_out];
                for (a, b) in out.iter().zip(want) {
                    assert!(
                        (a - b).abs() < 1e-12,
                        "faithful {faithful}, step {s}: {a} {b}"
                    );
                }
            }
            assert_eq!(trial.outputs[..n_out].iter().all(|v| *v == 0.0), faithful);
        }
    }

    /// `readout = "delta_out"` trains W_out alone; `"delta"` (the reference's final scripts) also
    /// W_in; RFLO refuses both alternatives by name.
    #[test]
    fn the_delta_out_readout_freezes_the_input_weights() {
        use biornn_core::{Learner, Phase};
        let phase = Phase {
            stage: None,
            lr_factor: 1.0,
            lr_scale: 1.0,
        };
        for (readout, input_moves) in [(EsnReadout::Delta, true), (EsnReadout::DeltaOut, false)] {
            let mut cfg = RfloRunConfig::default();
            cfg.network.n_rec = 12;
            cfg.rule.kind = "esn".into();
            cfg.rule.readout = readout;
            let mut l = RfloLearner::new(&cfg).unwrap();
            let (w_in, w_rec, w_out) =
                (l.net.w_in.clone(), l.net.w_rec.clone(), l.net.w_out.clone());
            for step in 0..4 {
                l.update(step, &phase).unwrap();
            }
            assert_eq!(l.net.w_rec, w_rec);
            assert_ne!(l.net.w_out, w_out);
            assert_eq!(l.net.w_in != w_in, input_moves, "{readout:?}");
        }
        let mut cfg = RfloRunConfig::default();
        cfg.rule.readout = EsnReadout::DeltaOut;
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("rule.readout") && e.contains("delta_out"), "{e}");
    }
}
