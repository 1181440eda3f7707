//! CordsNet weights in the reference's names (`wmws2/cordsnet`): reading its state dicts (a `.pth`
//! from `torch.save`, or an `.npz` of the same keys), whose convs and readout are weight-normed
//! (`<name>.parametrizations.weight.original0/1`, or the older `<name>.weight_g/_v`, or a plain
//! `<name>.weight`), folded once into plain weights; and writing ours in the parametrizations'
//! names, so that the reference's model loads them as they are.

use crate::cnn::CompatCnn;
use crate::cordsnet::{CordsNet, CordsNetShape, Layout};
use crate::weight_norm::WeightNorm;
use biornn_numerics::npz::NpyArray;
use biornn_numerics::{Error, Real, Result};
use std::collections::BTreeMap;

/// A checkpoint key without `DataParallel`'s `module.` prefix (which the reference's
/// `remove_data_parallel` strips too).
pub fn without_parallel_prefix(key: &str) -> &str {
    key.strip_prefix("module.").unwrap_or(key)
}

/// The checkpoint's keys without a `module.` prefix.
fn strip_parallel(arrays: &BTreeMap<String, NpyArray>) -> BTreeMap<String, &NpyArray> {
    arrays
        .iter()
        .map(|(k, v)| (without_parallel_prefix(k).to_string(), v))
        .collect()
}

fn values(a: &NpyArray, key: &str) -> Result<Vec<f64>> {
    a.to_real::<f64>()
        .map_err(|e| e.context(format!("`{key}`")))
}

/// The names a CordsNet's tensors start with.
const PREFIXES: [&str; 7] = [
    "inp_conv.",
    "inp_skip.",
    "area_conv.",
    "area_area.",
    "conv_bias.",
    "skip_area.",
    "out_fc.",
];

