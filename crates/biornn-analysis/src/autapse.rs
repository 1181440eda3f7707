//! How a network of separated autapses (a diagonal W_rec: Mod-Cog's autapse baseline) holds a
//! memory. Each unit is a leaky integrator of itself: near an operating point x its deviation
//! decays per step by (1 - alpha) + alpha g, with the loop gain g = w_ii f'(x). A unit keeps a
//! value over a delay only when g is near 1; its memory time constant is then tau / |1 - g|, long
//! next to the unit's own tau. (Our reading of how "a small pool of autapses" carries the Yang-20
//! memories; the paper's own analysis is not available.)

use biornn_model::{Ctrnn, StateConvention, Trajectory};
use biornn_tasks::TaskBatch;

#[derive(Debug, Clone, PartialEq)]
pub struct AutapseResult {
    /// the task whose trials set the operating points
    pub task: String,
    /// the epoch averaged over (the delay where the task has one)
    pub epoch: String,
    /// per unit: the self-weight w_ii
    pub self_weight: Vec<f64>,
    /// per unit: the activation's slope f'(x) averaged over the epoch's steps and the trials
    pub slope: Vec<f64>,
    /// per unit: the loop gain w_ii f'(x)
    pub gain: Vec<f64>,
    /// per unit: tau / |1 - g| in ms (infinite at g = 1)
    pub memory_ms: Vec<f64>,
}

/// Whether the effective recurrent weights (`n x n`, row-major) are diagonal, with some
/// self-connection (an autapse network).
pub fn is_diagonal(w: &[f32], n: usize) -> bool {
    let off = (0..n * n).all(|k| k / n == k % n || w[k] == 0.0);
    off && (0..n).any(|i| w[i * n + i] != 0.0)
}

/// The autapse analysis of `net` on the trajectory `traj` of `batch` (trials of `task`), or
/// `None` when the network is not diagonal.
pub fn analyze_autapses(
    net: &Ctrnn<f32>,
    traj: &Trajectory<f32>,
    batch: &TaskBatch,
    task: &str,
) -> Option<AutapseResult> {
    let n = net.n_rec;
    let w = &net.effective().w_rec;
    // the wiring, not the weights of the moment, makes an autapse network
    let diagonal_mask = (0..n * n).all(|k| k / n == k % n || net.mask_rec[k] == 0.0);
    if !diagonal_mask || !is_diagonal(w, n) {
        return None;
    }
    // the delay epoch where there is one, else everything after the first epoch: (on, off) per trial
    let pick = |name: &str| batch.epochs.iter().find(|e| e.0 == name);
    let (epoch, spans): (String, Vec<(usize, usize)>) =
        match pick("delay").or_else(|| pick("delay1")) {
            Some(e) => (
                e.0.to_string(),
                (0..batch.batch)
                    .map(|b| (e.1[b].max(0) as usize, e.2[b].max(0) as usize))
                    .collect(),
            ),
            None => (
                "after the first epoch".to_string(),
                (0..batch.batch)
                    .map(|b| {
                        let from = batch.epochs.first().map_or(0, |e| e.2[b].max(0) as usize);
                        (from, batch.lengths[b])
                    })
                    .collect(),
            ),
        };
    let (steps, cols) = (traj.steps, traj.batch);
    let mut sum = vec![0.0f64; n];
    let mut count = 0usize;
    for b in 0..cols {
        let (on, off) = spans[b];
        for t in on..off.min(steps) {
            // the argument of f: the drive (rate convention) or the state (current convention)
            let x = match net.convention {
                StateConvention::Rate => &traj.drive[(t * cols + b) * n..(t * cols + b + 1) * n],
                StateConvention::Current => {
                    &traj.state[((t + 1) * cols + b) * n..((t + 1) * cols + b + 1) * n]
                }
            };
            for (s, v) in sum.iter_mut().zip(x) {
                *s += net.activation.df(*v) as f64;
            }
            count += 1;
        }
    }
    let slope: Vec<f64> = sum.iter().map(|s| s / count.max(1) as f64).collect();
    let self_weight: Vec<f64> = (0..n).map(|i| w[i * n + i] as f64).collect();
    let gain: Vec<f64> = self_weight.iter().zip(&slope).map(|(w, s)| w * s).collect();
    let memory_ms = gain
        .iter()
        .zip(&net.tau)
        .map(|(g, tau)| tau / (1.0 - g).abs())
        .collect();
    Some(AutapseResult {
        task: task.to_string(),
        epoch,
        self_weight,
        slope,
        gain,
        memory_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use biornn_model::config::{ModelConfig, NoiseConfig};
    use biornn_model::{Activation, MaskSpec};
    use biornn_numerics::Streams;

    #[test]
    fn a_relu_autapse_with_unit_self_weight_never_forgets() {
        let cfg = ModelConfig {
            n_rec: 3,
            activation: Activation::Relu,
            noise: NoiseConfig {
                sigma: 0.0,
                ..Default::default()
            },
            mask: biornn_model::config::MaskConfig {
                recurrent: MaskSpec::AutapseOnly,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut net = Ctrnn::<f32>::new(&cfg, 1, 1, 20.0, &Streams::new(1)).unwrap();
        let mut p = net.params.clone();
        // self-weights 1, 0.5 and 1.5; inputs that keep every unit in relu's linear range
        p.w_rec = vec![1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 1.5];
        p.w_in = vec![1.0, 1.0, 1.0];
        p.b_rec = vec![0.1, 0.1, 0.1];
        net.set_params(p);
        assert!(is_diagonal(&net.effective().w_rec, 3));
        let (steps, cols) = (10, 2);
        let mut batch = TaskBatch {
            steps,
            batch: cols,
            lengths: vec![steps; cols],
            epochs: vec![
                ("fix", vec![0, 0], vec![2, 2]),
                ("delay", vec![2, 2], vec![8, 8]),
            ],
            ..Default::default()
        };
        batch.x = vec![0.2; steps * cols];
        let mut traj = Trajectory::default();
        net.forward(&batch.x, steps, cols, false, &mut traj);
        let a = analyze_autapses(&net, &traj, &batch, "t").unwrap();
        assert_eq!(a.epoch, "delay");
        assert_eq!(a.self_weight, vec![1.0, 0.5, 1.5]);
        // relu's slope is 1 where the drive is positive
        assert_eq!(a.slope, vec![1.0; 3]);
        assert_eq!(a.gain, vec![1.0, 0.5, 1.5]);
        // g = 1: no decay; g = 0.5 and 1.5: tau / 0.5
        assert!(a.memory_ms[0].is_infinite());
        assert_eq!(a.memory_ms[1], 200.0);
        assert_eq!(a.memory_ms[2], 200.0);
        // a network with lateral connections is not analysed, even while its weights are diagonal
        let mut p = net.params.clone();
        p.w_rec[1] = 0.0;
        let mut lateral = Ctrnn::<f32>::new(
            &ModelConfig {
                mask: Default::default(),
                ..cfg
            },
            1,
            1,
            20.0,
            &Streams::new(1),
        )
        .unwrap();
        lateral.set_params(p);
        assert!(analyze_autapses(&lateral, &traj, &batch, "t").is_none());
    }
}
