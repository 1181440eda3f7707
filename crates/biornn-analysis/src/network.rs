//! Analysis of any network through the core traits alone: its one-step map at a constant input
//! (`Network::dynamics`) run freely from a few initial states, the principal components of those
//! trajectories, and the fixed points of the map searched from states on them, with their
//! linearisations. Nothing here knows the network's type, so a reservoir, a dendritic network or a
//! convolutional one is analysed the same way as a CTRNN.

use crate::fixed_points::{find_fixed_points, sample_states};
use crate::pca::Pca;
use crate::run::{Analysis, AnalysisOptions, FixedPointAnalysis, Part, PcaResult};
use biornn_core::{Dynamics, Network};
use biornn_numerics::{Error, Result, Streams};
use std::path::Path;
use std::time::Instant;

/// What to run: the constant input, the initial states (`dim` each, concatenated) and how many
/// steps of the map to run from each.
pub struct FreeRun<'a> {
    pub input: &'a [f64],
    pub starts: &'a [f64],
    pub steps: usize,
    /// what the trajectories are called in figures, e.g. `free run`
    pub label: &'a str,
}

/// The trajectories of `F` from each start: `[start][t][dim]`, flattened, the start included.
fn trajectories(dynamics: &dyn Dynamics, run: &FreeRun) -> Result<Vec<f64>> {
    let n = dynamics.dim();
    if run.starts.is_empty() || !run.starts.len().is_multiple_of(n) || run.steps < 2 {
        return Err(Error::invalid(
            "starts",
            run.starts.len(),
            &format!("allowed: a non-empty multiple of the state dimension {n}, run for at least 2 steps"),
        ));
    }
    let mut out = Vec::with_capacity(run.starts.len() * run.steps);
    for x0 in run.starts.chunks_exact(n) {
        let mut x = x0.to_vec();
        let mut next = vec![0.0; n];
        for _ in 0..run.steps {
            out.extend_from_slice(&x);
            dynamics.step(&x, &mut next);
            std::mem::swap(&mut x, &mut next);
        }
    }
    Ok(out)
}

/// Population trajectories (PCA) and fixed points of `net` after `step` updates, as `opts.parts`
/// asks (the task-based parts do not apply and are left empty).
pub fn analyze_network(
    run_dir: &Path,
    net: &dyn Network,
    step: usize,
    run: &FreeRun,
    opts: &AnalysisOptions,
) -> Result<Analysis> {
    analyze_dynamics(run_dir, &*net.dynamics(run.input), step, run, opts)
}

/// [`analyze_network`] for a one-step map given directly (`run.input` is then only recorded), for
/// networks whose parameters are not f32 tensors (R2N2 trains in f64).
pub fn analyze_dynamics(
    run_dir: &Path,
    dynamics: &dyn Dynamics,
    step: usize,
    run: &FreeRun,
    opts: &AnalysisOptions,
) -> Result<Analysis> {
    let wants = |p: Part| opts.parts.contains(&p);
    let streams = Streams::new(opts.seed).child("analysis", 0);
    let mut timings = vec![];
    let mut t0 = Instant::now();
    let states = trajectories(dynamics, run)?;
    let n = dynamics.dim();
    let starts = run.starts.len() / n;
    let pca = Pca::fit(&states, n, 10.min(n));
    let project = |x: &[f64]| {
        let p = pca.project(x);
        [p[0], *p.get(1).unwrap_or(&0.0), *p.get(2).unwrap_or(&0.0)]
    };
    let pca_result = PcaResult {
        task: run.label.to_string(),
        trajectories: (0..starts)
            .map(|s| {
                (0..run.steps)
                    .map(|t| project(&states[(s * run.steps + t) * n..(s * run.steps + t + 1) * n]))
                    .collect()
            })
            .collect(),
        conditions: (0..starts)
            .map(|s| (s as f64 + 0.5) * 2.0 * std::f64::consts::PI / starts as f64)
            .collect(),
        steps: run.steps,
        pca: pca.clone(),
    };
    timings.push(("pca".to_string(), t0.elapsed().as_secs_f64()));
    t0 = Instant::now();
    let fixed_points = if wants(Part::FixedPoints) {
        let inits = sample_states(
            &states,
            n,
            opts.fixed_points.n_inits,
            opts.fixed_points.noise_scale,
            &mut streams.stream("fixed_point_inits", 0),
        );
        let result = find_fixed_points(dynamics, &inits, &opts.fixed_points)?;
        let projected = result.points.iter().map(|p| project(&p.x)).collect();
        Some(FixedPointAnalysis {
            task: run.label.to_string(),
            input: run.input.to_vec(),
            result,
            projected,
            options: opts.fixed_points.clone(),
        })
    } else {
        None
    };
    timings.push(("fixed-points".to_string(), t0.elapsed().as_secs_f64()));
    Ok(Analysis {
        run: run_dir.to_path_buf(),
        loaded_step: step,
        examples: vec![],
        pca: (wants(Part::Pca) || wants(Part::FixedPoints)).then_some(pca_result),
        fixed_points,
        psychometric: vec![],
        variance: None,
        lesion: None,
        autapse: None,
        timings,
    })
}