/// The tensors of a file that belong to a CordsNet (by the reference's names), leaving out what
/// else it holds beside them (a run's `model.npz` keeps its input normalisation, a checkpoint its
/// optimiser).
pub fn network_tensors(arrays: &BTreeMap<String, NpyArray>) -> BTreeMap<String, NpyArray> {
    arrays
        .iter()
        .filter(|(k, _)| {
            PREFIXES
                .iter()
                .any(|p| without_parallel_prefix(k).starts_with(p))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `g v / |v|`, the norm per output channel (the first axis) over all the others.
pub fn fold_weight_norm(g: &[f64], v: &[f64]) -> Vec<f64> {
    let per = v.len() / g.len().max(1);
    let mut w = Vec::with_capacity(v.len());
    for (o, gv) in g.iter().enumerate() {
        let row = &v[o * per..(o + 1) * per];
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        w.extend(row.iter().map(|x| gv * x / norm));
    }
    w
}

/// Refuses a `v` with an all-zero output channel, where `g v / |v|` is 0/0 (PyTorch's weights
/// would be NaN there).
fn check_directions(key: &str, channels: usize, v: &[f64]) -> Result<()> {
    let per = v.len() / channels.max(1);
    for (o, row) in v.chunks(per.max(1)).enumerate() {
        if row.iter().all(|x| *x == 0.0) {
            return Err(Error::new(format!(
                "`{key}`: output channel {o} is all zero, so its weights g v / |v| are undefined \
                 (allowed: a nonzero v in every channel)"
            )));
        }
    }
    Ok(())
}

/// The names a weight-normed tensor's `g` and `v` go by, the current first.
fn weight_norm_names(base: &str) -> [(String, String); 2] {
    [
        (
            format!("{base}.parametrizations.weight.original0"),
            format!("{base}.parametrizations.weight.original1"),
        ),
        (format!("{base}.weight_g"), format!("{base}.weight_v")),
    ]
}

/// A weight by its base name, folded if weight-normed; `None` if absent in every naming.
fn weight(
    arrays: &BTreeMap<String, &NpyArray>,
    base: &str,
    used: &mut Vec<String>,
) -> Result<Option<(Vec<usize>, Vec<f64>)>> {
    for (g, v) in weight_norm_names(base) {
        if let (Some(ga), Some(va)) = (arrays.get(&g), arrays.get(&v)) {
            let (gv, vv) = (values(ga, &g)?, values(va, &v)?);
            if va.shape.first() != Some(&gv.len()) {
                return Err(Error::new(format!(
                    "`{g}` has {} gains for the {:?} weights of `{v}` (allowed: one per output channel)",
                    gv.len(),
                    va.shape
                )));
            }
            check_directions(&v, gv.len(), &vv)?;
            used.extend([g, v]);
            return Ok(Some((va.shape.clone(), fold_weight_norm(&gv, &vv))));
        }
    }
    let plain = format!("{base}.weight");
    match arrays.get(&plain) {
        Some(a) => {
            used.push(plain.clone());
            Ok(Some((a.shape.clone(), values(a, &plain)?)))
        }
        None => Ok(None),
    }
}

/// The image size (h, w) a model file's `input_shape` (`[channels, h, w]`) gives; `file` names the
/// file in errors.
pub fn image_of(input_shape: &[f64], file: &str) -> Result<(usize, usize)> {
    let size = |v: f64| (v.fract() == 0.0 && (1.0..=65536.0).contains(&v)).then_some(v as usize);
    let image = match input_shape {
        [c, h, w] => size(*c).and(size(*h).zip(size(*w))),
        _ => None,
    };
    image.ok_or_else(|| {
        Error::invalid(
            &format!("{file}: input_shape"),
            format!("{input_shape:?}"),
            "allowed: [channels, h, w], whole numbers from 1 to 65536",
        )
    })
}

/// The shape a reference checkpoint describes: depth, channels and classes from its tensors; the
/// image size, which the weights do not fix, from the caller (224 x 224 for the published model).
pub fn shape_of(
    arrays: &BTreeMap<String, NpyArray>,
    image: (usize, usize),
) -> Result<CordsNetShape> {
    let a = strip_parallel(arrays);
    let mut used = vec![];
    let first = |name: &str, used: &mut Vec<String>| -> Result<Vec<usize>> {
        weight(&a, name, used)?.map(|(s, _)| s).ok_or_else(|| {
            Error::new(format!(
                "the checkpoint has no `{name}` weights (not a CordsNet?)"
            ))
        })
    };
    let stem = first("inp_conv", &mut used)?;
    let fc = first("out_fc", &mut used)?;
    let depth = (0..)
        .take_while(|l| {
            weight(&a, &format!("area_conv.{l}"), &mut used)
                .ok()
                .flatten()
                .is_some()
        })
        .count();
    // a weight of no dimensions names no channels: 0, which `validate` refuses
    let lead = |s: &[usize]| s.first().copied().unwrap_or(0);
    let mut widths = [0; 4];
    for (pair, w) in widths.iter_mut().enumerate() {
        let l = (2 * pair).min(depth.saturating_sub(1));
        *w = lead(&first(&format!("area_conv.{l}"), &mut used)?);
    }
    let shape = CordsNetShape {
        depth,
        in_channels: stem.get(1).copied().unwrap_or(0),
        image,
        widths,
        classes: lead(&fc),
    };
    shape.validate()?;
    Ok(shape)
}

/// The tensors of `layout` from a state dict (weights folded where weight-normed), each one's
/// shape checked; the keys read are added to `used`. `needs` says what the network is, for errors.
fn fill<T: Real>(
    layout: &Layout,
    a: &BTreeMap<String, &NpyArray>,
    used: &mut Vec<String>,
    needs: &str,
) -> Result<Vec<T>> {
    let mut theta = vec![T::ZERO; layout.len];
    for t in &layout.tensors {
        let (shape, vals) = match t.name.strip_suffix(".weight") {
            Some(base) => weight(a, base, used)?,
            None => match a.get(&t.name) {
                Some(x) => {
                    used.push(t.name.clone());
                    Some((x.shape.clone(), values(x, &t.name)?))
                }
                None => None,
            },
        }
        .ok_or_else(|| {
            Error::new(format!(
                "the checkpoint has no `{}` (shape {:?})",
                t.name, t.shape
            ))
        })?;
        // an FC gain may be [out, 1] and a bias map [c, h, w]: compare element counts and the
        // leading axis, then the full shape where it is given in full
        if shape.iter().product::<usize>() != t.range.len()
            || (shape.len() == t.shape.len() && shape != t.shape)
        {
            return Err(Error::new(format!(
                "`{}` has shape {shape:?}; this network needs {:?} ({needs})",
                t.name, t.shape
            )));
        }
        for (d, v) in theta[t.range.clone()].iter_mut().zip(vals) {
            *d = T::from_f64(v);
        }
    }
    Ok(theta)
}

/// A trained compatibility CNN from its run's `model.npz` (the reference's stage-1 names): its
/// parameters and its batch norms' running statistics.
pub fn load_cnn<T: Real>(
    cnn: &CompatCnn,
    arrays: &BTreeMap<String, NpyArray>,
) -> Result<(Vec<T>, Vec<T>)> {
    let a = strip_parallel(arrays);
    let mut used = vec![];
    let needs = format!(
        "the compatibility CNN of depth {}, image {:?}",
        cnn.shape.depth, cnn.shape.image
    );
    let theta = fill(&cnn.layout, &a, &mut used, &needs)?;
    let buffers = fill(&cnn.buffers, &a, &mut used, &needs)?;
    Ok((theta, buffers))
}

/// The parameters of `net` from a reference state dict, every key accounted for: a missing or
/// misshapen tensor, or one the network has no place for, is an error naming it.
pub fn load<T: Real>(net: &CordsNet, arrays: &BTreeMap<String, NpyArray>) -> Result<Vec<T>> {
    let a = strip_parallel(arrays);
    let mut used = vec![];
    let needs = format!("depth {}, image {:?}", net.shape.depth, net.shape.image);
    let theta = fill(&net.layout, &a, &mut used, &needs)?;
    let extra: Vec<&String> = a.keys().filter(|k| !used.contains(k)).collect();
    if !extra.is_empty() {
        return Err(Error::new(format!(
            "the checkpoint has tensors this depth-{} network has no place for: {extra:?}",
            net.shape.depth
        )));
    }
    Ok(theta)
}

/// The parameters as a reference state dict: each weight as `original1` (v = the weight) and
/// `original0` (g = its norm per output channel, shaped as `weight_norm` makes it), the biases as
/// they are. float32, as the reference trains.
pub fn save<T: Real>(net: &CordsNet, theta: &[T]) -> BTreeMap<String, NpyArray> {
    save_layout(&net.layout, theta)
}

/// [`save`] for any layout of named tensors (the compatibility CNN's too): `.weight` tensors of
/// convs and linear layers (rank 2 or more) weight-normed, the rest as they are.
pub fn save_layout<T: Real>(layout: &Layout, theta: &[T]) -> BTreeMap<String, NpyArray> {
    let mut out = BTreeMap::new();
    for t in &layout.tensors {
        let vals: Vec<f32> = theta[t.range.clone()]
            .iter()
            .map(|v| v.to_f64() as f32)
            .collect();
        match t
            .name
            .strip_suffix(".weight")
            .filter(|_| t.shape.len() >= 2)
        {
            Some(base) => {
                let per = t.range.len() / t.shape[0];
                let g: Vec<f32> = vals
                    .chunks(per)
                    .map(|row| {
                        row.iter()
                            .map(|x| (*x as f64) * (*x as f64))
                            .sum::<f64>()
                            .sqrt() as f32
                    })
                    .collect();
                let mut gshape = vec![1; t.shape.len()];
                gshape[0] = t.shape[0];
                out.insert(
                    format!("{base}.parametrizations.weight.original0"),
                    NpyArray::f32(&gshape, g),
                );
                out.insert(
                    format!("{base}.parametrizations.weight.original1"),
                    NpyArray::f32(&t.shape, vals),
                );
            }
            None => {
                out.insert(t.name.clone(), NpyArray::f32(&t.shape, vals));
            }
        }
    }
    out
}

/// With `rule.weight_norm`: the optimiser's parameters (`g` and `v`, laid out by `norm`) of a
/// state dict that holds its weights in the parametrisation's form, so that training goes on
/// from its `v`, whose length Adam's steps depend on, not from `|w|` and `w`. Tensors the file
/// holds as plain weights keep `params`' values (`v = w`, `g = |w|`).
pub fn load_weight_norm<T: Real>(
    layout: &Layout,
    norm: &WeightNorm,
    arrays: &BTreeMap<String, NpyArray>,
    params: &mut [T],
) -> Result<()> {
    let a = strip_parallel(arrays);
    for (w, g) in norm.pairs() {
        let Some(t) = layout.tensors.iter().find(|t| t.range == w) else {
            continue;
        };
        let base = t.name.strip_suffix(".weight").unwrap_or(&t.name);
        for (gk, vk) in weight_norm_names(base) {
            if let (Some(ga), Some(va)) = (a.get(&gk), a.get(&vk)) {
                let (gv, vv) = (values(ga, &gk)?, values(va, &vk)?);
                if gv.len() != g.len() || vv.len() != w.len() {
                    return Err(Error::new(format!(
                        "`{gk}` and `{vk}` hold {} and {} values; this network needs {} and {}",
                        gv.len(),
                        vv.len(),
                        g.len(),
                        w.len()
                    )));
                }
                check_directions(&vk, gv.len(), &vv)?;
                for (d, x) in params[g.clone()].iter_mut().zip(gv) {
                    *d = T::from_f64(x);
                }
                for (d, x) in params[w.clone()].iter_mut().zip(vv) {
                    *d = T::from_f64(x);
                }
                break;
            }
        }
    }
    Ok(())
}

/// [`save_layout`] of a network trained through weight norm: its own `g` and `v` (`params`, laid
/// out by `norm`) in the parametrisation's names, so that a later stage goes on from them.
pub fn save_weight_normed<T: Real>(
    layout: &Layout,
    norm: &WeightNorm,
    params: &[T],
) -> BTreeMap<String, NpyArray> {
    // biases as they are, each v as original1 (with |v| as a placeholder gain)
    let mut out = save_layout(layout, &params[..layout.len]);
    for (w, g) in norm.pairs() {
        let Some(t) = layout.tensors.iter().find(|t| t.range == w) else {
            continue;
        };
        let base = t.name.strip_suffix(".weight").unwrap_or(&t.name);
        let key = format!("{base}.parametrizations.weight.original0");
        if let Some(a) = out.get_mut(&key) {
            let shape = a.shape.clone();
            let gains = params[g].iter().map(|v| v.to_f64() as f32).collect();
            *a = NpyArray::f32(&shape, gains);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_shape_is_three_whole_sizes() {
        assert_eq!(image_of(&[3.0, 224.0, 200.0], "m").unwrap(), (224, 200));
        for bad in [
            &[1.0, 8.0][..],
            &[1.0, 0.5, 8.0],
            &[0.0, 8.0, 8.0],
            &[1.0, 8.0, -8.0],
            &[],
        ] {
            let e = image_of(bad, "m").unwrap_err().to_string();
            assert!(e.contains("m: input_shape"), "{bad:?}: {e}");
        }
    }
}
