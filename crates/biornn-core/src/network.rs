//! A network as every rule, optimiser, checkpoint and analysis sees it.

use crate::arrays::{Arrays, Stateful};
use crate::dynamics::Dynamics;

/// A parameter tensor, read-only: its name (PsychRNN's where one applies), shape and values.
pub struct Tensor<'a> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

/// A parameter tensor to change in place (an optimiser's step, a local rule's update).
pub struct TensorMut<'a> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: &'a mut [f32],
}

/// A recurrent network. Its own state between updates (potentials, delay buffers, a reservoir's
/// activity) is [`Stateful`]: online rules never reset it, so a checkpoint must hold it.
pub trait Network: Stateful + Send + Sync {
    /// The `[network] kind` that builds it, e.g. `ctrnn`.
    fn kind(&self) -> &'static str;
    fn n_in(&self) -> usize;
    fn n_out(&self) -> usize;
    /// Dimension of the state that analysis works on.
    fn n_units(&self) -> usize;
    /// The trainable parameters in a fixed order, as the network stores them.
    fn parameters(&self) -> Vec<Tensor<'_>>;
    /// The same tensors, to change; call [`Network::parameters_changed`] after.
    fn parameters_mut(&mut self) -> Vec<TensorMut<'_>>;
    /// Re-apply constraints (signs, masks) after the parameters changed.
    fn parameters_changed(&mut self) {}
    /// `batch` trials of `steps` steps from the initial state, without noise: input `[T, B, n_in]`
    /// in, output `[T, B, n_out]` out (time-major, as numpy's `[T, B, dim]`).
    fn forward(&self, input: &[f32], steps: usize, batch: usize, output: &mut Vec<f32>);
    /// The weights as users see them, `(post, pre)`, PsychRNN key names where they apply.
    fn export(&self, out: &mut Arrays);
    /// The one-step map at the constant input `input`, for fixed points and linearisation.
    fn dynamics(&self, input: &[f64]) -> Box<dyn Dynamics + '_>;
}

/// A network that keeps its own state and moves one time step at a time: reservoirs, the
/// dendritic network, anything an online rule trains without ever resetting it.
pub trait Stepping: Network {
    /// Advance the state by one step with `input`, writing the readout into `output`.
    fn advance(&mut self, input: &[f32], output: &mut [f32]);
}
