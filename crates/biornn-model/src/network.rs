//! The CTRNN as a `biornn-core` network: named parameters, a noise-free forward pass, its weights
//! as PsychRNN names them, and its one-step map for analysis.

use crate::ctrnn::Ctrnn;
use crate::dynamics::CtrnnDynamics;
use crate::Trajectory;
use biornn_core::arrays::put_f32;
use biornn_core::{Arrays, Dynamics, Network, Stateful, Tensor, TensorMut};
use biornn_numerics::Result;

/// PsychRNN's names of the parameters, in the order of [`crate::ctrnn::PARAM_NAMES`].
pub const PSYCHRNN_NAMES: [&str; 6] = ["W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state"];

fn diag(v: &[f32]) -> Vec<f32> {
    let n = v.len();
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = v[i];
    }
    m
}

/// A CTRNN keeps no state between updates (every trial starts from `init_state`).
impl Stateful for Ctrnn<f32> {
    fn save_state(&self, _prefix: &str, _out: &mut Arrays) {}
    fn load_state(&mut self, _prefix: &str, _arrays: &Arrays) -> Result<()> {
        Ok(())
    }
}

impl Network for Ctrnn<f32> {
    fn kind(&self) -> &'static str {
        "ctrnn"
    }
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
    fn n_units(&self) -> usize {
        self.n_rec
    }
    fn parameters(&self) -> Vec<Tensor<'_>> {
        let shapes = self.param_shapes();
        PSYCHRNN_NAMES
            .iter()
            .zip(shapes)
            .zip(self.params.tensors())
            .map(|((name, shape), data)| Tensor { name, shape, data })
            .collect()
    }
    fn parameters_mut(&mut self) -> Vec<TensorMut<'_>> {
        let shapes = self.param_shapes();
        PSYCHRNN_NAMES
            .iter()
            .zip(shapes)
            .zip(self.params.tensors_mut())
            .map(|((name, shape), data)| TensorMut { name, shape, data })
            .collect()
    }
    fn parameters_changed(&mut self) {
        self.project();
    }
    fn forward(&self, input: &[f32], steps: usize, batch: usize, output: &mut Vec<f32>) {
        let mut traj = Trajectory::default();
        Ctrnn::forward(self, input, steps, batch, false, &mut traj);
        output.clear();
        output.extend_from_slice(&traj.output);
    }
    /// The weights as the network uses them (masks and signs applied), so numpy users see the real
    /// connectivity: `W_in`, `W_rec`, `W_out`, `b_rec`, `b_out`, `init_state`, `Dale_rec`,
    /// `Dale_out`, `input_connectivity`, `rec_connectivity`, `output_connectivity`, `tau` (ms per
    /// unit), `dt`.
    fn export(&self, m: &mut Arrays) {
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        let e = self.effective();
        put_f32(m, "W_in", &[n, ni], &e.w_in);
        put_f32(m, "W_rec", &[n, n], &e.w_rec);
        put_f32(m, "W_out", &[no, n], &e.w_out);
        put_f32(m, "b_rec", &[n], &e.b_rec);
        put_f32(m, "b_out", &[no], &e.b_out);
        put_f32(m, "init_state", &[n], &e.init_state);
        put_f32(m, "Dale_rec", &[n, n], &diag(&self.sign));
        put_f32(m, "Dale_out", &[n, n], &diag(&self.sign));
        put_f32(m, "input_connectivity", &[n, ni], &self.mask_in);
        put_f32(m, "rec_connectivity", &[n, n], &self.mask_rec);
        put_f32(m, "output_connectivity", &[no, n], &self.mask_out);
        let tau: Vec<f32> = self.tau.iter().map(|t| *t as f32).collect();
        put_f32(m, "tau", &[n], &tau);
        put_f32(m, "dt", &[], &[self.dt() as f32]);
    }
    fn dynamics(&self, input: &[f64]) -> Box<dyn Dynamics + '_> {
        Box::new(CtrnnDynamics::new(self, input))
    }
}
