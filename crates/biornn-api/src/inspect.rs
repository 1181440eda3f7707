//! Looking at tasks and trained runs: the task list, a batch of trials written to `.npz`, the
//! per-task performance of a run, and its analysis and report.

use crate::config::{Config, Kind};
use biornn_analysis::network::FreeRun;
use biornn_analysis::run::Subject;
use biornn_analysis::{Analysis, AnalysisOptions, Part};
use biornn_core::Stateful;
use biornn_numerics::npz::{write_npz, NpyArray};
use biornn_numerics::{Error, Result, Streams};
use biornn_report::NamedFigure;
use biornn_run::{weights_file, RunDir};
use biornn_tasks::modcog::ModCogOptions;
use biornn_tasks::{generate, BatchSpec, BatteryDef, Registry, Task, TaskConfig, Timing};
use biornn_train::checkpoint;
use biornn_train::engine::Engine;
use biornn_train::eval::{self, TaskScore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One task of a battery, for listings.
pub struct TaskInfo {
    pub index: u64,
    pub name: String,
    pub epochs: Vec<&'static str>,
    pub description: String,
}

/// One battery for listings: its name, its one-line description of inputs and outputs, its named
/// sets and its tasks.
pub struct BatteryInfo {
    pub name: &'static str,
    pub description: String,
    pub sets: Vec<(&'static str, usize)>,
    pub tasks: Vec<TaskInfo>,
}

/// The batteries a config can name (all of them, or the one called `only`).
pub fn batteries(only: Option<&str>) -> Result<Vec<BatteryInfo>> {
    let registry = Registry::standard();
    let chosen: Vec<&dyn BatteryDef> = match only {
        Some(name) => vec![registry.battery("--battery", name)?],
        None => registry.batteries().collect(),
    };
    let options = TaskConfig::default();
    chosen
        .into_iter()
        .map(|b| {
            let tasks = b
                .task_names()
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let t = match registry.task(b.name(), name, &options) {
                        Ok(t) => t,
                        // listed all the same, with the reason (a dataset not installed here)
                        Err(e) => {
                            return Ok(TaskInfo {
                                index: i as u64,
                                name: name.clone(),
                                epochs: vec![],
                                description: format!("unavailable here: {e}"),
                            })
                        }
                    };
                    Ok(TaskInfo {
                        index: t.key(),
                        name: name.clone(),
                        epochs: t.epoch_names().to_vec(),
                        description: t.summary(),
                    })
                })
                .collect::<Result<_>>()?;
            Ok(BatteryInfo {
                name: b.name(),
                description: b.description(),
                sets: b.sets().iter().map(|(n, s)| (*n, s.len())).collect(),
                tasks,
            })
        })
        .collect()
}

/// A batch of trials of one task, as `biornn task dump` and Python's `task_batch` ask for it.
#[derive(Debug, Clone)]
pub struct TrialsSpec {
    pub battery: String,
    pub task: String,
    pub batch: usize,
    pub seed: u64,
    /// which batch of the seed's sequence (batch k of a seed is the same whatever came before)
    pub index: u64,
    pub no_noise: bool,
    pub dt: f64,
    pub per_trial_timing: bool,
    pub easy: bool,
    /// Mod-Cog's `[task.modcog]` options (battery "modcog" only; [`modcog_options`] reads them)
    pub modcog: ModCogOptions,
}

/// Mod-Cog's options from `NAME` (a switch, set to true) or `NAME=VALUE` settings, as `biornn task
/// dump --modcog` gives them: the names and values of a config's `[task.modcog]`; an unknown name
/// or a wrong value is an error naming the setting.
pub fn modcog_options(settings: &[String]) -> Result<ModCogOptions> {
    let line = |setting: &String| -> Result<String> {
        let (name, value) = match setting.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => (setting.trim(), "true"),
        };
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(Error::invalid(
                "--modcog",
                setting,
                "allowed: NAME or NAME=VALUE, a name of [task.modcog]",
            ));
        }
        let value = match value {
            "true" | "false" => value.to_string(),
            v => format!("{:?}", v.trim_matches('"')),
        };
        Ok(format!("{name} = {value}\n"))
    };
    let lines = settings.iter().map(line).collect::<Result<Vec<_>>>()?;
    toml::from_str(&lines.concat()).map_err(|e| {
        // name the setting at fault: the first that fails on its own (else a repeated name)
        let culprit = settings
            .iter()
            .zip(&lines)
            .find(|(_, l)| toml::from_str::<ModCogOptions>(l).is_err());
        match culprit {
            Some((setting, l)) => {
                let e = toml::from_str::<ModCogOptions>(l).unwrap_err();
                Error::new(format!("--modcog {setting}: {}", e.message()))
            }
            None => Error::new(format!("--modcog {}: {}", settings.join(" "), e.message())),
        }
    })
}

/// Mod-Cog's options from the text of a `[task.modcog]` table (Python's `task_batch(modcog=...)`).
pub fn modcog_options_from_toml(text: &str) -> Result<ModCogOptions> {
    toml::from_str(text).map_err(|e| Error::new(format!("modcog: {e}")))
}

/// What `biornn task dump` writes.
#[derive(Debug, Clone)]
pub struct DumpSpec {
    pub trials: TrialsSpec,
    pub out: PathBuf,
}

/// A batch of trials: x [T,B,in], y [T,B,out], mask, y_loc [T,B], class, lengths, epoch
/// boundaries (`epoch_<name>_on`/`_off`), every latent trial parameter, the task's name and dt.
pub struct TrialArrays {
    pub arrays: BTreeMap<String, NpyArray>,
    pub task: String,
    pub steps: usize,
    pub batch: usize,
}

/// Generate a batch of trials as named arrays.
pub fn task_arrays(spec: &TrialsSpec) -> Result<TrialArrays> {
    if !(spec.dt.is_finite() && (0.1..=100.0).contains(&spec.dt)) {
        return Err(Error::invalid(
            "--dt",
            spec.dt,
            "allowed: a step from 0.1 to 100 ms",
        ));
    }
    if spec.battery != "modcog" && !spec.modcog.is_default() {
        let asked = toml::to_string(&spec.modcog).unwrap_or_default();
        let default = toml::to_string(&ModCogOptions::default()).unwrap_or_default();
        let changed: Vec<&str> = asked
            .lines()
            .filter(|line| !default.lines().any(|d| d == *line))
            .collect();
        return Err(Error::invalid(
            "--modcog",
            changed.join(", "),
            &format!(
                "allowed only with --battery modcog (asked: {})",
                spec.battery
            ),
        ));
    }
    let options = TaskConfig {
        easy: spec.easy,
        dt: spec.dt,
        modcog: spec.modcog,
        ..Default::default()
    };
    let registry = Registry::standard();
    // the battery names its config fields; say which flag set them: what it refuses with Mod-Cog's
    // defaults is the step's fault, what it refuses only with the options asked is theirs
    let battery = registry.battery("--battery", &spec.battery)?;
    let with_defaults = TaskConfig {
        modcog: ModCogOptions::default(),
        ..options.clone()
    };
    battery
        .validate(&with_defaults)
        .map_err(|e| Error::invalid("--dt", spec.dt, &e.to_string()))?;
    battery
        .validate(&options)
        .map_err(|e| e.context("--modcog"))?;
    let task = registry.task(&spec.battery, &spec.task, &options)?;
    if spec.batch == 0 || spec.batch > 1 << 16 {
        return Err(Error::invalid("--batch", spec.batch, "allowed: 1 to 65536"));
    }
    let dt = spec.dt;
    let bspec = BatchSpec {
        dt,
        batch_size: spec.batch,
        timing: if spec.per_trial_timing {
            Timing::PerTrial
        } else {
            Timing::PerBatch
        },
        input_noise_std: if spec.no_noise {
            0.0
        } else {
            // the battery's own input noise, as training takes it (none for Mod-Cog)
            TaskConfig {
                dt,
                battery: spec.battery.clone(),
                ..Default::default()
            }
            .input_noise_std(100.0)
        },
    };
    let b = generate(&task, &bspec, &Streams::new(spec.seed), spec.index);
    let (t, n) = (b.steps, b.batch);
    let mut m: BTreeMap<String, NpyArray> = BTreeMap::new();
    m.insert("x".into(), NpyArray::f32(&[t, n, b.n_in], b.x));
    m.insert("y".into(), NpyArray::f32(&[t, n, b.n_out], b.y));
    m.insert("mask".into(), NpyArray::f32(&[t, n, b.n_out], b.cost));
    m.insert("y_loc".into(), NpyArray::f32(&[t, n], b.y_loc));
    m.insert("class".into(), NpyArray::i32(&[t, n], b.class));
    m.insert(
        "lengths".into(),
        NpyArray::i32(&[n], b.lengths.iter().map(|l| *l as i32).collect()),
    );
    for (name, on, off) in b.epochs {
        m.insert(format!("epoch_{name}_on"), NpyArray::i32(&[n], on));
        m.insert(format!("epoch_{name}_off"), NpyArray::i32(&[n], off));
    }
    for (name, v) in b.latents {
        m.insert(name.to_string(), NpyArray::new::<f64>(&[n], v));
    }
    m.insert("task".into(), NpyArray::string(task.name()));
    m.insert("dt".into(), NpyArray::f32(&[], vec![dt as f32]));
    Ok(TrialArrays {
        arrays: m,
        task: task.name().to_string(),
        steps: t,
        batch: n,
    })
}

