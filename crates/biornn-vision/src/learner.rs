//! A CordsNet run as the driver sees it: one update is one batch of training images through the
//! whole protocol (spontaneous, stimulus, offset) and one AdamW step on the BPTT gradient;
//! evaluations score a fixed subset of the test images at the last stimulus step.

use crate::bptt::{Frames, Protocol};
use crate::checkpoint;
use crate::cnn::CompatCnn;
use crate::config::{CordsNetRunConfig, Images};
use crate::cordsnet::{Activation, CordsNet, CordsNetShape};
use crate::noise::Noise;
use crate::staged::{anneal_slope, fold, inverse_loss_and_grad, Folded, INVERSE_PENALTY};
use crate::stimuli::{coherence_column, share};
use crate::weight_norm::{inside, WeightNorm};
use biornn_core::arrays::{put_f32, put_f64, put_u64, take_f32, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::npz::NpyArray;
use biornn_numerics::optim::{adamw_step, clip_norm, AdamConstants};
use biornn_numerics::{Result, Streams};
use std::collections::BTreeMap;
use std::sync::Arc;

const ADAMW: AdamConstants = AdamConstants {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
};

pub struct CordsNetLearner {
    pub cfg: CordsNetRunConfig,
    /// the network's structure (its areas' shapes, whichever form trains)
    pub net: CordsNet,
    /// with `form = "cnn"`: the compatibility CNN, whose layout `theta` follows, and its batch
    /// norms' running statistics
    pub cnn: Option<(CompatCnn, Vec<f32>)>,
    pub theta: Vec<f32>,
    pub images: Arc<Images>,
    m: Vec<f32>,
    v: Vec<f32>,
    /// AdamW steps taken
    t: u64,
    grad: Vec<f32>,
    /// the last batch's share of correct answers at the last stimulus step
    last_train_accuracy: f64,
    /// the training order of the epoch in hand
    order: Option<(u64, Vec<usize>)>,
    /// with `rule.kind = "inverse"` (stage 2): the folded CNN and what the fit has measured
    inverse: Option<Inverse>,
    /// updates taken (AdamW's step count, which stage 4 restarts, cannot tell)
    updates: u64,
    /// with `rule.weight_norm`: what AdamW steps (`m` and `v` are its moments) and its gradient;
    /// `theta` is folded from it after every step
    weight_norm: Option<WeightNormed>,
}

struct WeightNormed {
    norm: WeightNorm,
    params: Vec<f32>,
    grad: Vec<f32>,
}

/// Stage 2's state: the folded CNN whose pre-activations the recurrent convs are fitted to.
struct Inverse {
    folded: Folded,
    /// the parameters the fit trains (W_l and b_l); the rest stay as folded
    trainable: Vec<std::ops::Range<usize>>,
    /// test accuracy of the CNN and of its folded form (equal up to rounding)
    cnn_accuracy: f64,
    folded_accuracy: f64,
}

impl CordsNetLearner {
    /// A fresh network (or the checkpoint `[network] from` names) on the config's images.
    pub fn new(cfg: &CordsNetRunConfig) -> Result<Self> {
        cfg.validate()?;
        let images = Arc::new(cfg.images()?);
        Self::with_images(cfg, images)
    }

    /// The same on images already loaded (a sweep or a test shares them).
    pub fn with_images(cfg: &CordsNetRunConfig, images: Arc<Images>) -> Result<Self> {
        let net = CordsNet::new(&cfg.shape(&images.train))?;
        let mut cnn = None;
        let mut inverse = None;
        let mut from_file = None;
        let mut theta: Vec<f32> = if cfg.rule.kind == "inverse" {
            let (stage, readout) = Inverse::new(cfg, &net, &images)?;
            from_file = Some(readout);
            let theta = stage.folded.theta.iter().map(|v| *v as f32).collect();
            inverse = Some(stage);
            theta
        } else if cfg.network.form == "cnn" {
            let model = CompatCnn::new(&net.shape)?;
            let (theta, buffers) = model.init(&Streams::new(cfg.seed));
            cnn = Some((model, buffers));
            theta
        } else if cfg.network.from.is_empty() {
            net.init(&Streams::new(cfg.seed))
        } else {
            let path = std::path::Path::new(&cfg.network.from);
            let arrays = if path.extension().is_some_and(|e| e == "pth") {
                biornn_numerics::pth::read_pth(path)
            } else {
                biornn_numerics::tensors::read_arrays(path)
            }
            .map_err(|e| e.context("network.from"))?;
            let tensors = checkpoint::network_tensors(&arrays);
            let classes = checkpoint::shape_of(&tensors, net.shape.image).map(|s| s.classes);
            match classes {
                Ok(c) if c != net.shape.classes => {
                    // a model of another task (another number of classes): everything but its
                    // readout, which starts as a fresh network's; weight norm then splits the
                    // loaded weights itself rather than reading the file's split
                    eprintln!(
                        "note: network.from {} reads {c} classes, this task {}: its readout starts \
                         fresh, every other weight from the file",
                        cfg.network.from, net.shape.classes
                    );
                    let other = CordsNet::new(&CordsNetShape {
                        classes: c,
                        ..net.shape.clone()
                    })?;
                    let loaded: Vec<f32> = checkpoint::load(&other, &tensors)
                        .map_err(|e| e.context("network.from"))?;
                    let mut theta = net.init(&Streams::new(cfg.seed));
                    for t in net
                        .layout
                        .tensors
                        .iter()
                        .filter(|t| !t.name.starts_with("out_fc."))
                    {
                        let from = other
                            .layout
                            .get(&t.name)
                            .expect("the same layout but the readout");
                        theta[t.range.clone()].copy_from_slice(&loaded[from.range.clone()]);
                    }
                    theta
                }
                _ => {
                    let theta =
                        checkpoint::load(&net, &tensors).map_err(|e| e.context("network.from"))?;
                    from_file = Some(tensors);
                    theta
                }
            }
        };
        let n = theta.len();
        let mut weight_norm = None;
        if cfg.rule.weight_norm {
            let layout = cnn.as_ref().map_or(&net.layout, |(m, _)| &m.layout);
            let norm = WeightNorm::new(layout);
            let mut params = norm.params_of(&theta);
            if let Some(stage) = &inverse {
                // as the reference's stage 2 starts: the folded convs with unit v, the recurrent
                // convs fresh (v = w), the readout with the CNN's own g and v (`from_file`; v = w
                // where the CNN's file has a plain readout); the weights themselves stay as folded
                let readout = layout.get("out_fc.weight").map(|t| t.range.clone());
                norm.unit_v(&mut params, |r| {
                    !inside(r, &stage.trainable) && Some(r) != readout.as_ref()
                });
            }
            if let Some(arrays) = &from_file {
                checkpoint::load_weight_norm(layout, &norm, arrays, &mut params)
                    .map_err(|e| e.context("network.from"))?;
                if inverse.is_none() {
                    norm.fold_into(&params, &mut theta, |_| true);
                }
            }
            let grad = vec![0.0; params.len()];
            weight_norm = Some(WeightNormed { norm, params, grad });
        }
        // AdamW's moments follow what it steps
        let stepped = weight_norm.as_ref().map_or(n, |w| w.params.len());
        Ok(CordsNetLearner {
            cfg: cfg.clone(),
            net,
            cnn,
            theta,
            images,
            m: vec![0.0; stepped],
            v: vec![0.0; stepped],
            t: 0,
            grad: vec![0.0; n],
            last_train_accuracy: f64::NAN,
            order: None,
            inverse,
            updates: 0,
            weight_norm,
        })
    }

    /// The layout `theta` follows: the compatibility CNN's with `form = "cnn"`, else CordsNet's.
    fn layout(&self) -> &crate::cordsnet::Layout {
        self.cnn
            .as_ref()
            .map_or(&self.net.layout, |(m, _)| &m.layout)
    }

    fn protocol(&self) -> Protocol {
        self.cfg.protocol()
    }

    /// The nonlinearity after `updates` updates: the config's, or stage 4's scheduled slope.
    fn activation_after(&self, updates: u64) -> Activation {
        match self.anneal_level(updates.saturating_sub(1)) {
            Some(level) => Activation::PRelu(anneal_slope(level, self.cfg.rule.anneal_levels)),
            None => self.cfg.activation(),
        }
    }

    /// Stage 4's annealing level at update `step` (`None` without a schedule).
    fn anneal_level(&self, step: u64) -> Option<u64> {
        let r = &self.cfg.rule;
        (r.anneal_levels > 0).then(|| match r.anneal_level_updates {
            0 => step * r.batch_size as u64 / self.images.train.len() as u64,
            k => step / k,
        })
    }

    /// The training images of update `step`: epochs of `batch_size` images in an order drawn per
    /// epoch (stream `cordsnet_order`), so a batch depends on the step alone.
    fn batch_indices(&mut self, step: u64) -> Vec<usize> {
        let n = self.images.train.len() as u64;
        let b = self.cfg.rule.batch_size as u64;
        (step * b..(step + 1) * b)
            .map(|k| {
                let epoch = k / n;
                if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    let mut rng = Streams::new(self.cfg.seed).stream("cordsnet_order", epoch);
                    let mut perm: Vec<usize> = (0..n as usize).collect();
                    for i in (1..perm.len()).rev() {
                        perm.swap(i, rng.below(i + 1));
                    }
                    self.order = Some((epoch, perm));
                }
                self.order.as_ref().unwrap().1[(k % n) as usize]
            })
            .collect()
    }

    /// Accuracy and mean cross-entropy at the last stimulus step over the test subset.
    pub fn test_scores(&self) -> (f64, f64) {
        let s = self.scores_under(None);
        (s.accuracy, s.loss)
    }

    /// The slope the network runs with now (stage 4's schedule after the updates taken, or the
    /// config's).
    pub fn activation(&self) -> Activation {
        self.activation_after(self.updates)
    }

    /// The same under noise (stream `cordsnet_noise`, its index `seed`: the same draws for every
    /// network scored with it).
    pub fn noisy_test_scores(&self, noise: Noise, seed: u64) -> (f64, f64) {
        let s = self.scores_under(Some((noise, seed)));
        (s.accuracy, s.loss)
    }

    fn scores_under(&self, noise: Option<(Noise, u64)>) -> Scores {
        let test = &self.images.test;
        let classes = test.classes;
        let chunk = 4 * self.cfg.rule.batch_size;
        let (mut correct, mut loss) = (0usize, 0.0);
        let levels = self
            .images
            .motion
            .as_ref()
            .map_or(vec![], |m| m.test.levels());
        let mut by_coherence = vec![(0, 0); levels.len()];
        let p = self.protocol();
        let act = self.activation();
        // the RNN's spontaneous state (a CNN has none)
        let spont = match self.cnn {
            Some(_) => vec![],
            None => self
                .net
                .spontaneous(&self.theta, p.spontaneous, p.alpha, act),
        };
        // no noise draws nothing (the stream is never read); with noise, a stream per chunk, so
        // that the draws do not depend on the chunks' order
        let (quiet, noise) = (noise.is_none(), noise.unwrap_or_default());
        for start in (0..test.len()).step_by(chunk) {
            let idx: Vec<usize> = (start..(start + chunk).min(test.len())).collect();
            let mut rng = Streams::new(noise.1).stream("cordsnet_noise", start as u64);
            let n = idx.len();
            let (logits, labels) = match (&self.images.motion, &self.cnn) {
                // movies: a frame per stimulus step, the image noise drawn per frame
                (Some(motion), _) => {
                    let (frames, labels) = motion.test.batch(&idx);
                    let logits = self.net.run_frames_noisy(
                        &self.theta,
                        &frames,
                        n,
                        &spont,
                        p.alpha,
                        act,
                        noise.0,
                        &mut rng,
                    );
                    (logits, labels)
                }
                // one image, no dynamics: the image noise is drawn once
                (None, Some((model, buffers))) => {
                    let (mut x, labels) = test.batch(&idx);
                    if !quiet {
                        for v in &mut x {
                            *v += (noise.0.input_std * rng.normal()) as f32;
                        }
                    }
                    let mut b = buffers.clone();
                    let logits = model.forward(&self.theta, &mut b, &x, n, false).logits;
                    (vec![logits], labels)
                }
                (None, None) => {
                    let (x, labels) = test.batch(&idx);
                    let logits = self.net.run_noisy(
                        &self.theta,
                        &x,
                        n,
                        &spont,
                        p.stimulus,
                        p.alpha,
                        act,
                        noise.0,
                        &mut rng,
                    );
                    (logits, labels)
                }
            };
            let last = logits.last().expect("at least one stimulus step");
            for (k, label) in labels.iter().enumerate() {
                let (c, l) = score_row(&last[k * classes..(k + 1) * classes], *label);
                (correct, loss) = (correct + c as usize, loss + l);
                if let Some(motion) = &self.images.motion {
                    // each movie's coherence is one of the list's, drawn from it
                    let drawn = motion.test.coherences_drawn()[idx[k]];
                    let level = levels.iter().position(|l| *l == drawn);
                    let entry = &mut by_coherence[level.expect("a coherence of the list")];
                    (entry.0, entry.1) = (entry.0 + c as usize, entry.1 + 1);
                }
            }
        }
        let n = test.len().max(1) as f64;
        Scores {
            accuracy: correct as f64 / n,
            loss: loss / n,
            by_coherence: levels
                .into_iter()
                .zip(by_coherence)
                .map(|(c, (right, n))| (c, right, n))
                .collect(),
        }
    }
}

