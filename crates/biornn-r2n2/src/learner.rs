//! One R2N2 network learning a^n b^n, one sequence per update, as the driver sees it. Each update
//! takes the next sequence from the environment as it is experienced (the inputs and targets are
//! kept as one sequence, the role the paper gives the cache), replays it forward from a start
//! state, then backward with the backward weights reset to -W, and takes one Adam step.

use crate::config::{InitState, Precision, R2n2RunConfig};
use crate::network::{R2n2, State};
use crate::replay::{forward, replay_gradient, Grads, Objective, ReplayOptions};
use crate::wired::{recall_error, WiredCache};
use biornn_core::arrays::{put_f64, put_u64, take_f64, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::optim::{adam_step, AdamConstants};
use biornn_numerics::{Real, Result, Streams};

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

/// Generic over the scalar the network trains in (`[network] precision`): f64 as the reference,
/// or f32. Sequences, losses and checkpoints are f64 either way (f32 values convert exactly).
pub struct R2n2Learner<T: Real = f64> {
    pub net: R2n2<T>,
    pub env: Box<dyn SequenceEnv>,
    cfg: R2n2RunConfig,
    streams: Streams,
    /// Adam's moments per matrix (in [`WEIGHT_NAMES`] order) and its step count
    m: [Vec<T>; 4],
    v: [Vec<T>; 4],
    t: u64,
    /// training sequences since the last evaluation, and how many succeeded
    count: SuccessCount,
    /// the cache between experience and replay, when wired
    cache: Option<WiredCache>,
    recall: RecallErrors,
    /// the largest distance, since the last evaluation, between a sequence's start state and the
    /// backward replay's reconstruction of it (the inverse's rounding grows with the length:
    /// past it the gradient is taken at wrong states)
    replay_error: f64,
    inputs: Vec<f64>,
    targets: Vec<f64>,
    /// a replay's inputs, targets and outputs in the training scalar
    inputs_t: Vec<T>,
    targets_t: Vec<T>,
    outputs_t: Vec<T>,
    outputs: Vec<f64>,
    grads: Grads<T>,
}

/// The network a run's state holds (`arrays`: a checkpoint or `model.npz`), in f64 for analysis,
/// whatever scalar it trained in.
pub fn trained_network(cfg: &R2n2RunConfig, arrays: &Arrays) -> Result<R2n2<f64>> {
    Ok(match cfg.network.precision {
        Precision::F64 => {
            let mut l = R2n2Learner::<f64>::new(cfg, cfg.seed)?;
            l.load_state("", arrays)?;
            l.net
        }
        Precision::F32 => {
            let mut l = R2n2Learner::<f32>::new(cfg, cfg.seed)?;
            l.load_state("", arrays)?;
            l.net.convert()
        }
    })
}

/// `to` = `from` in another scalar type, reusing `to`'s buffer.
fn convert_into<A: Real, B: Real>(from: &[A], to: &mut Vec<B>) {
    to.clear();
    to.extend(from.iter().map(|v| B::from_f64(v.to_f64())));
}

impl<T: Real> R2n2Learner<T> {
    pub fn new(cfg: &R2n2RunConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let streams = Streams::new(seed);
        let net = R2n2::new(cfg.shape(), &streams)?;
        let zeros = |w: &Vec<T>| vec![T::ZERO; w.len()];
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
            cache: match cfg.rule.cache.wired {
                true => Some(WiredCache::new(&cfg.rule.cache, cfg.shape().n_in)?),
                false => None,
            },
            recall: RecallErrors::default(),
            replay_error: 0.0,
            inputs: vec![],
            targets: vec![],
            inputs_t: vec![],
            targets_t: vec![],
            outputs_t: vec![],
            outputs: vec![],
        })
    }

    fn weights_mut(&mut self) -> [&mut Vec<T>; 4] {
        let n = &mut self.net;
        [&mut n.w_ia, &mut n.w_ba, &mut n.w_ab, &mut n.w_bo]
    }

    fn weights(&self) -> [&Vec<T>; 4] {
        let n = &self.net;
        [&n.w_ia, &n.w_ba, &n.w_ab, &n.w_bo]
    }

    /// The start state of a replay, from stream `purpose` at `index`.
    fn start_state(&self, purpose: &str, index: u64) -> State<T> {
        let n = self.net.shape.n;
        match self.cfg.network.init_state {
            InitState::Constant => State {
                a: vec![T::from_f64(0.2); n],
                b: vec![T::from_f64(0.2); n],
            },
            InitState::ClippedGaussian => {
                let mut rng = self.streams.stream(purpose, index);
                let mut draw = || T::from_f64((rng.normal() * 3.0).clamp(-0.2, 0.2));
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
    fn score(&mut self, h0: &mut State<T>, inputs: &[f64], targets: &[f64]) -> (f64, bool) {
        let steps = inputs.len() / self.net.shape.n_in;
        convert_into(inputs, &mut self.inputs_t);
        convert_into(targets, &mut self.targets_t);
        let objective = objective(&*self.env, self.net.shape.n_out, &self.targets_t);
        let loss = forward(
            &self.net,
            h0,
            &self.inputs_t,
            &objective,
            Some(&mut self.outputs_t),
        );
        convert_into(&self.outputs_t, &mut self.outputs);
        let per = if self.env.goal() == Goal::NextStep {
            steps as f64
        } else {
            1.0
        };
        let ok = self.outputs.len() == targets.len() && self.env.success(&self.outputs, targets);
        (loss / per, ok)
    }
}

/// What a replay minimises, from the environment's goal.
fn objective<'t, T: Real>(
    env: &dyn SequenceEnv,
    n_out: usize,
    targets: &'t [T],
) -> Objective<'t, T> {
    match env.goal() {
        Goal::NextStep => Objective::Mse(targets),
        Goal::ClassAtEnd => {
            let last: Vec<f64> = targets[targets.len() - n_out..]
                .iter()
                .map(|v| v.to_f64())
                .collect();
            Objective::ClassAtEnd(class_of(&last))
        }
    }
}

