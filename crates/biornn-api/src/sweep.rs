//! Sweeps: one TOML file expands a grid (and zipped lists, and random draws with a seed) over any
//! config keys, times a list of seeds, into numbered runs. Run i is determined by the file and i
//! alone, so it can run anywhere: on this machine ([`run_local`]), or as task i of a Slurm job array
//! ([`write_slurm`]) that calls `biornn sweep run FILE --index i`. A run that finished is skipped;
//! one that was killed (clusters kill jobs at their time limit) resumes from its last checkpoint.
//!
//! ```toml
//! name = "lr"                # runs go to <runs>/<name>/<index>
//! base = "yang20.toml"       # the config every run starts from (relative to this file;
//!                            # empty: the built-in default)
//! runs = "runs"              # relative to this file
//! seeds = [1, 2, 3]
//! [grid]                     # every combination
//! "train.learning_rate" = [1e-3, 3e-3]
//! [lists]                    # side by side (equal lengths), times the grid
//! "model.n_rec" = [64, 128]
//! "train.batch_size" = [32, 64]
//! [random]                   # `count` draws from stream `sweep_random` of `seed`, times the rest
//! count = 4
//! seed = 7
//! "model.tau" = { uniform = [50.0, 200.0] }
//! "train.l2_weight" = { log_uniform = [1e-5, 1e-3] }
//! "model.activation" = { choice = ["relu", "softplus"] }
//! [slurm]
//! cpus_per_task = 2
//! mem = "4G"
//! time = "01:00:00"
//! partition = ""
//! account = ""
//! max_parallel = 16          # the array's %K
//! ```

use crate::config::Config;
use crate::runs::{continue_in, standing, train_in, Continued, Finished, RunOptions, Standing};
use biornn_numerics::error::check;
use biornn_numerics::{Error, Result, Streams};
use biornn_run::RunDir;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSpec {
    pub cpus_per_task: usize,
    pub mem: String,
    pub time: String,
    pub partition: String,
    pub account: String,
    pub max_parallel: usize,
}

impl Default for SlurmSpec {
    fn default() -> Self {
        SlurmSpec {
            cpus_per_task: 1,
            mem: "2G".into(),
            time: "01:00:00".into(),
            partition: String::new(),
            account: String::new(),
            max_parallel: 16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepToml {
    name: String,
    #[serde(default)]
    base: PathBuf,
    #[serde(default = "default_runs")]
    runs: PathBuf,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    lists: toml::Table,
    #[serde(default)]
    random: toml::Table,
    #[serde(default)]
    slurm: SlurmSpec,
}

fn default_runs() -> PathBuf {
    "runs".into()
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// A sweep file, read and expanded.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// the sweep file, absolute
    pub file: PathBuf,
    pub name: String,
    /// where the runs go: `<runs>/<name>/<index>`
    pub dir: PathBuf,
    pub seeds: Vec<u64>,
    /// the keys the sweep sets, in the order of `points`' entries
    pub keys: Vec<String>,
    /// every setting of the keys; run i is point i / seeds.len() with seed i % seeds.len()
    pub points: Vec<Vec<Value>>,
    pub slurm: SlurmSpec,
    base: toml::Table,
}

/// How far a run has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    NotStarted,
    /// a process is training it now (it holds the run's lock)
    Running,
    /// killed (it has a run directory but no summary, and no process holds it), or finished short
    /// of the file's budget
    Unfinished,
    Finished,
    /// its directory holds a run the file does not give (edited settings): `sweep run` refuses it,
    /// naming them, and a resubmission leaves it out
    Other,
}

impl Sweep {
    pub fn load(file: &Path) -> Result<Sweep> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::new(format!("{}: {e}", file.display())))?;
        let file = std::path::absolute(file)
            .map_err(|e| Error::new(format!("{}: {e}", file.display())))?;
        Sweep::from_toml(&text, &file).map_err(|e| e.context(file.display()))
    }

