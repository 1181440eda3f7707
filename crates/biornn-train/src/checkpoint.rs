//! Weights on disk as `.npz`, `(post, pre)` layout, PsychRNN key names where they apply:
//! `W_in`, `W_rec`, `W_out`, `b_rec`, `b_out`, `init_state`, `Dale_rec`, `Dale_out`,
//! `input_connectivity`, `rec_connectivity`, `output_connectivity`; and biornn's own: `tau` (ms per
//! unit), `dt`, `step`, `config_toml` (the run's resolved config), `format`.
//! Weights are stored as the network uses them (masks and signs applied), so numpy users see the real
//! connectivity.
//!
//! A training checkpoint also holds what resuming needs to continue bit for bit: the raw parameters
//! (`raw_<name>`), Adam's moments (`opt_m_<name>`, `opt_v_<name>`, `opt_t`) and the loop's counters
//! (`state_*`). Every file carries `checksum`, a CRC-32 over all other arrays, checked on load.

use crate::config::RunConfig;
use crate::optim::Optimizer;
use biornn_model::ctrnn::PARAM_NAMES;
use biornn_model::{Ctrnn, MaskSpec, Params};
use biornn_numerics::npz::{crc32, encode_npy, NpyData};
use biornn_numerics::npz::{read_npz, take_real, write_npz, NpyArray};
use biornn_numerics::{Error, Result, Streams};
use std::collections::BTreeMap;
use std::path::Path;

pub const FORMAT: &str = "biornn-ctrnn-1";

fn diag(v: &[f32]) -> Vec<f32> {
    let n = v.len();
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = v[i];
    }
    m
}

/// The arrays of a checkpoint.
pub fn to_arrays(net: &Ctrnn<f32>, cfg: &RunConfig, step: usize) -> BTreeMap<String, NpyArray> {
    let (n, ni, no) = (net.n_rec, net.n_in, net.n_out);
    let e = net.effective();
    let mut m = BTreeMap::new();
    let mut put = |k: &str, shape: &[usize], v: Vec<f32>| {
        m.insert(k.to_string(), NpyArray::f32(shape, v));
    };
    put("W_in", &[n, ni], e.w_in.clone());
    put("W_rec", &[n, n], e.w_rec.clone());
    put("W_out", &[no, n], e.w_out.clone());
    put("b_rec", &[n], e.b_rec.clone());
    put("b_out", &[no], e.b_out.clone());
    put("init_state", &[n], e.init_state.clone());
    put("Dale_rec", &[n, n], diag(&net.sign));
    put("Dale_out", &[n, n], diag(&net.sign));
    put("input_connectivity", &[n, ni], net.mask_in.clone());
    put("rec_connectivity", &[n, n], net.mask_rec.clone());
    put("output_connectivity", &[no, n], net.mask_out.clone());
    put("tau", &[n], net.tau.iter().map(|t| *t as f32).collect());
    put("dt", &[], vec![net.dt() as f32]);
    m.insert("step".into(), NpyArray::i32(&[], vec![step as i32]));
    m.insert("config_toml".into(), NpyArray::string(&cfg.to_toml()));
    m.insert("format".into(), NpyArray::string(FORMAT));
    m
}

/// The counters of the training loop that a resumed run continues from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoopState {
    /// updates taken
    pub step: usize,
    /// training loss summed since the last evaluation, and how many updates that is
    pub loss_acc: f64,
    pub loss_count: usize,
    /// evaluations done
    pub evals: usize,
    /// learning-rate multiplier left by the divergence guard
    pub lr_scale: f64,
    /// rollbacks so far
    pub divergences: usize,
    /// wall-clock seconds spent before this process started
    pub wall_s: f64,
}

fn checksum(arrays: &BTreeMap<String, NpyArray>) -> i64 {
    let mut bytes = Vec::new();
    for (k, a) in arrays.iter().filter(|(k, _)| k.as_str() != "checksum") {
        bytes.extend_from_slice(k.as_bytes());
        bytes.extend_from_slice(&encode_npy(a));
    }
    crc32(&bytes) as i64
}

fn with_checksum(mut m: BTreeMap<String, NpyArray>) -> BTreeMap<String, NpyArray> {
    let c = checksum(&m);
    m.insert(
        "checksum".into(),
        NpyArray {
            shape: vec![],
            data: NpyData::I64(vec![c]),
        },
    );
    m
}

/// Weights only (what `eval` and numpy users need).
pub fn save(path: &Path, net: &Ctrnn<f32>, cfg: &RunConfig, step: usize) -> Result<()> {
    write_npz(path, &with_checksum(to_arrays(net, cfg, step)))
}

