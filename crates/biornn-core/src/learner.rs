//! What a driver drives: one or many networks with their rules and environments, seen as updates,
//! evaluations and the state between them.

use crate::arrays::{Arrays, Stateful};
use crate::environment::Environment;
use crate::network::Stepping;
use crate::rule::Rule;
use biornn_numerics::Result;
use std::collections::BTreeMap;

/// Where a schedule stands at an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// the stage (SCTT/DASC annealing, CD's coarse steps), `None` for plain training
    pub stage: Option<usize>,
    /// the learning rate's multiplier from the schedule
    pub lr_factor: f64,
    /// the divergence guard's multiplier, applied after `lr_factor`
    pub lr_scale: f64,
}

/// How training changes over updates: learning-rate steps, method stages.
pub trait Schedule: Send + Sync {
    fn at(&self, step: u64) -> Phase;
}

/// The learning rate multiplied by `factor` at each of `steps` passed; one plain stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDecay {
    pub steps: Vec<usize>,
    pub factor: f64,
}

impl Schedule for StepDecay {
    fn at(&self, step: u64) -> Phase {
        let drops = self.steps.iter().filter(|s| step >= **s as u64).count();
        Phase {
            stage: None,
            lr_factor: self.factor.powi(drops as i32),
            lr_scale: 1.0,
        }
    }
}

/// What an evaluation found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// the metrics row's cells between `step` and `wall_s`, formatted, one per column
    pub cells: Vec<String>,
    /// named values that stopping criteria test (e.g. `min_perf`, `trimmed_mean`)
    pub values: BTreeMap<String, f64>,
    /// a few words for progress lines, e.g. `min perf 0.912  mean perf 0.970`
    pub headline: String,
}

/// One or many networks in training, as the driver sees them. Its [`Stateful`] state is everything
/// a checkpoint must hold to continue bit for bit (parameters, rule state, network state,
/// environment position); the driver adds its own counters.
pub trait Learner: Stateful + Send {
    /// The metrics columns between `step` and `wall_s`.
    fn columns(&self) -> Vec<String>;
    /// Those of [`Self::columns`] that a later version added: a run written before them resumes
    /// with its `metrics.csv` widened, these cells empty in its earlier rows. Any other change of
    /// columns is refused on resume (a config edited since the run started).
    fn late_columns(&self) -> Vec<String> {
        vec![]
    }
    /// One update numbered `step`. Returns the training loss (not finite: diverged).
    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64>;
    /// Evaluate at `step`; `train_loss` is the mean training loss since the last evaluation.
    fn evaluate(&mut self, step: u64, train_loss: Option<f64>) -> Result<Evaluation>;
    /// Whether parameters and rule state are all finite (else the divergence guard rolls back).
    fn all_finite(&self) -> bool;
    /// The weights as users see them after `step` updates (`model.npz`, and the part of every
    /// checkpoint that numpy users read).
    fn export(&self, step: u64, out: &mut Arrays);
    /// Words that place an update in a message, e.g. ` (task fdgo)`.
    fn describe(&self, _step: u64) -> String {
        String::new()
    }
    /// For a learner of independent members (networks trained side by side, as the long-term
    /// protocol's): the members the last update left with a non-finite loss or value, so that
    /// the divergence guard slows those alone ([`Self::slow_member`]) and the others go on as if
    /// trained alone. `None` (the default) for a learner the guard treats as one whole, as it
    /// does when no member is named.
    fn diverged_members(&self) -> Option<Vec<usize>> {
        None
    }
    /// After the guard rolled every member back: multiply member `k`'s own learning rate by
    /// `factor` from now on (part of the learner's state) and return how many times it has
    /// diverged, this time included.
    fn slow_member(&mut self, _k: usize, _factor: f64) -> usize {
        0
    }
    /// After the guard rolled every member back, for member `k` that has diverged more often than
    /// the run allows: retire it, frozen as it is now (its last good state). It takes no more
    /// updates and is no longer named by [`Self::diverged_members`], but is still evaluated and
    /// exported, and stays retired across resumes (part of the learner's state). Returns how many
    /// members still train; `None` (the default) for a learner that cannot retire one, whose run
    /// then stops.
    fn retire_member(&mut self, _k: usize) -> Option<usize> {
        None
    }
}