    /// A sweep from its text; `file` (absolute) anchors its relative paths.
    pub fn from_toml(text: &str, file: &Path) -> Result<Sweep> {
        let s: SweepToml = toml::from_str(text).map_err(|e| Error::new(e.to_string()))?;
        check(
            !s.name.is_empty()
                && s.name != "."
                && s.name != ".."
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "name",
            &s.name,
            "allowed: letters, digits, '-', '_' and '.' (it names the sweep's directory)",
        )?;
        check(
            !s.seeds.is_empty(),
            "seeds",
            "[]",
            "allowed: one seed or more",
        )?;
        for seed in &s.seeds {
            biornn_numerics::error::check_seed(*seed)?;
        }
        // what goes into the sbatch script's directives: nothing that could end a line or a word
        let safe = |v: &str| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ":._-".contains(c))
        };
        for (field, v, may_be_empty) in [
            ("slurm.mem", &s.slurm.mem, false),
            ("slurm.time", &s.slurm.time, false),
            ("slurm.partition", &s.slurm.partition, true),
            ("slurm.account", &s.slurm.account, true),
        ] {
            check(
                (may_be_empty || !v.is_empty()) && safe(v),
                field,
                format!("\"{v}\""),
                "allowed: letters, digits, ':', '.', '_' and '-' (as sbatch takes them, e.g. \"4G\", \"01:00:00\")",
            )?;
        }
        check(
            s.slurm.max_parallel > 0 && s.slurm.cpus_per_task > 0,
            "slurm",
            format!(
                "max_parallel {}, cpus_per_task {}",
                s.slurm.max_parallel, s.slurm.cpus_per_task
            ),
            "allowed: positive counts",
        )?;
        let here = file.parent().unwrap_or(Path::new("."));
        let base_text = match s.base.as_os_str().is_empty() {
            // the commented default, whose unset keys (the input noise) follow the grid's battery
            true => Config::default_toml(crate::config::Kind::CtrnnBptt).to_string(),
            false => {
                let path = here.join(&s.base);
                std::fs::read_to_string(&path)
                    .map_err(|e| Error::new(format!("base: {}: {e}", path.display())))?
            }
        };
        let base: toml::Table = base_text
            .parse()
            .map_err(|e: toml::de::Error| Error::new(format!("base: {e}")))?;
        let (keys, points) = expand(&s.grid, &s.lists, &s.random)?;
        for (k, key) in keys.iter().enumerate() {
            check(
                !keys[..k].contains(key),
                key,
                "swept twice",
                "allowed: each key in one of [grid], [lists] and [random]",
            )?;
            check(
                key != "seed" && key != "name",
                key,
                "swept",
                "allowed: any key but seed (the sweep's `seeds` list) and name (the run's number)",
            )?;
        }
        let dir = here.join(&s.runs).join(&s.name);
        let sweep = Sweep {
            file: file.to_path_buf(),
            dir,
            name: s.name,
            seeds: s.seeds,
            keys,
            points,
            slurm: s.slurm,
            base,
        };
        // every run's config is checked now, not when a cluster gets to it
        for i in 0..sweep.len() {
            sweep.config(i)?;
        }
        Ok(sweep)
    }

    /// The number of runs.
    pub fn len(&self) -> usize {
        self.points.len() * self.seeds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run i's point (its swept values) and seed.
    pub fn setting(&self, i: usize) -> (&[Value], u64) {
        let k = self.seeds.len();
        (&self.points[i / k], self.seeds[i % k])
    }

    /// Run i's config: the base with the point's values, the seed, and the run's index as its name.
    pub fn config(&self, i: usize) -> Result<Config> {
        if i >= self.len() {
            return Err(Error::invalid(
                "--index",
                i,
                &format!("allowed: 0 to {} ({} runs)", self.len() - 1, self.len()),
            ));
        }
        let (values, seed) = self.setting(i);
        let mut table = self.base.clone();
        for (key, v) in self.keys.iter().zip(values) {
            set_key(&mut table, key, v.clone())?;
        }
        // seed and name are set on the parsed config: the protocols' configs have no `name`
        // (their runs are named by task and method) and refuse unknown keys
        let text = toml::to_string(&table).map_err(|e| Error::new(e.to_string()))?;
        let mut cfg = Config::from_toml(&text).map_err(|e| {
            let what: Vec<String> = self
                .keys
                .iter()
                .zip(values)
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            e.context(format!("run {i} ({})", what.join(", ")))
        })?;
        cfg.set_seed(seed);
        cfg.set_name(&format!("{i:04}"));
        Ok(cfg)
    }

    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{i:04}"))
    }

    /// Where run i stands against the file as it is now ([`standing`]): a finished run short of
    /// a budget the file has since raised is unfinished, and one whose directory holds settings
    /// the file no longer gives is [`RunState::Other`].
    pub fn state(&self, i: usize) -> RunState {
        let dir = self.run_dir(i);
        if RunDir::open(&dir).is_ok_and(|run| run.is_locked()) {
            return RunState::Running;
        }
        match self.config(i).and_then(|cfg| standing(&cfg, &dir)) {
            Ok(Standing::Empty) => RunState::NotStarted,
            Ok(Standing::Done { .. }) => RunState::Finished,
            Ok(Standing::GoesOn { .. }) => RunState::Unfinished,
            Err(_) => RunState::Other,
        }
    }

    /// The runs not finished yet and not training now (what a resubmission runs; a task still
    /// queued on Slurm has no directory yet and counts as not started).
    pub fn unfinished(&self) -> Vec<usize> {
        unfinished_of(&self.states())
    }

    /// Every run's state, each run looked at once (a table, its counts and a resubmission made
    /// from one list agree even while runs finish).
    pub fn states(&self) -> Vec<RunState> {
        (0..self.len()).map(|i| self.state(i)).collect()
    }
}