impl<T: Real> Stateful for R2n2Learner<T> {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let w = self.weights();
        let f64s = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
        for (k, name) in WEIGHT_NAMES.iter().enumerate() {
            let len = [w[k].len()];
            put_f64(out, &format!("{prefix}{name}"), &len, &f64s(w[k]));
            put_f64(
                out,
                &format!("{prefix}adam_m_{name}"),
                &len,
                &f64s(&self.m[k]),
            );
            put_f64(
                out,
                &format!("{prefix}adam_v_{name}"),
                &len,
                &f64s(&self.v[k]),
            );
        }
        put_u64(out, &format!("{prefix}adam_t"), self.t);
        self.count.save_state(prefix, out);
        if self.cache.is_some() {
            let sums = self.recall.sums();
            put_f64(out, &format!("{prefix}recall_sums"), &[3], &sums);
        }
        put_f64(
            out,
            &format!("{prefix}replay_error"),
            &[],
            &[self.replay_error],
        );
        self.env.save_state(&format!("{prefix}env_"), out);
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let take = |key: String, len: usize| -> Result<Vec<T>> {
            Ok(take_f64(arrays, &key, &[len])?
                .into_iter()
                .map(T::from_f64)
                .collect())
        };
        for k in 0..4 {
            let name = WEIGHT_NAMES[k];
            let len = self.m[k].len();
            *self.weights_mut()[k] = take(format!("{prefix}{name}"), len)?;
            self.m[k] = take(format!("{prefix}adam_m_{name}"), len)?;
            self.v[k] = take(format!("{prefix}adam_v_{name}"), len)?;
        }
        self.t = take_u64(arrays, &format!("{prefix}adam_t"))?;
        self.count.load_state(prefix, arrays)?;
        if self.cache.is_some() {
            let sums = take_f64(arrays, &format!("{prefix}recall_sums"), &[3])?;
            self.recall = RecallErrors::from_sums(&sums);
        }
        // absent from checkpoints written before it was kept
        let key = format!("{prefix}replay_error");
        self.replay_error = match arrays.contains_key(&key) {
            true => take_f64(arrays, &key, &[])?[0],
            false => 0.0,
        };
        self.net.hard_reset_backward();
        self.env.load_state(&format!("{prefix}env_"), arrays)
    }
}

