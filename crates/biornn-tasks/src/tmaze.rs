//! The cue-guided delayed T-maze (CogControlLab/R2N2 `tasks.py: TMazeNavTask`, `exp2.py`). A stem
//! of `cue` cells showing the cue (1: reward on the left, 2: on the right), then `delay` cells
//! showing 0, the junction (3) on the last row, and two arms of `branch` cells (4); the agent
//! starts at the top of the stem and the episode ends at either arm's end, rewarded at the cued one.
//! Actions: 0 left, 1 up, 2 right, 3 down; a move into a wall stays put.
//!
//! The network predicts the next 11-d sensation: the previous action one-hot (4; a dummy "up" at
//! the start), reward one-hot (2: none, reward), the cell's value one-hot (5), plus N(0, 0.01^2)
//! noise. It is trained on optimal trajectories (down through the stem, then along the cued arm):
//! cue 20-23, delay 50-55, branch 20-25, both cues, 10 noisy repeats: 2,880 sequences of 91 to 104
//! steps. A sequence succeeds when every predicted action (the arg-max of the first 4 outputs) is
//! the action taken. The test is closed loop: cue 22, delay 52, branch 24, 40 trials alternating
//! the cue, the arg-max action executed and the real sensation fed back; the score is the
//! fraction of trials rewarded.

use crate::sequences::{Agent, Goal, SequenceEnv};
use biornn_core::arrays::{put_u64, take_u64};
use biornn_core::{Arrays, Environment, Stateful, Step};
use biornn_numerics::{Result, RngStream, Streams};

pub const SENSATION: usize = 11;
const NOISE: f64 = 0.01;

/// One maze and where the agent is.
#[derive(Debug, Clone, PartialEq)]
pub struct Maze {
    pub cue: usize,
    pub delay: usize,
    pub branch: usize,
    /// 1: reward on the left arm, 2: on the right
    pub cue_type: u8,
    pub row: usize,
    pub col: usize,
}

impl Maze {
    pub fn new(cue: usize, delay: usize, branch: usize, cue_type: u8) -> Self {
        Maze {
            cue,
            delay,
            branch,
            cue_type,
            row: 0,
            col: branch,
        }
    }

    /// The value a cell shows, or `None` for a wall.
    pub fn value(&self, row: usize, col: usize) -> Option<u8> {
        let last = self.cue + self.delay;
        if row == last && col <= 2 * self.branch {
            Some(if col == self.branch { 3 } else { 4 })
        } else if row < last && col == self.branch {
            Some(if row < self.cue { self.cue_type } else { 0 })
        } else {
            None
        }
    }

    /// Move by `action`; returns (the cell's value, rewarded, done).
    pub fn step(&mut self, action: usize) -> (u8, bool, bool) {
        let (r, c) = (self.row as i64, self.col as i64);
        let (nr, nc) = match action {
            0 => (r, c - 1),
            1 => (r - 1, c),
            2 => (r, c + 1),
            _ => (r + 1, c),
        };
        if nr >= 0 && nc >= 0 && self.value(nr as usize, nc as usize).is_some() {
            self.row = nr as usize;
            self.col = nc as usize;
        }
        let last = self.cue + self.delay;
        let at_end = self.row == last && (self.col == 0 || self.col == 2 * self.branch);
        let rewarded = at_end && (self.col == 0) == (self.cue_type == 1);
        (
            self.value(self.row, self.col).unwrap_or(0),
            rewarded,
            at_end,
        )
    }
}

/// The sensation after `action` with `reward` at a cell showing `value`, with noise.
pub fn sensation(
    action: usize,
    reward: bool,
    value: u8,
    noise: &mut RngStream,
) -> [f64; SENSATION] {
    let mut s = [0.0; SENSATION];
    s[action] = 1.0;
    s[4 + reward as usize] = 1.0;
    s[6 + value as usize] = 1.0;
    for v in s.iter_mut() {
        *v += NOISE * noise.normal();
    }
    s
}

