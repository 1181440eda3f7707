//! The compiled half of the `biornn` Python package (`biornn._biornn`). It only converts: Python
//! values and numpy arrays in, `biornn_api` calls with the GIL released, numpy arrays and plain
//! dicts out, biornn's errors as `biornn.Error` with the CLI's messages. The Python half
//! (`python/biornn`) adds the `Run` object, the analysis readers and the gym-style environment.

use biornn_api::inspect::{self, AnalyzeSpec, TrialsSpec};
use biornn_api::{Config, Kind, RunOptions};
use biornn_numerics::npz::{NpyArray, NpyData};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PySlice, PyString, PyTuple};
use std::collections::BTreeMap;
use std::path::PathBuf;

create_exception!(
    _biornn,
    Error,
    PyValueError,
    "What biornn refused: a bad config key or value, a missing run, an array of the wrong shape. \
     The message is the CLI's."
);

fn err(e: biornn_numerics::Error) -> PyErr {
    Error::new_err(e.to_string())
}

// ---- TOML values <-> Python values -------------------------------------------------------------

fn to_toml(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    // bool before int: Python's True is an int too
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    // numpy's bool is not a Python bool (nor an int): it would pass as 1 or 1.0 below
    let type_name = v.get_type().name()?.to_string();
    if type_name == "bool" || type_name == "bool_" {
        if let Ok(b) = v.call_method0("__bool__").and_then(|b| b.extract::<bool>()) {
            return Ok(toml::Value::Boolean(b));
        }
    }
    if v.is_instance_of::<PyInt>() {
        return v.extract::<i64>().map(toml::Value::Integer).map_err(|_| {
            Error::new_err(format!(
                "config: `{key}` = {v}; allowed: an integer from -2^63 to 2^63 - 1 (TOML's range)"
            ))
        });
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, x) in d.iter() {
            let name: String = k.extract().map_err(|_| {
                Error::new_err(format!(
                    "config: `{key}` has a key that is not a string: {k}"
                ))
            })?;
            let path = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}.{name}")
            };
            // None leaves the key out: the default applies
            if x.is_none() {
                continue;
            }
            t.insert(name, to_toml(&path, &x)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = v.try_iter()?.collect::<PyResult<_>>()?;
        return items
            .iter()
            .map(|x| to_toml(key, x))
            .collect::<PyResult<Vec<_>>>()
            .map(toml::Value::Array);
    }
    // numpy scalars and other numbers
    if let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
        return Ok(toml::Value::Integer(i));
    }
    if let Ok(f) = v.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
        return Ok(toml::Value::Float(f));
    }
    let ty = v.get_type().name()?;
    Err(Error::new_err(format!(
        "config: `{key}` = {v} is a {ty}; allowed: a bool, int, float, str, list or dict"
    )))
}

fn to_py<'py>(py: Python<'py>, v: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        toml::Value::String(s) => s.into_pyobject(py)?.into_any(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        toml::Value::Float(f) => f.into_pyobject(py)?.into_any(),
        toml::Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        toml::Value::Datetime(d) => d.to_string().into_pyobject(py)?.into_any(),
        toml::Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        toml::Value::Table(t) => table_to_py(py, t)?.into_any(),
    })
}

fn table_to_py<'py>(py: Python<'py>, t: &toml::Table) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, x) in t {
        d.set_item(k, to_py(py, x)?)?;
    }
    Ok(d)
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        J::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        J::String(s) => s.into_pyobject(py)?.into_any(),
        J::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        J::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn parse_toml(text: &str, what: &str) -> PyResult<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| Error::new_err(format!("{what}: not TOML: {e}")))
}

/// A Python dict as the text of a TOML table; errors start with `what`.
fn dict_toml(d: &Bound<'_, PyDict>, what: &str) -> PyResult<String> {
    toml::to_string(&to_toml("", d.as_any())?).map_err(|e| Error::new_err(format!("{what}: {e}")))
}

