//! Analysis of a trained run: everything `biornn analyze` computes, as one [`Analysis`] value that
//! the report draws, and the `.npz` and `.csv` files written into `RUN/analysis/`.

use crate::dynamics::CtrnnDynamics;
use crate::fixed_points::{find_fixed_points, sample_states, FixedPointOptions, FixedPointResult};
use crate::pca::Pca;
use crate::psychometric::{self, fit_logistic, Curve, COHERENCES, DURATIONS, PSYCHOMETRIC_RULES};
use crate::variance::{cluster_units, variance_across_trials, Clustering};
use biornn_model::{Ctrnn, StateConvention, Trajectory};
use biornn_numerics::npz::{write_atomic, write_npz, NpyArray};
use biornn_numerics::{Error, Result, Streams};
use biornn_tasks::yang::{build, YangRule};
use biornn_tasks::TaskConfig;
use biornn_tasks::{generate, BatchSpec, Task, TaskBatch, Timing};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The parts of an analysis, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    FixedPoints,
    Pca,
    Psychometric,
    Variance,
    Lesion,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::FixedPoints,
        Part::Pca,
        Part::Psychometric,
        Part::Variance,
        Part::Lesion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::FixedPoints => "fixed-points",
            Part::Pca => "pca",
            Part::Psychometric => "psychometric",
            Part::Variance => "variance",
            Part::Lesion => "lesion",
        }
    }

    /// Parse a comma-separated list such as `fixed-points,pca`.
    pub fn parse_list(text: &str) -> Result<Vec<Part>> {
        let mut parts = vec![];
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let part = Part::ALL
                .into_iter()
                .find(|p| p.name() == word)
                .ok_or_else(|| {
                    Error::invalid(
                    "--what",
                    word,
                    "allowed: fixed-points, pca, psychometric, variance, lesion (comma-separated)",
                )
                })?;
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        if parts.is_empty() {
            return Err(Error::invalid("--what", text, "allowed: at least one part"));
        }
        parts.sort();
        Ok(parts)
    }
}

#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    pub parts: Vec<Part>,
    /// the task whose trajectories, fixed points and PCA are analysed (default: the run's first)
    pub task: Option<String>,
    pub fixed_points: FixedPointOptions,
    /// trials per task for task variance, PCA and example trials
    pub trials: usize,
    /// locations per coherence and duration for psychometric curves
    pub psychometric_locations: usize,
    /// trials per task when scoring lesions
    pub lesion_trials: usize,
    /// unit sets to silence besides the clusters and populations: (name, units)
    pub lesion_sets: Vec<(String, Vec<usize>)>,
    pub seed: u64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            parts: Part::ALL.to_vec(),
            task: None,
            fixed_points: FixedPointOptions {
                noise_scale: 0.05,
                ..FixedPointOptions::default()
            },
            trials: 128,
            psychometric_locations: 100,
            lesion_trials: 256,
            lesion_sets: vec![],
            seed: 0,
        }
    }
}

/// One trial of a task as the network ran it (noise off): inputs, targets, outputs over time.
#[derive(Debug, Clone)]
pub struct ExampleTrial {
    pub task: String,
    pub steps: usize,
    pub dt: f64,
    pub n_in: usize,
    pub n_out: usize,
    /// `[T, n_in]`
    pub input: Vec<f32>,
    /// `[T, n_out]`
    pub target: Vec<f32>,
    /// `[T, n_out]`; class probabilities (the softmax of the logits) for a network that answers
    /// with classes
    pub output: Vec<f32>,
    /// epochs `(name, on, off)` in steps
    pub epochs: Vec<(String, usize, usize)>,
    /// for a network that answers with classes (a logits readout): the target class and the
    /// network's arg-max class at each step
    pub classes: Option<(Vec<i32>, Vec<i32>)>,
}

#[derive(Debug, Clone)]
pub struct PcaResult {
    pub task: String,
    pub pca: Pca,
    /// stimulus-direction bin centre of each condition, radians
    pub conditions: Vec<f64>,
    pub steps: usize,
    /// projected condition-averaged trajectories, `[condition][t][pc]`
    pub trajectories: Vec<Vec<[f64; 3]>>,
}

