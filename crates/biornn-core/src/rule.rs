//! A learning rule: how a network's parameters change.

use crate::arrays::Stateful;
use crate::environment::Environment;
use crate::network::Network;
use biornn_numerics::Result;

/// One update of a network: a batch for BPTT, one time step for RLS, RFLO or the dendritic rule,
/// one trial for R2N2's replay. What the rule keeps between updates (Adam's moments, the RLS
/// matrix P, eligibility traces) is [`Stateful`].
pub trait Rule<N: Network + ?Sized>: Stateful + Send + Sync {
    /// The `[rule] kind` that builds it, e.g. `bptt`.
    fn kind(&self) -> &'static str;
    /// Update `net` from what `env` hands out; `index` numbers the update (for named random
    /// streams). Returns the loss measured on the way (NaN or infinity: the update diverged).
    fn update(&mut self, net: &mut N, env: &mut dyn Environment, index: u64) -> Result<f64>;
    /// Multiply the learning rate by `factor` from now on (the divergence guard's back-off).
    fn scale_learning_rate(&mut self, _factor: f64) {}
}