/// The test set's scores: the share right, the mean cross-entropy, and for movies (the coherence,
/// answered right, movies) at each coherence.
struct Scores {
    accuracy: f64,
    loss: f64,
    by_coherence: Vec<(f64, usize, usize)>,
}

/// Whether a row of logits has its largest value at the label, and its cross-entropy.
fn score_row(row: &[f32], label: usize) -> (bool, f64) {
    let best = (0..row.len())
        .max_by(|a, b| row[*a].total_cmp(&row[*b]))
        .unwrap_or(0);
    let m = row.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b)) as f64;
    let z: f64 = row.iter().map(|v| (*v as f64 - m).exp()).sum();
    (best == label, z.ln() + m - row[label] as f64)
}

const COLUMNS: [&str; 3] = ["train_accuracy", "test_accuracy", "test_loss"];
/// Stage 2's columns beside them (its training accuracy column stays empty: it trains no readout).
const INVERSE_COLUMNS: [&str; 4] = [
    "fit_error",
    "fit_penalty",
    "cnn_accuracy",
    "folded_cnn_accuracy",
];

impl Stateful for CordsNetLearner {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let n = self.theta.len();
        put_f32(out, &format!("{prefix}theta"), &[n], &self.theta);
        if let Some(w) = &self.weight_norm {
            let k = w.params.len();
            put_f32(out, &format!("{prefix}weight_norm_params"), &[k], &w.params);
        }
        let k = self.m.len();
        put_f32(out, &format!("{prefix}adam_m"), &[k], &self.m);
        put_f32(out, &format!("{prefix}adam_v"), &[k], &self.v);
        put_u64(out, &format!("{prefix}adam_t"), self.t);
        put_u64(out, &format!("{prefix}updates"), self.updates);
        if let Some((_, buffers)) = &self.cnn {
            put_f32(
                out,
                &format!("{prefix}norm_buffers"),
                &[buffers.len()],
                buffers,
            );
        }
        // stage 2 trains no readout and has no training accuracy: NaN is not written, so that a
        // resumed state equals the uninterrupted one
        if !self.last_train_accuracy.is_nan() {
            put_f64(
                out,
                &format!("{prefix}last_train_accuracy"),
                &[],
                &[self.last_train_accuracy],
            );
        }
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let n = self.theta.len();
        self.theta = take_f32(arrays, &format!("{prefix}theta"), &[n])?;
        if let Some(w) = &mut self.weight_norm {
            let k = w.params.len();
            w.params = take_f32(arrays, &format!("{prefix}weight_norm_params"), &[k])?;
        }
        let k = self.m.len();
        self.m = take_f32(arrays, &format!("{prefix}adam_m"), &[k])?;
        self.v = take_f32(arrays, &format!("{prefix}adam_v"), &[k])?;
        self.t = take_u64(arrays, &format!("{prefix}adam_t"))?;
        let key = format!("{prefix}updates");
        // checkpoints written before stage 4 existed do not count updates
        self.updates = match arrays.contains_key(&key) {
            true => take_u64(arrays, &key)?,
            false => 0,
        };
        if let Some((_, buffers)) = &mut self.cnn {
            let k = buffers.len();
            *buffers = take_f32(arrays, &format!("{prefix}norm_buffers"), &[k])?;
        }
        let key = format!("{prefix}last_train_accuracy");
        self.last_train_accuracy = match arrays.contains_key(&key) {
            true => biornn_core::arrays::take_scalar(arrays, &key)?,
            false => f64::NAN,
        };
        Ok(())
    }
}