#[derive(Debug, Clone)]
pub struct FixedPointAnalysis {
    pub task: String,
    /// the constant input: the task's input during the first fixation epoch
    pub input: Vec<f64>,
    pub result: FixedPointResult,
    /// coordinates of each point in the top three PCs of the task's trajectories (rates)
    pub projected: Vec<[f64; 3]>,
    pub options: FixedPointOptions,
}

#[derive(Debug, Clone)]
pub struct VarianceResult {
    pub tasks: Vec<String>,
    /// row-major `units x tasks`
    pub variance: Vec<f64>,
    pub clustering: Clustering,
    /// excitatory (true) or inhibitory per unit
    pub excitatory: Vec<bool>,
    /// effective recurrent weights, row-major `(post, pre)`
    pub w_rec: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct LesionResult {
    pub tasks: Vec<String>,
    /// (name of the lesioned set, number of units, performance per task)
    pub rows: Vec<(String, usize, Vec<f64>)>,
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub run: PathBuf,
    pub loaded_step: usize,
    pub examples: Vec<ExampleTrial>,
    pub pca: Option<PcaResult>,
    pub fixed_points: Option<FixedPointAnalysis>,
    pub psychometric: Vec<Curve>,
    pub variance: Option<VarianceResult>,
    pub lesion: Option<LesionResult>,
    /// for an autapse network (diagonal W_rec): how each unit holds its memory
    pub autapse: Option<crate::autapse::AutapseResult>,
    /// seconds per part
    pub timings: Vec<(String, f64)>,
}

/// Per-task performance of a network on a number of trials per task.
pub type ScoreFn<'a> = &'a (dyn Fn(&Ctrnn<f32>, usize) -> Result<Vec<f64>> + Sync);

/// What is analysed: a trained CTRNN, the tasks it was trained on, and how its run scores a
/// network. Analysis reads no run files and knows no learning rule: whoever loads the run (the
/// `biornn-api` facade) hands these over.
pub struct Subject<'a> {
    pub net: Ctrnn<f32>,
    /// the run's `[task]` section
    pub task: TaskConfig,
    /// the units' time constant in ms (it scales the input noise of psychometric trials)
    pub tau: f64,
    /// the update the weights come from
    pub step: usize,
    /// per-task performance of a network on `trials` trials per task, as the run evaluates it
    /// (the lesion analysis scores silenced copies)
    pub score: ScoreFn<'a>,
}

/// Run a batch through the network; recurrent noise from `noise` when given.
fn simulate(net: &Ctrnn<f32>, batch: &TaskBatch, noise: Option<&Streams>) -> Trajectory<f32> {
    let mut traj = Trajectory::default();
    if let Some(streams) = noise {
        net.sample_noise(
            &mut traj,
            batch.steps,
            batch.batch,
            &mut streams.stream("recurrent", 0),
        );
    }
    net.forward(
        &batch.x,
        batch.steps,
        batch.batch,
        noise.is_some(),
        &mut traj,
    );
    traj
}

/// Rates as `[T, B, n]` f64 (dropping the initial state).
fn rates_of(traj: &Trajectory<f32>, n: usize) -> Vec<f64> {
    traj.rate[traj.batch * n..]
        .iter()
        .map(|r| *r as f64)
        .collect()
}

fn noise_free_batch(task: &dyn Task, dt: f64, trials: usize, streams: &Streams) -> TaskBatch {
    let spec = BatchSpec {
        dt,
        batch_size: trials,
        timing: Timing::PerBatch,
        input_noise_std: 0.0,
    };
    generate(task, &spec, streams, 0)
}