/// Write a batch of trials ([`task_arrays`]) to `.npz`. Returns (trials, task name, steps).
pub fn dump_task(spec: &DumpSpec) -> Result<(usize, String, usize)> {
    let t = task_arrays(&spec.trials)?;
    write_npz(&spec.out, &t.arrays)?;
    Ok((t.batch, t.task, t.steps))
}

/// The per-task performance of a run's weights; for a run of K networks (the long-term and
/// rule-reversal protocols), each network's score instead.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub checkpoint: String,
    /// the training step the weights are from (a long-term or rule-reversal run's: its round)
    pub step: usize,
    /// a long-term or rule-reversal run's updates of each network, `updates_per_round` a round
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<usize>,
    pub recurrent_noise: bool,
    pub tasks: Vec<TaskScore>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkScore>,
    /// over the networks, the protocol's summary statistic (long-term and rule-reversal runs)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trimmed_mean: Option<f64>,
    pub min_perf: f64,
    pub mean_perf: f64,
}

/// One network of a long-term or rule-reversal run on fresh trials of its task: the protocol's
/// performance and the parts that tell what a network has not learned.
///
/// A long-term network's parts are the three its performance combines (the reference's
/// `evalA/B/C`): `fix1`, the fraction of fixation-epoch points (from 0.2 s in) with the fixation
/// output held; `fix2`, of response-window points with fixation released (held, on trials that
/// need no response); `res`, of response-window points whose decoded angle is within 0.2 pi of
/// the target. A rule-reversal network's are the fractions of ideal answers on trials 2 to 5
/// whose rule to answer by has just reversed (`after_switch`: the last feedback said an answer
/// by the old rule was wrong) and on those whose rule has not (`after_stay`). A multi-area
/// network's are its accuracies on the trials whose right answer is a match and on the others
/// (`match`, `non_match`; `right`, `left` for random-dot motion).
#[derive(Debug, Clone, Serialize)]
pub struct NetworkScore {
    pub network: usize,
    pub task: String,
    pub perf: f64,
    #[serde(flatten)]
    pub parts: BTreeMap<String, f64>,
    /// task trials scored
    pub trials: usize,
}

/// Evaluate the final weights of a run (or its newest checkpoint, or a weights file) on `trials`
/// trials per task; `recurrent_noise` overrides the run's setting. A long-term or rule-reversal
/// run's networks are scored one by one ([`NetworkScore`]).
pub fn evaluate_run(
    run: &Path,
    trials: usize,
    recurrent_noise: Option<bool>,
) -> Result<EvalReport> {
    if trials == 0 {
        return Err(Error::invalid("--trials", 0, "allowed: a positive count"));
    }
    if !run.exists() {
        weights_file(run)?; // says what RUN may be
    }
    // a run's model.npz or checkpoint is of the run's kind; a file elsewhere carries its config
    // (CTRNN checkpoints) or is refused by the reader
    let home = if run.is_dir() {
        Some(run.to_path_buf())
    } else {
        biornn_run::run_of_weights_file(run)
    };
    let kind = match &home {
        Some(dir) => run_kind(dir)?,
        None => Kind::CtrnnBptt,
    };
    const SCORES: &str = "`eval` scores CTRNN runs (network kind ctrnn, rule bptt or rflo), \
                          long-term, rule-reversal and multi-area runs";
    let stand_alone = home.is_none();
    match (kind, home) {
        (Kind::LongTerm | Kind::Reversal, Some(dir)) => {
            return evaluate_protocol(&dir, &weights_file(run)?, trials, recurrent_noise)
        }
        (Kind::MultiAreaBptt, Some(dir)) => {
            return evaluate_multiarea(&dir, &weights_file(run)?, trials, recurrent_noise)
        }
        // FORCE's network runs with its readout fed back, which the CTRNN evaluation has not
        (Kind::CtrnnBptt | Kind::CtrnnRflo, _) => {}
        (other, _) => {
            let what = match other {
                Kind::CtrnnForce => "a CTRNN trained by FORCE (its readout fed back)".to_string(),
                _ => {
                    let (network, rule) = other.names();
                    format!("a {network} network trained by {rule}")
                }
            };
            return Err(Error::new(format!(
                "{}: {SCORES}; this is {what}, whose scores are in its metrics.csv and \
                 summary.json",
                run.display()
            )));
        }
    }
    let path = weights_file(run)?;
    let mut loaded = checkpoint::load(&path).map_err(|e| match stand_alone {
        // a weights file away from its run: perhaps one of a kind that carries no config
        true => Error::new(format!(
            "{e}; {SCORES}: a weights file of another kind is scored from its run directory"
        )),
        false => e,
    })?;
    if let Some(on) = recurrent_noise {
        loaded.config.train.eval_recurrent_noise = on;
    }
    let scores = eval::evaluate(&loaded.net, &loaded.config, trials, &mut Engine::default())?;
    let (min_perf, mean_perf) = eval::min_mean(&scores);
    Ok(EvalReport {
        checkpoint: path.display().to_string(),
        step: loaded.step,
        recurrent_noise: loaded.config.train.eval_recurrent_noise,
        updates: None,
        tasks: scores,
        networks: vec![],
        trimmed_mean: None,
        min_perf,
        mean_perf,
    })
}

/// A multi-area run's CTRNN, behind its front end, on `trials` fresh test trials (stream
/// `inspect_trials`): its accuracy and loss, and its accuracy by the right answer (`match` and
/// `non_match`, or `right` and `left` for random-dot motion), which shows a network that favours
/// one answer. Noise-free, as its training and evaluation run.
fn evaluate_multiarea(
    run: &Path,
    weights: &Path,
    trials: usize,
    recurrent_noise: Option<bool>,
) -> Result<EvalReport> {
    if recurrent_noise == Some(true) {
        return Err(Error::invalid(
            "--recurrent-noise",
            "on",
            "allowed: off (a multi-area run trains and is evaluated without recurrent noise)",
        ));
    }
    let dir = RunDir::open(run)?;
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_vision::multiarea::MultiAreaRunConfig::from_toml(&text)
        .map_err(|e| e.context(dir.config_path().display()))?;
    let (arrays, step) = state_in(weights)?;
    let mut learner = biornn_vision::multiarea::MultiAreaLearner::new(&cfg)?;
    learner
        .load_state("", &arrays)
        .map_err(|e| e.context(weights.display()))?;
    let s = learner.test_score("inspect_trials", trials);
    let names = match cfg.task.kind.as_str() {
        "dots" => ["right", "left"],
        _ => ["match", "non_match"],
    };
    let parts = named_parts([
        (names[0], fraction_right(s.by_answer[0])),
        (names[1], fraction_right(s.by_answer[1])),
    ]);
    Ok(EvalReport {
        checkpoint: weights.display().to_string(),
        step: step.unwrap_or(0),
        updates: None,
        recurrent_noise: false,
        tasks: vec![TaskScore {
            task: cfg.task.kind.clone(),
            perf: s.accuracy,
            accuracy: None,
            ambiguous_trials: None,
            accuracy_without_ambiguous: None,
            loss: s.loss,
            trials: s.trials,
        }],
        networks: vec![NetworkScore {
            network: 0,
            task: cfg.task.kind.clone(),
            perf: s.accuracy,
            parts,
            trials: s.trials,
        }],
        trimmed_mean: None,
        min_perf: s.accuracy,
        mean_perf: s.accuracy,
    })
}