/// The optimal trajectory's sensations, `(cue + delay + branch + 1) x 11`.
pub fn optimal(
    cue: usize,
    delay: usize,
    branch: usize,
    cue_type: u8,
    noise: &mut RngStream,
) -> Vec<f64> {
    let mut maze = Maze::new(cue, delay, branch, cue_type);
    let mut out = sensation(1, false, cue_type, noise).to_vec();
    let turn = if cue_type == 1 { 0 } else { 2 };
    for t in 0..cue + delay + branch {
        let action = if t < cue + delay { 3 } else { turn };
        let (value, reward, _) = maze.step(action);
        out.extend(sensation(action, reward, value, noise));
    }
    out
}

/// The arg-max of the action part of a sensation or prediction.
fn action_of(row: &[f64]) -> usize {
    (0..4).fold(0, |b, k| if row[k] > row[b] { k } else { b })
}

/// How many stored sequences each epoch replays (the reference's `exp7.py`, `exp8.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayControl {
    /// every stored sequence, each epoch (`exp2.py`)
    #[default]
    All,
    /// floor((1 - r) N), r the success rate over the previous epoch's replays (0 at first):
    /// replay shrinks as the network gets it right (`exp7.py`)
    Success,
    /// max(floor(min(0.1 ln e + 1, 1) N), 100), e the mean over the previous epoch's replays of
    /// each one's loss per step divided by its length, as exp8.py computes it (1 at first)
    /// (`exp8.py`)
    Loss,
}

/// The training sequences as a stream: each epoch replays `n_rep` of them, drawn without
/// replacement (the first `n_rep` of a shuffle from stream `tmaze_order` by epoch), with `n_rep`
/// set by the [`ReplayControl`] from the previous epoch's outcomes (at least one); the evaluation
/// set (every 10th sequence) and the closed-loop test.
#[derive(Debug, Clone)]
pub struct TMazeSequences {
    data: std::sync::Arc<Vec<Vec<f64>>>,
    streams: Streams,
    control: ReplayControl,
    trial: u64,
    step: usize,
    epoch: u64,
    /// the epoch's sequences and where the stream stands in them
    plan: Vec<usize>,
    pos: usize,
    /// the previous epoch's success rate (control `success`) or mean loss (`loss`)
    prev: f64,
    /// this epoch's outcomes so far: successes, summed loss, sequences
    outcomes: [f64; 3],
    /// the delayed-alternation maze (see [`TMazeSequences::alternation`]) rather than the cue-guided
    alternation: bool,
}

impl TMazeSequences {
    /// The reference's training set: cue 20-23, delay 50-55, branch 20-25, both cues, `repeats`
    /// noisy copies each (noise from stream `tmaze_noise`).
    pub fn new(repeats: usize, control: ReplayControl, streams: &Streams) -> Self {
        let mut data = vec![];
        let mut k = 0;
        for cue in 20..24 {
            for delay in 50..56 {
                for branch in 20..26 {
                    for cue_type in [1, 2] {
                        for _ in 0..repeats {
                            let mut noise = streams.stream("tmaze_noise", k);
                            data.push(optimal(cue, delay, branch, cue_type, &mut noise));
                            k += 1;
                        }
                    }
                }
            }
        }
        Self::from_data(data, control, streams, false)
    }

    /// A stream over `data` (each sequence `rows x 11`), replayed as `control` says.
    fn from_data(
        data: Vec<Vec<f64>>,
        control: ReplayControl,
        streams: &Streams,
        alternation: bool,
    ) -> Self {
        let mut env = TMazeSequences {
            data: std::sync::Arc::new(data),
            streams: *streams,
            control,
            trial: 0,
            step: 0,
            epoch: 0,
            plan: vec![],
            pos: 0,
            prev: if control == ReplayControl::Loss {
                1.0
            } else {
                0.0
            },
            outcomes: [0.0; 3],
            alternation,
        };
        env.plan = env.plan_of(0, env.replays());
        env
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Sequences the current epoch replays, from the previous epoch's outcomes.
    fn replays(&self) -> usize {
        let n = self.data.len() as f64;
        let k = match self.control {
            ReplayControl::All => n,
            ReplayControl::Success => ((1.0 - self.prev) * n).floor(),
            ReplayControl::Loss => ((0.1 * self.prev.ln() + 1.0).min(1.0) * n)
                .floor()
                .max(100.0),
        };
        (k as usize).clamp(1, self.data.len())
    }

    fn plan_of(&self, epoch: u64, replays: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.data.len()).collect();
        let mut rng = self.streams.stream("tmaze_order", epoch);
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i + 1));
        }
        v.truncate(replays);
        v
    }

    /// The epoch now replaying and how many sequences it replays.
    pub fn epoch(&self) -> (u64, usize) {
        (self.epoch, self.plan.len())
    }

    fn next_epoch(&mut self) {
        let [ok, loss, count] = self.outcomes;
        if count > 0.0 {
            self.prev = match self.control {
                ReplayControl::Loss => loss / count,
                _ => ok / count,
            };
        }
        self.outcomes = [0.0; 3];
        self.epoch += 1;
        self.plan = self.plan_of(self.epoch, self.replays());
        self.pos = 0;
    }
}

