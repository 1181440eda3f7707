//! One R2N2 network learning a^n b^n, one sequence per update, as the driver sees it. Each update
//! takes the next sequence from the environment as it is experienced (the inputs and targets are
//! kept as one sequence, the role the paper gives the cache), replays it forward from a start
//! state, then backward with the backward weights reset to -W, and takes one Adam step.

use crate::config::{InitState, R2n2RunConfig};
use crate::network::{R2n2, State};
use crate::replay::{forward, replay_gradient, Grads, Objective, ReplayOptions};
use crate::wired::{recall_error, WiredCache};
use biornn_core::arrays::{put_f64, put_u64, take_f64, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::optim::{adam_step, AdamConstants};
use biornn_numerics::{Result, Streams};

/// Mean recall errors of the forward and reverse recalls since the last evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RecallErrors {
    forward: f64,
    reverse: f64,
    count: f64,
}

impl RecallErrors {
    fn add(&mut self, forward: f64, reverse: f64) {
        self.forward += forward;
        self.reverse += reverse;
        self.count += 1.0;
    }
    fn take_means(&mut self) -> (f64, f64) {
        let n = self.count.max(1.0);
        let means = (self.forward / n, self.reverse / n);
        *self = RecallErrors::default();
        if self.count == 0.0 && n == 1.0 && means == (0.0, 0.0) {
            return means;
        }
        means
    }
    fn sums(&self) -> [f64; 3] {
        [self.forward, self.reverse, self.count]
    }
    fn from_sums(s: &[f64]) -> Self {
        RecallErrors {
            forward: s[0],
            reverse: s[1],
            count: s[2],
        }
    }
}
use biornn_tasks::sequences::{
    class_of, columns, evaluation, extend_evaluation, next_sequence, Goal, SequenceEnv,
    SuccessCount,
};

/// The trained matrices' names in `.npz` files: the reference's (`models.py`).
pub const WEIGHT_NAMES: [&str; 4] = ["w_I2A", "w_B2A", "w_A2B", "w_B2O"];

pub struct R2n2Learner {
    pub net: R2n2<f64>,
    pub env: Box<dyn SequenceEnv>,
    cfg: R2n2RunConfig,
    streams: Streams,
    /// Adam's moments per matrix (in [`WEIGHT_NAMES`] order) and its step count
    m: [Vec<f64>; 4],
    v: [Vec<f64>; 4],
    t: u64,
    /// training sequences since the last evaluation, and how many succeeded
    count: SuccessCount,
    /// the cache between experience and replay, when wired
    cache: Option<WiredCache>,
    recall: RecallErrors,
    inputs: Vec<f64>,
    targets: Vec<f64>,
    outputs: Vec<f64>,
    grads: Grads<f64>,
}

impl R2n2Learner {
    pub fn new(cfg: &R2n2RunConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let streams = Streams::new(seed);
        let net = R2n2::new(cfg.shape(), &streams)?;
        let zeros = |w: &Vec<f64>| vec![0.0; w.len()];
        let m = [
            zeros(&net.w_ia),
            zeros(&net.w_ba),
            zeros(&net.w_ab),
            zeros(&net.w_bo),
        ];
        Ok(R2n2Learner {
            grads: Grads::zeros_like(&net),
            v: m.clone(),
            m,
            env: cfg.task.build(&streams)?,
            net,
            cfg: cfg.clone(),
            streams,
            t: 0,
            count: SuccessCount::default(),
            cache: cfg.rule.cache.wired.then(|| WiredCache {
                cfg: cfg.rule.cache.clone(),
                n_in: cfg.shape().n_in,
            }),
            recall: RecallErrors::default(),
            inputs: vec![],
            targets: vec![],
            outputs: vec![],
        })
    }

    fn weights_mut(&mut self) -> [&mut Vec<f64>; 4] {
        let n = &mut self.net;
        [&mut n.w_ia, &mut n.w_ba, &mut n.w_ab, &mut n.w_bo]
    }

    fn weights(&self) -> [&Vec<f64>; 4] {
        let n = &self.net;
        [&n.w_ia, &n.w_ba, &n.w_ab, &n.w_bo]
    }

    /// The start state of a replay, from stream `purpose` at `index`.
    fn start_state(&self, purpose: &str, index: u64) -> State<f64> {
        let n = self.net.shape.n;
        match self.cfg.network.init_state {
            InitState::Constant => State {
                a: vec![0.2; n],
                b: vec![0.2; n],
            },
            InitState::ClippedGaussian => {
                let mut rng = self.streams.stream(purpose, index);
                let mut draw = || (rng.normal() * 3.0).clamp(-0.2, 0.2);
                State {
                    a: (0..n).map(|_| draw()).collect(),
                    b: (0..n).map(|_| draw()).collect(),
                }
            }
        }
    }

