//! A learning rule: how a network's parameters change.

use crate::arrays::Stateful;
use crate::environment::Environment;
use crate::learner::Phase;
use crate::network::Network;
use biornn_numerics::Result;

/// One update of a network `N` from what an environment `E` hands out: a batch for BPTT, one
/// time step for RLS, RFLO or the dendritic rule, one trial for R2N2's replay. What the rule keeps
/// between updates (Adam's moments, the RLS matrix P, eligibility traces) is [`Stateful`]. `E` is
/// a stream of time steps ([`Environment`]) unless the rule needs another kind (whole batches of
/// trials, for BPTT).
pub trait Rule<N: Network + ?Sized, E: ?Sized = dyn Environment>: Stateful + Send + Sync {
    /// The `[rule] kind` that builds it, e.g. `bptt`.
    fn kind(&self) -> &'static str;
    /// Update `net` from what `env` hands out; `index` numbers the update (for named random
    /// streams), `phase` carries the schedule's learning-rate factor and stage. Returns the loss
    /// measured on the way (NaN or infinity: the update diverged).
    fn update(&mut self, net: &mut N, env: &mut E, index: u64, phase: &Phase) -> Result<f64>;
}