/// A network's scores on parts of its trials, by name ([`NetworkScore::parts`]).
fn named_parts<const N: usize>(named: [(&str, f64); N]) -> BTreeMap<String, f64> {
    named.map(|(name, v)| (name.to_string(), v)).into()
}

/// The fraction of `of` trials answered right; NaN (`null` in JSON) when there were none, which
/// a 0 would pass off as all wrong.
fn fraction_right((right, of): (usize, usize)) -> f64 {
    match of {
        0 => f64::NAN,
        _ => right as f64 / of as f64,
    }
}

/// A long-term or rule-reversal run's learner, its state loaded from a weights file.
enum ProtocolRun {
    LongTerm(
        biornn_train::longterm::LongTermConfig,
        biornn_train::longterm::LongTermLearner,
    ),
    Reversal(
        biornn_train::reversal::ReversalConfig,
        biornn_train::reversal::ReversalLearner,
    ),
}

/// The run in `dir` as its learner, with the state in `weights` (its model.npz or a checkpoint)
/// and the step that state names.
fn protocol_run(dir: &RunDir, weights: &Path) -> Result<(ProtocolRun, Option<usize>)> {
    let text = dir.read_config().unwrap_or_default();
    let config = Config::from_toml(&text).map_err(|e| e.context(dir.config_path().display()))?;
    let (arrays, step) = state_in(weights)?;
    let loaded = |e: Error| e.context(weights.display());
    let run = match config {
        Config::LongTerm(cfg) => {
            let mut learner = biornn_train::longterm::LongTermLearner::new(&cfg)?;
            learner.load_state("", &arrays).map_err(loaded)?;
            ProtocolRun::LongTerm(cfg, learner)
        }
        Config::Reversal(cfg) => {
            let mut learner = biornn_train::reversal::ReversalLearner::new(&cfg)?;
            learner.load_state("", &arrays).map_err(loaded)?;
            ProtocolRun::Reversal(cfg, learner)
        }
        _ => {
            return Err(Error::new(format!(
                "{}: not a long-term or rule-reversal run",
                dir.path().display()
            )))
        }
    };
    Ok((run, step))
}

/// Each network of a long-term or rule-reversal run, from the state in `weights` (its model.npz
/// or a checkpoint), on fresh trials ([`biornn_train::longterm::LongTermLearner::score_networks`],
/// [`biornn_train::reversal::ReversalLearner::score_networks`]): `trials` of a long-term task, or
/// the whole batches of rule-reversal sequences that hold at least `trials` task trials; with
/// recurrent noise unless `recurrent_noise` says off, as the protocols evaluate.
fn evaluate_protocol(
    run: &Path,
    weights: &Path,
    trials: usize,
    recurrent_noise: Option<bool>,
) -> Result<EvalReport> {
    let (protocol, step) = protocol_run(&RunDir::open(run)?, weights)?;
    let noisy = recurrent_noise.unwrap_or(true);
    let (networks, trim, per_round) = match protocol {
        ProtocolRun::LongTerm(cfg, mut learner) => {
            let networks: Vec<NetworkScore> = learner
                .score_networks(trials, noisy)?
                .iter()
                .enumerate()
                .map(|(k, s)| NetworkScore {
                    network: k,
                    task: cfg.task.name().to_string(),
                    perf: s.performance,
                    parts: named_parts([("fix1", s.fix1), ("fix2", s.fix2), ("res", s.res)]),
                    trials,
                })
                .collect();
            (networks, cfg.trim, cfg.updates_per_round)
        }
        ProtocolRun::Reversal(cfg, mut learner) => {
            use biornn_tasks::reversal::TRIALS;
            let per_batch = learner.sequences_per_batch() * TRIALS;
            let batches = trials.div_ceil(per_batch);
            let networks = learner
                .score_networks(batches, noisy)?
                .iter()
                .enumerate()
                .map(|(k, s)| NetworkScore {
                    network: k,
                    task: "reversal".into(),
                    perf: s.score,
                    parts: named_parts([
                        ("after_switch", fraction_right(s.switch)),
                        ("after_stay", fraction_right(s.stay)),
                    ]),
                    trials: batches * per_batch,
                })
                .collect();
            // the trimmed mean its rounds report (the middle 80%)
            (networks, 0.1, cfg.updates_per_round)
        }
    };
    let perf: Vec<f64> = networks.iter().map(|s: &NetworkScore| s.perf).collect();
    let min_perf = perf.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(EvalReport {
        checkpoint: weights.display().to_string(),
        step: step.unwrap_or(0),
        updates: step.map(|s| s * per_round),
        recurrent_noise: noisy,
        tasks: vec![],
        networks,
        trimmed_mean: Some(biornn_run::trimmed_mean(&perf, trim)),
        min_perf,
        mean_perf: perf.iter().sum::<f64>() / perf.len().max(1) as f64,
    })
}