/// One network trained online by a rule on an environment, one time step per update; state is
/// never reset. Evaluation runs copies of the network and the environment forward for
/// `eval_steps` steps without learning, so the run goes on as if it had not been evaluated.
#[derive(Clone)]
pub struct Online<N, R, E> {
    pub net: N,
    pub rule: R,
    pub env: E,
    pub eval_steps: usize,
}

impl<N, R, E> Online<N, R, E>
where
    N: Stepping + Clone,
    E: Environment + Clone,
{
    /// Mean squared error over the scored steps and the fraction of the target's variance
    /// explained, on copies run `steps` steps ahead without learning.
    pub fn free_run(&self, steps: usize) -> (f64, f64) {
        let (mut net, mut env) = (self.net.clone(), self.env.clone());
        let (mut x, mut y, mut z) = (
            vec![0.0; env.n_in()],
            vec![0.0; env.n_out()],
            vec![0.0; env.n_out()],
        );
        let (mut sq, mut w, mut sum, mut sum2) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..steps {
            let s = env.next(&mut x, &mut y);
            net.advance(&x, &mut z);
            env.answer(&z);
            let wt = s.weight as f64;
            for (a, b) in z.iter().zip(&y) {
                sq += wt * ((a - b) as f64).powi(2);
                sum += wt * *b as f64;
                sum2 += wt * (*b as f64).powi(2);
                w += wt;
            }
        }
        let mse = sq / w.max(f64::MIN_POSITIVE);
        let var = sum2 / w.max(f64::MIN_POSITIVE) - (sum / w.max(f64::MIN_POSITIVE)).powi(2);
        (mse, 1.0 - mse / var.max(f64::MIN_POSITIVE))
    }
}

impl<N, R, E> Stateful for Online<N, R, E>
where
    N: Stepping,
    R: Rule<N, E>,
    E: Environment,
{
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        self.net.save_state(&format!("{prefix}net_"), out);
        self.rule.save_state(&format!("{prefix}rule_"), out);
        self.env.save_state(&format!("{prefix}env_"), out);
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.net.load_state(&format!("{prefix}net_"), arrays)?;
        self.rule.load_state(&format!("{prefix}rule_"), arrays)?;
        self.env.load_state(&format!("{prefix}env_"), arrays)
    }
}

impl<N, R, E> Learner for Online<N, R, E>
where
    N: Stepping + Clone,
    R: Rule<N, E>,
    E: Environment + Clone,
{
    fn columns(&self) -> Vec<String> {
        ["train_loss", "eval_mse", "eval_r2"]
            .map(String::from)
            .to_vec()
    }

    fn update(&mut self, step: u64, phase: &Phase) -> Result<f64> {
        self.rule.update(&mut self.net, &mut self.env, step, phase)
    }

    fn evaluate(&mut self, _step: u64, train_loss: Option<f64>) -> Result<Evaluation> {
        let (mse, r2) = self.free_run(self.eval_steps);
        Ok(Evaluation {
            cells: vec![
                train_loss.map_or(String::new(), |l| format!("{l:.6e}")),
                format!("{mse:.6e}"),
                format!("{r2:.6}"),
            ],
            values: [("eval_mse".to_string(), mse), ("eval_r2".to_string(), r2)].into(),
            headline: format!("mse {mse:.3e}  r2 {r2:.4}"),
        })
    }

    fn all_finite(&self) -> bool {
        self.net
            .parameters()
            .iter()
            .all(|t| t.data.iter().all(|v| v.is_finite()))
    }

    fn export(&self, _step: u64, out: &mut Arrays) {
        self.net.export(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_decay_multiplies_at_each_step_passed() {
        let s = StepDecay {
            steps: vec![10, 20],
            factor: 0.5,
        };
        assert_eq!(s.at(9).lr_factor, 1.0);
        assert_eq!(s.at(10).lr_factor, 0.5);
        assert_eq!(s.at(25).lr_factor, 0.25);
        assert_eq!(s.at(25).stage, None);
    }
}