/// Analyse `subject`, the network of the run in `run` (without writing anything).
pub fn analyze(run: &Path, subject: &Subject, opts: &AnalysisOptions) -> Result<Analysis> {
    let net = &subject.net;
    let n = net.n_rec;
    let dt = subject.task.dt;
    let tasks = subject.task.tasks()?;
    let streams = Streams::new(opts.seed).child("analysis", 0);
    let focus = match &opts.task {
        None => tasks[0].clone(),
        Some(name) => tasks
            .iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
                Error::invalid(
                    "--task",
                    name,
                    &format!("allowed: a task of this run ({})", known.join(", ")),
                )
            })?
            .clone(),
    };
    let mut timings = vec![];
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };

    // one example trial per task, noise off
    let examples: Vec<ExampleTrial> = tasks
        .iter()
        .map(|task| {
            let b = noise_free_batch(task, dt, 1, &streams.child("example", task.key()));
            let traj = simulate(net, &b, None);
            let n_out = b.n_out;
            let mut output = traj.output.clone();
            let classes = (net.readout == biornn_model::Readout::Logits).then(|| {
                for row in output.chunks_exact_mut(n_out) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let z: f32 = row.iter().map(|v| (v - max).exp()).sum();
                    row.iter_mut().for_each(|v| *v = (*v - max).exp() / z);
                }
                let chosen = output
                    .chunks_exact(n_out)
                    .map(|row| biornn_tasks::argmax(row) as i32)
                    .collect();
                (b.class.clone(), chosen)
            });
            ExampleTrial {
                classes,
                task: task.name().to_string(),
                steps: b.steps,
                dt,
                n_in: b.n_in,
                n_out: b.n_out,
                input: b.x.clone(),
                target: b.y.clone(),
                output,
                epochs: b
                    .epochs
                    .iter()
                    .filter(|e| e.1[0] >= 0)
                    .map(|e| (e.0.to_string(), e.1[0] as usize, e.2[0] as usize))
                    .collect(),
            }
        })
        .collect();
    lap("examples", &mut timings);

    // trajectories of the focus task, condition-averaged by stimulus direction
    let wants = |p: Part| opts.parts.contains(&p);
    let focus_batch = noise_free_batch(focus.as_ref(), dt, opts.trials, &streams.child("focus", 0));
    let focus_traj = simulate(net, &focus_batch, None);
    let focus_rates = rates_of(&focus_traj, n);
    let autapse = crate::autapse::analyze_autapses(net, &focus_traj, &focus_batch, focus.name());
    let pca = if wants(Part::Pca) || wants(Part::FixedPoints) {
        let bins = 8;
        let locs = focus_batch.latent("stim1_loc").unwrap_or(&[]);
        let (steps, batch) = (focus_batch.steps, focus_batch.batch);
        let mut sums = vec![vec![0.0; steps * n]; bins];
        let mut counts = vec![0usize; bins];
        for b in 0..batch {
            let loc = locs.get(b).copied().unwrap_or(0.0);
            let bin = if loc.is_finite() {
                ((loc / (2.0 * std::f64::consts::PI) * bins as f64).floor() as usize).min(bins - 1)
            } else {
                0
            };
            counts[bin] += 1;
            for t in 0..steps {
                for i in 0..n {
                    sums[bin][t * n + i] += focus_rates[(t * batch + b) * n + i];
                }
            }
        }
        let conds: Vec<usize> = (0..bins).filter(|&c| counts[c] > 0).collect();
        let mut data = Vec::with_capacity(conds.len() * steps * n);
        for &c in &conds {
            data.extend(sums[c].iter().map(|v| v / counts[c] as f64));
        }
        let pca = Pca::fit(&data, n, 10);
        let trajectories = conds
            .iter()
            .enumerate()
            .map(|(ci, _)| {
                (0..steps)
                    .map(|t| {
                        let p = pca.project(&data[(ci * steps + t) * n..(ci * steps + t + 1) * n]);
                        [p[0], *p.get(1).unwrap_or(&0.0), *p.get(2).unwrap_or(&0.0)]
                    })
                    .collect()
            })
            .collect();
        Some(PcaResult {
            task: focus.name().to_string(),
            pca,
            conditions: conds
                .iter()
                .map(|&c| (c as f64 + 0.5) * 2.0 * std::f64::consts::PI / bins as f64)
                .collect(),
            steps,
            trajectories,
        })
    } else {
        None
    };
    lap("pca", &mut timings);

    let fixed_points = if wants(Part::FixedPoints) {
        // the constant input of the first fixation epoch: fixation and rule on, no stimulus
        let input: Vec<f64> = focus_batch.x[..net.n_in]
            .iter()
            .map(|v| *v as f64)
            .collect();
        let dynamics = CtrnnDynamics::new(&net.convert::<f64>(), &input);
        let states: Vec<f64> = focus_traj.state[focus_traj.batch * n..]
            .iter()
            .map(|v| *v as f64)
            .collect();
        let inits = sample_states(
            &states,
            n,
            opts.fixed_points.n_inits,
            opts.fixed_points.noise_scale,
            &mut streams.stream("fixed_point_inits", 0),
        );
        let result = find_fixed_points(&dynamics, &inits, &opts.fixed_points)?;
        let pca_ref = &pca.as_ref().expect("computed above").pca;
        let projected = result
            .points
            .iter()
            .map(|p| {
                let rate: Vec<f64> = match net.convention {
                    StateConvention::Rate => p.x.clone(),
                    StateConvention::Current => p.x.iter().map(|x| net.activation.f(*x)).collect(),
                };
                let c = pca_ref.project(&rate);
                [c[0], *c.get(1).unwrap_or(&0.0), *c.get(2).unwrap_or(&0.0)]
            })
            .collect();
        Some(FixedPointAnalysis {
            task: focus.name().to_string(),
            input,
            result,
            projected,
            options: opts.fixed_points.clone(),
        })
    } else {
        None
    };
    lap("fixed-points", &mut timings);
    let pca = if wants(Part::Pca) { pca } else { None };

    let psychometric = if wants(Part::Psychometric) {
        psychometric_curves(subject, &tasks, opts, &streams)?
    } else {
        vec![]
    };
    lap("psychometric", &mut timings);

    let variance = if wants(Part::Variance) || wants(Part::Lesion) {
        let per_task: Vec<Vec<f64>> = tasks
            .par_iter()
            .map(|task| {
                let b = noise_free_batch(
                    task,
                    dt,
                    opts.trials,
                    &streams.child("variance", task.key()),
                );
                let traj = simulate(net, &b, None);
                // from the end of the first (fixation) epoch on
                let from = b.epochs.first().map_or(0, |e| {
                    e.2.iter().copied().max().unwrap_or(0).max(0) as usize
                });
                variance_across_trials(&rates_of(&traj, n), b.steps, b.batch, n, from, b.steps)
            })
            .collect();
        let nt = tasks.len();
        let mut variance = vec![0.0; n * nt];
        for (t, v) in per_task.iter().enumerate() {
            for u in 0..n {
                variance[u * nt + t] = v[u];
            }
        }
        let clustering = cluster_units(&variance, nt, &mut streams.stream("kmeans", 0));
        Some(VarianceResult {
            tasks: tasks.iter().map(|t| t.name().to_string()).collect(),
            variance,
            clustering,
            excitatory: net.sign.iter().map(|s| *s > 0.0).collect(),
            w_rec: net.effective().w_rec.clone(),
        })
    } else {
        None
    };
    lap("variance", &mut timings);

    let lesion = if wants(Part::Lesion) {
        let v = variance.as_ref().expect("computed above");
        let mut sets: Vec<(String, Vec<usize>)> = vec![("none".into(), vec![])];
        for c in 0..v.clustering.k {
            let units = v
                .clustering
                .active
                .iter()
                .zip(&v.clustering.labels)
                .filter(|(_, l)| **l == c)
                .map(|(u, _)| *u)
                .collect();
            sets.push((format!("cluster {}", c + 1), units));
        }
        if net.dale.is_some() {
            sets.push((
                "excitatory".into(),
                (0..n).filter(|&u| v.excitatory[u]).collect(),
            ));
            sets.push((
                "inhibitory".into(),
                (0..n).filter(|&u| !v.excitatory[u]).collect(),
            ));
        }
        for (name, units) in &opts.lesion_sets {
            if let Some(bad) = units.iter().find(|&&u| u >= n) {
                return Err(Error::invalid(
                    "--lesion",
                    bad,
                    &format!(
                        "allowed: unit indices 0 to {} (the network has {n} units)",
                        n - 1
                    ),
                ));
            }
            sets.push((name.clone(), units.clone()));
        }
        let mut rows = vec![];
        for (name, units) in sets {
            let lesioned = lesion_units(net, &units);
            rows.push((
                name,
                units.len(),
                (subject.score)(&lesioned, opts.lesion_trials)?,
            ));
        }
        Some(LesionResult {
            tasks: tasks.iter().map(|t| t.name().to_string()).collect(),
            rows,
        })
    } else {
        None
    };
    lap("lesion", &mut timings);
    let variance = if wants(Part::Variance) {
        variance
    } else {
        None
    };

    Ok(Analysis {
        run: run.to_path_buf(),
        loaded_step: subject.step,
        examples,
        pca,
        fixed_points,
        psychometric,
        variance,
        lesion,
        autapse,
        timings,
    })
}