impl Stateful for TMazeSequences {
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        put_u64(out, &format!("{prefix}trial"), self.trial);
        put_u64(out, &format!("{prefix}step"), self.step as u64);
        put_u64(out, &format!("{prefix}epoch"), self.epoch);
        put_u64(out, &format!("{prefix}pos"), self.pos as u64);
        put_u64(out, &format!("{prefix}replays"), self.plan.len() as u64);
        let o = &self.outcomes;
        biornn_core::arrays::put_f64(
            out,
            &format!("{prefix}control"),
            &[4],
            &[self.prev, o[0], o[1], o[2]],
        );
    }
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        self.trial = take_u64(arrays, &format!("{prefix}trial"))?;
        self.step = take_u64(arrays, &format!("{prefix}step"))? as usize;
        self.epoch = take_u64(arrays, &format!("{prefix}epoch"))?;
        self.pos = take_u64(arrays, &format!("{prefix}pos"))? as usize;
        let replays = take_u64(arrays, &format!("{prefix}replays"))? as usize;
        let c = biornn_core::arrays::take_f64(arrays, &format!("{prefix}control"), &[4])?;
        self.prev = c[0];
        self.outcomes = [c[1], c[2], c[3]];
        self.plan = self.plan_of(self.epoch, replays.clamp(1, self.data.len()));
        Ok(())
    }
}

impl Environment for TMazeSequences {
    fn name(&self) -> &str {
        if self.alternation {
            "alternation"
        } else {
            "tmaze"
        }
    }
    fn n_in(&self) -> usize {
        SENSATION
    }
    fn n_out(&self) -> usize {
        SENSATION
    }
    fn next(&mut self, input: &mut [f32], target: &mut [f32]) -> Step {
        if self.step == 0 && self.pos == self.plan.len() {
            self.next_epoch();
        }
        let seq = &self.data[self.plan[self.pos]];
        let t = self.step;
        for k in 0..SENSATION {
            input[k] = seq[t * SENSATION + k] as f32;
            target[k] = seq[(t + 1) * SENSATION + k] as f32;
        }
        let last = (t + 2) * SENSATION == seq.len();
        if last {
            self.trial += 1;
            self.step = 0;
            self.pos += 1;
        } else {
            self.step += 1;
        }
        Step { weight: 1.0, last }
    }
}

