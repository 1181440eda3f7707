//! What a network sees and what it should answer.

use crate::arrays::Stateful;

/// One time step handed to the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// how much the target of this step counts (0: not scored, as a fixation-free gap)
    pub weight: f32,
    /// a trial (or sequence) ended with this step
    pub last: bool,
}

/// A task as a stream of time steps, open or closed loop. Its position in a trial or sequence is
/// [`Stateful`], so an online rule interrupted mid-sequence continues where it was. Random draws
/// come from named streams indexed by position, never from a generator carried along.
pub trait Environment: Stateful + Send + Sync {
    fn name(&self) -> &str;
    fn n_in(&self) -> usize;
    fn n_out(&self) -> usize;
    /// Fill the input of the next time step and the target the network should answer with.
    fn next(&mut self, input: &mut [f32], target: &mut [f32]) -> Step;
    /// The network's answer to the step just handed out. Closed-loop tasks (rule reversal, a
    /// T-maze) compute later input from it; open-loop tasks ignore it.
    fn answer(&mut self, _output: &[f32]) {}
}