impl Learner for CordsNetLearner {
    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        if self.inverse.is_some() {
            c.extend(INVERSE_COLUMNS.map(String::from));
        }
        if self.cfg.rule.anneal_levels > 0 {
            c.push("prelu_slope".into());
        }
        if let Some(m) = &self.images.motion {
            c.extend(m.test.levels().into_iter().map(coherence_column));
        }
        c
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let idx = self.batch_indices(step);
        // the batch frame by frame: a movie's frames, or a still image as one frame (the only
        // kind the CNN and stage 2, below, take: config checks refuse them movies)
        let (frames, labels) = match &self.images.motion {
            Some(motion) => motion.train.batch(&idx),
            None => {
                let (x, labels) = self.images.train.batch(&idx);
                (vec![x], labels)
            }
        };
        let x = &frames[0];
        self.grad.fill(0.0);
        self.updates = step + 1;
        // stage 4 restarts its optimiser at each level, as the reference re-creates it each epoch
        if let (Some(now), Some(before)) = (
            self.anneal_level(step),
            step.checked_sub(1).and_then(|s| self.anneal_level(s)),
        ) {
            if now != before {
                self.m.fill(0.0);
                self.v.fill(0.0);
                self.t = 0;
            }
        }
        if let Some(stage) = &mut self.inverse {
            let n = labels.len();
            let x64: Vec<f64> = x.iter().map(|v| *v as f64).collect();
            let pass = stage.folded.forward(&self.net, &x64, n);
            let to32 = |v: &Vec<Vec<f64>>| -> Vec<Vec<f32>> {
                v.iter()
                    .map(|a| a.iter().map(|x| *x as f32).collect())
                    .collect()
            };
            let (u, t) = (to32(&pass.drive), to32(&pass.target));
            let (fit, penalty) =
                inverse_loss_and_grad(&self.net, &self.theta, &u, &t, n, &mut self.grad);
            let loss = fit + INVERSE_PENALTY * penalty;
            if loss.is_finite() {
                self.step_optimiser(phase);
            }
            return Ok(loss);
        }
        if let Some((model, buffers)) = &mut self.cnn {
            let pass = model.forward(&self.theta, buffers, x, labels.len(), true);
            let (loss, correct) = model.backward(&self.theta, x, &labels, &pass, &mut self.grad);
            self.last_train_accuracy = correct as f64 / labels.len() as f64;
            if loss.is_finite() {
                self.step_optimiser(phase);
            }
            return Ok(loss);
        }
        let p = self.protocol();
        let act = self.activation_after(step + 1);
        let spont = self
            .net
            .spontaneous(&self.theta, p.spontaneous, p.alpha, act);
        // a still image is shown at every stimulus step; a movie, a frame per step
        let moving = self.images.motion.is_some();
        let frames = Frames {
            images: frames.iter().map(|x| &x[..]).collect(),
            shown: (0..p.stimulus + p.offset)
                .map(|t| (t < p.stimulus).then_some(if moving { t } else { 0 }))
                .collect(),
        };
        let parts = self.net.loss_and_grad_frames(
            &self.theta,
            &frames,
            &labels,
            &spont,
            &p,
            act,
            &mut self.grad,
        );
        let n = labels.len();
        self.last_train_accuracy = parts.correct as f64 / n as f64;
        if !parts.total.is_finite() {
            return Ok(parts.total);
        }
        self.step_optimiser(phase);
        Ok(parts.total)
    }

    fn evaluate(&mut self, step: u64, _train_loss: Option<f64>) -> Result<Evaluation> {
        self.updates = step;
        let scores = self.scores_under(None);
        let (accuracy, loss) = (scores.accuracy, scores.loss);
        let by_coherence: Vec<(String, f64)> = scores
            .by_coherence
            .iter()
            .map(|(c, right, n)| (coherence_column(*c), share(*right, *n)))
            .collect();
        let mut values: Vec<(&str, f64)> = vec![
            ("train_accuracy", self.last_train_accuracy),
            ("test_accuracy", accuracy),
            ("test_loss", loss),
        ];
        // movies: the share right at each coherence (a psychometric curve)
        values.extend(by_coherence.iter().map(|(c, v)| (c.as_str(), *v)));
        let mut headline = format!("test accuracy {accuracy:.3}  test loss {loss:.3}");
        if let Some(stage) = &self.inverse {
            values.truncate(0);
            values.extend([("test_accuracy", accuracy), ("test_loss", loss)]);
            let (fit, penalty) = stage.test_fit(&self.net, &self.theta, &self.images);
            values.extend([
                ("fit_error", fit),
                ("fit_penalty", penalty),
                ("cnn_accuracy", stage.cnn_accuracy),
                ("folded_cnn_accuracy", stage.folded_accuracy),
            ]);
            headline = format!("fit {fit:.4}  penalty {penalty:.2e}  {headline}");
        }
        if let Activation::PRelu(a) = self.activation() {
            if self.cfg.rule.anneal_levels > 0 {
                values.push(("prelu_slope", a));
                headline.push_str(&format!("  slope {a:.2}"));
            }
        }
        let columns = self.columns();
        let cells = columns
            .iter()
            .map(|c| {
                values
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or(String::new(), |(_, v)| format!("{v:.6}"))
            })
            .collect();
        Ok(Evaluation {
            cells,
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            headline,
        })
    }

    fn all_finite(&self) -> bool {
        self.theta.iter().all(|v| v.is_finite())
    }

    /// The reference's state-dict names (`checkpoint::save`), and the normalisation the images
    /// had, so that a user can feed new ones the same way.
    fn export(&self, step: u64, out: &mut Arrays) {
        match &self.cnn {
            Some((model, buffers)) => {
                out.extend(checkpoint::save_layout(&model.layout, &self.theta));
                out.extend(checkpoint::save_layout(&model.buffers, buffers));
            }
            None => out.extend(checkpoint::save(&self.net, &self.theta)),
        }
        if let Some(w) = &self.weight_norm {
            out.extend(checkpoint::save_weight_normed(
                self.layout(),
                &w.norm,
                &w.params,
            ));
        }
        // the slope the network runs with (the reference keeps `prelu.weight`; its linear stage
        // is the slope 1), so that a reader can tell the model from a ReLU one
        match self.activation_after(step) {
            Activation::PRelu(a) => put_f64(out, "prelu.weight", &[1], &[a]),
            Activation::Linear => put_f64(out, "prelu.weight", &[1], &[1.0]),
            Activation::Relu => {}
        }
        let (mean, std): (Vec<f64>, Vec<f64>) = self.images.stats.iter().copied().unzip();
        put_f64(out, "input_mean", &[mean.len()], &mean);
        put_f64(out, "input_std", &[std.len()], &std);
        let s = &self.net.shape;
        let shape = [s.in_channels, s.image.0, s.image.1].map(|v| v as f64);
        put_f64(out, "input_shape", &[3], &shape);
    }
}