/// The trained network of a run: `model.npz`, or the newest good checkpoint while it trains.
pub fn load_weights(run: &RunDir) -> Result<checkpoint::Loaded> {
    let files = run.weights_files();
    if files.is_empty() {
        return Err(Error::new(format!(
            "{}: no model.npz and no checkpoints",
            run.path().display()
        )));
    }
    let mut failures = vec![];
    for f in &files {
        match checkpoint::load(f) {
            Ok(l) => return Ok(l),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(Error::new(format!(
        "{}: no readable model.npz or checkpoint ({})",
        run.path().display(),
        failures.join("; ")
    )))
}

/// A trained CTRNN: from a run directory ([`load_weights`]) or a weights file itself.
pub fn load_network(path: &Path) -> Result<checkpoint::Loaded> {
    if path.is_dir() {
        load_weights(&RunDir::open(path)?)
    } else {
        checkpoint::load(path)
    }
}

/// Run a network on `input` (`[n_in, steps*batch]` column-major, i.e. `[T, B, n_in]` in C order)
/// from its initial state, with recurrent noise from `noise_seed`'s `recurrent` stream when given
/// (the one the analyses use), deterministically otherwise.
pub fn run_network(
    net: &biornn_model::Ctrnn<f32>,
    input: &[f32],
    steps: usize,
    batch: usize,
    noise_seed: Option<u64>,
) -> biornn_model::Trajectory<f32> {
    let mut traj = biornn_model::Trajectory::default();
    if let Some(seed) = noise_seed {
        net.sample_noise(
            &mut traj,
            steps,
            batch,
            &mut Streams::new(seed).stream("recurrent", 0),
        );
    }
    net.forward(input, steps, batch, noise_seed.is_some(), &mut traj);
    traj
}

/// Where a run directory keeps what readers outside Rust open.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub config: PathBuf,
    pub metrics: PathBuf,
    pub summary: PathBuf,
    pub analysis: PathBuf,
    /// `model.npz`, or the newest checkpoint while the run trains
    pub weights: Option<PathBuf>,
}

pub fn run_files(path: &Path) -> Result<RunFiles> {
    let dir = RunDir::open(path)?;
    // runs from before the run layer may have only checkpoints (killed) or a summary
    if !dir.config_path().exists()
        && !dir.model_path().exists()
        && !dir.summary_path().exists()
        && !dir.has_checkpoint()
    {
        return Err(Error::new(format!(
            "{}: not a run directory (no config.toml or model.npz; a directory of runs holds one per run)",
            path.display()
        )));
    }
    Ok(RunFiles {
        config: dir.config_path(),
        metrics: dir.metrics_path(),
        summary: dir.summary_path(),
        analysis: dir.analysis_dir(),
        weights: dir.weights_file().ok(),
    })
}

/// What `biornn analyze` and `biornn report` run.
#[derive(Debug, Clone)]
pub struct AnalyzeSpec {
    /// comma-separated: fixed-points, pca, psychometric, variance, lesion
    pub what: String,
    pub task: Option<String>,
    pub inits: usize,
    pub seed: u64,
    /// extra unit sets to silence, e.g. `3,5,10-19`
    pub lesions: Vec<String>,
    /// which network of a run that trains several side by side (default: the first)
    pub net: Option<usize>,
}

/// Analyse a run and write `RUN/analysis/`: results (`.npz`, `.csv`) and figures (`.png`,
/// `.svg`). Returns the analysis, its figures and how many files were written where.
pub fn analyze(
    run: &Path,
    spec: &AnalyzeSpec,
) -> Result<(Analysis, Vec<NamedFigure>, Vec<PathBuf>, PathBuf)> {
    let dir = RunDir::open(run)?;
    let mut opts = AnalysisOptions {
        parts: Part::parse_list(&spec.what)?,
        task: spec.task.clone(),
        seed: spec.seed,
        ..AnalysisOptions::default()
    };
    opts.fixed_points.n_inits = spec.inits;
    for text in &spec.lesions {
        let units = biornn_analysis::run::parse_units(text)?;
        // no commas in the name: it is a CSV field
        opts.lesion_sets
            .push((format!("units {}", text.replace(',', " ")), units));
    }
    opts.fixed_points.validate()?;
    let kind = match dir.read_config() {
        Some(text) => Kind::of_toml(&text).map_err(|e| e.context(dir.config_path().display()))?,
        None => Kind::CtrnnBptt,
    };
    let analysis = match kind {
        Kind::CtrnnBptt | Kind::CtrnnRflo => {
            only_network(spec.net)?;
            analyze_ctrnn(&dir, &opts)?
        }
        Kind::ReservoirRls => analyze_reservoir(&dir, &opts, spec.net)?,
        Kind::CtrnnForce => analyze_ctrnn_force(&dir, &opts, spec.net)?,
        Kind::R2n2Replay => {
            only_network(spec.net)?;
            analyze_r2n2(&dir, &opts)?
        }
        Kind::LeakyRnnRflo | Kind::LeakyRnnEsn => {
            only_network(spec.net)?;
            analyze_leaky_rnn(&dir, &opts)?
        }
        Kind::LongTerm | Kind::Reversal => analyze_protocol_member(&dir, &opts, spec.net)?,
        Kind::EliseUrbanczikSenn => {
            return Err(Error::new(format!(
                "{}: an ELiSe run is taken apart by `biornn replay RUN` (replay, disruptions, the time-shift scores); fixed points and PCA of it are not built yet",
                dir.path().display()
            )))
        }
        Kind::MultiAreaBptt => {
            only_network(spec.net)?;
            analyze_multiarea(&dir, &opts)?
        }
        Kind::CordsNetBptt | Kind::CordsNetInverse => {
            return Err(Error::new(format!(
                "{}: a CordsNet run is analysed by `cordsnet_analysis` (as `analyze_run` and `biornn analyze RUN` do): its spontaneous fixed point and each area's Arnoldi spectrum there",
                dir.path().display()
            )))
        }
    };
    // a run of several networks keeps each network's analysis in a folder of its own
    let several = match kind {
        Kind::ReservoirRls => {
            let text = dir.read_config().unwrap_or_default();
            biornn_reservoir::ForceRunConfig::from_toml(&text)?
                .train
                .networks
                > 1
        }
        Kind::CtrnnForce => {
            let text = dir.read_config().unwrap_or_default();
            biornn_reservoir::CtrnnForceRunConfig::from_toml(&text)?
                .train
                .networks
                > 1
        }
        Kind::LongTerm | Kind::Reversal => true,
        Kind::CtrnnBptt
        | Kind::CtrnnRflo
        | Kind::R2n2Replay
        | Kind::EliseUrbanczikSenn
        | Kind::CordsNetBptt
        | Kind::CordsNetInverse
        | Kind::MultiAreaBptt
        | Kind::LeakyRnnRflo
        | Kind::LeakyRnnEsn => false,
    };
    let log = biornn_report::RunLog::read(run);
    let out = if several {
        dir.analysis_dir()
            .join(format!("net{}", spec.net.unwrap_or(0)))
    } else {
        dir.analysis_dir()
    };
    let mut written = biornn_analysis::write_results(&analysis, &out)?;
    let figs = biornn_report::all_figures(&analysis, &log);
    written.extend(biornn_report::write_figures(&figs, &out)?);
    Ok((analysis, figs, written, out))
}

/// `--net` on a run of one network: nothing, or 0.
fn only_network(net: Option<usize>) -> Result<()> {
    match net.filter(|k| *k > 0) {
        Some(k) => Err(Error::invalid(
            "--net",
            k,
            "allowed: 0 (this run trains one network)",
        )),
        None => Ok(()),
    }
}

/// What [`analyze_run`] did: the analysis (none for a CordsNet run, whose spectra are written by
/// [`cordsnet_analysis`]), the result and figure files written and their folder.
pub struct AnalysisWritten {
    pub analysis: Option<Analysis>,
    pub files: Vec<PathBuf>,
    pub dir: PathBuf,
}

/// `biornn analyze RUN` for a run of any kind: [`cordsnet_analysis`] for a CordsNet run (the
/// parts in `spec` do not apply to it), [`analyze`] for every other.
pub fn analyze_run(run: &Path, spec: &AnalyzeSpec) -> Result<AnalysisWritten> {
    if matches!(run_kind(run)?, Kind::CordsNetBptt | Kind::CordsNetInverse) {
        // what does not apply is still checked: a misspelt part is an error on every kind
        Part::parse_list(&spec.what)?;
        only_network(spec.net)?;
        let (files, dir) = cordsnet_analysis(run, false)?;
        return Ok(AnalysisWritten {
            analysis: None,
            files,
            dir,
        });
    }
    let (analysis, _, files, dir) = analyze(run, spec)?;
    Ok(AnalysisWritten {
        analysis: Some(analysis),
        files,
        dir,
    })
}

/// A reservoir run, through the core traits alone: the trained network run freely (no input) for
/// one period of its target from 8 random states, and the fixed points of its map.
/// With several networks side by side, network `net` (default the first).
fn analyze_reservoir(dir: &RunDir, opts: &AnalysisOptions, net: Option<usize>) -> Result<Analysis> {
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_reservoir::ForceRunConfig::from_toml(&text)?;
    let (networks, init_std) = (cfg.train.networks, cfg.network.init_std);
    let build = |seed| cfg.member(seed);
    analyze_force(
        dir,
        opts,
        net,
        (cfg.seed, networks),
        init_std,
        &cfg.task,
        build,
    )
}

fn analyze_ctrnn_force(
    dir: &RunDir,
    opts: &AnalysisOptions,
    net: Option<usize>,
) -> Result<Analysis> {
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_reservoir::CtrnnForceRunConfig::from_toml(&text)?;
    let (networks, init_std) = (cfg.train.networks, cfg.network.init_std);
    let build = |seed| cfg.member(seed);
    analyze_force(
        dir,
        opts,
        net,
        (cfg.seed, networks),
        init_std,
        &cfg.task,
        build,
    )
}

/// A FORCE run's network `net` (its final state) analysed from free runs of one period, started
/// around the spread of its initial state.
fn analyze_force<N: biornn_reservoir::rls::TrainedReadout>(
    dir: &RunDir,
    opts: &AnalysisOptions,
    net: Option<usize>,
    (seed, networks): (u64, usize),
    init_std: f64,
    task: &biornn_reservoir::SinesConfig,
    build: impl Fn(
        u64,
    )
        -> Result<biornn_core::Online<N, biornn_reservoir::Rls, biornn_reservoir::Sines>>,
) -> Result<Analysis> {
    let (arrays, step) = final_state(dir)?;
    let k = member(net, networks)?;
    let mut learner = build(seed + k as u64)?;
    let prefix = if networks == 1 {
        String::new()
    } else {
        biornn_run::ensemble::member_prefix(k)
    };
    learner.load_state(&prefix, &arrays)?;
    let n = learner.net.n_units();
    let label = if networks == 1 {
        "free run".to_string()
    } else {
        format!("network {k}, free run")
    };
    let mut rng = Streams::new(opts.seed).stream("free_run_starts", 0);
    let starts: Vec<f64> = (0..8 * n)
        .map(|_| rng.normal() * init_std.max(0.1))
        .collect();
    let run = FreeRun {
        input: &[],
        starts: &starts,
        steps: task.period_steps,
        label: &label,
    };
    biornn_analysis::network::analyze_network(dir.path(), &learner.net, step, &run, opts)
}

/// The constant input a sequence task's network is analysed under: symbol a for a^n b^n, a
/// blank row for digits.
fn held_input(task: &biornn_tasks::sequences::SequenceTaskConfig) -> (Vec<f64>, String) {
    let mut input = vec![0.0; task.sizes().0];
    if task.kind == "anbn" {
        input[0] = 1.0;
        (input, "free run, input a".into())
    } else {
        (input, "free run, blank rows".into())
    }
}

/// A sequence rule's trained network through its one-step map (held at `input`): run freely for
/// 60 steps from 8 random states, and the fixed points of the map.
fn analyze_held(
    dir: &RunDir,
    opts: &AnalysisOptions,
    dynamics: &dyn biornn_core::Dynamics,
    step: usize,
    (input, label): (&[f64], &str),
) -> Result<Analysis> {
    let mut rng = Streams::new(opts.seed).stream("free_run_starts", 0);
    let starts: Vec<f64> = (0..8 * dynamics.dim())
        .map(|_| rng.normal() * 0.5)
        .collect();
    let run = FreeRun {
        input,
        starts: &starts,
        steps: 60,
        label,
    };
    biornn_analysis::network::analyze_dynamics(dir.path(), dynamics, step, &run, opts)
}

/// An R2N2 run through its one-step map (state `[h_A; h_B]`).
fn analyze_r2n2(dir: &RunDir, opts: &AnalysisOptions) -> Result<Analysis> {
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_r2n2::R2n2RunConfig::from_toml(&text)?;
    let (arrays, step) = final_state(dir)?;
    let net = biornn_r2n2::trained_network(&cfg, &arrays)?;
    let (input, label) = held_input(&cfg.task);
    let dynamics = biornn_r2n2::R2n2Dynamics {
        net: &net,
        input: input.clone(),
    };
    analyze_held(dir, opts, &dynamics, step, (&input, &label))
}

/// An RFLO or echo-state run through its one-step map.
fn analyze_leaky_rnn(dir: &RunDir, opts: &AnalysisOptions) -> Result<Analysis> {
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_reservoir::RfloRunConfig::from_toml(&text)?;
    let (arrays, step) = final_state(dir)?;
    let mut learner = biornn_reservoir::RfloLearner::new(&cfg)?;
    learner.load_state("", &arrays)?;
    let (input, label) = held_input(&cfg.task);
    let dynamics = biornn_reservoir::rflo::LeakyRnnDynamics {
        net: &learner.net,
        input: input.clone(),
    };
    analyze_held(dir, opts, &dynamics, step, (&input, &label))
}

/// The state a run ended with (or the newest checkpoint's, while it trains) and its step.
fn final_state(dir: &RunDir) -> Result<(biornn_core::Arrays, usize)> {
    let (arrays, step) = state_in(&dir.weights_file()?)?;
    Ok((arrays, step.unwrap_or(0)))
}

/// The arrays of a weights file, checksum checked, and the step its loop state names (none for a
/// file without one).
fn state_in(weights: &Path) -> Result<(biornn_core::Arrays, Option<usize>)> {
    let arrays = biornn_run::checkpoint::read_checked(weights)?;
    let step = biornn_run::LoopState::load(&arrays).ok().map(|s| s.step);
    Ok((arrays, step))
}

/// What `biornn replay` runs on a trained ELiSe network.
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    /// replay cycles, the first `nudged` with the teacher
    pub cycles: usize,
    pub nudged: usize,
    /// "none" (plain replay) and disruptions by name (`biornn_dendritic::DISRUPTIONS`)
    pub variants: Vec<String>,
}