/// The runs of `states` to (re)run: neither finished, training now, nor holding other settings.
pub fn unfinished_of(states: &[RunState]) -> Vec<usize> {
    (0..states.len())
        .filter(|i| {
            !matches!(
                states[*i],
                RunState::Finished | RunState::Running | RunState::Other
            )
        })
        .collect()
}

/// The swept keys and every combination of their values: the grid's product (keys in sorted
/// order, the last fastest), times the lists side by side, times the random draws.
fn expand(
    grid: &toml::Table,
    lists: &toml::Table,
    random: &toml::Table,
) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let mut keys = vec![];
    let mut points: Vec<Vec<Value>> = vec![vec![]];
    let values_of = |section: &str, key: &str, v: &Value| -> Result<Vec<Value>> {
        match v {
            Value::Array(a) if !a.is_empty() => Ok(a.clone()),
            _ => Err(Error::invalid(
                &format!("{section}.\"{key}\""),
                v,
                "allowed: a list of one value or more",
            )),
        }
    };
    for (key, v) in grid {
        let vals = values_of("grid", key, v)?;
        keys.push(key.clone());
        points = points
            .iter()
            .flat_map(|p| {
                vals.iter().map(move |x| {
                    let mut q = p.clone();
                    q.push(x.clone());
                    q
                })
            })
            .collect();
    }
    if !lists.is_empty() {
        let mut columns = vec![];
        for (key, v) in lists {
            columns.push(values_of("lists", key, v)?);
            keys.push(key.clone());
        }
        let n = columns[0].len();
        if let Some((key, c)) = lists.keys().zip(&columns).find(|(_, c)| c.len() != n) {
            return Err(Error::invalid(
                &format!("lists.\"{key}\""),
                format!("{} values", c.len()),
                &format!("allowed: as many values as the other lists ({n})"),
            ));
        }
        points = points
            .iter()
            .flat_map(|p| {
                (0..n).map(|j| {
                    let mut q = p.clone();
                    q.extend(columns.iter().map(|c| c[j].clone()));
                    q
                })
            })
            .collect();
    }
    if !random.is_empty() {
        let count = match random.get("count") {
            Some(Value::Integer(c)) if (1..=100_000).contains(c) => *c as u64,
            v => {
                return Err(Error::invalid(
                    "random.count",
                    v.map_or("missing".to_string(), |v| v.to_string()),
                    "allowed: 1 to 100000 draws",
                ))
            }
        };
        let seed = match random.get("seed") {
            Some(Value::Integer(s)) if *s >= 0 => *s as u64,
            None => 0,
            Some(v) => {
                return Err(Error::invalid(
                    "random.seed",
                    v,
                    "allowed: a non-negative integer",
                ))
            }
        };
        let dists: Vec<(&String, Distribution)> = random
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "seed")
            .map(|(k, v)| Ok((k, Distribution::parse(k, v)?)))
            .collect::<Result<_>>()?;
        keys.extend(dists.iter().map(|(k, _)| (*k).clone()));
        let draws: Vec<Vec<Value>> = (0..count)
            .map(|d| {
                let mut rng = Streams::new(seed).stream("sweep_random", d);
                dists.iter().map(|(_, dist)| dist.draw(&mut rng)).collect()
            })
            .collect();
        points = points
            .iter()
            .flat_map(|p| {
                draws.iter().map(move |d| {
                    let mut q = p.clone();
                    q.extend(d.iter().cloned());
                    q
                })
            })
            .collect();
    }
    Ok((keys, points))
}

/// What a random key is drawn from.
#[derive(Debug, Clone, PartialEq)]
enum Distribution {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    IntUniform(i64, i64),
    Choice(Vec<Value>),
}