/// A config from what Python hands over: None (the default), a dict, TOML text, or a path.
fn config_of(cfg: Option<&Bound<'_, PyAny>>) -> PyResult<Config> {
    let Some(cfg) = cfg.filter(|c| !c.is_none()) else {
        return Ok(Config::default());
    };
    if let Ok(d) = cfg.cast::<PyDict>() {
        return Config::from_toml(&dict_toml(d, "config")?).map_err(err);
    }
    if let Ok(path) = cfg.extract::<PathBuf>() {
        let text = path.to_string_lossy();
        // a path names a file; text with a newline or `=` is TOML itself
        if !path.exists() && (text.contains('\n') || text.contains('=')) {
            return Config::from_toml(&text).map_err(err);
        }
        return Config::load(&path).map_err(err);
    }
    let ty = cfg.get_type().name()?;
    Err(Error::new_err(format!(
        "config: a {ty}; allowed: None (the default), a dict, TOML text or a path to a .toml file"
    )))
}

// ---- arrays --------------------------------------------------------------------------------------

fn shaped<'py, T: numpy::Element>(
    py: Python<'py>,
    shape: &[usize],
    data: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    // moves the buffer into numpy: no copy
    let a = ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| Error::new_err(format!("array of shape {shape:?}: {e}")))?;
    Ok(a.into_pyarray(py).into_any())
}

fn npy_to_py<'py>(py: Python<'py>, a: NpyArray) -> PyResult<Bound<'py, PyAny>> {
    let shape = a.shape;
    match a.data {
        NpyData::F32(v) => shaped(py, &shape, v),
        NpyData::F64(v) => shaped(py, &shape, v),
        NpyData::I32(v) => shaped(py, &shape, v),
        NpyData::I64(v) => shaped(py, &shape, v),
        NpyData::U8(v) => shaped(py, &shape, v),
        NpyData::Bool(v) => shaped(py, &shape, v),
        NpyData::Str(v) if shape.is_empty() && v.len() == 1 => {
            Ok(v[0].clone().into_pyobject(py)?.into_any())
        }
        NpyData::Str(v) => Ok(PyList::new(py, v)?.into_any()),
    }
}

fn arrays_to_py<'py>(
    py: Python<'py>,
    arrays: BTreeMap<String, NpyArray>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, a) in arrays {
        d.set_item(k, npy_to_py(py, a)?)?;
    }
    Ok(d)
}

// ---- functions -----------------------------------------------------------------------------------

/// The default config of a kind as a dict (`kind`: ctrnn, reservoir, r2n2, rflo, esn, ctrnn_rflo,
/// ctrnn_force, elise, cordsnet, multiarea; None: the CTRNN trained by BPTT).
#[pyfunction]
#[pyo3(signature = (kind=None))]
fn default_config<'py>(py: Python<'py>, kind: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
    let kind = match kind {
        None => Kind::CtrnnBptt,
        Some(k) => Kind::by_name(k).map_err(err)?,
    };
    table_to_py(
        py,
        &parse_toml(Config::default_toml(kind), "default config")?,
    )
}

/// Check a config (dict, TOML text or path) and return it resolved, every default filled in.
#[pyfunction]
#[pyo3(signature = (config=None))]
fn check_config<'py>(
    py: Python<'py>,
    config: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config_of(config)?;
    cfg.validate().map_err(err)?;
    table_to_py(py, &parse_toml(&cfg.to_toml(), "config")?)
}

/// A TOML file as a dict (a run's `config.toml`, a sweep file).
#[pyfunction]
fn read_toml<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new_err(format!("{}: {e}", path.display())))?;
    table_to_py(py, &parse_toml(&text, &path.display().to_string())?)
}

fn finished_to_py<'py>(py: Python<'py>, f: &biornn_api::Finished) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("dir", f.dir.clone())?;
    d.set_item("reached", f.reached)?;
    d.set_item("steps", f.steps)?;
    d.set_item("trials", f.trials)?;
    d.set_item("wall_s", f.wall_s)?;
    let scores = PyDict::new(py);
    for (k, v) in &f.scores {
        scores.set_item(k.replace(' ', "_"), v)?;
    }
    d.set_item("scores", scores)?;
    let per_task = PyDict::new(py);
    for (k, v) in &f.per_task {
        per_task.set_item(k, v)?;
    }
    d.set_item("per_task", per_task)?;
    Ok(d)
}

