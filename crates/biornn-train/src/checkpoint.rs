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
use biornn_numerics::npz::{take_real, NpyArray};
use biornn_numerics::{Error, Result, Streams};
use biornn_run::checkpoint::read_checked;
use std::collections::BTreeMap;
use std::path::Path;

pub const FORMAT: &str = "biornn-ctrnn-1";

/// The arrays of a checkpoint.
pub fn to_arrays(net: &Ctrnn<f32>, cfg: &RunConfig, step: usize) -> BTreeMap<String, NpyArray> {
    let mut m = BTreeMap::new();
    biornn_core::Network::export(net, &mut m);
    m.insert("step".into(), NpyArray::i32(&[], vec![step as i32]));
    m.insert("config_toml".into(), NpyArray::string(&cfg.to_toml()));
    m.insert("format".into(), NpyArray::string(FORMAT));
    m
}

pub use biornn_run::LoopState;

/// The raw parameters (`<prefix>raw_<name>`): what the optimiser steps, before masks and signs.
pub fn save_raw(prefix: &str, net: &Ctrnn<f32>, m: &mut BTreeMap<String, NpyArray>) {
    let shapes = net.param_shapes();
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        m.insert(
            format!("{prefix}raw_{name}"),
            NpyArray::f32(&shapes[k], net.params.tensors()[k].clone()),
        );
    }
}

/// Read back what [`save_raw`] wrote into `net` (constraints re-applied).
pub fn load_raw(
    prefix: &str,
    net: &mut Ctrnn<f32>,
    arrays: &BTreeMap<String, NpyArray>,
) -> Result<()> {
    let shapes = net.param_shapes();
    let mut raw = net.params.clone();
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        *raw.tensors_mut()[k] =
            take_real::<f32>(arrays, &format!("{prefix}raw_{name}"), &shapes[k])?;
    }
    if !raw.all_finite() {
        return Err(Error::new("raw weights contain NaN or infinity"));
    }
    net.params = raw;
    net.refresh();
    Ok(())
}

/// What a resumed run needs beyond the weights: the raw parameters (`raw_<name>`) and the
/// optimiser's moments (`opt_m_<name>`, `opt_v_<name>`, `opt_t`).
pub fn save_training_state(
    prefix: &str,
    net: &Ctrnn<f32>,
    opt: &Optimizer<f32>,
    m: &mut BTreeMap<String, NpyArray>,
) {
    save_raw(prefix, net, m);
    opt.save(prefix, &net.param_shapes(), m);
}

/// Read back what [`save_training_state`] wrote.
pub fn load_training_state(
    prefix: &str,
    net: &mut Ctrnn<f32>,
    opt: &mut Optimizer<f32>,
    arrays: &BTreeMap<String, NpyArray>,
) -> Result<()> {
    opt.load(prefix, &net.param_shapes(), arrays)?;
    load_raw(prefix, net, arrays)
}

/// A training checkpoint read back: the network with its raw parameters, the optimiser and counters.
pub fn load_training(path: &Path) -> Result<(Loaded, Optimizer<f32>, LoopState)> {
    let mut loaded = load(path)?;
    let arrays = read_checked(path)?;
    let ctx = |e: Error| e.context(path.display());
    let net = &mut loaded.net;
    let mut opt = Optimizer::new(&loaded.config.train, net.n_in, net.n_rec, net.n_out);
    load_training_state("", net, &mut opt, &arrays).map_err(ctx)?;
    let state = LoopState::load(&arrays).map_err(ctx)?;
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
    let arrays = read_checked(path)?;
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
    let (ni, no) = config.task.sizes().map_err(ctx)?;
    let n = model.n_rec;
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