/// A copy of `net` with `units` silenced: their outgoing recurrent and readout weights are zero (as
/// gyyang/multitask `lesion_units`); incoming weights and biases stay.
pub fn lesion_units(net: &Ctrnn<f32>, units: &[usize]) -> Ctrnn<f32> {
    let mut out = net.clone();
    let n = net.n_rec;
    for &u in units {
        for i in 0..n {
            out.mask_rec[i * n + u] = 0.0;
        }
        for o in 0..net.n_out {
            out.mask_out[o * n + u] = 0.0;
        }
    }
    out.refresh();
    out
}

fn psychometric_curves(
    subject: &Subject,
    tasks: &[Arc<dyn Task>],
    opts: &AnalysisOptions,
    streams: &Streams,
) -> Result<Vec<Curve>> {
    let net = &subject.net;
    let dt = subject.task.dt;
    let input_noise = subject.task.input_noise_std(subject.tau) as f32;
    let mut jobs = vec![];
    // the curves are defined for Yang's decision tasks only
    let rules = tasks
        .iter()
        .filter(|_| subject.task.battery == "yang20")
        .filter_map(|t| YangRule::from_name(t.name()))
        .filter(|r| PSYCHOMETRIC_RULES.contains(r));
    for rule in rules {
        for (d, &duration) in DURATIONS.iter().enumerate() {
            jobs.push((rule, d, duration));
        }
    }
    let locs = opts.psychometric_locations.max(1);
    jobs.par_iter()
        .map(|&(rule, d, duration)| {
            let mut specs = vec![];
            for &coh in &COHERENCES {
                for l in 0..locs {
                    let loc = 2.0 * std::f64::consts::PI * l as f64 / locs as f64;
                    specs.push((coh, psychometric::trial_spec(rule, coh, duration, loc, dt)?));
                }
            }
            let trials: Vec<_> = specs.iter().map(|(_, s)| build(s, dt)).collect();
            let mut batch = TaskBatch::assemble(&trials);
            let job_streams = streams.child("psychometric", (rule.index() * 16 + d) as u64);
            if input_noise > 0.0 {
                job_streams
                    .stream("input", 0)
                    .bulk()
                    .add_normal_f32(&mut batch.x, input_noise);
            }
            let traj = simulate(net, &batch, (net.noise.sigma > 0.0).then_some(&job_streams));
            let mut k = vec![0.0; COHERENCES.len()];
            let mut m = vec![0.0; COHERENCES.len()];
            for (b, (coh, spec)) in specs.iter().enumerate() {
                let ci = COHERENCES
                    .iter()
                    .position(|c| c == coh)
                    .expect("coherence from the list");
                let out = batch.last_output(&traj.output, b);
                if let Some(first) = psychometric::choice(&out[1..], spec.stim1_loc, spec.stim2_loc)
                {
                    m[ci] += 1.0;
                    if first {
                        k[ci] += 1.0;
                    }
                }
            }
            let x: Vec<f64> = COHERENCES.iter().map(|c| 2.0 * c).collect();
            let fit = fit_logistic(&x, &k, &m).ok();
            Ok(Curve {
                rule,
                duration_ms: duration,
                x,
                n_choice1: k,
                n_decided: m,
                fit,
            })
        })
        .collect()
}