impl CordsNetLearner {
    /// Clip the gradient and take one AdamW step, on the plain parameters or, with weight norm,
    /// on `g` and `v` (the gradient clipped as theirs, as PyTorch clips its parameters').
    fn step_optimiser(&mut self, phase: &Phase) {
        self.t += 1;
        let lr = self.cfg.rule.learning_rate * phase.lr_factor * phase.lr_scale;
        // frozen parameters take no step and no decay (PyTorch leaves out what has no gradient)
        let trainable = self.inverse.as_ref().map(|stage| &stage.trainable[..]);
        let (params, grad, ranges) = match &mut self.weight_norm {
            Some(w) => {
                w.norm.chain(&w.params, &self.grad, &mut w.grad);
                let ranges = match trainable {
                    Some(t) => w.norm.trainable(t),
                    None => std::iter::once(0..w.params.len()).collect(),
                };
                (&mut w.params, &mut w.grad, ranges)
            }
            None => {
                let ranges = trainable.map_or_else(
                    || std::iter::once(0..self.theta.len()).collect(),
                    |t| t.to_vec(),
                );
                (&mut self.theta, &mut self.grad, ranges)
            }
        };
        clip_norm(grad, self.cfg.rule.clip_norm);
        for r in ranges {
            adamw_step(
                &mut params[r.clone()],
                &grad[r.clone()],
                &mut self.m[r.clone()],
                &mut self.v[r.clone()],
                self.t,
                lr,
                self.cfg.rule.weight_decay,
                ADAMW,
            );
        }
        if let Some(w) = &self.weight_norm {
            let keep = |r: &std::ops::Range<usize>| trainable.is_none_or(|t| inside(r, t));
            w.norm.fold_into(&w.params, &mut self.theta, keep);
        }
    }
}