impl Distribution {
    fn parse(key: &str, v: &Value) -> Result<Distribution> {
        let field = format!("random.\"{key}\"");
        let allowed = "allowed: { uniform = [lo, hi] }, { log_uniform = [lo, hi] } (0 < lo), { int_uniform = [lo, hi] } or { choice = [values] }";
        let Value::Table(t) = v else {
            return Err(Error::invalid(&field, v, allowed));
        };
        let pair = |a: &Value| -> Option<(f64, f64)> {
            let a = a.as_array()?;
            let num = |x: &Value| x.as_float().or_else(|| x.as_integer().map(|i| i as f64));
            match a.as_slice() {
                [lo, hi] => Some((num(lo)?, num(hi)?)),
                _ => None,
            }
        };
        let d = match t.iter().next() {
            Some((kind, a)) if t.len() == 1 => match kind.as_str() {
                "uniform" => pair(a)
                    .filter(|(l, h)| l <= h)
                    .map(|(l, h)| Distribution::Uniform(l, h)),
                "log_uniform" => pair(a)
                    .filter(|(l, h)| *l > 0.0 && l <= h)
                    .map(|(l, h)| Distribution::LogUniform(l, h)),
                "int_uniform" => pair(a)
                    .filter(|(l, h)| {
                        l <= h && l.fract() == 0.0 && h.fract() == 0.0 && h - l < 2f64.powi(31)
                    })
                    .map(|(l, h)| Distribution::IntUniform(l as i64, h as i64)),
                "choice" => a
                    .as_array()
                    .filter(|c| !c.is_empty())
                    .map(|c| Distribution::Choice(c.clone())),
                _ => None,
            },
            _ => None,
        };
        d.ok_or_else(|| Error::invalid(&field, v, allowed))
    }

    fn draw(&self, rng: &mut biornn_numerics::RngStream) -> Value {
        match self {
            Distribution::Uniform(l, h) => Value::Float(rng.uniform_in(*l, *h)),
            Distribution::LogUniform(l, h) => Value::Float((rng.uniform_in(l.ln(), h.ln())).exp()),
            Distribution::IntUniform(l, h) => {
                Value::Integer(l + rng.below((h - l + 1) as usize) as i64)
            }
            Distribution::Choice(c) => c[rng.below(c.len())].clone(),
        }
    }
}

/// `a.b.c = v` in a TOML table, making the tables on the way.
fn set_key(table: &mut toml::Table, key: &str, v: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut t = table;
    for (j, p) in parts.iter().enumerate() {
        if j + 1 == parts.len() {
            t.insert((*p).to_string(), v);
            return Ok(());
        }
        let next = t
            .entry((*p).to_string())
            .or_insert_with(|| Value::Table(toml::Table::new()));
        t = match next {
            Value::Table(inner) => inner,
            other => {
                return Err(Error::invalid(
                    key,
                    other.to_string(),
                    &format!("allowed: a key inside a table; `{p}` is a value"),
                ))
            }
        };
    }
    Ok(())
}

/// Refuse to label run `i`'s results with the sweep file's settings where its own config.toml
/// was written with others (the file, or its base config, was edited after the run started). The
/// comparison is `sweep run`'s ([`Config::differences`]: the typed configs as they write
/// themselves, the budget left out, since `--max-steps` and a raised budget extend runs).
fn check_run_matches(sweep: &Sweep, i: usize, run: &RunDir) -> Result<()> {
    let Some(text) = run.read_config() else {
        return Ok(());
    };
    let own = Config::from_toml(&text).map_err(|e| e.context(run.config_path().display()))?;
    let differs = own.differences(&sweep.config(i)?);
    if differs.is_empty() {
        return Ok(());
    }
    Err(Error::new(format!(
        "run {i} ({}) was trained with other settings than {} now gives (setting: the run's, \
         the file's): {}; the sweep file changed after the run started: restore it, or move the \
         run away and run it again",
        run.path().display(),
        sweep.file.display(),
        differs.join("; ")
    )))
}

/// What one `sweep run` did.
#[derive(Debug)]
pub enum Outcome {
    /// it had finished before
    Skipped,
    /// another process is training it now
    Running,
    Trained(Finished),
}