fn csv_write(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())
}

/// Write the analysis results as `.npz` and `.csv` files into `dir`; returns the files written.
pub fn write_results(a: &Analysis, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let mut written = vec![];
    let f64s = |shape: &[usize], v: Vec<f64>| NpyArray::new::<f64>(shape, v);
    if let Some(fp) = &a.fixed_points {
        let r = &fp.result;
        let p = r.points.len();
        let n = fp.input.len();
        let dim = r
            .points
            .first()
            .map_or(r.inits.len() / fp.options.n_inits.max(1), |q| q.x.len());
        let mut arrays = BTreeMap::new();
        arrays.insert(
            "xstar".into(),
            f64s(
                &[p, dim],
                r.points.iter().flat_map(|q| q.x.clone()).collect(),
            ),
        );
        arrays.insert(
            "qstar".into(),
            f64s(&[p], r.points.iter().map(|q| q.q).collect()),
        );
        arrays.insert(
            "is_stable".into(),
            NpyArray::i32(
                &[p],
                r.points.iter().map(|q| q.lin.is_stable() as i32).collect(),
            ),
        );
        arrays.insert(
            "J_xstar".into(),
            f64s(
                &[p, dim, dim],
                r.points
                    .iter()
                    .flat_map(|q| q.lin.jacobian.clone())
                    .collect(),
            ),
        );
        arrays.insert(
            "eigval_re".into(),
            f64s(
                &[p, dim],
                r.points
                    .iter()
                    .flat_map(|q| q.lin.eigenvalues.iter().map(|l| l.re).collect::<Vec<_>>())
                    .collect(),
            ),
        );
        arrays.insert(
            "eigval_im".into(),
            f64s(
                &[p, dim],
                r.points
                    .iter()
                    .flat_map(|q| q.lin.eigenvalues.iter().map(|l| l.im).collect::<Vec<_>>())
                    .collect(),
            ),
        );
        arrays.insert("inputs".into(), f64s(&[n], fp.input.clone()));
        arrays.insert(
            "initial_states".into(),
            f64s(&[r.inits.len() / dim.max(1), dim], r.inits.clone()),
        );
        arrays.insert(
            "pc_coords".into(),
            f64s(
                &[p, 3],
                fp.projected.iter().flat_map(|c| c.to_vec()).collect(),
            ),
        );
        let path = dir.join("fixed_points.npz");
        write_npz(&path, &arrays)?;
        written.push(path);
        let mut csv = String::from(
            "id,q,kind,stable,n_unstable,max_abs_eigenvalue,slowest_tau_ms,pc1,pc2,pc3\n",
        );
        for (i, q) in r.points.iter().enumerate() {
            let max_abs = q.lin.eigenvalues.first().map_or(f64::NAN, |l| l.norm());
            let slowest = q
                .lin
                .discrete_time_constants()
                .first()
                .copied()
                .unwrap_or(f64::NAN);
            let c = fp.projected[i];
            let _ = writeln!(
                csv,
                "{i},{:.3e},{},{},{},{max_abs:.6},{slowest:.1},{:.4},{:.4},{:.4}",
                q.q,
                if q.is_fixed(&fp.options) {
                    "fixed"
                } else {
                    "slow"
                },
                q.lin.is_stable(),
                q.lin.n_unstable(),
                c[0],
                c[1],
                c[2]
            );
        }
        let path = dir.join("fixed_points.csv");
        csv_write(&path, &csv)?;
        written.push(path);
    }
    if let Some(p) = &a.pca {
        let k = p.pca.components.len();
        let dim = p.pca.dim;
        let mut arrays = BTreeMap::new();
        arrays.insert(
            "components".into(),
            f64s(&[k, dim], p.pca.components.concat()),
        );
        arrays.insert("variance".into(), f64s(&[k], p.pca.variance.clone()));
        arrays.insert("mean".into(), f64s(&[dim], p.pca.mean.clone()));
        arrays.insert(
            "conditions".into(),
            f64s(&[p.conditions.len()], p.conditions.clone()),
        );
        arrays.insert(
            "trajectories".into(),
            f64s(
                &[p.trajectories.len(), p.steps, 3],
                p.trajectories
                    .iter()
                    .flat_map(|c| c.iter().flat_map(|v| v.to_vec()))
                    .collect(),
            ),
        );
        let path = dir.join("pca.npz");
        write_npz(&path, &arrays)?;
        written.push(path);
        let mut csv = String::from("component,variance,explained_ratio\n");
        for (i, (v, r)) in p
            .pca
            .variance
            .iter()
            .zip(p.pca.explained_ratio())
            .enumerate()
        {
            let _ = writeln!(csv, "{},{v:.6e},{r:.6}", i + 1);
        }
        let path = dir.join("pca.csv");
        csv_write(&path, &csv)?;
        written.push(path);
    }
    if !a.psychometric.is_empty() {
        let mut csv =
            String::from("task,duration_ms,stim_difference,n_choice1,n_decided,p_choice1\n");
        let mut fits = String::from("task,duration_ms,bias,scale\n");
        for c in &a.psychometric {
            for (i, p) in c.p_choice1().iter().enumerate() {
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{p:.4}",
                    c.rule.name(),
                    c.duration_ms,
                    c.x[i],
                    c.n_choice1[i],
                    c.n_decided[i]
                );
            }
            if let Some(f) = c.fit {
                let _ = writeln!(
                    fits,
                    "{},{},{:.6},{:.6}",
                    c.rule.name(),
                    c.duration_ms,
                    f.bias,
                    f.scale
                );
            } else {
                let _ = writeln!(fits, "{},{},,", c.rule.name(), c.duration_ms);
            }
        }
        for (name, text) in [("psychometric.csv", csv), ("psychometric_fit.csv", fits)] {
            let path = dir.join(name);
            csv_write(&path, &text)?;
            written.push(path);
        }
    }
    if let Some(au) = &a.autapse {
        let mut csv = "unit,self_weight,slope,loop_gain,memory_ms\n".to_string();
        for u in 0..au.gain.len() {
            let _ = writeln!(
                csv,
                "{u},{:.6},{:.6},{:.6},{:.3}",
                au.self_weight[u], au.slope[u], au.gain[u], au.memory_ms[u]
            );
        }
        let path = dir.join("autapse.csv");
        csv_write(&path, &csv)?;
        written.push(path);
    }
    if let Some(v) = &a.variance {
        let nt = v.tasks.len();
        let n = v.variance.len() / nt;
        let mut csv = format!("unit,population,cluster,{}\n", v.tasks.join(","));
        let mut label = vec![-1i32; n];
        for (u, l) in v.clustering.active.iter().zip(&v.clustering.labels) {
            label[*u] = *l as i32 + 1;
        }
        for u in 0..n {
            let vals: Vec<String> = v.variance[u * nt..(u + 1) * nt]
                .iter()
                .map(|x| format!("{x:.6e}"))
                .collect();
            let _ = writeln!(
                csv,
                "{u},{},{},{}",
                if v.excitatory[u] { "E" } else { "I" },
                if label[u] < 0 {
                    "inactive".to_string()
                } else {
                    label[u].to_string()
                },
                vals.join(",")
            );
        }
        let path = dir.join("task_variance.csv");
        csv_write(&path, &csv)?;
        written.push(path);
        let mut arrays = BTreeMap::new();
        arrays.insert("task_variance".into(), f64s(&[n, nt], v.variance.clone()));
        arrays.insert("cluster".into(), NpyArray::i32(&[n], label));
        arrays.insert(
            "silhouette_k".into(),
            NpyArray::i32(
                &[v.clustering.scores.len()],
                v.clustering.scores.iter().map(|s| s.0 as i32).collect(),
            ),
        );
        arrays.insert(
            "silhouette".into(),
            f64s(
                &[v.clustering.scores.len()],
                v.clustering.scores.iter().map(|s| s.1).collect(),
            ),
        );
        let path = dir.join("task_variance.npz");
        write_npz(&path, &arrays)?;
        written.push(path);
    }
    if let Some(l) = &a.lesion {
        let mut csv = format!("lesion,units,{}\n", l.tasks.join(","));
        for (name, units, perf) in &l.rows {
            let vals: Vec<String> = perf.iter().map(|p| format!("{p:.4}")).collect();
            let _ = writeln!(csv, "{name},{units},{}", vals.join(","));
        }
        let path = dir.join("lesion.csv");
        csv_write(&path, &csv)?;
        written.push(path);
    }
    Ok(written)
}

/// Past any network a lesion can be run on.
const MAX_LESION_UNIT: usize = 1_000_000;

/// Parse a unit list such as `3,5,10-19` (ranges inclusive; indices below 1,000,000).
pub fn parse_units(text: &str) -> Result<Vec<usize>> {
    let bad = |w: &str| {
        Error::invalid(
            "--lesion",
            w,
            "allowed: unit indices (below 1000000) and ranges, e.g. 3,5,10-19",
        )
    };
    let mut units = vec![];
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad(word))?,
                    b.trim().parse().map_err(|_| bad(word))?,
                );
                // checked against the network's size later; bounded here so that a range is
                // never a list too long to hold
                if a > b || b >= MAX_LESION_UNIT {
                    return Err(bad(word));
                }
                units.extend(a..=b);
            }
            None => {
                let u: usize = word.parse().map_err(|_| bad(word))?;
                if u >= MAX_LESION_UNIT {
                    return Err(bad(word));
                }
                units.push(u);
            }
        }
    }
    if units.is_empty() {
        return Err(bad(text));
    }
    units.sort_unstable();
    units.dedup();
    Ok(units)
}