/// One replay's free cycles, scored with the time-shift search.
#[derive(Debug, Clone)]
pub struct ReplayVariant {
    pub name: String,
    pub scores: Vec<biornn_dendritic::ShiftScore>,
}

/// Replay a trained ELiSe run from its final state, once per variant (each from the same state),
/// and write `RUN/analysis/replay.csv` (variant, cycle, MSE, shift, correlation) and the plain
/// replay's rates, `RUN/analysis/replay_rates.npz` (`rates` `[cycle, sample, neuron]` every
/// 0.2 ms, `target` `[sample, neuron]`).
pub fn replay(run: &Path, spec: &ReplaySpec) -> Result<(Vec<ReplayVariant>, PathBuf)> {
    use rayon::prelude::*;
    let dir = RunDir::open(run)?;
    let text = dir.read_config().unwrap_or_default();
    if Kind::of_toml(&text)? != Kind::EliseUrbanczikSenn {
        return Err(Error::new(format!(
            "{}: not an ELiSe run (`biornn replay` replays [network] kind = \"elise\")",
            run.display()
        )));
    }
    if spec.cycles > 10_000 {
        return Err(Error::invalid(
            "--cycles",
            spec.cycles,
            "allowed: 1 to 10000 (every cycle's rates are kept for the scores)",
        ));
    }
    if spec.nudged >= spec.cycles {
        return Err(Error::invalid(
            "--nudged",
            spec.nudged,
            &format!("allowed: fewer than --cycles = {}", spec.cycles),
        ));
    }
    let cfg = biornn_dendritic::EliseRunConfig::from_toml(&text)?;
    let (arrays, _) = final_state(&dir)?;
    let mut trained = biornn_dendritic::EliseLearner::new(&cfg)?;
    trained.load_state("", &arrays)?;
    let (n_vis, len, e_l) = (trained.net.n_vis, trained.teacher.len, trained.net.p.e_l);
    let disruptions = spec
        .variants
        .iter()
        .map(|v| match v.as_str() {
            "none" => Ok(None),
            name => biornn_dendritic::Disruption::preset(name, n_vis, len, e_l)
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid(
                        "--disruption",
                        name,
                        &format!(
                            "allowed: none, {}",
                            biornn_dendritic::DISRUPTIONS.join(", ")
                        ),
                    )
                }),
        })
        .collect::<Result<Vec<_>>>()?;
    // a disruption must fall in a free cycle, and the cycle after it (its recovery) be scored:
    // scores cover the free cycles but the last
    for (name, d) in spec.variants.iter().zip(&disruptions) {
        if let Some(d) = d {
            let last = d.cue.as_ref().map_or(d.cycle, |(c, _)| *c);
            if spec.nudged > d.cycle {
                return Err(Error::invalid(
                    "--nudged",
                    spec.nudged,
                    &format!(
                        "allowed: at most {} with --disruption {name} (it disrupts cycle {}, counted from 0, which must be free)",
                        d.cycle, d.cycle
                    ),
                ));
            }
            if spec.cycles < last + 3 {
                return Err(Error::invalid(
                    "--cycles",
                    spec.cycles,
                    &format!(
                        "allowed: at least {} with --disruption {name} (the cycle after cycle {last} is its recovery, and the last cycle is not scored)",
                        last + 3
                    ),
                ));
            }
        }
    }
    let runs: Vec<(biornn_dendritic::Replay, Vec<biornn_dendritic::ShiftScore>)> = disruptions
        .par_iter()
        .map(|d| {
            let mut learner = trained.clone();
            let r = learner.replay(spec.cycles, spec.nudged, d.as_ref());
            let scores = r.scores();
            (r, scores)
        })
        .collect();
    let out = dir.analysis_dir();
    std::fs::create_dir_all(&out).map_err(|e| Error::new(format!("{}: {e}", out.display())))?;
    let mut csv = String::from("variant,cycle,mse,shift_ms,correlation\n");
    let mut variants = vec![];
    for (name, (_, scores)) in spec.variants.iter().zip(&runs) {
        for s in scores {
            csv += &format!(
                "{name},{},{:.6},{:.1},{:.4}\n",
                s.cycle,
                s.mse,
                s.shift as f64 * 2.0 * trained.net.p.dt,
                s.correlation
            );
        }
        variants.push(ReplayVariant {
            name: name.clone(),
            scores: scores.clone(),
        });
    }
    biornn_numerics::npz::write_atomic(&out.join("replay.csv"), csv.as_bytes())?;
    if let Some((r, _)) = spec
        .variants
        .iter()
        .position(|v| v == "none")
        .map(|k| &runs[k])
    {
        let mut arrays = biornn_core::Arrays::new();
        arrays.insert(
            "rates".into(),
            NpyArray::new::<f64>(&[r.cycles(), r.samples, r.n_vis], r.rates.clone()),
        );
        arrays.insert(
            "target".into(),
            NpyArray::new::<f64>(&[r.samples, r.n_vis], r.target.clone()),
        );
        write_npz(&out.join("replay_rates.npz"), &arrays)?;
    }
    Ok((variants, out))
}

