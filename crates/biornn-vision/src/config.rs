//! The config of a CordsNet run: `[network] kind = "cordsnet"`, `[rule] kind = "bptt"`, `[task]`
//! (the images and the time protocol), `[train]`. Unknown keys are errors.

use crate::bptt::Protocol;
use crate::cordsnet::{Activation, CordsNetShape, DEPTHS};
use crate::data::{load_cifar, load_folder, load_idx, ImageSet};
use crate::stimuli::DotMovies;
use biornn_numerics::error::check;
use biornn_numerics::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordsNetNetworkConfig {
    pub kind: String,
    pub depth: usize,
    pub widths: [usize; 4],
    /// "rnn" (CordsNet) or "cnn" (its compatibility CNN: stage 1, the feed-forward comparison)
    pub form: String,
    pub activation: String,
    pub prelu_slope: f64,
    /// a checkpoint to start from ("" for a fresh network)
    pub from: String,
}

impl Default for CordsNetNetworkConfig {
    fn default() -> Self {
        CordsNetNetworkConfig {
            kind: "cordsnet".into(),
            depth: 2,
            widths: [32, 64, 128, 256],
            form: "rnn".into(),
            activation: "relu".into(),
            prelu_slope: 0.0,
            from: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordsNetRuleConfig {
    pub kind: String,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    pub batch_size: usize,
    /// BPTT's memory: 0 keeps every step's state; k keeps every k-th and recomputes the rest
    pub bptt_segment: usize,
    /// stage 4's schedule: the PReLU slope steps down through this many levels, 1 - (k + 1) /
    /// levels, then stays at 0, and the optimiser restarts at each level (0: a fixed slope)
    pub anneal_levels: u64,
    /// updates per level (0: one epoch of the training images, as the reference)
    pub anneal_level_updates: u64,
    /// train each conv's and the readout's `g` and `v` (`w = g v / |v|` per output channel, as
    /// the reference's `weight_norm`) instead of the plain weights
    pub weight_norm: bool,
}

impl Default for CordsNetRuleConfig {
    fn default() -> Self {
        CordsNetRuleConfig {
            kind: "bptt".into(),
            learning_rate: 1e-3,
            weight_decay: 0.01,
            clip_norm: 1.0,
            batch_size: 16,
            bptt_segment: 0,
            anneal_levels: 0,
            anneal_level_updates: 0,
            weight_norm: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordsNetTaskConfig {
    pub dataset: String,
    pub path: PathBuf,
    pub train_images: usize,
    pub test_images: usize,
    pub image_size: usize,
    pub alpha: f64,
    pub spontaneous_steps: usize,
    pub stimulus_steps: usize,
    pub loss_steps: usize,
    pub offset_steps: usize,
    pub penalty_steps: usize,
    pub penalty_weight: f64,
    /// dataset "dots": the coherences a movie draws from, the number of dots and their speed
    /// (pixels a step)
    pub coherences: Vec<f64>,
    pub dots: usize,
    pub dot_speed: f64,
}

impl Default for CordsNetTaskConfig {
    fn default() -> Self {
        let p = Protocol::default();
        CordsNetTaskConfig {
            dataset: "idx".into(),
            path: "/usr/share/datasets/fashion-mnist".into(),
            train_images: 10_000,
            test_images: 1000,
            image_size: 0,
            alpha: p.alpha,
            spontaneous_steps: p.spontaneous,
            stimulus_steps: p.stimulus,
            loss_steps: p.loss_steps,
            offset_steps: p.offset,
            penalty_steps: p.penalty_steps,
            penalty_weight: p.penalty_weight,
            coherences: vec![0.5, 0.8, 1.0],
            dots: 30,
            dot_speed: 1.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordsNetTrainConfig {
    pub max_steps: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
}

impl Default for CordsNetTrainConfig {
    fn default() -> Self {
        CordsNetTrainConfig {
            max_steps: 2000,
            eval_every: 250,
            checkpoint_every: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordsNetRunConfig {
    pub name: String,
    pub seed: u64,
    pub network: CordsNetNetworkConfig,
    pub rule: CordsNetRuleConfig,
    pub task: CordsNetTaskConfig,
    pub train: CordsNetTrainConfig,
}

impl Default for CordsNetRunConfig {
    fn default() -> Self {
        CordsNetRunConfig {
            name: "cordsnet".into(),
            seed: 1,
            network: Default::default(),
            rule: Default::default(),
            task: Default::default(),
            train: Default::default(),
        }
    }
}

/// The commented default: what `biornn config --kind cordsnet` prints.
pub const DEFAULT_CORDSNET_TOML: &str = include_str!("default_cordsnet.toml");

/// The training and test images of a task, normalised by the training subset's channel
/// statistics. With dataset "dots" the stimuli are movies (`motion`), and `train` and `test` hold
/// only their labels and frame shape.
#[derive(Debug, Clone)]
pub struct Images {
    pub train: ImageSet,
    pub test: ImageSet,
    pub stats: Vec<(f64, f64)>,
    pub motion: Option<Motion>,
}

/// Random-dot movies to classify by direction: a frame per stimulus step.
#[derive(Debug, Clone)]
pub struct Motion {
    pub train: DotMovies,
    pub test: DotMovies,
}

/// The field of dot movies when `task.image_size` is 0.
pub const DOTS_FIELD: usize = 28;

/// The most dot movies a set may hold (each costs its label and coherence up front, and an
/// epoch's order one index).
pub const MAX_MOVIES: usize = 10_000_000;

impl CordsNetRunConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: CordsNetRunConfig = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }

    pub fn activation(&self) -> Activation {
        match self.network.activation.as_str() {
            "linear" => Activation::Linear,
            "prelu" => Activation::PRelu(self.network.prelu_slope),
            _ => Activation::Relu,
        }
    }

    pub fn protocol(&self) -> Protocol {
        let t = &self.task;
        Protocol {
            alpha: t.alpha,
            spontaneous: t.spontaneous_steps,
            stimulus: t.stimulus_steps,
            loss_steps: t.loss_steps,
            offset: t.offset_steps,
            penalty_steps: t.penalty_steps,
            penalty_weight: t.penalty_weight,
            segment: self.rule.bptt_segment,
        }
    }

    /// Everything that can be checked without reading the images.
    pub fn validate(&self) -> Result<()> {
        biornn_numerics::error::check_seed(self.seed)?;
        let n = &self.network;
        check(
            n.kind == "cordsnet",
            "network.kind",
            &n.kind,
            "allowed: cordsnet",
        )?;
        check(
            DEPTHS.contains(&n.depth),
            "network.depth",
            n.depth,
            "allowed: 2, 4, 6 or 8",
        )?;
        check(
            n.widths.iter().all(|w| (1..=4096).contains(w)),
            "network.widths",
            format!("{:?}", n.widths),
            "allowed: four channel counts, 1 to 4096",
        )?;
        check(
            ["rnn", "cnn"].contains(&n.form.as_str()),
            "network.form",
            &n.form,
            "allowed: rnn (CordsNet), cnn (its compatibility CNN)",
        )?;
        check(
            n.form == "rnn" || n.from.is_empty(),
            "network.from",
            &n.from,
            "allowed with form = \"cnn\": empty (the CNN starts from random weights)",
        )?;
        check(
            ["relu", "linear", "prelu"].contains(&n.activation.as_str()),
            "network.activation",
            &n.activation,
            "allowed: relu, linear, prelu",
        )?;
        check(
            n.prelu_slope.is_finite() && (0.0..=1.0).contains(&n.prelu_slope),
            "network.prelu_slope",
            n.prelu_slope,
            "allowed: 0 to 1",
        )?;
        let r = &self.rule;
        check(
            ["bptt", "inverse"].contains(&r.kind.as_str()),
            "rule.kind",
            &r.kind,
            "allowed: bptt, inverse (stage 2: fit the recurrent convs to a trained compatibility CNN)",
        )?;
        check(
            r.kind == "bptt" || (n.form == "rnn" && !n.from.is_empty()),
            "network.from",
            &n.from,
            "rule.kind = \"inverse\" needs form = \"rnn\" and from = a compatibility CNN's model.npz",
        )?;
        check(
            r.anneal_levels == 0 || (n.activation == "prelu" && n.form == "rnn"),
            "rule.anneal_levels",
            r.anneal_levels,
            "allowed: 0, unless network.activation = \"prelu\" (the schedule sets its slope)",
        )?;
        check(
            r.anneal_levels <= 10_000,
            "rule.anneal_levels",
            r.anneal_levels,
            "allowed: 0 to 10000",
        )?;
        for (f, v) in [
            ("rule.learning_rate", r.learning_rate),
            ("rule.clip_norm", r.clip_norm),
        ] {
            check(v.is_finite() && v > 0.0, f, v, "allowed: a positive number")?;
        }
        check(
            r.weight_decay.is_finite() && r.weight_decay >= 0.0,
            "rule.weight_decay",
            r.weight_decay,
            "allowed: 0 or more",
        )?;
        check(
            (1..=4096).contains(&r.batch_size),
            "rule.batch_size",
            r.batch_size,
            "allowed: 1 to 4096",
        )?;
        let t = &self.task;
        check(
            ["idx", "cifar10", "cifar100", "folder", "dots"].contains(&t.dataset.as_str()),
            "task.dataset",
            &t.dataset,
            "allowed: idx, cifar10, cifar100, folder (train/ and test/ of class folders of PNG or JPEG images), dots (random-dot movies, classified by direction)",
        )?;
        if t.dataset == "dots" {
            check(
                n.form == "rnn" && r.kind == "bptt",
                "task.dataset",
                &t.dataset,
                "\"dots\" (movies) needs network.form = \"rnn\" and rule.kind = \"bptt\": a compatibility CNN sees one image",
            )?;
            check(
                !t.coherences.is_empty()
                    && t.coherences
                        .iter()
                        .all(|c| c.is_finite() && (0.0..=1.0).contains(c)),
                "task.coherences",
                format!("{:?}", t.coherences),
                "allowed: one or more shares of coherently moving dots, 0 to 1",
            )?;
            let side = if t.image_size == 0 {
                DOTS_FIELD
            } else {
                t.image_size
            };
            check(
                side >= 4,
                "task.image_size",
                t.image_size,
                "allowed with dataset = \"dots\": 0 (a field of 28 pixels a side) or 4 and more",
            )?;
            // at most one dot per two pixels: the frames' normalisation needs unlit pixels
            check(
                t.dots >= 1 && t.dots <= side * side / 2,
                "task.dots",
                t.dots,
                &format!(
                    "allowed: 1 to {} (half the field's pixels)",
                    side * side / 2
                ),
            )?;
            check(
                t.dot_speed.is_finite() && t.dot_speed > 0.0,
                "task.dot_speed",
                t.dot_speed,
                "allowed: a positive number of pixels a step",
            )?;
            check(
                (1..=MAX_MOVIES).contains(&t.train_images)
                    && (1..=MAX_MOVIES).contains(&t.test_images),
                "task.train_images/test_images",
                format!("{} and {}", t.train_images, t.test_images),
                &format!(
                    "allowed with dataset = \"dots\": 1 to {MAX_MOVIES} movies each (there is no \"all\")"
                ),
            )?;
        }
        check(
            t.image_size <= 4096,
            "task.image_size",
            t.image_size,
            "allowed: 0 (native) to 4096",
        )?;
        check(
            t.alpha > 0.0 && t.alpha <= 1.0,
            "task.alpha",
            t.alpha,
            "allowed: 0 < alpha <= 1",
        )?;
        check(
            t.stimulus_steps >= 1 && t.stimulus_steps <= 100_000,
            "task.stimulus_steps",
            t.stimulus_steps,
            "allowed: 1 to 100000",
        )?;
        check(
            t.loss_steps >= 1 && t.loss_steps <= t.stimulus_steps,
            "task.loss_steps",
            t.loss_steps,
            "allowed: 1 to task.stimulus_steps",
        )?;
        check(
            t.penalty_steps <= t.offset_steps,
            "task.penalty_steps",
            t.penalty_steps,
            "allowed: 0 to task.offset_steps",
        )?;
        for (f, v) in [
            ("task.spontaneous_steps", t.spontaneous_steps),
            ("task.offset_steps", t.offset_steps),
        ] {
            check(v <= 100_000, f, v, "allowed: 0 to 100000")?;
        }
        check(
            t.penalty_weight.is_finite() && t.penalty_weight >= 0.0,
            "task.penalty_weight",
            t.penalty_weight,
            "allowed: 0 or more",
        )?;
        let tr = &self.train;
        for (f, v) in [
            ("train.eval_every", tr.eval_every),
            ("train.checkpoint_every", tr.checkpoint_every),
        ] {
            check(v > 0, f, v, "allowed: a positive count")?;
        }
        Ok(())
    }

    /// The images, subset, resized and normalised as the task says.
    pub fn images(&self) -> Result<Images> {
        let t = &self.task;
        if t.dataset == "dots" {
            return Ok(self.dot_movies());
        }
        let (mut train, mut test) = match t.dataset.as_str() {
            "idx" => load_idx(&t.path),
            "folder" => load_folder(&t.path, t.image_size),
            "cifar10" => load_cifar(&t.path, 10),
            _ => load_cifar(&t.path, 100),
        }
        .map_err(|e| e.context("task.path"))?;
        if t.train_images > 0 {
            train.truncate(t.train_images);
        }
        if t.test_images > 0 {
            test.truncate(t.test_images);
        }
        if train.is_empty() || test.is_empty() {
            return Err(Error::new("task.path: an empty training or test set"));
        }
        if t.image_size > 0 {
            train = train.resized(t.image_size, t.image_size);
            test = test.resized(t.image_size, t.image_size);
        }
        let stats = train.channel_stats();
        train.normalise(&stats);
        test.normalise(&stats);
        Ok(Images {
            train,
            test,
            stats,
            motion: None,
        })
    }

    /// Dataset "dots": `train_images` and `test_images` movies of `stimulus_steps` frames on a
    /// field of `image_size` pixels a side (0: 28), one channel, from the streams
    /// `cordsnet_dots_train` and `cordsnet_dots_test`.
    fn dot_movies(&self) -> Images {
        let t = &self.task;
        let side = if t.image_size == 0 {
            DOTS_FIELD
        } else {
            t.image_size
        };
        let movies = |count: usize, purpose: &str| {
            DotMovies::new(
                (1, side, side),
                t.dots,
                t.dot_speed,
                &t.coherences,
                t.stimulus_steps,
                count,
                self.seed,
                purpose,
            )
        };
        let (train, test) = (
            movies(t.train_images, "cordsnet_dots_train"),
            movies(t.test_images, "cordsnet_dots_test"),
        );
        let labels_only = |m: &DotMovies| ImageSet {
            channels: 1,
            h: side,
            w: side,
            classes: 2,
            pixels: vec![],
            labels: m.labels().to_vec(),
        };
        Images {
            train: labels_only(&train),
            test: labels_only(&test),
            stats: train.stats(),
            motion: Some(Motion { train, test }),
        }
    }

    /// The network's shape for images of `channels` x `h` x `w` in `classes` classes.
    pub fn shape(&self, images: &ImageSet) -> CordsNetShape {
        CordsNetShape {
            depth: self.network.depth,
            in_channels: images.channels,
            image: (images.h, images.w),
            widths: self.network.widths,
            classes: images.classes,
        }
    }
}