impl SequenceEnv for TMazeSequences {
    fn goal(&self) -> Goal {
        Goal::NextStep
    }
    fn eval_set(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        self.data
            .iter()
            .step_by(10)
            .map(|s| (s[..s.len() - SENSATION].to_vec(), s[SENSATION..].to_vec()))
            .collect()
    }
    /// Every predicted action is the one taken (in the alternation maze, all but at most one: the
    /// first trial's turn cannot be foreseen).
    fn success(&self, outputs: &[f64], targets: &[f64]) -> bool {
        let wrong = outputs
            .chunks(SENSATION)
            .zip(targets.chunks(SENSATION))
            .filter(|(o, y)| action_of(o) != action_of(y))
            .count();
        wrong <= self.alternation as usize
    }
    fn trials_done(&self) -> u64 {
        self.trial
    }
    fn closed_loop_metric(&self) -> Option<&'static str> {
        Some("reward_rate")
    }
    /// `loss` is the sequence's mean loss per step; exp8.py records it divided again by the
    /// sequence's length (`loss / T` of a loss already averaged over steps), and so does this.
    fn outcome(&mut self, success: bool, loss: f64) {
        let done = self.plan[self.pos.saturating_sub(1).min(self.plan.len() - 1)];
        let len = (self.data[done].len() / SENSATION) as f64;
        self.outcomes[0] += success as u8 as f64;
        self.outcomes[1] += loss / len;
        self.outcomes[2] += 1.0;
    }
    fn progress_names(&self) -> Vec<&'static str> {
        vec!["epoch", "replays_this_epoch"]
    }
    fn progress(&self) -> Vec<f64> {
        vec![self.epoch as f64, self.plan.len() as f64]
    }
    /// 40 trials in the cue-22, delay-52, branch-24 maze, cues alternating (left first), the
    /// agent's arg-max action executed and the real sensation fed back (noise from stream
    /// `tmaze_test_noise`); the fraction rewarded.
    fn closed_loop(&self, agent: &mut dyn Agent) -> f64 {
        if self.alternation {
            return self.alternation_closed_loop(agent);
        }
        let (cue, delay, branch) = (22, 52, 24);
        let trials = 40;
        let mut rewarded = 0;
        let mut out = vec![0.0; SENSATION];
        for k in 0..trials {
            let cue_type = if k % 2 == 0 { 1 } else { 2 };
            let mut maze = Maze::new(cue, delay, branch, cue_type);
            let mut noise = self.streams.stream("tmaze_test_noise", k as u64);
            let mut x = sensation(1, false, cue_type, &mut noise);
            agent.reset();
            for _ in 0..cue + delay + branch {
                agent.step(&x, &mut out);
                let action = action_of(&out);
                let (value, reward, done) = maze.step(action);
                x = sensation(action, reward, value, &mut noise);
                if done {
                    rewarded += reward as usize;
                    break;
                }
            }
        }
        rewarded as f64 / trials as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maze_and_its_optimal_trajectories_by_hand() {
        // cue 2, delay 1, branch 2: stem rows 0-1 show the cue, row 2 shows 0, row 3 is the
        // junction (3) with arms (4) to columns 0 and 4
        let mut m = Maze::new(2, 1, 2, 2);
        assert_eq!(
            (m.value(0, 2), m.value(1, 2), m.value(2, 2)),
            (Some(2), Some(2), Some(0))
        );
        assert_eq!(
            (m.value(3, 2), m.value(3, 0), m.value(3, 4)),
            (Some(3), Some(4), Some(4))
        );
        assert_eq!(
            (m.value(0, 1), m.value(2, 3), m.value(3, 5)),
            (None, None, None)
        );
        // walls and the top edge stop a move
        assert_eq!(m.step(0), (2, false, false));
        assert_eq!(m.step(1), (2, false, false));
        assert_eq!((m.row, m.col), (0, 2));
        for _ in 0..3 {
            m.step(3);
        }
        assert_eq!((m.row, m.col), (3, 2));
        assert_eq!(m.step(2), (4, false, false));
        assert_eq!(m.step(2), (4, true, true));
        // the left arm's end is not rewarded for cue 2
        let mut m = Maze::new(2, 1, 2, 2);
        for a in [3, 3, 3, 0, 0] {
            m.step(a);
        }
        assert_eq!((m.col, m.step(0)), (0, (4, false, true)));

        let seq = optimal(2, 1, 2, 1, &mut Streams::new(1).stream("n", 0));
        assert_eq!(seq.len(), 6 * SENSATION);
        let rows: Vec<(usize, usize, usize)> = seq
            .chunks(SENSATION)
            .map(|r| {
                let arg =
                    |a: usize, b: usize| (a..b).fold(a, |m, k| if r[k] > r[m] { k } else { m }) - a;
                (arg(0, 4), arg(4, 6), arg(6, 11))
            })
            .collect();
        // (previous action, reward, value): start (up, none, cue 1), down x3, left x2
        assert_eq!(
            rows,
            [
                (1, 0, 1),
                (3, 0, 1),
                (3, 0, 0),
                (3, 0, 3),
                (0, 0, 4),
                (0, 1, 4)
            ]
        );
    }

    #[test]
    fn the_training_set_is_the_references_2880_sequences_of_91_to_104_steps() {
        let env = TMazeSequences::new(10, ReplayControl::All, &Streams::new(1));
        assert_eq!(env.len(), 2880);
        let lens: Vec<usize> = env.data.iter().map(|s| s.len() / SENSATION).collect();
        assert_eq!(
            (lens.iter().min(), lens.iter().max()),
            (Some(&91), Some(&104))
        );
        // an oracle that replays the optimal policy scores every closed-loop trial
        struct Oracle {
            t: usize,
            cue: usize,
        }
        impl Agent for Oracle {
            fn reset(&mut self) {
                self.t = 0;
            }
            fn step(&mut self, input: &[f64], out: &mut [f64]) {
                if self.t == 0 {
                    self.cue = if input[7] > input[8] { 1 } else { 2 };
                }
                out.fill(0.0);
                out[if self.t < 74 {
                    3
                } else if self.cue == 1 {
                    0
                } else {
                    2
                }] = 1.0;
                self.t += 1;
            }
        }
        assert_eq!(env.closed_loop(&mut Oracle { t: 0, cue: 0 }), 1.0);
        // one that always turns left gets half
        struct Left(usize);
        impl Agent for Left {
            fn reset(&mut self) {
                self.0 = 0;
            }
            fn step(&mut self, _: &[f64], out: &mut [f64]) {
                out.fill(0.0);
                out[if self.0 < 74 { 3 } else { 0 }] = 1.0;
                self.0 += 1;
            }
        }
        assert_eq!(env.closed_loop(&mut Left(0)), 0.5);
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;

    /// Run `k` whole sequences through the stream, reporting for each a loss per step of `e`
    /// times its length (so that exp8's e, the loss per step over the length, is `e`).
    fn run(env: &mut TMazeSequences, k: usize, success: bool, e: f64) {
        let (mut x, mut y) = ([0.0f32; SENSATION], [0.0f32; SENSATION]);
        for _ in 0..k {
            let mut steps = 1.0;
            while !env.next(&mut x, &mut y).last {
                steps += 1.0;
            }
            env.outcome(success, e * steps);
        }
    }

    #[test]
    fn replay_shrinks_with_success_and_with_loss_as_exp7_and_exp8_say() {
        let streams = Streams::new(3);
        let mut env = TMazeSequences::new(1, ReplayControl::Success, &streams);
        let n = env.len();
        assert_eq!(n, 288);
        assert_eq!(env.epoch(), (0, n));
        run(&mut env, n, true, 0.1);
        // every replay succeeded: the next epoch replays floor((1 - 1) N), at least one
        run(&mut env, 1, false, 0.1);
        assert_eq!(env.epoch(), (1, 1));
        // that one failed: all N again
        run(&mut env, 1, false, 0.1);
        assert_eq!(env.epoch(), (2, n));
        // the rest of epoch 2: every fourth wrong; with the one above, 1 + 72 of 288 wrong, so
        // epoch 3 replays floor(73 / 288 N) = 73
        for k in 0..n - 1 {
            run(&mut env, 1, k % 4 != 0, 0.1);
        }
        run(&mut env, 1, true, 0.1);
        assert_eq!(env.epoch(), (3, 73));

        let mut env = TMazeSequences::new(1, ReplayControl::Loss, &streams);
        assert_eq!(env.epoch(), (0, n));
        run(&mut env, n, false, (-4.9f64).exp());
        run(&mut env, 1, false, 1e-9);
        // mean loss e^-4.9: min(0.1 ln e + 1, 1) = 0.51 of N (146.88), at least 100
        assert_eq!(env.epoch(), (1, 146));
        // a tiny loss: 0.1 ln e + 1 < 0, so the floor of 100 applies
        run(&mut env, 145, false, 1e-9);
        run(&mut env, 1, false, 1.0);
        assert_eq!(env.epoch(), (2, 100));
        // an epoch's sequences are distinct
        let mut seen = std::collections::BTreeSet::new();
        for i in &env.plan {
            assert!(seen.insert(*i));
        }
    }

    #[test]
    fn the_epoch_and_its_outcomes_resume() {
        let streams = Streams::new(4);
        let mut a = TMazeSequences::new(1, ReplayControl::Success, &streams);
        run(&mut a, 300, true, 0.2);
        let mut saved = Arrays::new();
        a.save_state("", &mut saved);
        let mut b = TMazeSequences::new(1, ReplayControl::Success, &streams);
        b.load_state("", &saved).unwrap();
        run(&mut a, 50, false, 0.3);
        run(&mut b, 50, false, 0.3);
        assert_eq!(
            (a.epoch(), a.plan.clone(), a.outcomes),
            (b.epoch(), b.plan.clone(), b.outcomes)
        );
    }
}

// The delayed-alternation T-maze, of our design (the paper names the rodent task; the reference
// code implements the cue-guided one above). No cue: the stem shows 0 throughout, and the reward
// waits at the arm opposite the one the previous trial ended at (the first trial of a session:
// the left arm). Trials follow one another in a session, separated by `ITI` steps in which the
// agent waits at the top of the stem (its action there is "up", into the wall), so the network
// must carry its last choice across the interval and down the stem. Training sequences are
// optimal sessions of 4 trials (stem 10-13, branch 5-8, either arm first, `repeats` noisy
// copies: 32 x repeats sequences of 76 to 100 steps). The first trial's turn cannot be foreseen,
// so a sequence succeeds with at most one action wrong (as a^n b^n's end of the a-run); starting
// sessions on one arm only lets a network learn the turns by trial number, which fails the
// closed-loop test's longer session. The closed-loop test is one session
// of 20 trials (stem 12, branch 6), the agent's own choices setting the next reward.

/// Steps waited between trials.
pub const ITI: usize = 5;
const SESSION: usize = 4;

/// One optimal session: trials alternating from `first` (1 left, 2 right).
pub fn alternation_session(
    stem: usize,
    branch: usize,
    first: u8,
    trials: usize,
    noise: &mut RngStream,
) -> Vec<f64> {
    let mut out = vec![];
    let mut side = first;
    for k in 0..trials {
        if k > 0 {
            for _ in 0..ITI {
                out.extend(sensation(1, false, 0, noise));
            }
        } else {
            out.extend(sensation(1, false, 0, noise));
        }
        let mut maze = Maze::new(0, stem, branch, side);
        let turn = if side == 1 { 0 } else { 2 };
        for t in 0..stem + branch {
            let action = if t < stem { 3 } else { turn };
            let (value, reward, _) = maze.step(action);
            out.extend(sensation(action, reward, value, noise));
        }
        side = 3 - side;
    }
    out
}

impl TMazeSequences {
    /// The delayed-alternation maze's training sessions (above), replayed as `control` says.
    pub fn alternation(repeats: usize, control: ReplayControl, streams: &Streams) -> Self {
        let mut data = vec![];
        let mut k = 0;
        for stem in 10..14 {
            for branch in 5..9 {
                for first in [1, 2] {
                    for _ in 0..repeats {
                        let mut noise = streams.stream("alternation_noise", k);
                        data.push(alternation_session(
                            stem, branch, first, SESSION, &mut noise,
                        ));
                        k += 1;
                    }
                }
            }
        }
        Self::from_data(data, control, streams, true)
    }

    /// One session of 20 trials (stem 12, branch 6): the agent acts within trials, waits through
    /// the intervals (its answers ignored), and each trial rewards the arm opposite the one the
    /// previous trial ended at (left first; a trial that reached no end leaves the side as it
    /// was). The fraction of trials rewarded.
    fn alternation_closed_loop(&self, agent: &mut dyn Agent) -> f64 {
        let (stem, branch, trials) = (12, 6, 20);
        let mut noise = self.streams.stream("alternation_test_noise", 0);
        let mut out = vec![0.0; SENSATION];
        let mut side = 1u8;
        let mut rewarded = 0;
        agent.reset();
        let mut x = sensation(1, false, 0, &mut noise);
        for k in 0..trials {
            if k > 0 {
                for _ in 0..ITI {
                    agent.step(&x, &mut out);
                    x = sensation(1, false, 0, &mut noise);
                }
            }
            let mut maze = Maze::new(0, stem, branch, side);
            for _ in 0..stem + branch {
                agent.step(&x, &mut out);
                let action = action_of(&out);
                let (value, reward, done) = maze.step(action);
                x = sensation(action, reward, value, &mut noise);
                if done {
                    rewarded += reward as usize;
                    // the next reward waits at the other arm from the one reached
                    side = if maze.col == 0 { 2 } else { 1 };
                    break;
                }
            }
        }
        rewarded as f64 / trials as f64
    }
}

#[cfg(test)]
mod alternation_tests {
    use super::*;

    #[test]
    fn sessions_alternate_and_a_policy_that_alternates_scores_every_trial() {
        let env = TMazeSequences::alternation(1, ReplayControl::All, &Streams::new(2));
        assert_eq!(env.len(), 32);
        // one wrong action is forgiven (the first turn cannot be foreseen), two are not
        let (x, y) = env.eval_set().remove(0);
        let mut out = y.clone();
        assert!(env.success(&out, &y));
        let steps = y.len() / SENSATION;
        for (k, t) in [(0, 3), (1, steps - 1)] {
            let row = &mut out[t * SENSATION..t * SENSATION + 4];
            let right = action_of(row);
            row.fill(0.0);
            row[(right + 1) % 4] = 1.0;
            assert_eq!(env.success(&out, &y), k == 0, "{k} wrong");
        }
        assert_eq!(x.len(), y.len());
        let lens: Vec<usize> = env.data.iter().map(|s| s.len() / SENSATION).collect();
        assert_eq!(
            (lens.iter().min(), lens.iter().max()),
            (Some(&76), Some(&100))
        );
        // stem 2, branch 1, two trials, left first: start, down, down, left (rewarded), then 5
        // waits, start again... right (rewarded)
        let s = alternation_session(2, 1, 1, 2, &mut Streams::new(1).stream("n", 0));
        let rows: Vec<(usize, usize, usize)> = s
            .chunks(SENSATION)
            .map(|r| {
                let arg =
                    |a: usize, b: usize| (a..b).fold(a, |m, k| if r[k] > r[m] { k } else { m }) - a;
                (arg(0, 4), arg(4, 6), arg(6, 11))
            })
            .collect();
        let mut want = vec![(1, 0, 0), (3, 0, 0), (3, 0, 3), (0, 1, 4)];
        want.extend(std::iter::repeat_n((1, 0, 0), ITI));
        want.extend([(3, 0, 0), (3, 0, 3), (2, 1, 4)]);
        assert_eq!(rows, want);
        // a scripted agent for the test session (stem 12, branch 6: 18 steps a trial, 5 waits
        // between): alternating turns earns every trial
        struct Scripted {
            g: usize,
            alternate: bool,
        }
        impl Agent for Scripted {
            fn reset(&mut self) {
                self.g = 0;
            }
            fn step(&mut self, _: &[f64], out: &mut [f64]) {
                let (trial, pos) = if self.g < 18 {
                    (0, self.g as i64)
                } else {
                    let r = self.g - 18;
                    (1 + r / 23, (r % 23) as i64 - ITI as i64)
                };
                let turn = if self.alternate && trial % 2 == 1 {
                    2
                } else {
                    0
                };
                out.fill(0.0);
                out[if pos < 0 {
                    1
                } else if pos < 12 {
                    3
                } else {
                    turn
                }] = 1.0;
                self.g += 1;
            }
        }
        assert_eq!(
            env.closed_loop(&mut Scripted {
                g: 0,
                alternate: true
            }),
            1.0
        );
        // always left: the first trial only, as the reward then waits opposite its own choice
        assert_eq!(
            env.closed_loop(&mut Scripted {
                g: 0,
                alternate: false
            }),
            0.05
        );
    }
}