/// The kind of the run in `run` (from its `config.toml`; a CTRNN trained by BPTT without one).
pub fn run_kind(run: &Path) -> Result<Kind> {
    let dir = RunDir::open(run)?;
    match dir.read_config() {
        Some(text) => Kind::of_toml(&text).map_err(|e| e.context(dir.config_path().display())),
        None => Ok(Kind::CtrnnBptt),
    }
}

/// The report of an ELiSe run, `RUN/report.html`: the target, the last nudged and the last free
/// validation cycle as heat maps, the free and nudged errors against training cycles, and, when
/// `biornn replay` has run, the error of each replay cycle per variant.
pub fn elise_report(run: &Path) -> Result<PathBuf> {
    use biornn_report::sequence::{curves, heatmaps, write_sequence_report, Raster};
    use biornn_report::NamedFigure;
    let dir = RunDir::open(run)?;
    let (arrays, step) = final_state(&dir)?;
    let get = |k: &str| -> Result<Vec<f64>> {
        arrays
            .get(k)
            .ok_or_else(|| Error::new(format!("{}: no `{k}` (not an ELiSe run?)", run.display())))?
            .to_real::<f64>()
    };
    let n_vis = get("n_visible")?.first().copied().unwrap_or(1.0) as usize;
    let (target, nudged, free) = (
        get("target_rates")?,
        get("nudged_rates")?,
        get("free_rates")?,
    );
    let mut figs = vec![NamedFigure {
        name: "rates",
        title: "Target, nudged and free output",
        caption: format!(
            "The visible rates over one cycle, every 0.2 ms: the target phi(u*), the last nudged cycle and the last free validation cycle before update {step}."
        ),
        figure: heatmaps(
            &[
                Raster { title: "target", rates: &target, neurons: n_vis },
                Raster { title: "nudged", rates: &nudged, neurons: n_vis },
                Raster { title: "free", rates: &free, neurons: n_vis },
            ],
            0.2,
        ),
    }];
    // the errors per validation cycle, from metrics.csv
    let [xs, fr, nu] = metrics_columns(&dir, ["cycles", "free_mse", "nudged_mse"]);
    figs.push(NamedFigure {
        name: "training",
        title: "Errors during training",
        caption: "MSE of the visible rates against the target per validation cycle: free (no teacher) and nudged. Judge by the free error.".into(),
        figure: curves(
            "Errors during training",
            "training cycles",
            &[("free".into(), xs.clone(), fr), ("nudged".into(), xs, nu)],
            true,
        ),
    });
    let mut table = vec![];
    if let Ok(csv) = std::fs::read_to_string(dir.analysis_dir().join("replay.csv")) {
        let mut series: Vec<(String, Vec<f64>, Vec<f64>)> = vec![];
        for line in csv.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            let (Some(name), Some(cycle), Some(mse)) = (c.first(), c.get(1), c.get(2)) else {
                continue;
            };
            let (Ok(cycle), Ok(mse)) = (cycle.parse::<f64>(), mse.parse::<f64>()) else {
                continue;
            };
            match series.iter_mut().find(|s| s.0 == *name) {
                Some(s) => {
                    s.1.push(cycle);
                    s.2.push(mse);
                }
                None => series.push((name.to_string(), vec![cycle], vec![mse])),
            }
        }
        table.push(vec![
            "replay".into(),
            "first free cycle".into(),
            "cycle 4".into(),
            "last cycle".into(),
        ]);
        for (name, cycles, mse) in &series {
            let at = |c: f64| {
                cycles
                    .iter()
                    .position(|x| *x == c)
                    .map_or("-".to_string(), |k| format!("{:.4}", mse[k]))
            };
            table.push(vec![
                name.clone(),
                mse.first().map_or("-".into(), |m| format!("{m:.4}")),
                at(4.0),
                mse.last().map_or("-".into(), |m| format!("{m:.4}")),
            ]);
        }
        figs.push(NamedFigure {
            name: "replay",
            title: "Replay and disruptions",
            caption: "The best MSE of each free replay cycle under the time-shift search, plain and with each disruption in cycle 4 (`biornn replay`).".into(),
            figure: curves("Replay", "replay cycle", &series, true),
        });
    }
    let intro = format!("ELiSe run at {step} training cycles, {n_vis} visible neurons.");
    // the figures also as PNG and SVG files beside the analysis
    biornn_report::write_figures(&figs, &dir.analysis_dir())?;
    write_sequence_report(run, &intro, &figs, &table)
}

/// Which of `networks` networks `--net` asks for.
fn member(net: Option<usize>, networks: usize) -> Result<usize> {
    let k = net.unwrap_or(0);
    if k >= networks {
        return Err(Error::invalid(
            "--net",
            k,
            &format!(
                "allowed: 0 to {} (this run trains {networks})",
                networks.saturating_sub(1)
            ),
        ));
    }
    Ok(k)
}

/// Network `net` (default the first) of a long-term or rule-reversal run, through the core traits:
/// its fixed points and free runs from 8 random states under the input it holds between stimuli
/// (long-term: fixation and the task's rule; rule reversal: none).
fn analyze_protocol_member(
    dir: &RunDir,
    opts: &AnalysisOptions,
    net: Option<usize>,
) -> Result<Analysis> {
    let (protocol, step) = protocol_run(dir, &dir.weights_file()?)?;
    let (ctrnn, input, label) = match protocol {
        ProtocolRun::LongTerm(cfg, learner) => {
            let k = member(net, cfg.networks)?;
            let mut input = vec![0.0; biornn_tasks::temporalskip::N_INPUT];
            input[0] = 1.0;
            input[65 + cfg.task.index()] = 1.0;
            let label = format!("network {k}, fixating on {}", cfg.task.name());
            (learner.network(k).cloned(), input, label)
        }
        ProtocolRun::Reversal(cfg, learner) => {
            let k = member(net, cfg.networks)?;
            let input = vec![0.0; biornn_tasks::reversal::N_INPUT];
            (
                learner.network(k).cloned(),
                input,
                format!("network {k}, no input"),
            )
        }
    };
    let ctrnn = ctrnn.ok_or_else(|| Error::new("the run holds no such network"))?;
    let n = ctrnn.n_rec;
    let mut rng = Streams::new(opts.seed).stream("free_run_starts", 0);
    let starts: Vec<f64> = (0..8 * n).map(|_| rng.normal() * 0.5).collect();
    let run = FreeRun {
        input: &input,
        starts: &starts,
        steps: 400,
        label: &label,
    };
    biornn_analysis::network::analyze_network(dir.path(), &ctrnn, step.unwrap_or(0), &run, opts)
}

/// A multi-area run: its CTRNN's fixed points and free runs under the delay's input (fixation on,
/// the front end's features in a blank), started from its states at the end of 8 test trials' samples.
fn analyze_multiarea(dir: &RunDir, opts: &AnalysisOptions) -> Result<Analysis> {
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_vision::multiarea::MultiAreaRunConfig::from_toml(&text)?;
    let (arrays, step) = final_state(dir)?;
    let mut learner = biornn_vision::multiarea::MultiAreaLearner::new(&cfg)?;
    learner.load_state("", &arrays)?;
    let view = learner.delay_view(8);
    let run = FreeRun {
        input: &view.input,
        starts: &view.starts,
        steps: 400,
        label: &view.label,
    };
    biornn_analysis::network::analyze_network(dir.path(), &learner.net, step, &run, opts)
}

/// A CTRNN trained on a battery of tasks: every analysis, on the run's tasks.
fn analyze_ctrnn(dir: &RunDir, opts: &AnalysisOptions) -> Result<Analysis> {
    let loaded = load_weights(dir)?;
    let cfg = &loaded.config;
    let score = |net: &biornn_model::Ctrnn<f32>, trials: usize| -> Result<Vec<f64>> {
        let scores = eval::evaluate(net, cfg, trials, &mut Engine::default())?;
        Ok(scores.iter().map(|s| s.perf).collect())
    };
    let subject = Subject {
        net: loaded.net.clone(),
        task: cfg.task.clone(),
        tau: cfg.model.tau,
        step: loaded.step,
        score: &score,
    };
    biornn_analysis::analyze(dir.path(), &subject, opts)
}