/// Set by `request_stop` (Python's `train` calls it on Ctrl-C); the running run stops at its
/// last evaluation, saved.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask the run in progress to stop at its last evaluation (saved, so that it resumes as if never
/// stopped). `biornn.train` and `biornn.resume` call it when Ctrl-C interrupts them.
#[pyfunction]
fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Training calls in progress (Python threads may run several at once): the hooks below are
/// installed by the first and removed by the last, so one call ending does not take Ctrl-C from
/// another.
static ACTIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// Forget a stop request when no call is training (`biornn.train` calls it after a Ctrl-C, so
/// that a request that came as its run ended does not stop the next one).
#[pyfunction]
fn clear_stop() {
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if *active == 0 {
        STOP.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// While alive: a run's progress lines go to Python's `sys.stdout` (which a notebook shows) when
/// `verbose`, its metrics to TensorBoard event files under `tensorboard`, and `request_stop`
/// stops it (and every other run in progress: the hooks are the process's). A stop requested
/// before the run began (Ctrl-C while its config loads) is kept; the last call to end clears it.
struct RunHooks;

impl RunHooks {
    fn new(verbose: bool, tensorboard: Option<&std::path::Path>) -> Self {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        *active += 1;
        biornn_api::set_interrupt(Some(std::sync::Arc::new(|| {
            STOP.load(std::sync::atomic::Ordering::SeqCst)
        })));
        if verbose {
            biornn_api::set_progress_sink(Some(std::sync::Arc::new(|text: &str| {
                Python::attach(|py| {
                    let write = py
                        .import("sys")
                        .and_then(|sys| sys.getattr("stdout"))
                        .and_then(|out| out.call_method1("write", (format!("{text}\n"),)));
                    // a stdout that cannot be written to only loses the line
                    drop(write);
                })
            })));
        }
        biornn_api::enable_tensorboard(tensorboard);
        RunHooks
    }
}

impl Drop for RunHooks {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        *active = active.saturating_sub(1);
        if *active == 0 {
            biornn_api::set_progress_sink(None);
            biornn_api::enable_tensorboard(None);
            biornn_api::set_interrupt(None);
            STOP.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Train a config in a fresh run directory under `runs` (or exactly in `dir`, going on with the
/// same run when `dir` holds it: `biornn_api::continue_in`). The GIL is released while it trains;
/// `verbose` prints a line per evaluation to `sys.stdout`.
#[pyfunction]
#[pyo3(signature = (config=None, runs=PathBuf::from("runs"), dir=None, seed=None, max_steps=None, name=None, verbose=true, tensorboard=None))]
#[allow(clippy::too_many_arguments)]
fn train<'py>(
    py: Python<'py>,
    config: Option<&Bound<'py, PyAny>>,
    runs: PathBuf,
    dir: Option<PathBuf>,
    seed: Option<u64>,
    max_steps: Option<usize>,
    name: Option<String>,
    verbose: bool,
    tensorboard: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut cfg = config_of(config)?;
    if let Some(n) = &name {
        cfg.set_name(n);
    }
    if let Some(s) = seed {
        cfg.set_seed(s);
    }
    if let Some(m) = max_steps {
        cfg.set_max_steps(m).map_err(err)?;
    }
    let _hooks = RunHooks::new(verbose, tensorboard.as_deref());
    let opts = RunOptions {
        progress: verbose,
        verbose,
    };
    // a run `dir` already holds goes on, or stands when done (its steps)
    let done = py.detach(|| {
        biornn_api::on_workers(
            || -> biornn_api::Result<Result<biornn_api::Finished, usize>> {
                let Some(d) = &dir else {
                    return biornn_api::train(&cfg, &runs, &opts).map(Ok);
                };
                match biornn_api::continue_in(&cfg, d, &opts)? {
                    biornn_api::Continued::Empty => biornn_api::train_in(&cfg, d, &opts).map(Ok),
                    biornn_api::Continued::Trained(f) => Ok(Ok(f)),
                    biornn_api::Continued::Done { steps } => Ok(Err(steps)),
                }
            },
        )
    });
    match done.map_err(err)? {
        Ok(f) => finished_to_py(py, &f),
        Err(steps) => {
            let d = PyDict::new(py);
            d.set_item("dir", dir)?;
            d.set_item("steps", steps)?;
            d.set_item("done_before", true)?;
            Ok(d)
        }
    }
}

/// Continue a killed run where it stopped (bit-identical to an uninterrupted one), or a finished one
/// to a larger `max_steps`.
#[pyfunction]
#[pyo3(signature = (run, max_steps=None, verbose=true))]
fn resume<'py>(
    py: Python<'py>,
    run: PathBuf,
    max_steps: Option<usize>,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let _hooks = RunHooks::new(verbose, None);
    let opts = RunOptions {
        progress: verbose,
        verbose,
    };
    let done =
        py.detach(|| biornn_api::on_workers(|| biornn_api::resume_to(&run, max_steps, &opts)));
    finished_to_py(py, &done.map_err(err)?)
}

/// `(network kind, rule kind)` of a run directory.
#[pyfunction]
fn run_kind(run: PathBuf) -> PyResult<(String, String)> {
    let (n, r) = inspect::run_kind(&run).map_err(err)?.names();
    Ok((n.to_string(), r.to_string()))
}

/// Where a run directory keeps its config, metrics, summary, analysis and weights (None while
/// it has none).
#[pyfunction]
fn run_files<'py>(py: Python<'py>, run: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let f = inspect::run_files(&run).map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("config", f.config)?;
    d.set_item("metrics", f.metrics)?;
    d.set_item("summary", f.summary)?;
    d.set_item("analysis", f.analysis)?;
    d.set_item("weights", f.weights)?;
    Ok(d)
}

/// Every array of a `.npz` or `.safetensors` file, as biornn reads it.
#[pyfunction]
fn read_arrays<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let arrays = py
        .detach(|| biornn_numerics::tensors::read_arrays(&path))
        .map_err(err)?;
    arrays_to_py(py, arrays)
}

/// Per-task performance of a run's weights on `trials` trials per task; for a long-term or
/// rule-reversal run, each network's score and its parts (`networks`).
#[pyfunction]
#[pyo3(signature = (run, trials=256, recurrent_noise=None))]
fn evaluate<'py>(
    py: Python<'py>,
    run: PathBuf,
    trials: usize,
    recurrent_noise: Option<bool>,
) -> PyResult<Bound<'py, PyDict>> {
    let r = py
        .detach(|| biornn_api::on_workers(|| inspect::evaluate_run(&run, trials, recurrent_noise)))
        .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("checkpoint", &r.checkpoint)?;
    d.set_item("step", r.step)?;
    d.set_item("recurrent_noise", r.recurrent_noise)?;
    d.set_item("min_perf", r.min_perf)?;
    d.set_item("mean_perf", r.mean_perf)?;
    let tasks = PyDict::new(py);
    for t in &r.tasks {
        let value = serde_json::to_value(t).map_err(|e| Error::new_err(e.to_string()))?;
        tasks.set_item(&t.task, json_to_py(py, &value)?)?;
    }
    d.set_item("tasks", tasks)?;
    if !r.networks.is_empty() {
        // a long-term or rule-reversal run: one dict per network, in order
        let value = serde_json::to_value(&r.networks).map_err(|e| Error::new_err(e.to_string()))?;
        d.set_item("networks", json_to_py(py, &value)?)?;
        d.set_item("trimmed_mean", r.trimmed_mean)?;
        d.set_item("updates", r.updates)?;
    }
    Ok(d)
}

