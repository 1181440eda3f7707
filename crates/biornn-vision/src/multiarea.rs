//! A multi-area network with a CordsNet front end (the paper's multi-area models; the reference
//! ships no code for them, so the task and the wiring are ours): a trained CordsNet, frozen (or
//! fine-tuned, `[front_end] fine_tune`: BPTT of the CTRNN's loss through it), sees
//! the trial's frames on its own Euler clock (2 ms steps), and its last two areas, rectified,
//! summed and global-average-pooled (the readout's features), feed biornn's CTRNN beside a
//! fixation input, on the same clock. The CTRNN (`[model]`, Dale's law and all) is trained by BPTT
//! on one of two tasks:
//! - `dmc`, delayed match-to-category with Fashion-MNIST images: fixation, a sample image, a blank
//!   delay, a test image; during the test the network answers "match" when both images are of the
//!   same category (classes 0 to 4 against 5 to 9), and holds fixation before;
//! - `dots`, a random-dot-motion decision: fixation, dots moving (a new frame each step) with a
//!   coherence drawn per trial, a blank delay, then the answer, left or right.

use crate::bptt::Frames;
use crate::checkpoint;
use crate::cordsnet::{Activation, CordsNet, StepScratch};
use crate::data::{load_idx, ImageSet};
use crate::pool::{grid_avg, grid_avg_backward};
use crate::stimuli::{coherence_column, share};
use biornn_core::arrays::{put_f32, put_u64, take_f32, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_model::{Ctrnn, Grads, ModelConfig, Trajectory};
use biornn_numerics::error::check;
use biornn_numerics::optim::{adam_step, adamw_step, clip_norm, AdamConstants};
use biornn_numerics::{Error, Result, Streams};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The Euler step of both networks, ms.
pub const DT: f64 = 2.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontEndConfig {
    /// the `model.npz` of a trained CordsNet run (`[network] kind = "cordsnet"`)
    pub model: PathBuf,
    pub alpha: f64,
    pub spontaneous_steps: usize,
    /// train the front end too, by BPTT of the CTRNN's loss through it (AdamW); false: frozen
    pub fine_tune: bool,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    /// the front end's BPTT memory: keep every k-th state and recompute the rest (0: all)
    pub bptt_segment: usize,
    /// the features: each channel of the summed last two areas averaged over a `feature_grid` x
    /// `feature_grid` grid of cells (1: over the whole map, the readout's global average; more
    /// keep where things are, which motion needs)
    pub feature_grid: usize,
}

impl Default for FrontEndConfig {
    fn default() -> Self {
        FrontEndConfig {
            model: PathBuf::from("runs/cordsnet_fashion/r2/seed-1/model.npz"),
            alpha: 0.2,
            spontaneous_steps: 100,
            fine_tune: false,
            learning_rate: 1e-4,
            weight_decay: 0.01,
            clip_norm: 1.0,
            bptt_segment: 20,
            feature_grid: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiAreaTaskConfig {
    pub kind: String,
    /// an IDX directory (the front end's data)
    pub path: PathBuf,
    pub train_images: usize,
    pub test_images: usize,
    /// epochs, ms
    pub fixation_ms: f64,
    pub sample_ms: f64,
    pub delay_ms: f64,
    pub test_ms: f64,
    /// the first part of the test epoch left unscored, ms (time to answer)
    pub grace_ms: f64,
    /// classes below this are one category, the rest the other
    pub boundary: usize,
    /// trials scored per evaluation
    pub eval_trials: usize,
    /// dots: the coherences a trial draws from, the number of dots, their speed (pixels a step)
    pub coherences: Vec<f64>,
    pub dots: usize,
    pub dot_speed: f64,
}

impl Default for MultiAreaTaskConfig {
    fn default() -> Self {
        MultiAreaTaskConfig {
            kind: "dmc".into(),
            path: "/usr/share/datasets/fashion-mnist".into(),
            train_images: 10_000,
            test_images: 1000,
            fixation_ms: 100.0,
            sample_ms: 200.0,
            delay_ms: 300.0,
            test_ms: 200.0,
            grace_ms: 60.0,
            boundary: 5,
            eval_trials: 256,
            coherences: vec![0.05, 0.1, 0.2, 0.4, 0.8],
            dots: 30,
            dot_speed: 1.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiAreaTrainConfig {
    pub max_steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub eval_every: usize,
    pub checkpoint_every: usize,
}

impl Default for MultiAreaTrainConfig {
    fn default() -> Self {
        MultiAreaTrainConfig {
            max_steps: 500,
            batch_size: 32,
            learning_rate: 1e-3,
            eval_every: 50,
            checkpoint_every: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiAreaNetworkConfig {
    pub kind: String,
}

impl Default for MultiAreaNetworkConfig {
    fn default() -> Self {
        MultiAreaNetworkConfig {
            kind: "multiarea".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiAreaRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: MultiAreaNetworkConfig,
    pub front_end: FrontEndConfig,
    /// the CTRNN behind the front end
    pub model: ModelConfig,
    pub task: MultiAreaTaskConfig,
    pub train: MultiAreaTrainConfig,
}

impl Default for MultiAreaRunConfig {
    fn default() -> Self {
        MultiAreaRunConfig {
            name: "multiarea".into(),
            seed: 1,
            network: Default::default(),
            front_end: Default::default(),
            model: ModelConfig {
                n_rec: 64,
                ..Default::default()
            },
            task: Default::default(),
            train: Default::default(),
        }
    }
}

/// The commented default: what `biornn config --kind multiarea` prints.
pub const DEFAULT_MULTIAREA_TOML: &str = include_str!("default_multiarea.toml");

impl MultiAreaRunConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: MultiAreaRunConfig =
            toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn validate(&self) -> Result<()> {
        biornn_numerics::error::check_seed(self.seed)?;
        check(
            self.network.kind == "multiarea",
            "network.kind",
            &self.network.kind,
            "allowed: multiarea",
        )?;
        let f = &self.front_end;
        check(
            f.alpha > 0.0 && f.alpha <= 1.0,
            "front_end.alpha",
            f.alpha,
            "allowed: 0 < alpha <= 1",
        )?;
        check(
            f.spontaneous_steps <= 100_000,
            "front_end.spontaneous_steps",
            f.spontaneous_steps,
            "allowed: 0 to 100000",
        )?;
        for (name, v) in [
            ("front_end.learning_rate", f.learning_rate),
            ("front_end.clip_norm", f.clip_norm),
        ] {
            check(
                v.is_finite() && v > 0.0,
                name,
                v,
                "allowed: a positive number",
            )?;
        }
        check(
            f.weight_decay.is_finite() && f.weight_decay >= 0.0,
            "front_end.weight_decay",
            f.weight_decay,
            "allowed: 0 or more",
        )?;
        check(
            f.bptt_segment <= 100_000,
            "front_end.bptt_segment",
            f.bptt_segment,
            "allowed: 0 (keep every state) to 100000",
        )?;
        check(
            (1..=64).contains(&f.feature_grid),
            "front_end.feature_grid",
            f.feature_grid,
            "allowed: 1 (the global average) to 64 cells a side, at most the last area's size",
        )?;
        self.model.validate(DT)?;
        let t = &self.task;
        check(
            t.kind == "dmc" || t.kind == "dots",
            "task.kind",
            &t.kind,
            "allowed: dmc (delayed match-to-category), dots (random-dot motion)",
        )?;
        for (name, ms) in [
            ("task.fixation_ms", t.fixation_ms),
            ("task.sample_ms", t.sample_ms),
            ("task.delay_ms", t.delay_ms),
            ("task.test_ms", t.test_ms),
        ] {
            check(
                ms.is_finite()
                    && (DT..=60_000.0).contains(&ms)
                    && ((ms / DT).round() * DT - ms).abs() < 1e-9,
                name,
                ms,
                "allowed: a whole number of 2 ms steps, up to 60 s",
            )?;
        }
        check(
            t.grace_ms >= 0.0 && t.grace_ms < t.test_ms,
            "task.grace_ms",
            t.grace_ms,
            "allowed: 0 to below task.test_ms",
        )?;
        check(
            (1..=99).contains(&t.boundary),
            "task.boundary",
            t.boundary,
            "allowed: 1 to 99 (a class index)",
        )?;
        check(
            t.eval_trials > 0,
            "task.eval_trials",
            t.eval_trials,
            "allowed: a positive count",
        )?;
        check(
            !t.coherences.is_empty() && t.coherences.iter().all(|c| (0.0..=1.0).contains(c)),
            "task.coherences",
            format!("{:?}", t.coherences),
            "allowed: one or more coherences, 0 to 1",
        )?;
        check(
            (1..=10_000).contains(&t.dots),
            "task.dots",
            t.dots,
            "allowed: 1 to 10000",
        )?;
        check(
            t.dot_speed.is_finite() && t.dot_speed >= 0.0,
            "task.dot_speed",
            t.dot_speed,
            "allowed: 0 or more pixels a step",
        )?;
        let tr = &self.train;
        check(
            (1..=4096).contains(&tr.batch_size),
            "train.batch_size",
            tr.batch_size,
            "allowed: 1 to 4096",
        )?;
        check(
            tr.learning_rate.is_finite() && tr.learning_rate > 0.0,
            "train.learning_rate",
            tr.learning_rate,
            "allowed: a positive number",
        )?;
        for (f, v) in [
            ("train.eval_every", tr.eval_every),
            ("train.checkpoint_every", tr.checkpoint_every),
        ] {
            check(v > 0, f, v, "allowed: a positive count")?;
        }
        Ok(())
    }

    /// Steps of each epoch: fixation, sample, delay, test.
    pub fn epochs(&self) -> [usize; 4] {
        let t = &self.task;
        [t.fixation_ms, t.sample_ms, t.delay_ms, t.test_ms].map(|ms| (ms / DT).round() as usize)
    }
}

/// The front end: a trained CordsNet (frozen, or fine-tuned through the CTRNN's loss) and its
/// spontaneous state.
pub struct FrontEnd {
    pub net: CordsNet,
    pub theta: Vec<f32>,
    spont: Vec<Vec<f32>>,
    spontaneous_steps: usize,
    alpha: f64,
    /// cells a side of the grid its features are pooled onto (1: the global average)
    grid: usize,
    /// the normalisation its training images had
    pub stats: Vec<(f64, f64)>,
}

impl FrontEnd {
    pub fn load(cfg: &FrontEndConfig) -> Result<Self> {
        let arrays = biornn_numerics::tensors::read_arrays(&cfg.model)
            .map_err(|e| e.context("front_end.model"))?;
        let get = |k: &str| -> Result<Vec<f64>> {
            arrays
                .get(k)
                .ok_or_else(|| {
                    Error::new(format!(
                        "front_end.model: no `{k}` (the model.npz of a CordsNet run?)"
                    ))
                })?
                .to_real::<f64>()
        };
        // the front end runs ReLU: a model exported before its ReLU stage would run as another
        if let Some(a) = arrays.get("prelu.weight") {
            let slope = a.to_real::<f64>()?.first().copied().unwrap_or(f64::NAN);
            if slope != 0.0 {
                return Err(Error::new(format!(
                    "front_end.model: a network whose units have slope {slope} below 0 (`prelu.weight`: \
                     a run stopped before its ReLU stage); the front end runs ReLU units: use the \
                     model.npz of a run trained to its ReLU stage"
                )));
            }
        }
        let shape = get("input_shape")?;
        let image = checkpoint::image_of(&shape, "front_end.model")?;
        let (mean, std) = (get("input_mean")?, get("input_std")?);
        let tensors = checkpoint::network_tensors(&arrays);
        let net = CordsNet::new(&checkpoint::shape_of(&tensors, image)?)?;
        let channels = net.shape.in_channels;
        if mean.len() != channels || std.len() != channels || shape[0] != channels as f64 {
            return Err(Error::new(format!(
                "front_end.model: input_shape {shape:?}, input_mean and input_std of {} and {} \
                 values for a network of {channels} input channels (allowed: one of each per \
                 channel)",
                mean.len(),
                std.len(),
            )));
        }
        let theta: Vec<f32> =
            checkpoint::load(&net, &tensors).map_err(|e| e.context("front_end.model"))?;
        let top = net.areas[net.depth() - 1];
        check(
            (1..=top.h.min(top.w)).contains(&cfg.feature_grid),
            "front_end.feature_grid",
            cfg.feature_grid,
            &format!(
                "allowed: 1 to {}, the front end's last areas being {} x {}",
                top.h.min(top.w),
                top.h,
                top.w
            ),
        )?;
        let spont = net.spontaneous(&theta, cfg.spontaneous_steps, cfg.alpha, Activation::Relu);
        Ok(FrontEnd {
            net,
            theta,
            spont,
            spontaneous_steps: cfg.spontaneous_steps,
            alpha: cfg.alpha,
            grid: cfg.feature_grid,
            stats: mean.into_iter().zip(std).collect(),
        })
    }

    /// The spontaneous state again, after the weights have changed.
    pub fn refresh_spontaneous(&mut self) {
        self.spont = self.net.spontaneous(
            &self.theta,
            self.spontaneous_steps,
            self.alpha,
            Activation::Relu,
        );
    }

    /// How many features the CTRNN sees: channels times grid cells.
    pub fn feature_count(&self) -> usize {
        self.net.areas[self.net.depth() - 1].c * self.grid * self.grid
    }

    /// The features of the state `r` of `n` images, `[trial][c][grid][grid]`, appended to `out`.
    fn pool_into(&self, r: &[Vec<f32>], n: usize, out: &mut Vec<f32>) {
        let (feat, sum) = self.net.features(r, n);
        if self.grid == 1 {
            return out.extend_from_slice(&feat);
        }
        let top = self.net.areas[self.net.depth() - 1];
        let at = out.len();
        out.resize(at + n * self.feature_count(), 0.0);
        grid_avg(&sum, n * top.c, (top.h, top.w), self.grid, &mut out[at..]);
    }

    /// The features the CTRNN sees, `[step][trial][feature]` ([`Self::feature_count`] features: a
    /// channel's cells in rows, then the next channel's): the front end, from its spontaneous
    /// state, shown per step one of `images` (batches of `n`, each one's stem computed once) or
    /// none.
    pub fn features(&self, images: &[Vec<f32>], shown: &[Option<usize>], n: usize) -> Vec<f32> {
        let net = &self.net;
        let zeros = vec![0.0f32; n * net.stem_out.units()];
        let stems: Vec<(Vec<f32>, Vec<f32>)> =
            images.iter().map(|x| net.stem(&self.theta, x, n)).collect();
        let mut r = net.broadcast(&self.spont, n);
        let mut z = net.zero_state(n);
        let mut scratch = StepScratch::default();
        let mut out = Vec::with_capacity(shown.len() * n * self.feature_count());
        for which in shown {
            let stem = match which {
                Some(i) => (&stems[*i].0[..], &stems[*i].1[..]),
                None => (&zeros[..], &zeros[..]),
            };
            net.step(
                &self.theta,
                &mut r,
                stem,
                n,
                self.alpha,
                Activation::Relu,
                &mut z,
                &mut scratch,
            );
            self.pool_into(&r, n, &mut out);
        }
        out
    }

    /// The gradient of a loss on the features with respect to the front end's parameters, added
    /// into `grad`: `dfeat` is `[step][trial][feature]`, as [`Self::features`] returns them.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        images: &[Vec<f32>],
        shown: &[Option<usize>],
        n: usize,
        dfeat: &[f32],
        segment: usize,
        grad: &mut [f32],
    ) {
        let net = &self.net;
        let (count, top) = (self.feature_count(), net.areas[net.depth() - 1]);
        let frames = Frames {
            images: images.iter().map(|x| &x[..]).collect(),
            shown: shown.to_vec(),
        };
        let start = net.broadcast(&self.spont, n);
        // the summed map's gradient, one step's at a time (the grid's backward pass adds into it)
        let mut dsum = vec![0.0; if self.grid == 1 { 0 } else { n * top.units() }];
        let mut sink = |t: usize, r: &[Vec<f32>], g: &mut [Vec<f32>], _: &mut [f32]| {
            let dfeat = &dfeat[t * n * count..(t + 1) * n * count];
            if self.grid == 1 {
                net.features_backward(r, dfeat, n, g);
            } else {
                dsum.fill(0.0);
                grid_avg_backward(dfeat, n * top.c, (top.h, top.w), self.grid, &mut dsum);
                net.summed_map_backward(r, &dsum, g);
            }
        };
        net.backprop_through_time(
            &self.theta,
            &frames,
            &start,
            n,
            self.alpha,
            Activation::Relu,
            segment,
            &mut sink,
            grad,
        );
    }
}

/// One batch of trials: the CTRNN's inputs `[n_in, T*B]` and targets and weights `[n_out, T*B]`
/// (column `t*B + b`), and for each trial whether the first choice output is the right answer
/// (dmc: a match; dots: rightward motion).
pub struct DmcBatch {
    pub steps: usize,
    pub batch: usize,
    /// what the front end saw: batches of images, and per step which one (or none)
    pub images: Vec<Vec<f32>>,
    pub shown: Vec<Option<usize>>,
    pub input: Vec<f32>,
    pub target: Vec<f32>,
    pub weight: Vec<f32>,
    pub matches: Vec<bool>,
    /// each trial's sample, by side: of the second category (class `>= boundary`), or dots moving
    /// right
    pub second_side: Vec<bool>,
    /// dots: each trial's coherence (empty for the other task)
    pub coherence: Vec<f64>,
}

const N_OUT: usize = 3;

pub struct MultiAreaLearner {
    pub cfg: MultiAreaRunConfig,
    pub front: FrontEnd,
    pub train_images: ImageSet,
    pub test_images: ImageSet,
    pub net: Ctrnn<f32>,
    m: Grads<f32>,
    v: Grads<f32>,
    t: u64,
    traj: Trajectory<f32>,
    last_train_accuracy: f64,
    /// with `front_end.fine_tune`: the front end's AdamW moments, step count and gradient
    front_opt: Option<FrontOptimiser>,
}

struct FrontOptimiser {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
    grad: Vec<f32>,
}

impl MultiAreaLearner {
    pub fn new(cfg: &MultiAreaRunConfig) -> Result<Self> {
        cfg.validate()?;
        let front = FrontEnd::load(&cfg.front_end)?;
        let (mut train, mut test) = load_idx(&cfg.task.path).map_err(|e| e.context("task.path"))?;
        train.truncate(cfg.task.train_images.max(1));
        test.truncate(cfg.task.test_images.max(1));
        let (c, h, w) = (
            front.net.shape.in_channels,
            front.net.shape.image.0,
            front.net.shape.image.1,
        );
        if (train.channels, train.h, train.w) != (c, h, w) {
            train = train.resized(h, w);
            test = test.resized(h, w);
        }
        if train.channels != c {
            return Err(Error::new(format!(
                "task.path: images of {} channels for a front end of {c}",
                train.channels
            )));
        }
        check(
            cfg.task.boundary < train.classes,
            "task.boundary",
            cfg.task.boundary,
            "allowed: below the number of classes",
        )?;
        // a trial draws its test image from either category: both must be there
        if cfg.task.kind == "dmc" {
            for (name, set) in [("training", &train), ("test", &test)] {
                let below = set
                    .labels
                    .iter()
                    .filter(|l| **l < cfg.task.boundary)
                    .count();
                check(
                    below > 0 && below < set.len(),
                    "task.boundary",
                    cfg.task.boundary,
                    &format!("allowed: a class index that leaves images on both sides in the {name} images"),
                )?;
            }
        }
        train.normalise(&front.stats);
        test.normalise(&front.stats);
        let n_in = 1 + front.feature_count();
        let net = Ctrnn::<f32>::new(&cfg.model, n_in, N_OUT, DT, &Streams::new(cfg.seed))?;
        let (ni, n) = (n_in, cfg.model.n_rec);
        Ok(MultiAreaLearner {
            cfg: cfg.clone(),
            train_images: train,
            test_images: test,
            net,
            m: Grads::zeros(ni, n, N_OUT),
            v: Grads::zeros(ni, n, N_OUT),
            t: 0,
            traj: Trajectory::default(),
            last_train_accuracy: f64::NAN,
            front_opt: cfg.front_end.fine_tune.then(|| {
                let k = front.theta.len();
                FrontOptimiser {
                    m: vec![0.0; k],
                    v: vec![0.0; k],
                    t: 0,
                    grad: vec![0.0; k],
                }
            }),
            front,
        })
    }

    /// The trials of batch `index` from `set` (the training images, or the test images for an
    /// evaluation), drawn from stream `purpose`: each a sample image, a match with probability
    /// one half, and a test image of the same category (match) or of the other.
    pub fn batch(&self, set: &ImageSet, purpose: &str, index: u64, n: usize) -> DmcBatch {
        if self.cfg.task.kind == "dots" {
            return self.dots_batch(purpose, index, n);
        }
        let mut rng = Streams::new(self.cfg.seed).stream(purpose, index);
        let boundary = self.cfg.task.boundary;
        let category = |i: usize| (set.labels[i] >= boundary) as u8;
        let (mut first, mut second, mut matches, mut sides) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let a = rng.below(set.len());
            let matching = rng.bernoulli(0.5);
            // the test image: drawn until its category is the wanted one
            let b = loop {
                let b = rng.below(set.len());
                if (category(b) == category(a)) == matching {
                    break b;
                }
            };
            first.extend_from_slice(set.image(a));
            second.extend_from_slice(set.image(b));
            matches.push(matching);
            sides.push(category(a) == 1);
        }
        let [fix, sample, delay, test] = self.cfg.epochs();
        let steps = fix + sample + delay + test;
        let shown: Vec<Option<usize>> = (0..steps)
            .map(|t| {
                if t >= fix && t < fix + sample {
                    Some(0)
                } else if t >= fix + sample + delay {
                    Some(1)
                } else {
                    None
                }
            })
            .collect();
        self.assemble(vec![first, second], shown, (matches, sides), n)
    }

    /// Random-dot-motion trials: each a direction (right with probability one half) and a
    /// coherence drawn from the task's list; the dots move through the sample epoch, a new frame
    /// each step, normalised as the front end's images.
    fn dots_batch(&self, purpose: &str, index: u64, n: usize) -> DmcBatch {
        let mut rng = Streams::new(self.cfg.seed).stream(purpose, index);
        let t = &self.cfg.task;
        let shape = &self.front.net.shape;
        let (c, h, w) = (shape.in_channels, shape.image.0, shape.image.1);
        let (mut right, mut coherences) = (vec![], vec![]);
        let mut fields: Vec<crate::stimuli::Dots> = (0..n)
            .map(|_| {
                let r = rng.bernoulli(0.5);
                right.push(r);
                let coherence = rng.choice(&t.coherences);
                coherences.push(coherence);
                let dir = if r { 1.0 } else { -1.0 };
                crate::stimuli::Dots::new(h, w, t.dots, coherence, dir, t.dot_speed, &mut rng)
            })
            .collect();
        let [fix, sample, _, _] = self.cfg.epochs();
        let steps: usize = self.cfg.epochs().iter().sum();
        let stats = &self.front.stats;
        let shown: Vec<Option<usize>> = (0..steps)
            .map(|t| (fix..fix + sample).contains(&t).then(|| t - fix))
            .collect();
        let frame = |_| {
            let mut x = Vec::with_capacity(n * c * h * w);
            for f in fields.iter_mut() {
                f.advance(&mut rng);
                let img = f.render(c);
                for (ch, (mean, std)) in stats.iter().enumerate() {
                    x.extend(
                        img[ch * h * w..(ch + 1) * h * w]
                            .iter()
                            .map(|v| ((*v as f64 - mean) / std) as f32),
                    );
                }
            }
            x
        };
        // a new frame each step of the sample epoch, drawn in order
        let images: Vec<Vec<f32>> = (0..sample).map(frame).collect();
        let mut b = self.assemble(images, shown, (right.clone(), right), n);
        b.coherence = coherences;
        b
    }

    /// The CTRNN's inputs, targets and weights from what the front end sees (its features,
    /// `[step][trial][feature]`, are the CTRNN's inputs beside fixation): fixation on until the answer is due, then the first (`matches`) or the second choice
    /// output, scored after the grace period.
    fn assemble(
        &self,
        images: Vec<Vec<f32>>,
        shown: Vec<Option<usize>>,
        (matches, second_side): (Vec<bool>, Vec<bool>),
        n: usize,
    ) -> DmcBatch {
        let feats = self.front.features(&images, &shown, n);
        let [fix, sample, delay, test] = self.cfg.epochs();
        let steps = fix + sample + delay + test;
        let c = self.front.feature_count();
        let n_in = 1 + c;
        let respond = fix + sample + delay;
        let grace = (self.cfg.task.grace_ms / DT).round() as usize;
        let (mut input, mut target, mut weight) = (
            vec![0.0; n_in * steps * n],
            vec![0.0; N_OUT * steps * n],
            vec![0.0; N_OUT * steps * n],
        );
        for t in 0..steps {
            for b in 0..n {
                let col = t * n + b;
                input[col * n_in] = if t < respond { 1.0 } else { 0.0 };
                input[col * n_in + 1..(col + 1) * n_in]
                    .copy_from_slice(&feats[(t * n + b) * c..(t * n + b + 1) * c]);
                let o = &mut target[col * N_OUT..(col + 1) * N_OUT];
                let w = &mut weight[col * N_OUT..(col + 1) * N_OUT];
                if t < respond {
                    o.copy_from_slice(&[0.85, 0.05, 0.05]);
                    w.fill(1.0);
                } else {
                    o.copy_from_slice(&[
                        0.05,
                        if matches[b] { 0.85 } else { 0.05 },
                        if matches[b] { 0.05 } else { 0.85 },
                    ]);
                    w.fill(if t < respond + grace { 0.0 } else { 5.0 });
                }
            }
        }
        DmcBatch {
            steps,
            batch: n,
            images,
            shown,
            input,
            target,
            weight,
            matches,
            second_side,
            coherence: vec![],
        }
    }

    /// The CTRNN on a batch: its mean weighted squared error, the share of trials answered right at
    /// the last step (the larger choice output on the right side), and with `grad` its gradient
    /// (and, with a fine-tuned front end, the front end's, in [`Self::front_grad`]).
    pub fn run(&mut self, b: &DmcBatch, grad: Option<&mut Grads<f32>>) -> (f64, f64) {
        self.net
            .forward(&b.input, b.steps, b.batch, false, &mut self.traj);
        let y = &self.traj.output;
        let wsum: f64 = b.weight.iter().map(|w| *w as f64).sum::<f64>().max(1.0);
        let mut loss = 0.0;
        let mut d = vec![0.0f32; y.len()];
        for i in 0..y.len() {
            let e = (y[i] - b.target[i]) as f64;
            loss += b.weight[i] as f64 * e * e / wsum;
            d[i] = (2.0 * b.weight[i] as f64 * e / wsum) as f32;
        }
        let correct = self.answered_right(b).iter().filter(|r| **r).count();
        if let Some(grad) = grad {
            self.net.readout_backward(&self.traj, &mut d);
            self.net.backward(&mut self.traj, &d, None, grad);
            if let Some(opt) = &mut self.front_opt {
                // the CTRNN's input gradient, less the fixation channel, is the features'
                let du = self.net.input_gradient(&self.traj);
                let ni = self.net.n_in;
                let dfeat: Vec<f32> = du.chunks(ni).flat_map(|col| col[1..].to_vec()).collect();
                opt.grad.fill(0.0);
                self.front.backward(
                    &b.images,
                    &b.shown,
                    b.batch,
                    &dfeat,
                    self.cfg.front_end.bptt_segment,
                    &mut opt.grad,
                );
            }
        }
        (loss, correct as f64 / b.batch as f64)
    }

    /// Which trials of `b` the last [`Self::run`] answered right: the larger choice output at the
    /// last step on the right side.
    fn answered_right(&self, b: &DmcBatch) -> Vec<bool> {
        let last = (b.steps - 1) * b.batch;
        (0..b.batch)
            .map(|i| {
                let o = &self.traj.output[(last + i) * N_OUT..(last + i + 1) * N_OUT];
                (o[1] > o[2]) == b.matches[i]
            })
            .collect()
    }

    /// The CTRNN on `total` test trials drawn from stream `purpose` in batches of the training's
    /// size (the protocol's evaluation is this on `multiarea_eval`).
    pub fn test_score(&mut self, purpose: &str, total: usize) -> TestScore {
        let chunk = self.cfg.train.batch_size;
        let (mut loss, mut acc, mut k) = (0.0, 0.0, 0);
        let mut by_answer = [(0, 0); 2];
        let levels = self.coherence_levels();
        let mut by_coherence = vec![(0, 0); levels.len()];
        let test = std::mem::take(&mut self.test_images);
        for (i, start) in (0..total).step_by(chunk).enumerate() {
            let n = chunk.min(total - start);
            let b = self.batch(&test, purpose, i as u64, n);
            let (l, a) = self.run(&b, None);
            loss += l * n as f64;
            acc += a * n as f64;
            k += n;
            for (i, (right, first)) in self
                .answered_right(&b)
                .into_iter()
                .zip(&b.matches)
                .enumerate()
            {
                let side = &mut by_answer[usize::from(!*first)];
                side.0 += usize::from(right);
                side.1 += 1;
                // the trial's coherence is one of the task's list, drawn from it
                if let Some(level) = b
                    .coherence
                    .get(i)
                    .and_then(|c| levels.iter().position(|l| l == c))
                {
                    by_coherence[level].0 += usize::from(right);
                    by_coherence[level].1 += 1;
                }
            }
        }
        self.test_images = test;
        TestScore {
            loss: loss / k as f64,
            accuracy: acc / k as f64,
            trials: k,
            by_answer,
            by_coherence,
        }
    }

    /// The coherences the dots task scores apart (its list, each once, in order); none for the
    /// other task.
    pub fn coherence_levels(&self) -> Vec<f64> {
        match self.cfg.task.kind.as_str() {
            "dots" => crate::stimuli::distinct(&self.cfg.task.coherences),
            _ => vec![],
        }
    }

    /// What the CTRNN holds through the delay, for its fixed points and free runs: its input there
    /// once the front end has settled (fixation on; the front end's features one step into a
    /// blank from its spontaneous state, where it relaxes back to once the sample is gone) and its
    /// states at the end of the sample on `n` test trials (noise off), those of first-side
    /// samples first.
    pub fn delay_view(&mut self, n: usize) -> DelayView {
        let b = self.batch(&self.test_images, "analysis_trials", 0, n);
        self.net
            .forward(&b.input, b.steps, b.batch, false, &mut self.traj);
        let [fix, sample, _, _] = self.cfg.epochs();
        // state block t holds the state after t steps (block 0 is the initial state)
        let end = fix + sample;
        let units = self.net.n_rec;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| b.second_side[*i]);
        let starts = order
            .iter()
            .flat_map(|i| {
                let col = end * n + i;
                self.traj.state[col * units..(col + 1) * units]
                    .iter()
                    .map(|v| *v as f64)
            })
            .collect();
        let mut input = vec![1.0];
        input.extend(
            self.front
                .features(&[], &[None], 1)
                .iter()
                .map(|v| *v as f64),
        );
        let second = b.second_side.iter().filter(|s| **s).count();
        let t = &self.cfg.task;
        let label = if t.kind == "dots" {
            format!(
                "fixating after the dots: {} moved left, then {second} right",
                n - second
            )
        } else {
            format!(
                "fixating through the delay: {} samples of classes below {}, then {second} of the others",
                n - second,
                t.boundary
            )
        };
        DelayView {
            input,
            starts,
            label,
        }
    }
}

/// The CTRNN on test trials ([`MultiAreaLearner::test_score`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TestScore {
    /// the mean weighted squared error
    pub loss: f64,
    /// the share of trials answered right
    pub accuracy: f64,
    pub trials: usize,
    /// (answered right, trials) by the right answer: the first choice (a match, or dots moving
    /// right), then the second
    pub by_answer: [(usize, usize); 2],
    /// dots: (answered right, trials) at each of [`MultiAreaLearner::coherence_levels`]
    pub by_coherence: Vec<(usize, usize)>,
}

/// The CTRNN's delay as [`MultiAreaLearner::delay_view`] gives it.
pub struct DelayView {
    /// `[1 + features]`: fixation and the front end's features in a blank
    pub input: Vec<f64>,
    /// `[trial][n_rec]`, flattened
    pub starts: Vec<f64>,
    pub label: String,
}

const COLUMNS: [&str; 3] = ["train_accuracy", "test_accuracy", "test_loss"];

impl Stateful for MultiAreaLearner {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let names = biornn_model::ctrnn::PARAM_NAMES;
        for ((name, p), (m, v)) in names
            .iter()
            .zip(self.net.params.tensors())
            .zip(self.m.tensors().iter().zip(self.v.tensors()))
        {
            put_f32(out, &format!("{prefix}{name}"), &[p.len()], p);
            put_f32(out, &format!("{prefix}adam_m_{name}"), &[m.len()], m);
            put_f32(out, &format!("{prefix}adam_v_{name}"), &[v.len()], v);
        }
        put_u64(out, &format!("{prefix}adam_t"), self.t);
        if let Some(opt) = &self.front_opt {
            let k = self.front.theta.len();
            put_f32(
                out,
                &format!("{prefix}front_theta"),
                &[k],
                &self.front.theta,
            );
            put_f32(out, &format!("{prefix}front_adam_m"), &[k], &opt.m);
            put_f32(out, &format!("{prefix}front_adam_v"), &[k], &opt.v);
            put_u64(out, &format!("{prefix}front_adam_t"), opt.t);
        }
        put_f32(
            out,
            &format!("{prefix}last_train_accuracy"),
            &[1],
            &[self.last_train_accuracy as f32],
        );
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let names = biornn_model::ctrnn::PARAM_NAMES;
        for (k, name) in names.iter().enumerate() {
            let len = self.net.params.tensors()[k].len();
            *self.net.params.tensors_mut()[k] =
                take_f32(arrays, &format!("{prefix}{name}"), &[len])?;
            *self.m.tensors_mut()[k] = take_f32(arrays, &format!("{prefix}adam_m_{name}"), &[len])?;
            *self.v.tensors_mut()[k] = take_f32(arrays, &format!("{prefix}adam_v_{name}"), &[len])?;
        }
        self.net.project();
        self.t = take_u64(arrays, &format!("{prefix}adam_t"))?;
        if let Some(opt) = &mut self.front_opt {
            let k = self.front.theta.len();
            self.front.theta = take_f32(arrays, &format!("{prefix}front_theta"), &[k])?;
            opt.m = take_f32(arrays, &format!("{prefix}front_adam_m"), &[k])?;
            opt.v = take_f32(arrays, &format!("{prefix}front_adam_v"), &[k])?;
            opt.t = take_u64(arrays, &format!("{prefix}front_adam_t"))?;
            self.front.refresh_spontaneous();
        }
        self.last_train_accuracy =
            take_f32(arrays, &format!("{prefix}last_train_accuracy"), &[1])?[0] as f64;
        Ok(())
    }
}

impl MultiAreaLearner {
    /// The front end's gradient from the last [`Self::run`] with a gradient (fine-tuned only).
    pub fn front_grad(&self) -> Option<&[f32]> {
        self.front_opt.as_ref().map(|o| &o.grad[..])
    }
}

impl Learner for MultiAreaLearner {
    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        c.extend(self.late_columns());
        c
    }

    /// The dots task's accuracy at each coherence, added after runs of it had been written.
    fn late_columns(&self) -> Vec<String> {
        self.coherence_levels()
            .into_iter()
            .map(coherence_column)
            .collect()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let b = self.batch(
            &self.train_images,
            "multiarea_trials",
            step,
            self.cfg.train.batch_size,
        );
        let (n_in, n) = (self.net.n_in, self.net.n_rec);
        let mut grad = Grads::zeros(n_in, n, N_OUT);
        let (loss, acc) = self.run(&b, Some(&mut grad));
        self.last_train_accuracy = acc;
        if !loss.is_finite() {
            return Ok(loss);
        }
        self.t += 1;
        let lr = self.cfg.train.learning_rate * phase.lr_factor * phase.lr_scale;
        let c = AdamConstants {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        for (((p, g), m), v) in self
            .net
            .params
            .tensors_mut()
            .into_iter()
            .zip(grad.tensors())
            .zip(self.m.tensors_mut())
            .zip(self.v.tensors_mut())
        {
            adam_step(p, g, m, v, self.t, lr, c);
        }
        self.net.project();
        if let Some(opt) = &mut self.front_opt {
            let f = &self.cfg.front_end;
            clip_norm(&mut opt.grad, f.clip_norm);
            opt.t += 1;
            let lr = f.learning_rate * phase.lr_factor * phase.lr_scale;
            adamw_step(
                &mut self.front.theta,
                &opt.grad,
                &mut opt.m,
                &mut opt.v,
                opt.t,
                lr,
                f.weight_decay,
                c,
            );
            self.front.refresh_spontaneous();
        }
        Ok(loss)
    }

    fn evaluate(&mut self, _step: u64, _train_loss: Option<f64>) -> Result<Evaluation> {
        let score = self.test_score("multiarea_eval", self.cfg.task.eval_trials);
        let (loss, acc) = (score.loss, score.accuracy);
        let mut values = vec![self.last_train_accuracy, acc, loss];
        // dots: the share right at each coherence (a psychometric curve), NaN where none was drawn
        values.extend(
            score
                .by_coherence
                .iter()
                .map(|(right, n)| share(*right, *n)),
        );
        Ok(Evaluation {
            cells: values.iter().map(|v| format!("{v:.6}")).collect(),
            values: self.columns().into_iter().zip(values).collect(),
            headline: format!("test accuracy {acc:.3}  test loss {loss:.4}"),
        })
    }

    fn all_finite(&self) -> bool {
        self.net.params.all_finite() && self.front.theta.iter().all(|v| v.is_finite())
    }

    /// The CTRNN's weights in PsychRNN's names, `(post, pre)`.
    fn export(&self, _step: u64, out: &mut Arrays) {
        let e = self.net.effective();
        let (ni, n) = (self.net.n_in, self.net.n_rec);
        put_f32(out, "W_in", &[n, ni], &e.w_in);
        put_f32(out, "W_rec", &[n, n], &e.w_rec);
        put_f32(out, "W_out", &[N_OUT, n], &e.w_out);
        put_f32(out, "b_rec", &[n], &e.b_rec);
        put_f32(out, "b_out", &[N_OUT], &e.b_out);
        // a fine-tuned front end, in the reference's names under `front_end.`
        if self.front_opt.is_some() {
            for (k, v) in checkpoint::save(&self.front.net, &self.front.theta) {
                out.insert(format!("front_end.{k}"), v);
            }
        }
    }
}