/// [`analyze`], then `RUN/report.html`, one self-contained page. Returns the analysis and the
/// page's path.
pub fn report(run: &Path, spec: &AnalyzeSpec) -> Result<(Analysis, usize, PathBuf, PathBuf)> {
    let (analysis, figs, written, out) = analyze(run, spec)?;
    let log = biornn_report::RunLog::read(run);
    let page = biornn_report::write_report(&analysis, &log, &figs)?;
    Ok((analysis, written.len(), out, page))
}

/// A CordsNet run's analysis (`biornn analyze`) and, with `page`, its report (`biornn report`):
/// at the spontaneous state (no image), Arnoldi on each area's masked recurrent operator D_l W_l
/// (its eigenvalues say whether and how fast the area relaxes) and power iteration for the
/// dominant eigenvector of the area with the largest one, drawn as a spatial map; with the test
/// accuracy over training. Writes `RUN/analysis/spectra.csv`, `spectra.npz` and the figures.
/// Returns the files written and where (the page, with `page`).
pub fn cordsnet_analysis(run: &Path, page: bool) -> Result<(Vec<PathBuf>, PathBuf)> {
    use biornn_numerics::krylov::{arnoldi, power_iteration, LinearOp};
    use biornn_report::vision::{spatial_map, spectra};
    use biornn_report::NamedFigure;
    use biornn_vision::jacobian::{AreaBlock, StepJacobian};
    use biornn_vision::{checkpoint as vck, CordsNet};
    let dir = RunDir::open(run)?;
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_vision::CordsNetRunConfig::from_toml(&text)?;
    if cfg.network.form == "cnn" {
        return Err(Error::new(format!(
            "{}: a compatibility CNN (network.form = \"cnn\") has no dynamics to analyse; score it with `biornn noise`",
            run.display()
        )));
    }
    let (arrays, step) = final_state(&dir)?;
    let shape_of = arrays
        .get("input_shape")
        .ok_or_else(|| {
            Error::new(format!(
                "{}: no `input_shape` (not a CordsNet run?)",
                run.display()
            ))
        })?
        .to_real::<f64>()?;
    let tensors = vck::network_tensors(&arrays);
    let image = vck::image_of(&shape_of, &run.display().to_string())?;
    let shape = vck::shape_of(&tensors, image)?;
    let net = CordsNet::new(&shape)?;
    let theta: Vec<f64> = vck::load(&net, &tensors)?;
    let p = cfg.protocol();
    // the slope the run ended with (stage 4's schedule writes it), else the config's
    let act = match arrays.get("prelu.weight") {
        Some(a) => biornn_vision::Activation::PRelu(a.to_real::<f64>()?[0]),
        None => cfg.activation(),
    };
    // the spontaneous fixed point: settled from rest, then from random starts, to see whether it
    // is the only one (the offset penalty asks for a unique one)
    let (tol, max_steps) = (1e-10, 20_000);
    let (rest, rest_steps, rest_change) =
        net.settle(&theta, &net.zero_state(1), p.alpha, act, tol, max_steps);
    let scale = rest
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1.0);
    let mut fixed_csv = String::from("start,steps,last_change,max_distance_to_rest\n");
    fixed_csv.push_str(&format!("rest,{rest_steps},{rest_change:e},0\n"));
    let mut rng = Streams::new(cfg.seed).stream("cordsnet_fixed_points", 0);
    let mut farthest = 0.0f64;
    let starts = 8;
    for k in 0..starts {
        let start: Vec<Vec<f64>> = rest
            .iter()
            .map(|a| a.iter().map(|_| 2.0 * scale * rng.uniform()).collect())
            .collect();
        let (end, steps, change) = net.settle(&theta, &start, p.alpha, act, tol, max_steps);
        let d = end
            .iter()
            .zip(&rest)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        farthest = farthest.max(d);
        fixed_csv.push_str(&format!("random {k},{steps},{change:e},{d:e}\n"));
    }
    let zeros = vec![0.0; net.stem_out.units()];
    let jac = StepJacobian::at(&net, &theta, &rest, (&zeros, &zeros), p.alpha, act);
    let tau_ms = 10.0;
    let mut csv =
        String::from("area,index,re,im,step_multiplier_re,step_multiplier_im,relaxation_ms\n");
    let mut series = vec![];
    let mut out = biornn_core::Arrays::new();
    let (mut top_area, mut top_mod) = (0, -1.0);
    for l in 0..net.depth() {
        let block = AreaBlock::of(&jac, l);
        let k = block.dim().min(80);
        let ritz = arnoldi(
            &block,
            k,
            &mut Streams::new(cfg.seed).stream("cordsnet_arnoldi", l as u64),
        )?;
        let mut pts = vec![];
        let mut re_im = vec![];
        for (i, mu) in ritz.eigenvalues.iter().enumerate() {
            let m = (1.0 - p.alpha + p.alpha * mu.re, p.alpha * mu.im);
            let relax = if mu.re < 1.0 {
                tau_ms / (1.0 - mu.re)
            } else {
                f64::INFINITY
            };
            csv.push_str(&format!(
                "{l},{i},{},{},{},{},{relax}\n",
                mu.re, mu.im, m.0, m.1
            ));
            pts.push((mu.re, mu.im));
            re_im.extend([mu.re, mu.im]);
            if mu.norm() > top_mod {
                (top_area, top_mod) = (l, mu.norm());
            }
        }
        biornn_core::arrays::put_f64(
            &mut out,
            &format!("area{l}_eigenvalues"),
            &[pts.len(), 2],
            &re_im,
        );
        series.push((format!("area {l}"), pts));
    }
    let block = AreaBlock::of(&jac, top_area);
    let top = power_iteration(
        &block,
        500,
        4,
        &mut Streams::new(cfg.seed).stream("cordsnet_power", 0),
    );
    let (vector, rayleigh) = (top.vector, top.rayleigh);
    let a = net.areas[top_area];
    let mut map = vec![0.0; a.h * a.w];
    for c in 0..a.c {
        for (m, v) in map
            .iter_mut()
            .zip(&vector[c * a.h * a.w..(c + 1) * a.h * a.w])
        {
            *m += v;
        }
    }
    biornn_core::arrays::put_f64(&mut out, "top_eigenvector", &[a.c, a.h, a.w], &vector);
    biornn_core::arrays::put_f64(&mut out, "top_eigenvector_area", &[], &[top_area as f64]);
    biornn_core::arrays::put_f64(&mut out, "top_eigenvector_rayleigh", &[], &[rayleigh]);
    biornn_core::arrays::put_f64(&mut out, "top_eigenvector_residual", &[], &[top.residual]);
    let adir = dir.analysis_dir();
    std::fs::create_dir_all(&adir).map_err(|e| Error::new(format!("{}: {e}", adir.display())))?;
    let mut written = vec![
        adir.join("spectra.csv"),
        adir.join("fixed_points.csv"),
        adir.join("spectra.npz"),
    ];
    biornn_numerics::npz::write_atomic(&written[0], csv.as_bytes())?;
    biornn_numerics::npz::write_atomic(&written[1], fixed_csv.as_bytes())?;
    biornn_numerics::npz::write_npz(&written[2], &out)?;
    let mut figs = vec![
        NamedFigure {
            name: "spectra",
            title: "Recurrent eigenvalues at the spontaneous state",
            caption: format!(
                "Arnoldi's Ritz values of each area's D W (W the recurrent conv, D its ReLU slopes) after update {step}, at the spontaneous fixed point. An area is stable while Re < 1; it relaxes in tau / (1 - Re) = 10 ms / (1 - Re)."
            ),
            figure: spectra(&series),
        },
        NamedFigure {
            name: "eigenvector",
            title: "The dominant eigenvector's spatial map",
            caption: format!(
                "Power iteration on area {top_area}'s D W (Rayleigh quotient {rayleigh:.3}, relative residual |J v - quotient v| / |quotient| {:.1e}: near 0 once converged), summed over its {} channels, row 0 at the top.",
                top.residual, a.c
            ),
            figure: spatial_map(&format!("area {top_area}"), &map, a.h, a.w),
        },
    ];
    // the test accuracy per evaluation, from metrics.csv
    let [xs, acc] = metrics_columns(&dir, ["step", "test_accuracy"]);
    figs.push(NamedFigure {
        name: "training",
        title: "Test accuracy during training",
        caption: "The share of the test subset classified right at the last stimulus step, per evaluation.".into(),
        figure: biornn_report::sequence::curves("Test accuracy", "updates", &[("test accuracy".into(), xs, acc)], false),
    });
    written.extend(biornn_report::write_figures(&figs, &adir)?);
    if !page {
        return Ok((written, adir));
    }
    let mut table = vec![vec![
        "area".to_string(),
        "units".into(),
        "largest |eig|".into(),
        "largest Re".into(),
        "slowest relaxation (ms)".into(),
    ]];
    for (l, (_, pts)) in series.iter().enumerate() {
        let max_mod = pts
            .iter()
            .map(|(r, i)| (r * r + i * i).sqrt())
            .fold(0.0, f64::max);
        let max_re = pts
            .iter()
            .map(|(r, _)| *r)
            .fold(f64::NEG_INFINITY, f64::max);
        table.push(vec![
            l.to_string(),
            net.areas[l].units().to_string(),
            format!("{max_mod:.3}"),
            format!("{max_re:.3}"),
            if max_re < 1.0 {
                format!("{:.1}", tau_ms / (1.0 - max_re))
            } else {
                "unstable".into()
            },
        ]);
    }
    let settled = match rest_change <= tol {
        true => format!("settle from rest in {rest_steps} steps to a fixed point (no rate moves by more than {tol:e} a step)"),
        false => format!("do not settle from rest within {max_steps} steps (the last step moves a rate by {rest_change:.2e}): the spectra are taken where they stopped"),
    };
    let unique = match farthest <= 1e-6 * scale {
        true => format!("all {starts} random starts reach the same point (farthest {farthest:.1e}): one spontaneous fixed point, as far as they show"),
        false => format!("random starts end up to {farthest:.3} away from it: more than one attractor (fixed_points.csv)"),
    };
    let intro = format!(
        "CordsNet R{} ({} units, {} parameters) after {step} updates. {} Without an image the dynamics {settled}; {unique}.",
        net.depth(),
        net.units(),
        net.layout.len,
        Config::CordsNet(cfg.clone()).describe().unwrap_or_default()
    );
    let page = biornn_report::sequence::write_sequence_report(run, &intro, &figs, &table)?;
    Ok((written, page))
}