impl Inverse {
    /// The fit error and penalty on the first 64 test images (the same images at every
    /// evaluation, before the first update too).
    fn test_fit(&self, net: &CordsNet, theta: &[f32], images: &Images) -> (f64, f64) {
        let test = &images.test;
        let idx: Vec<usize> = (0..test.len().min(64)).collect();
        let (x, _) = test.batch(&idx);
        let x: Vec<f64> = x.iter().map(|v| *v as f64).collect();
        let pass = self.folded.forward(net, &x, idx.len());
        let theta: Vec<f64> = theta.iter().map(|v| *v as f64).collect();
        let mut scratch = vec![0.0; theta.len()];
        inverse_loss_and_grad(
            net,
            &theta,
            &pass.drive,
            &pass.target,
            idx.len(),
            &mut scratch,
        )
    }

    /// Fold the compatibility CNN that `network.from` names into `net` (stage 1b), and score both
    /// on the test subset, so that the folding can be checked.
    /// Also returns the CNN's readout tensors (its `out_fc.*`), which the folded network keeps
    /// as they are: with weight norm, their g and v.
    fn new(
        cfg: &CordsNetRunConfig,
        net: &CordsNet,
        images: &Images,
    ) -> Result<(Self, BTreeMap<String, NpyArray>)> {
        let context = "network.from (a compatibility CNN's model.npz, for rule.kind = \"inverse\")";
        let arrays = biornn_numerics::tensors::read_arrays(std::path::Path::new(&cfg.network.from))
            .map_err(|e| e.context(context))?;
        let cnn = CompatCnn::new(&net.shape)?;
        let (cnn_theta, mut buffers) =
            checkpoint::load_cnn::<f64>(&cnn, &arrays).map_err(|e| e.context(context))?;
        let init = net.init::<f64>(&Streams::new(cfg.seed));
        let folded = fold(net, &cnn, &cnn_theta, &buffers, &init)?;
        let test = &images.test;
        let (mut cnn_correct, mut folded_correct) = (0usize, 0usize);
        let argmax = |row: &[f64]| {
            (0..row.len())
                .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                .unwrap_or(0)
        };
        for start in (0..test.len()).step_by(64) {
            let idx: Vec<usize> = (start..(start + 64).min(test.len())).collect();
            let (x, labels) = test.batch(&idx);
            let x: Vec<f64> = x.iter().map(|v| *v as f64).collect();
            let n = idx.len();
            let plain = cnn.forward(&cnn_theta, &mut buffers, &x, n, false).logits;
            let folded_logits = folded.forward(net, &x, n).logits;
            let k = test.classes;
            for (i, label) in labels.iter().enumerate() {
                cnn_correct += (argmax(&plain[i * k..(i + 1) * k]) == *label) as usize;
                folded_correct += (argmax(&folded_logits[i * k..(i + 1) * k]) == *label) as usize;
            }
        }
        let trainable = (0..net.depth())
            .flat_map(|l| [net.p_area_conv[l].clone(), net.p_conv_bias[l].clone()])
            .collect();
        let n = test.len().max(1) as f64;
        let readout = arrays
            .into_iter()
            .filter(|(k, _)| crate::checkpoint::without_parallel_prefix(k).starts_with("out_fc."))
            .collect();
        let stage = Inverse {
            folded,
            trainable,
            cnn_accuracy: cnn_correct as f64 / n,
            folded_accuracy: folded_correct as f64 / n,
        };
        Ok((stage, readout))
    }
}