    /// Take the next sequence from the environment into `inputs` and `targets`.
    fn experience(&mut self) {
        next_sequence(&mut *self.env, &mut self.inputs, &mut self.targets);
    }

    /// The loss (per step when every step is scored) and success of one sequence replayed
    /// forward from `h0`.
    fn score(&mut self, h0: &mut State<f64>, inputs: &[f64], targets: &[f64]) -> (f64, bool) {
        let steps = inputs.len() / self.net.shape.n_in;
        let objective = self.objective(targets);
        let loss = forward(&self.net, h0, inputs, &objective, Some(&mut self.outputs));
        let per = if self.env.goal() == Goal::NextStep {
            steps as f64
        } else {
            1.0
        };
        let ok = self.outputs.len() == targets.len() && self.env.success(&self.outputs, targets);
        (loss / per, ok)
    }

    fn objective<'t>(&self, targets: &'t [f64]) -> Objective<'t, f64> {
        match self.env.goal() {
            Goal::NextStep => Objective::Mse(targets),
            Goal::ClassAtEnd => {
                Objective::ClassAtEnd(class_of(&targets[targets.len() - self.net.shape.n_out..]))
            }
        }
    }
}

impl Stateful for R2n2Learner {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let w = self.weights();
        for (k, name) in WEIGHT_NAMES.iter().enumerate() {
            put_f64(out, &format!("{prefix}{name}"), &[w[k].len()], w[k]);
            put_f64(
                out,
                &format!("{prefix}adam_m_{name}"),
                &[w[k].len()],
                &self.m[k],
            );
            put_f64(
                out,
                &format!("{prefix}adam_v_{name}"),
                &[w[k].len()],
                &self.v[k],
            );
        }
        put_u64(out, &format!("{prefix}adam_t"), self.t);
        self.count.save_state(prefix, out);
        if self.cache.is_some() {
            let sums = self.recall.sums();
            put_f64(out, &format!("{prefix}recall_sums"), &[3], &sums);
        }
        self.env.save_state(&format!("{prefix}env_"), out);
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        for k in 0..4 {
            let name = WEIGHT_NAMES[k];
            let len = self.m[k].len();
            *self.weights_mut()[k] = take_f64(arrays, &format!("{prefix}{name}"), &[len])?;
            self.m[k] = take_f64(arrays, &format!("{prefix}adam_m_{name}"), &[len])?;
            self.v[k] = take_f64(arrays, &format!("{prefix}adam_v_{name}"), &[len])?;
        }
        self.t = take_u64(arrays, &format!("{prefix}adam_t"))?;
        self.count.load_state(prefix, arrays)?;
        if self.cache.is_some() {
            let sums = take_f64(arrays, &format!("{prefix}recall_sums"), &[3])?;
            self.recall = RecallErrors::from_sums(&sums);
        }
        self.net.hard_reset_backward();
        self.env.load_state(&format!("{prefix}env_"), arrays)
    }
}

impl Learner for R2n2Learner {
    fn columns(&self) -> Vec<String> {
        let mut c = columns(&*self.env);
        if self.cache.is_some() {
            c.extend(["recall_error_forward".into(), "recall_error_reverse".into()]);
        }
        c
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        self.experience();
        let (inputs, targets) = (
            std::mem::take(&mut self.inputs),
            std::mem::take(&mut self.targets),
        );
        let mut h = self.start_state("r2n2_start", step);
        // what the two replays are fed: the experience itself, or the cache's recall of it
        let n_in = self.net.shape.n_in;
        let recalled = if let Some(cache) = &self.cache {
            let mut seq = inputs.clone();
            seq.extend_from_slice(&targets[targets.len() - n_in..]);
            let (f, r) = cache.recall(&seq, &self.streams, step)?;
            self.recall
                .add(recall_error(&seq, &f, n_in), recall_error(&seq, &r, n_in));
            let split = |rows: &[f64]| -> (Vec<f64>, Vec<f64>) {
                if rows.len() < 2 * n_in {
                    return (vec![], vec![]);
                }
                (rows[..rows.len() - n_in].to_vec(), rows[n_in..].to_vec())
            };
            Some((split(&f), split(&r)))
        } else {
            None
        };
        let ((fwd_in, fwd_target), (back_in, back_target)) = match &recalled {
            Some((f, r)) => ((&f.0[..], &f.1[..]), (&r.0[..], &r.1[..])),
            None => ((&inputs[..], &targets[..]), (&inputs[..], &targets[..])),
        };
        let (loss, _) = self.score(&mut h, fwd_in, fwd_target);
        // success: the predictions against the experienced sequence
        let ok = self.outputs.len() == targets.len() && self.env.success(&self.outputs, &targets);
        self.count.add(ok);
        self.env.outcome(ok, loss);
        if back_in.is_empty() {
            self.inputs = inputs;
            self.targets = targets;
            return Ok(loss);
        }
        // backward replay from where the forward replay ended
        self.net.hard_reset_backward();
        let options = ReplayOptions {
            feedback: self.cfg.rule.feedback,
            code_parity: self.cfg.rule.code_parity,
        };
        let objective = self.objective(back_target);
        replay_gradient(
            &self.net,
            &mut h,
            back_in,
            &objective,
            options,
            &mut self.grads,
        );
        // the reference divides by the sequence's length (its inputs and one more symbol) for
        // next-step prediction, and by 1 for classification (exp_mnist's apply_grads_Adam(1))
        let divisor = match self.env.goal() {
            Goal::NextStep => (back_in.len() / n_in + 1) as f64,
            Goal::ClassAtEnd => 1.0,
        };
        let r = &self.cfg.rule;
        let lr = r.learning_rate * phase.lr_factor * phase.lr_scale;
        let c = AdamConstants {
            beta1: r.adam_beta1,
            beta2: r.adam_beta2,
            eps: r.adam_eps,
        };
        self.t += 1;
        let grads = [
            &mut self.grads.w_ia,
            &mut self.grads.w_ba,
            &mut self.grads.w_ab,
            &mut self.grads.w_bo,
        ];
        let net = &mut self.net;
        let weights = [&mut net.w_ia, &mut net.w_ba, &mut net.w_ab, &mut net.w_bo];
        for (k, (w, g)) in weights.into_iter().zip(grads).enumerate() {
            for v in g.iter_mut() {
                *v /= divisor;
            }
            adam_step(w, g, &mut self.m[k], &mut self.v[k], self.t, lr, c);
        }
        self.inputs = inputs;
        self.targets = targets;
        Ok(loss)
    }

