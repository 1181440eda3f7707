//! A CordsNet run as the driver sees it: one update is one batch of training images through the
//! whole protocol (spontaneous, stimulus, offset) and one AdamW step on the BPTT gradient;
//! evaluations score a fixed subset of the test images at the last stimulus step.

use crate::bptt::Protocol;
use crate::checkpoint;
use crate::cnn::CompatCnn;
use crate::config::{CordsNetRunConfig, Images};
use crate::cordsnet::{Activation, CordsNet};
use crate::noise::Noise;
use biornn_core::arrays::{put_f32, put_f64, put_u64, take_f32, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::optim::{adamw_step, clip_norm, AdamConstants};
use biornn_numerics::{Result, Streams};
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
        let theta: Vec<f32> = if cfg.network.form == "cnn" {
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
                biornn_numerics::npz::read_npz(path)
            }
            .map_err(|e| e.context("network.from"))?;
            checkpoint::load(&net, &checkpoint::network_tensors(&arrays))
                .map_err(|e| e.context("network.from"))?
        };
        let n = theta.len();
        Ok(CordsNetLearner {
            cfg: cfg.clone(),
            net,
            cnn,
            theta,
            images,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            grad: vec![0.0; n],
            last_train_accuracy: f64::NAN,
            order: None,
        })
    }

    fn protocol(&self) -> Protocol {
        self.cfg.protocol()
    }

    fn activation(&self) -> Activation {
        self.cfg.activation()
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
        self.scores_under(None)
    }

    /// The same under noise (stream `cordsnet_noise`, its index `seed`: the same draws for every
    /// network scored with it).
    pub fn noisy_test_scores(&self, noise: Noise, seed: u64) -> (f64, f64) {
        self.scores_under(Some((noise, seed)))
    }

    fn scores_under(&self, noise: Option<(Noise, u64)>) -> (f64, f64) {
        let test = &self.images.test;
        let classes = test.classes;
        let chunk = 4 * self.cfg.rule.batch_size;
        let (mut correct, mut loss) = (0usize, 0.0);
        let p = self.protocol();
        let act = self.activation();
        // the RNN's spontaneous state (a CNN has none)
        let spont = match self.cnn {
            Some(_) => vec![],
            None => self
                .net
                .spontaneous(&self.theta, p.spontaneous, p.alpha, act),
        };
        for start in (0..test.len()).step_by(chunk) {
            let idx: Vec<usize> = (start..(start + chunk).min(test.len())).collect();
            let (x, labels) = test.batch(&idx);
            let logits = match (&self.cnn, noise) {
                (Some((model, buffers)), noise) => {
                    // one image, no dynamics: the image noise is drawn once
                    let x = match noise {
                        Some((noise, seed)) => {
                            let mut rng = Streams::new(seed).stream("cordsnet_noise", start as u64);
                            x.iter()
                                .map(|v| v + (noise.input_std * rng.normal()) as f32)
                                .collect()
                        }
                        None => x,
                    };
                    let mut b = buffers.clone();
                    vec![
                        model
                            .forward(&self.theta, &mut b, &x, idx.len(), false)
                            .logits,
                    ]
                }
                (None, None) => {
                    self.net
                        .run(&self.theta, &x, idx.len(), &spont, p.stimulus, p.alpha, act)
                }
                (None, Some((noise, seed))) => {
                    // a stream per chunk: the draws do not depend on the chunks' order
                    let mut rng = Streams::new(seed).stream("cordsnet_noise", start as u64);
                    self.net.run_noisy(
                        &self.theta,
                        &x,
                        idx.len(),
                        &spont,
                        p.stimulus,
                        p.alpha,
                        act,
                        noise,
                        &mut rng,
                    )
                }
            };
            let last = logits.last().expect("at least one stimulus step");
            for (i, label) in labels.iter().enumerate() {
                let row = &last[i * classes..(i + 1) * classes];
                let best = (0..classes)
                    .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                    .unwrap_or(0);
                correct += (best == *label) as usize;
                let m = row.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b)) as f64;
                let z: f64 = row.iter().map(|v| (*v as f64 - m).exp()).sum();
                loss += z.ln() + m - row[*label] as f64;
            }
        }
        let n = test.len().max(1) as f64;
        (correct as f64 / n, loss / n)
    }
}

const COLUMNS: [&str; 3] = ["train_accuracy", "test_accuracy", "test_loss"];