impl<T: Real> Learner for R2n2Learner<T> {
    fn columns(&self) -> Vec<String> {
        let mut c = columns(&*self.env);
        if self.cache.is_some() {
            c.extend(["recall_error_forward".into(), "recall_error_reverse".into()]);
        }
        c.push("replay_error".into());
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
        convert_into(back_in, &mut self.inputs_t);
        convert_into(back_target, &mut self.targets_t);
        let objective = objective(&*self.env, self.net.shape.n_out, &self.targets_t);
        replay_gradient(
            &self.net,
            &mut h,
            &self.inputs_t,
            &objective,
            options,
            &mut self.grads,
        );
        let start = self.start_state("r2n2_start", step);
        let error = (h.a.iter().zip(&start.a))
            .chain(h.b.iter().zip(&start.b))
            .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
            .fold(0.0, |m: f64, d| if d.is_nan() || d > m { d } else { m });
        // the largest since the last evaluation; a NaN (an inverse that overflowed) stays
        if error.is_nan() || error > self.replay_error {
            self.replay_error = error;
        }
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
            let divisor = T::from_f64(divisor);
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
        // closed-loop trials start as the training sequences do (the reference's exp7 `validate`
        // draws the clipped Gaussian too), each trial from its own index of a keyed stream
        let start = |trial: u64| self.start_state("r2n2_closed_loop_start", trial);
        let mut agent = ReplayAgent::new(&self.net, &start);
        extend_evaluation(&*self.env, &mut e, Some(&mut agent));
        if self.cache.is_some() {
            let (f, r) = self.recall.take_means();
            e.cells.extend([format!("{f:.6}"), format!("{r:.6}")]);
            e.values.insert("recall_error_forward".into(), f);
            e.values.insert("recall_error_reverse".into(), r);
        }
        let error = std::mem::take(&mut self.replay_error);
        e.cells.push(format!("{error:.3e}"));
        e.values.insert("replay_error".into(), error);
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
        let f64s = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
        for (k, w) in self.weights().iter().enumerate() {
            put_f64(out, WEIGHT_NAMES[k], &shapes[k], &f64s(w));
        }
        put_f64(out, "wFA_A2B", &[s.n, s.n], &f64s(&n.fa_ab));
        put_f64(out, "wFA_B2A", &[s.n, s.n], &f64s(&n.fa_ba));
        put_f64(out, "wFA_B2O", &[s.n, s.n_out], &f64s(&n.fa_bo));
        put_f64(out, "tau", &[], &[s.tau]);
    }
}

/// The trained network acting in a closed loop, each trial from the run's start state
/// (`network.init_state`: the constant 0.2, or the clipped Gaussian drawn for that trial).
struct ReplayAgent<'a, T> {
    net: &'a R2n2<T>,
    start: &'a dyn Fn(u64) -> State<T>,
    trials: u64,
    h: State<T>,
    rates: Vec<T>,
    drive: Vec<T>,
    input: Vec<T>,
    output: Vec<T>,
}

impl<'a, T: Real> ReplayAgent<'a, T> {
    fn new(net: &'a R2n2<T>, start: &'a dyn Fn(u64) -> State<T>) -> Self {
        let n = net.shape.n;
        ReplayAgent {
            net,
            start,
            trials: 0,
            h: State::zeros(n),
            rates: vec![T::ZERO; n],
            drive: vec![T::ZERO; n],
            input: vec![],
            output: vec![T::ZERO; net.shape.n_out],
        }
    }
}

impl<T: Real> biornn_tasks::sequences::Agent for ReplayAgent<'_, T> {
    fn reset(&mut self) {
        self.h = (self.start)(self.trials);
        self.trials += 1;
    }
    fn step(&mut self, input: &[f64], output: &mut [f64]) {
        convert_into(input, &mut self.input);
        self.net
            .step(&mut self.h, &self.input, &mut self.rates, &mut self.drive);
        self.net.output(&self.h, &mut self.rates, &mut self.output);
        for (o, v) in output.iter_mut().zip(&self.output) {
            *o = v.to_f64();
        }
    }
}