/// Everything a resumed run needs.
pub fn save_training(
    path: &Path,
    net: &Ctrnn<f32>,
    opt: &Optimizer<f32>,
    cfg: &RunConfig,
    state: &LoopState,
) -> Result<()> {
    let mut m = to_arrays(net, cfg, state.step);
    let shapes = net.param_shapes();
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        m.insert(
            format!("raw_{name}"),
            NpyArray::f32(&shapes[k], net.params.tensors()[k].clone()),
        );
        m.insert(
            format!("opt_m_{name}"),
            NpyArray::f32(&shapes[k], opt.m.tensors()[k].clone()),
        );
        m.insert(
            format!("opt_v_{name}"),
            NpyArray::f32(&shapes[k], opt.v.tensors()[k].clone()),
        );
    }
    let int = |v: i64| NpyArray {
        shape: vec![],
        data: NpyData::I64(vec![v]),
    };
    let float = |v: f64| NpyArray {
        shape: vec![],
        data: NpyData::F64(vec![v]),
    };
    m.insert("opt_t".into(), int(opt.t as i64));
    m.insert("state_step".into(), int(state.step as i64));
    m.insert("state_loss_acc".into(), float(state.loss_acc));
    m.insert("state_loss_count".into(), int(state.loss_count as i64));
    m.insert("state_evals".into(), int(state.evals as i64));
    m.insert("state_lr_scale".into(), float(state.lr_scale));
    m.insert("state_divergences".into(), int(state.divergences as i64));
    m.insert("state_wall_s".into(), float(state.wall_s));
    write_npz(path, &with_checksum(m))
}

/// A training checkpoint read back: the network with its raw parameters, the optimiser and counters.
pub fn load_training(path: &Path) -> Result<(Loaded, Optimizer<f32>, LoopState)> {
    let mut loaded = load(path)?;
    let arrays = read_npz(path)?;
    let ctx = |e: Error| e.context(path.display());
    let net = &mut loaded.net;
    let (n, ni, no) = (net.n_rec, net.n_in, net.n_out);
    let shapes = net.param_shapes();
    let mut opt = Optimizer::new(&loaded.config.train, ni, n, no);
    let mut raw = net.params.clone();
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        *raw.tensors_mut()[k] =
            take_real::<f32>(&arrays, &format!("raw_{name}"), &shapes[k]).map_err(ctx)?;
        *opt.m.tensors_mut()[k] =
            take_real::<f32>(&arrays, &format!("opt_m_{name}"), &shapes[k]).map_err(ctx)?;
        *opt.v.tensors_mut()[k] =
            take_real::<f32>(&arrays, &format!("opt_v_{name}"), &shapes[k]).map_err(ctx)?;
    }
    if !raw.all_finite() {
        return Err(ctx(Error::new("raw weights contain NaN or infinity")));
    }
    net.params = raw;
    net.refresh();
    let scalar =
        |k: &str| -> Result<f64> { Ok(take_real::<f64>(&arrays, k, &[]).map_err(ctx)?[0]) };
    opt.t = scalar("opt_t")? as u64;
    let state = LoopState {
        step: scalar("state_step")? as usize,
        loss_acc: scalar("state_loss_acc")?,
        loss_count: scalar("state_loss_count")? as usize,
        evals: scalar("state_evals")? as usize,
        lr_scale: scalar("state_lr_scale")?,
        divergences: scalar("state_divergences")? as usize,
        wall_s: scalar("state_wall_s")?,
    };
    Ok((loaded, opt, state))
}

pub struct Loaded {
    pub config: RunConfig,
    pub net: Ctrnn<f32>,
    pub step: usize,
}

/// Read a checkpoint back. Masks come from the file, not from the config's mask specs (a mask file
/// named there may be gone).
pub fn load(path: &Path) -> Result<Loaded> {
    let arrays = read_npz(path)?;
    let ctx = |e: Error| e.context(path.display());
    if let Some(stored) = arrays.get("checksum") {
        let stored = stored
            .to_real::<f64>()
            .map_err(ctx)?
            .first()
            .copied()
            .unwrap_or(-1.0) as i64;
        if stored != checksum(&arrays) {
            return Err(ctx(Error::new("checksum mismatch: the file is corrupt")));
        }
    }
    let text = arrays
        .get("config_toml")
        .ok_or_else(|| {
            ctx(Error::new(
                "missing array `config_toml`: not a biornn checkpoint",
            ))
        })?
        .as_string()
        .map_err(ctx)?;
    let config = RunConfig::from_toml(&text).map_err(|e| ctx(e.context("config_toml")))?;
    let mut model = config.model.clone();
    model.mask.input = MaskSpec::Dense;
    model.mask.recurrent = MaskSpec::Dense;
    model.mask.output = MaskSpec::Dense;
    let (ni, no, n) = (config.task.n_in(), config.task.n_out(), model.n_rec);
    let mut net = Ctrnn::<f32>::new(&model, ni, no, config.task.dt, &Streams::new(config.seed))
        .map_err(ctx)?;
    let get = |k: &str, shape: &[usize]| take_real::<f32>(&arrays, k, shape).map_err(ctx);
    net.mask_in = get("input_connectivity", &[n, ni])?;
    net.mask_rec = get("rec_connectivity", &[n, n])?;
    net.mask_out = get("output_connectivity", &[no, n])?;
    let params = Params {
        w_in: get("W_in", &[n, ni])?,
        w_rec: get("W_rec", &[n, n])?,
        w_out: get("W_out", &[no, n])?,
        b_rec: get("b_rec", &[n])?,
        b_out: get("b_out", &[no])?,
        init_state: get("init_state", &[n])?,
    };
    if !params.all_finite() {
        return Err(ctx(Error::new("weights contain NaN or infinity")));
    }
    net.set_params(params);
    let step = arrays
        .get("step")
        .and_then(|a| a.to_real::<f64>().ok())
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0) as usize;
    Ok(Loaded { config, net, step })
}