/// A trained CordsNet's test accuracy and loss under each noise setting (the run's test subset;
/// draws from stream `cordsnet_noise` of `seed`, the same for every run), written to
/// `RUN/analysis/noise.csv`.
pub fn cordsnet_noise(
    run: &Path,
    settings: &[biornn_vision::noise::Noise],
    seed: u64,
) -> Result<Vec<(biornn_vision::noise::Noise, f64, f64)>> {
    let dir = RunDir::open(run)?;
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_vision::CordsNetRunConfig::from_toml(&text)?;
    let mut learner = biornn_vision::CordsNetLearner::new(&cfg)?;
    if learner.cnn.is_some() && settings.iter().any(|s| s.per_step || s.dynamics_std > 0.0) {
        return Err(Error::invalid(
            "--per-step/--dynamics",
            "given",
            "allowed for a CordsNet; a compatibility CNN sees its image once and has no dynamics",
        ));
    }
    // the final state: the trained parameters (and a CNN's running statistics)
    let (arrays, _) = final_state(&dir)?;
    learner
        .load_state("", &arrays)
        .map_err(|e| e.context(run.display()))?;
    let mut csv = String::from("input_std,per_step,dynamics_std,test_accuracy,test_loss\n");
    let mut out = vec![];
    for noise in settings {
        let (acc, loss) = learner.noisy_test_scores(*noise, seed);
        csv.push_str(&format!(
            "{},{},{},{acc},{loss}\n",
            noise.input_std, noise.per_step, noise.dynamics_std
        ));
        out.push((*noise, acc, loss));
    }
    let adir = dir.analysis_dir();
    std::fs::create_dir_all(&adir).map_err(|e| Error::new(format!("{}: {e}", adir.display())))?;
    biornn_numerics::npz::write_atomic(&adir.join("noise.csv"), csv.as_bytes())?;
    Ok(out)
}

/// The reference's `record` on a trained CordsNet: the first `images` test images, from rest through
/// the spontaneous and the stimulus steps of the run's protocol, the rates of `areas` (default: the
/// last two, which the paper compares with the higher visual areas) after every step, written to
/// `RUN/analysis/record.npz`: `area<l>` `[steps, images, c, h, w]`, `labels`, `images` (as the
/// network saw them, normalised), `dt_ms` and `stimulus_onset` (the first stimulus step).
pub fn cordsnet_record(run: &Path, areas: &[usize], images: usize) -> Result<PathBuf> {
    let dir = RunDir::open(run)?;
    let text = dir.read_config().unwrap_or_default();
    let cfg = biornn_vision::CordsNetRunConfig::from_toml(&text)?;
    let mut learner = biornn_vision::CordsNetLearner::new(&cfg)?;
    if learner.cnn.is_some() {
        return Err(Error::new(format!(
            "{}: a compatibility CNN (network.form = \"cnn\") has no activity over time to record",
            run.display()
        )));
    }
    let (arrays, _) = final_state(&dir)?;
    learner
        .load_state("", &arrays)
        .map_err(|e| e.context(run.display()))?;
    let net = &learner.net;
    let depth = net.depth();
    let areas: Vec<usize> = match areas.is_empty() {
        true => vec![depth - 2, depth - 1],
        false => areas.to_vec(),
    };
    if let Some(bad) = areas.iter().find(|l| **l >= depth) {
        return Err(Error::invalid(
            "--areas",
            bad,
            &format!("allowed: areas 0 to {} of this R{depth}", depth - 1),
        ));
    }
    if learner.images.motion.is_some() {
        return Err(Error::new(format!(
            "{}: a run on random-dot movies (task.dataset = \"dots\"); record shows static images",
            run.display()
        )));
    }
    let test = &learner.images.test;
    if images == 0 || images > test.len() {
        return Err(Error::invalid(
            "--images",
            images,
            &format!("allowed: 1 to {} (the run's test images)", test.len()),
        ));
    }
    let idx: Vec<usize> = (0..images).collect();
    let (x, labels) = test.batch(&idx);
    let p = cfg.protocol();
    let act = learner.activation();
    let rates = net.record(
        &learner.theta,
        &x,
        images,
        p.spontaneous,
        p.stimulus,
        p.alpha,
        act,
        &areas,
    );
    let mut out = biornn_core::Arrays::new();
    let steps = p.spontaneous + p.stimulus;
    for (l, r) in areas.iter().zip(&rates) {
        let a = net.areas[*l];
        biornn_core::arrays::put_f32(
            &mut out,
            &format!("area{l}"),
            &[steps, images, a.c, a.h, a.w],
            r,
        );
    }
    let labels: Vec<f64> = labels.iter().map(|l| *l as f64).collect();
    biornn_core::arrays::put_f64(&mut out, "labels", &[images], &labels);
    let s = &net.shape;
    biornn_core::arrays::put_f32(
        &mut out,
        "images",
        &[images, s.in_channels, s.image.0, s.image.1],
        &x,
    );
    biornn_core::arrays::put_f64(&mut out, "dt_ms", &[], &[p.alpha * 10.0]);
    biornn_core::arrays::put_f64(&mut out, "stimulus_onset", &[], &[p.spontaneous as f64]);
    let adir = dir.analysis_dir();
    std::fs::create_dir_all(&adir).map_err(|e| Error::new(format!("{}: {e}", adir.display())))?;
    let path = adir.join("record.npz");
    biornn_numerics::npz::write_npz(&path, &out)?;
    Ok(path)
}

/// Columns of a run's `metrics.csv` by name, each as numbers (NaN where a cell is empty or the
/// column absent), one entry per row.
fn metrics_columns<const K: usize>(dir: &RunDir, names: [&str; K]) -> [Vec<f64>; K] {
    let text = dir.read_metrics();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let at: Vec<Option<usize>> = names
        .iter()
        .map(|n| header.iter().position(|c| c == n))
        .collect();
    let mut out: [Vec<f64>; K] = std::array::from_fn(|_| vec![]);
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for (col, series) in at.iter().zip(out.iter_mut()) {
            let v = col
                .and_then(|i| cells.get(i))
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            series.push(v);
        }
    }
    out
}