impl Stateful for CordsNetLearner {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let n = self.theta.len();
        put_f32(out, &format!("{prefix}theta"), &[n], &self.theta);
        put_f32(out, &format!("{prefix}adam_m"), &[n], &self.m);
        put_f32(out, &format!("{prefix}adam_v"), &[n], &self.v);
        put_u64(out, &format!("{prefix}adam_t"), self.t);
        if let Some((_, buffers)) = &self.cnn {
            put_f32(
                out,
                &format!("{prefix}norm_buffers"),
                &[buffers.len()],
                buffers,
            );
        }
        put_f64(
            out,
            &format!("{prefix}last_train_accuracy"),
            &[],
            &[self.last_train_accuracy],
        );
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        let n = self.theta.len();
        self.theta = take_f32(arrays, &format!("{prefix}theta"), &[n])?;
        self.m = take_f32(arrays, &format!("{prefix}adam_m"), &[n])?;
        self.v = take_f32(arrays, &format!("{prefix}adam_v"), &[n])?;
        self.t = take_u64(arrays, &format!("{prefix}adam_t"))?;
        if let Some((_, buffers)) = &mut self.cnn {
            let k = buffers.len();
            *buffers = take_f32(arrays, &format!("{prefix}norm_buffers"), &[k])?;
        }
        self.last_train_accuracy =
            biornn_core::arrays::take_scalar(arrays, &format!("{prefix}last_train_accuracy"))?;
        Ok(())
    }
}

impl Learner for CordsNetLearner {
    fn columns(&self) -> Vec<String> {
        COLUMNS.iter().map(|c| c.to_string()).collect()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        let idx = self.batch_indices(step);
        let (x, labels) = self.images.train.batch(&idx);
        self.grad.fill(0.0);
        if let Some((model, buffers)) = &mut self.cnn {
            let pass = model.forward(&self.theta, buffers, &x, labels.len(), true);
            let (loss, correct) = model.backward(&self.theta, &x, &labels, &pass, &mut self.grad);
            self.last_train_accuracy = correct as f64 / labels.len() as f64;
            if loss.is_finite() {
                self.step_optimiser(phase);
            }
            return Ok(loss);
        }
        let p = self.protocol();
        let act = self.activation();
        let spont = self
            .net
            .spontaneous(&self.theta, p.spontaneous, p.alpha, act);
        let parts =
            self.net
                .loss_and_grad(&self.theta, &x, &labels, &spont, &p, act, &mut self.grad);
        self.last_train_accuracy = parts.correct as f64 / labels.len() as f64;
        if !parts.total.is_finite() {
            return Ok(parts.total);
        }
        self.step_optimiser(phase);
        Ok(parts.total)
    }

    fn evaluate(&mut self, _step: u64, _train_loss: Option<f64>) -> Result<Evaluation> {
        let (accuracy, loss) = self.test_scores();
        let values = [self.last_train_accuracy, accuracy, loss];
        Ok(Evaluation {
            cells: values.iter().map(|v| format!("{v:.6}")).collect(),
            values: COLUMNS
                .iter()
                .zip(values)
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            headline: format!("test accuracy {accuracy:.3}  test loss {loss:.3}"),
        })
    }

    fn all_finite(&self) -> bool {
        self.theta.iter().all(|v| v.is_finite())
    }

    /// The reference's state-dict names (`checkpoint::save`), and the normalisation the images
    /// had, so that a user can feed new ones the same way.
    fn export(&self, _step: u64, out: &mut Arrays) {
        match &self.cnn {
            Some((model, buffers)) => {
                out.extend(checkpoint::save_layout(&model.layout, &self.theta));
                out.extend(checkpoint::save_layout(&model.buffers, buffers));
            }
            None => out.extend(checkpoint::save(&self.net, &self.theta)),
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
    /// Clip the gradient and take one AdamW step.
    fn step_optimiser(&mut self, phase: &Phase) {
        clip_norm(&mut self.grad, self.cfg.rule.clip_norm);
        self.t += 1;
        let lr = self.cfg.rule.learning_rate * phase.lr_factor * phase.lr_scale;
        adamw_step(
            &mut self.theta,
            &self.grad,
            &mut self.m,
            &mut self.v,
            self.t,
            lr,
            self.cfg.rule.weight_decay,
            ADAMW,
        );
    }
}