/// Run i of the sweep as the file now gives it ([`continue_in`]): skipped when it has finished
/// (met its criterion or its budget), resumed when it was killed, taken on when the file's budget
/// grew, started otherwise; refused, naming the settings, when its directory holds a run the
/// file no longer gives (edited values, seeds or base config renumber or change runs). Its
/// summary records the sweep index and, under Slurm, the job and array task ids.
pub fn run_index(sweep: &Sweep, i: usize, opts: &RunOptions) -> Result<Outcome> {
    let cfg = sweep.config(i)?;
    let dir = sweep.run_dir(i);
    // the lock alone: `continue_in` reads where the run stands
    if RunDir::open(&dir).is_ok_and(|r| r.is_locked()) {
        return Ok(Outcome::Running);
    }
    let edited = |e: Error| {
        e.context(format!(
            "run {i} of {} (was the sweep file edited after the run started?)",
            sweep.file.display()
        ))
    };
    let trained = match continue_in(&cfg, &dir, opts).map_err(edited) {
        Ok(Continued::Done { .. }) => {
            // a task killed between the run's summary and its stamp left it unstamped
            if !stamped(&dir) {
                stamp_summary(sweep, i, &dir)?;
            }
            return Ok(Outcome::Skipped);
        }
        Ok(Continued::Trained(f)) => Ok(f),
        Ok(Continued::Empty) => std::fs::create_dir_all(&sweep.dir)
            .map_err(|e| Error::new(format!("{}: {e}", sweep.dir.display())))
            .and_then(|()| train_in(&cfg, &dir, opts)),
        Err(e) => Err(e),
    };
    let finished = match trained {
        Ok(f) => f,
        // another task took the run between the look above and its lock (a resubmitted array
        // beside the first): it is that task's to train
        Err(_) if RunDir::open(&dir).is_ok_and(|r| r.is_locked()) => return Ok(Outcome::Running),
        Err(e) => return Err(e),
    };
    stamp_summary(sweep, i, &dir)?;
    Ok(Outcome::Trained(finished))
}

/// Whether run `dir`'s summary carries its sweep index ([`stamp_summary`]).
fn stamped(dir: &Path) -> bool {
    let Some(text) = RunDir::open(dir).ok().and_then(|r| r.read_summary()) else {
        return true; // nothing to stamp
    };
    // one that is not JSON is left to whoever reads it
    serde_json::from_str::<serde_json::Value>(&text)
        .map_or(true, |s| s.get("sweep_index").is_some())
}

/// Write into run `i`'s summary its sweep index, seed and swept values and, under Slurm, the job
/// and array task ids (replaced whole, never half-written).
fn stamp_summary(sweep: &Sweep, i: usize, dir: &Path) -> Result<()> {
    let path = RunDir::open(dir)?.summary_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    let mut summary: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    let (values, seed) = sweep.setting(i);
    summary["sweep_index"] = serde_json::json!(i);
    summary["sweep_seed"] = serde_json::json!(seed);
    for (k, v) in sweep.keys.iter().zip(values) {
        summary[format!("sweep:{k}")] = toml_to_json(v);
    }
    for var in ["SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(v) = std::env::var(var) {
            summary[var.to_lowercase()] = serde_json::json!(v);
        }
    }
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    biornn_numerics::npz::write_atomic(&path, text.as_bytes())?;
    Ok(())
}

fn toml_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Integer(i) => serde_json::json!(i),
        Value::Float(f) => serde_json::json!(f),
        Value::Boolean(b) => serde_json::json!(b),
        Value::String(s) => serde_json::json!(s),
        other => serde_json::json!(other.to_string()),
    }
}

