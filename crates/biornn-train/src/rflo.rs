//! RFLO (random-feedback local online learning; Murray 2019, eLife 8:e43299) as a rule for
//! biornn's CTRNN: the same batches, loss, clipping and optimiser as [`Bptt`], with BPTT's credit
//! replaced by RFLO's local one (`biornn_model::Credit::Local`). Each unit's eligibility traces
//! follow its own leak and drive, no credit flows back through W_rec, and the readout error
//! reaches the units through a fixed random matrix B (or W_out^T). The readout itself learns by
//! the delta rule, which is its exact gradient. The changes are those of the forward traces
//! summed over each trial (RFLO's end-of-trial mode), averaged over the batch as the loss is.
//! The initial state learns along its leak only. `[rule] kind = "rflo"`, `feedback = "random" |
//! "readout"`.

use crate::config::TrainConfig;
use crate::optim::Optimizer;
use crate::trainer::Bptt;
use biornn_core::arrays::{put_f32, take_f32};
use biornn_core::{Arrays, Phase, Rule, Stateful};
use biornn_model::{Credit, Ctrnn, Feedback};
use biornn_numerics::{Result, Streams};
use biornn_tasks::BatchSource;

pub struct Rflo {
    inner: Bptt,
    feedback: Feedback,
    /// B, `(n_rec, n_out)`; empty with readout feedback
    matrix: Vec<f32>,
    shape: [usize; 2],
}

/// The fixed random feedback B ~ N(0, 1/n_out), `(n_rec, n_out)`, from stream `rflo_feedback`.
pub fn random_feedback(n_rec: usize, n_out: usize, streams: &Streams) -> Vec<f32> {
    let mut r = streams.stream("rflo_feedback", 0);
    let scale = 1.0 / (n_out as f64).sqrt();
    (0..n_rec * n_out)
        .map(|_| (r.normal() * scale) as f32)
        .collect()
}

impl Rflo {
    /// `streams` are the run's root streams (B is drawn from them); `noise` the recurrent noise's.
    pub fn new(
        train: &TrainConfig,
        net: &Ctrnn<f32>,
        opt: Optimizer<f32>,
        noise: Streams,
        feedback: Feedback,
        streams: &Streams,
    ) -> Self {
        let matrix = match feedback {
            Feedback::Random => random_feedback(net.n_rec, net.n_out, streams),
            Feedback::Readout => vec![],
        };
        Rflo {
            inner: Bptt::new(train, net, opt, noise),
            feedback,
            matrix,
            shape: [net.n_rec, net.n_out],
        }
    }

    pub(crate) fn optimizer(&self) -> &Optimizer<f32> {
        self.inner.optimizer()
    }
}

impl Stateful for Rflo {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        self.inner.save_state(prefix, out);
        if self.feedback == Feedback::Random {
            put_f32(
                out,
                &format!("{prefix}rflo_feedback"),
                &self.shape,
                &self.matrix,
            );
        }
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.inner.load_state(prefix, arrays)?;
        if self.feedback == Feedback::Random {
            self.matrix = take_f32(arrays, &format!("{prefix}rflo_feedback"), &self.shape)?;
        }
        Ok(())
    }
}

impl<E: BatchSource + ?Sized> Rule<Ctrnn<f32>, E> for Rflo {
    fn kind(&self) -> &'static str {
        "rflo"
    }

    fn update(
        &mut self,
        net: &mut Ctrnn<f32>,
        env: &mut E,
        index: u64,
        phase: &Phase,
    ) -> Result<f64> {
        let feedback = (self.feedback == Feedback::Random).then_some(self.matrix.as_slice());
        self.inner
            .update_with(net, env, index, phase, Credit::Local(feedback))
    }
}