/// Run the analyses (`what`: comma-separated fixed-points, pca, psychometric, variance, lesion)
/// and return the result files (`.npz`, `.csv`) this call wrote under `RUN/analysis/`.
#[pyfunction]
#[pyo3(signature = (run, what="fixed-points,pca,psychometric,variance,lesion".to_string(), task=None, inits=256, seed=0, lesions=vec![], net=None))]
#[allow(clippy::too_many_arguments)]
fn analyze(
    py: Python<'_>,
    run: PathBuf,
    what: String,
    task: Option<String>,
    inits: usize,
    seed: u64,
    lesions: Vec<String>,
    net: Option<usize>,
) -> PyResult<Vec<PathBuf>> {
    let spec = AnalyzeSpec {
        what,
        task,
        inits,
        seed,
        lesions,
        net,
    };
    let done = py
        .detach(|| biornn_api::on_workers(|| inspect::analyze_run(&run, &spec)))
        .map_err(err)?;
    // this call's results only (figures aside), not what earlier calls left in the folder
    Ok(done
        .files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "npz" || e == "csv"))
        .collect())
}

/// The batteries and their tasks: name, description, sets and every task's epochs and summary.
#[pyfunction]
#[pyo3(signature = (battery=None))]
fn tasks<'py>(py: Python<'py>, battery: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for b in inspect::batteries(battery).map_err(err)? {
        let d = PyDict::new(py);
        d.set_item("name", b.name)?;
        d.set_item("description", &b.description)?;
        d.set_item("sets", b.sets.into_iter().collect::<BTreeMap<_, _>>())?;
        let ts = PyList::empty(py);
        for t in &b.tasks {
            let td = PyDict::new(py);
            td.set_item("name", &t.name)?;
            td.set_item("index", t.index)?;
            td.set_item("epochs", t.epochs.clone())?;
            td.set_item("description", &t.description)?;
            ts.append(td)?;
        }
        d.set_item("tasks", ts)?;
        out.append(d)?;
    }
    Ok(out)
}

