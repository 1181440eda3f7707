//! Weights on disk as `.npz`, `(post, pre)` layout, PsychRNN key names where they apply:
//! `W_in`, `W_rec`, `W_out`, `b_rec`, `b_out`, `init_state`, `Dale_rec`, `Dale_out`,
//! `input_connectivity`, `rec_connectivity`, `output_connectivity`; and biornn's own: `tau` (ms per
//! unit), `dt`, `step`, `config_toml` (the run's resolved config), `format`.
//! Weights are stored as the network uses them (masks and signs applied), so numpy users see the real
//! connectivity.

use crate::config::RunConfig;
use biornn_model::{Ctrnn, MaskSpec, Params};
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

pub fn save(path: &Path, net: &Ctrnn<f32>, cfg: &RunConfig, step: usize) -> Result<()> {
    write_npz(path, &to_arrays(net, cfg, step))
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