    fn evaluate(&mut self, _step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let set = self.env.eval_set();
        let (mut loss, mut ok) = (0.0, 0);
        for (k, (inputs, targets)) in set.iter().enumerate() {
            let mut h = self.start_state("r2n2_eval_start", k as u64);
            let (l, s) = self.score(&mut h, inputs, targets);
            loss += l / set.len() as f64;
            ok += s as usize;
        }
        let eval_success = ok as f64 / set.len() as f64;
        let mut e = evaluation(train_loss, self.count.take_rate(), loss, eval_success);
        let mut agent = ReplayAgent::new(&self.net);
        extend_evaluation(&*self.env, &mut e, Some(&mut agent));
        if self.cache.is_some() {
            let (f, r) = self.recall.take_means();
            e.cells.extend([format!("{f:.6}"), format!("{r:.6}")]);
            e.values.insert("recall_error_forward".into(), f);
            e.values.insert("recall_error_reverse".into(), r);
        }
        Ok(e)
    }

    fn all_finite(&self) -> bool {
        self.weights()
            .iter()
            .chain(self.m.iter().collect::<Vec<_>>().iter())
            .chain(self.v.iter().collect::<Vec<_>>().iter())
            .all(|w| w.iter().all(|v| v.is_finite()))
    }

    fn export(&self, _step: u64, out: &mut Arrays) {
        let (s, n) = (self.net.shape, &self.net);
        let shapes = [[s.n, s.n_in], [s.n, s.n], [s.n, s.n], [s.n_out, s.n]];
        for (k, w) in self.weights().iter().enumerate() {
            put_f64(out, WEIGHT_NAMES[k], &shapes[k], w);
        }
        put_f64(out, "wFA_A2B", &[s.n, s.n], &n.fa_ab);
        put_f64(out, "wFA_B2A", &[s.n, s.n], &n.fa_ba);
        put_f64(out, "wFA_B2O", &[s.n, s.n_out], &n.fa_bo);
        put_f64(out, "tau", &[], &[s.tau]);
    }
}

/// The trained network acting in a closed loop, from the constant start state 0.2 (the reference's
/// `validate`).
struct ReplayAgent<'a> {
    net: &'a R2n2<f64>,
    h: State<f64>,
    rates: Vec<f64>,
    drive: Vec<f64>,
}

impl<'a> ReplayAgent<'a> {
    fn new(net: &'a R2n2<f64>) -> Self {
        let n = net.shape.n;
        ReplayAgent {
            net,
            h: State::zeros(n),
            rates: vec![0.0; n],
            drive: vec![0.0; n],
        }
    }
}

impl biornn_tasks::sequences::Agent for ReplayAgent<'_> {
    fn reset(&mut self) {
        self.h.a.fill(0.2);
        self.h.b.fill(0.2);
    }
    fn step(&mut self, input: &[f64], output: &mut [f64]) {
        self.net
            .step(&mut self.h, input, &mut self.rates, &mut self.drive);
        self.net.output(&self.h, &mut self.rates, output);
    }
}