/// A batch of trials as numpy arrays (see `biornn.task_batch`).
#[pyfunction]
#[pyo3(signature = (task, battery="yang20".to_string(), batch=16, seed=0, index=0, dt=20.0, noise=true, per_trial_timing=false, easy=false, modcog=None))]
#[allow(clippy::too_many_arguments)]
fn task_batch<'py>(
    py: Python<'py>,
    task: String,
    battery: String,
    batch: usize,
    seed: u64,
    index: u64,
    dt: f64,
    noise: bool,
    per_trial_timing: bool,
    easy: bool,
    modcog: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let modcog = match modcog {
        Some(d) => inspect::modcog_options_from_toml(&dict_toml(&d, "modcog")?).map_err(err)?,
        None => Default::default(),
    };
    let spec = TrialsSpec {
        modcog,
        battery,
        task,
        batch,
        seed,
        index,
        no_noise: !noise,
        dt,
        per_trial_timing,
        easy,
    };
    let t = py.detach(|| inspect::task_arrays(&spec)).map_err(err)?;
    arrays_to_py(py, t.arrays)
}

// ---- a trained network ---------------------------------------------------------------------------

/// A trained continuous-time rate network, loaded from a run or a weights file.
#[pyclass(module = "biornn", frozen)]
struct Network {
    net: biornn_api::Ctrnn<f32>,
    step: usize,
    path: PathBuf,
}