/// Every unfinished run of the sweep on this machine, `jobs` at a time (each run's results do not
/// depend on how many threads it gets). Returns the runs trained and skipped.
pub fn run_local(sweep: &Sweep, jobs: usize, opts: &RunOptions) -> Result<(usize, usize)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let trained = std::sync::atomic::AtomicUsize::new(0);
    let skipped = std::sync::atomic::AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    // each worker its share of the cores, in a pool of its own
    let threads = (crate::bench::threads() / jobs.max(1)).max(1);
    let pools = (0..jobs.max(1))
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| Error::new(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    // each worker trains one run after another: each builds its evaluation set into the last's
    let _spares = biornn_train::eval::SpareEvalBatches::open();
    std::thread::scope(|scope| {
        for pool in &pools {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= sweep.len() || failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                match pool.install(|| run_index(sweep, i, opts)) {
                    Ok(Outcome::Skipped) => {
                        skipped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(Outcome::Running) => {
                        skipped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        eprintln!("run {i}: another process is training it; skipped");
                    }
                    Ok(Outcome::Trained(f)) => {
                        trained.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        eprintln!("run {i}: {f}");
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e.context(format!("run {i}")));
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok((trained.into_inner(), skipped.into_inner()))
}

/// `0-3,5,7-9`: Slurm's array syntax for the indices (sorted).
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = vec![];
    let mut k = 0;
    while k < indices.len() {
        let start = indices[k];
        let mut end = start;
        while k + 1 < indices.len() && indices[k + 1] == end + 1 {
            k += 1;
            end = indices[k];
        }
        parts.push(match start == end {
            true => start.to_string(),
            false => format!("{start}-{end}"),
        });
        k += 1;
    }
    parts.join(",")
}

/// Task ids per Slurm array: Slurm's default `MaxArraySize` of 1001 allows ids 0 to 1000.
const ARRAY_IDS: usize = 1000;

/// The run indices as Slurm arrays: (offset, task ids) with every id below [`ARRAY_IDS`] and
/// index = offset + id; one array from offset 0 when every index fits.
fn array_blocks(indices: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut blocks: Vec<(usize, Vec<usize>)> = vec![];
    for &i in indices {
        let offset = i / ARRAY_IDS * ARRAY_IDS;
        match blocks.last_mut() {
            Some((o, ids)) if *o == offset => ids.push(i - offset),
            _ => blocks.push((offset, vec![i - offset])),
        }
    }
    blocks
}

/// The sweep's Slurm scripts in its directory, for the runs `indices`: `sweep.sbatch` (a job
/// array whose task i runs `biornn sweep run FILE --index i`, `%max_parallel` at a time, with the
/// sweep file's resources), `collect.sbatch` (`biornn sweep collect FILE`, to be run after the
/// array whatever became of its tasks: `--dependency=afterany`), and `submit.sh`, which submits
/// both. Returns the three paths.
pub fn write_slurm(sweep: &Sweep, indices: &[usize], biornn: &Path) -> Result<[PathBuf; 3]> {
    if indices.is_empty() {
        return Err(Error::new(format!(
            "{}: every run has finished; nothing to submit",
            sweep.file.display()
        )));
    }
    check(
        !sweep
            .dir
            .to_string_lossy()
            .contains([' ', '%', '\'', '"', '\n']),
        "runs",
        sweep.dir.display(),
        "allowed on Slurm: a directory path without spaces, quotes or '%' (the scripts' output patterns; a sweep on this machine takes any)",
    )?;
    std::fs::create_dir_all(&sweep.dir)
        .map_err(|e| Error::new(format!("{}: {e}", sweep.dir.display())))?;
    let s = &sweep.slurm;
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let head = |job: &str, out: &str| {
        let mut h = format!(
            "#!/bin/bash\n#SBATCH --job-name=biornn-{}-{job}\n#SBATCH --output={}/{out}\n#SBATCH --cpus-per-task={}\n#SBATCH --mem={}\n#SBATCH --time={}\n",
            sweep.name,
            sweep.dir.display(),
            s.cpus_per_task,
            s.mem,
            s.time
        );
        if !s.partition.is_empty() {
            h.push_str(&format!("#SBATCH --partition={}\n", s.partition));
        }
        if !s.account.is_empty() {
            h.push_str(&format!("#SBATCH --account={}\n", s.account));
        }
        h
    };
    // Slurm refuses array task ids above MaxArraySize - 1 (1000 by default): a sweep with larger
    // indices is submitted as arrays of ids 0..999, each with its offset in the environment
    let blocks = array_blocks(indices);
    let one_array = blocks.len() == 1 && blocks[0].0 == 0;
    let array = format!(
        "{}{}# a run that finished skips itself; one killed at the time limit resumes when resubmitted\nexport RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\nexec {} sweep run {} --index \"$((${{SLURM_ARRAY_TASK_ID:?a task of a job array}} + ${{BIORNN_SWEEP_OFFSET:-0}}))\"\n",
        head("run", "slurm-%A_%a.out"),
        if one_array {
            format!("#SBATCH --array={}%{}\n", array_spec(&blocks[0].1), s.max_parallel)
        } else {
            String::new()
        },
        quote(biornn),
        quote(&sweep.file)
    );
    let collect = format!(
        "{}exec {} sweep collect {}\n",
        head("collect", "slurm-collect-%j.out"),
        quote(biornn),
        quote(&sweep.file)
    );
    let d = &sweep.dir;
    // several arrays run one after the other (each waits for the one before), so that at most
    // max_parallel tasks run at once as the sweep file says
    let mut submit_arrays = String::from("jobs=\"\"\nprev=\"\"\n");
    for (offset, ids) in &blocks {
        let array = if one_array {
            String::new()
        } else {
            format!("--array={}%{} ", array_spec(ids), s.max_parallel)
        };
        submit_arrays.push_str(&format!(
            "job=$(sbatch --parsable {array}--export=ALL,BIORNN_SWEEP_OFFSET={offset} ${{prev:+--dependency=afterany:$prev}} {})\njob=${{job%%;*}}\njobs=\"$jobs:$job\"\nprev=$job\n",
            quote(&d.join("sweep.sbatch"))
        ));
    }
    let submit = format!(
        "#!/bin/bash\n# submit the array (arrays of at most {ARRAY_IDS} task ids one after another when the sweep is larger), then the collection after it, whatever became of its tasks\nset -euo pipefail\n{submit_arrays}sbatch --parsable --dependency=afterany\"$jobs\" {} > /dev/null\necho \"${{jobs#:}}\" | tr ':' ' '\n",
        quote(&d.join("collect.sbatch"))
    );
    let paths = [
        d.join("sweep.sbatch"),
        d.join("collect.sbatch"),
        d.join("submit.sh"),
    ];
    for (p, text) in paths.iter().zip([array, collect, submit]) {
        biornn_numerics::npz::write_atomic(p, text.as_bytes())?;
    }
    Ok(paths)
}

/// Submit the scripts [`write_slurm`] wrote (`sbatch`, which must be on the PATH); returns the
/// array's job id.
pub fn submit_slurm(sweep: &Sweep) -> Result<String> {
    let script = sweep.dir.join("submit.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| Error::new(format!("{}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "sbatch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One row per run: index, seed, state and the swept values, as a markdown table.
pub fn status_table(sweep: &Sweep) -> String {
    status_table_of(sweep, &sweep.states())
}

/// [`status_table`] of states already looked at ([`Sweep::states`]).
pub fn status_table_of(sweep: &Sweep, states: &[RunState]) -> String {
    assert_eq!(states.len(), sweep.len(), "one state per run");
    let mut out = format!("| run | seed | state | {} |\n", sweep.keys.join(" | "));
    out.push_str(&format!(
        "|---|---|---|{}\n",
        "---|".repeat(sweep.keys.len())
    ));
    for i in 0..sweep.len() {
        let (values, seed) = sweep.setting(i);
        let state = match states[i] {
            RunState::Finished => "finished",
            RunState::Running => "running",
            RunState::Unfinished => "unfinished",
            RunState::NotStarted => "not started",
            RunState::Other => "other settings",
        };
        let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        out.push_str(&format!(
            "| {i} | {seed} | {state} | {} |\n",
            vals.join(" | ")
        ));
    }
    out
}

/// Every finished run's summary in one CSV (`<dir>/sweep.csv`: index, seed, the swept keys, then
/// every number the summaries hold, a table of numbers such as `perf` as `perf_<key>` columns,
/// wall-clock and job fields last) and one HTML page
/// (`<dir>/report.html`) with `value` (default: the first score the summaries share) against each
/// swept number, averaged over the seeds. Returns the two paths and the number of runs collected.
pub fn collect(sweep: &Sweep, value: Option<&str>) -> Result<(PathBuf, PathBuf, usize)> {
    let mut rows = vec![];
    let mut flattened = std::collections::BTreeSet::new();
    for i in 0..sweep.len() {
        let Ok(run) = RunDir::open(&sweep.run_dir(i)) else {
            continue;
        };
        let path = run.summary_path();
        let Some(text) = run.read_summary() else {
            continue;
        };
        check_run_matches(sweep, i, &run)?;
        let mut s: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        // a table of numbers (BPTT's per-task `perf`) becomes columns `perf_<task>`
        if let Some(o) = s.as_object_mut() {
            let nested: Vec<(String, serde_json::Value)> = o
                .iter()
                .filter_map(|(k, v)| v.as_object().map(|t| (k, t)))
                .flat_map(|(k, t)| {
                    t.iter()
                        .filter(|(_, v)| v.is_number() || v.is_boolean())
                        .map(move |(sk, v)| (format!("{k}_{sk}"), v.clone()))
                })
                .collect();
            for (k, v) in nested {
                if !o.contains_key(&k) {
                    flattened.insert(k.clone());
                    o.insert(k, v);
                }
            }
        }
        rows.push((i, s));
    }
    let skip = |k: &str| k.starts_with("sweep") || k == "seed";
    let last = |k: &str| k == "wall_s" || k.starts_with("slurm_");
    let mut fields: Vec<String> = vec![];
    for (_, s) in &rows {
        if let Some(o) = s.as_object() {
            for (k, v) in o {
                if !skip(k) && (v.is_number() || v.is_boolean()) && !fields.contains(k) {
                    fields.push(k.clone());
                }
            }
        }
    }
    fields.sort_by_key(|k| (last(k), k.clone()));
    for job in ["slurm_job_id", "slurm_array_job_id", "slurm_array_task_id"] {
        if rows.iter().any(|(_, s)| s.get(job).is_some()) {
            fields.push(job.into());
        }
    }
    // a cell with a comma or a quote is quoted, as CSV readers expect
    let quoted = |c: String| match c.contains([',', '"', '\n']) {
        true => format!("\"{}\"", c.replace('"', "\"\"")),
        false => c,
    };
    let cell = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => quoted(s.clone()),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => quoted(v.to_string()),
    };
    let mut csv = format!("run,seed,{}", sweep.keys.join(","));
    for f in &fields {
        csv.push(',');
        csv.push_str(f);
    }
    csv.push('\n');
    for (i, s) in &rows {
        let (values, seed) = sweep.setting(*i);
        let vals: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::String(s) => quoted(s.clone()),
                v => quoted(v.to_string()),
            })
            .collect();
        let rest: Vec<String> = fields.iter().map(|f| cell(s.get(f))).collect();
        csv.push_str(&format!(
            "{i},{seed},{},{}\n",
            vals.join(","),
            rest.join(",")
        ));
    }
    std::fs::create_dir_all(&sweep.dir)
        .map_err(|e| Error::new(format!("{}: {e}", sweep.dir.display())))?;
    let csv_path = sweep.dir.join("sweep.csv");
    biornn_numerics::npz::write_atomic(&csv_path, csv.as_bytes())?;
    // the figures: value against each swept number, the mean over the seeds
    let not_score = |k: &str| {
        matches!(
            k,
            "steps" | "wall_s" | "trials" | "reached_target" | "units" | "parameters"
        ) || last(k)
    };
    let value = match value {
        Some(v) => v.to_string(),
        // a summary's own score, not one task's
        None => fields
            .iter()
            .find(|k| !not_score(k) && !flattened.contains(*k))
            .cloned()
            .unwrap_or_else(|| "steps".into()),
    };
    let mut figs = vec![];
    for (j, key) in sweep.keys.iter().enumerate() {
        let mut by_x: Vec<(f64, Vec<f64>)> = vec![];
        for (i, s) in &rows {
            let x = match &sweep.setting(*i).0[j] {
                Value::Integer(v) => *v as f64,
                Value::Float(v) => *v,
                _ => continue,
            };
            let Some(y) = s.get(&value).and_then(|v| v.as_f64()) else {
                continue;
            };
            match by_x.iter_mut().find(|(bx, _)| *bx == x) {
                Some((_, ys)) => ys.push(y),
                None => by_x.push((x, vec![y])),
            }
        }
        if by_x.is_empty() {
            continue;
        }
        by_x.sort_by(|a, b| a.0.total_cmp(&b.0));
        let xs: Vec<f64> = by_x.iter().map(|(x, _)| *x).collect();
        let ys: Vec<f64> = by_x
            .iter()
            .map(|(_, v)| v.iter().sum::<f64>() / v.len() as f64)
            .collect();
        figs.push(biornn_report::NamedFigure {
            name: Box::leak(format!("sweep_{j}").into_boxed_str()),
            title: Box::leak(format!("{value} against {key}").into_boxed_str()),
            caption: format!(
                "Each point is the mean over the runs with that {key} (seeds and the other keys' values)."
            ),
            figure: biornn_report::sequence::curves(&value, key, &[(value.clone(), xs, ys)], false),
        });
    }
    let mut table = vec![vec!["run".to_string(), "seed".into()]];
    table[0].extend(sweep.keys.iter().cloned());
    table[0].push(value.clone());
    for (i, s) in &rows {
        let (values, seed) = sweep.setting(*i);
        let mut r = vec![i.to_string(), seed.to_string()];
        r.extend(values.iter().map(|v| v.to_string()));
        r.push(cell(s.get(&value)));
        table.push(r);
    }
    let intro = format!(
        "Sweep {} ({}): {} of {} runs finished; {value} per run, and against each swept number.",
        sweep.name,
        sweep.file.display(),
        rows.len(),
        sweep.len()
    );
    let page = biornn_report::sequence::write_sequence_report(&sweep.dir, &intro, &figs, &table)?;
    Ok((csv_path, page, rows.len()))
}