#[pymethods]
impl Network {
    /// Load a run directory's network (`model.npz`, or its newest checkpoint while it trains), or
    /// a weights file.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let loaded = py.detach(|| inspect::load_network(&path)).map_err(err)?;
        Ok(Network {
            net: loaded.net,
            step: loaded.step,
            path,
        })
    }

    /// Run the network on `x` (`[T, B, n_in]`, float32) from its initial state. Returns a dict
    /// of `[T, B, dim]` arrays: `outputs` (after the readout), `states` and `rates` after each step,
    /// and `initial_state`/`initial_rate` (`[B, n_rec]`). With `noise`, recurrent noise is drawn
    /// from `seed`; without, the run is deterministic.
    #[pyo3(signature = (x, noise=false, seed=0))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        noise: bool,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let net = &self.net;
        // [T, B, n_in] in C order is the network's column-major [n_in, T*B]
        let (dims, input): (Vec<usize>, Vec<f32>) =
            if let Ok(a) = x.extract::<PyReadonlyArray3<'py, f32>>() {
                // as_slice takes Fortran order too: only C order is the layout we need
                let input = match a.as_slice() {
                    Ok(s) if a.is_c_contiguous() => s.to_vec(),
                    _ => a.as_array().iter().copied().collect(),
                };
                (a.shape().to_vec(), input)
            } else if let Ok(a) = x.extract::<PyReadonlyArray3<'py, f64>>() {
                let input = a.as_array().iter().map(|v| *v as f32).collect();
                (a.shape().to_vec(), input)
            } else {
                let what = match (x.getattr("dtype"), x.getattr("ndim")) {
                    (Ok(d), Ok(n)) => format!("an array of {d} with {n} dimensions"),
                    _ => format!("a {}", x.get_type().name()?),
                };
                return Err(Error::new_err(format!(
                    "x: {what}; allowed: a 3-d float32 or float64 numpy array [T, B, {}]",
                    net.n_in
                )));
            };
        let (t, b, n_in) = (dims[0], dims[1], dims[2]);
        if n_in != net.n_in || t == 0 || b == 0 {
            return Err(Error::new_err(format!(
                "x: shape [{t}, {b}, {n_in}]; allowed: [T, B, {}] with T, B >= 1 (this network has {} inputs)",
                net.n_in, net.n_in
            )));
        }
        let noise_seed = noise.then_some(seed);
        let traj = py.detach(|| inspect::run_network(net, &input, t, b, noise_seed));
        let n = net.n_rec;
        let d = PyDict::new(py);
        d.set_item("outputs", shaped(py, &[t, b, net.n_out], traj.output)?)?;
        // [T + 1, B, n] with the initial state first: views of one buffer, no copy
        for (name, data) in [("state", traj.state), ("rate", traj.rate)] {
            let all = shaped(py, &[t + 1, b, n], data)?;
            d.set_item(
                format!("{name}s"),
                all.get_item(PySlice::new(py, 1, t as isize + 1, 1))?,
            )?;
            d.set_item(format!("initial_{name}"), all.get_item(0)?)?;
        }
        Ok(d)
    }

    #[getter]
    fn n_in(&self) -> usize {
        self.net.n_in
    }
    #[getter]
    fn n_rec(&self) -> usize {
        self.net.n_rec
    }
    #[getter]
    fn n_out(&self) -> usize {
        self.net.n_out
    }
    /// Euler step in ms
    #[getter]
    fn dt(&self) -> f64 {
        self.net.dt()
    }
    /// per-unit time constants in ms
    #[getter]
    fn tau<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        shaped(py, &[self.net.n_rec], self.net.tau.clone())
    }
    /// the update the weights come from
    #[getter]
    fn step(&self) -> usize {
        self.step
    }

    fn __repr__(&self) -> String {
        format!(
            "Network({} inputs, {} units, {} outputs, dt {} ms, step {}, from {})",
            self.net.n_in,
            self.net.n_rec,
            self.net.n_out,
            self.net.dt(),
            self.step,
            self.path.display()
        )
    }
}

#[pymodule]
fn _biornn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add_class::<Network>()?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    m.add_function(wrap_pyfunction!(check_config, m)?)?;
    m.add_function(wrap_pyfunction!(read_toml, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(request_stop, m)?)?;
    m.add_function(wrap_pyfunction!(clear_stop, m)?)?;
    m.add_function(wrap_pyfunction!(resume, m)?)?;
    m.add_function(wrap_pyfunction!(run_kind, m)?)?;
    m.add_function(wrap_pyfunction!(read_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(run_files, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(tasks, m)?)?;
    m.add_function(wrap_pyfunction!(task_batch, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
