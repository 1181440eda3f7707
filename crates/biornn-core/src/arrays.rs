//! Named arrays: the form in which every piece of state leaves and re-enters a component.

use biornn_numerics::npz::{take_real, NpyArray, NpyData};
use biornn_numerics::{Error, Result};
use std::collections::BTreeMap;

/// Arrays by name, in a fixed (sorted) order; what `.npz` files hold.
pub type Arrays = BTreeMap<String, NpyArray>;

/// Something whose state between updates can be saved and restored exactly: a rule's optimiser
/// moments or RLS matrix, a network's potentials and delay buffers, an environment's position.
/// Online rules never reset these, so a run that resumes from them continues bit for bit.
pub trait Stateful {
    /// Write the state into `out`, every key starting with `prefix`.
    fn save_state(&self, prefix: &str, out: &mut Arrays);
    /// Read back what [`Stateful::save_state`] wrote under `prefix`.
    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()>;
}

/// Store `data` with `shape` as float32 under `key`.
pub fn put_f32(out: &mut Arrays, key: &str, shape: &[usize], data: &[f32]) {
    out.insert(key.to_string(), NpyArray::f32(shape, data.to_vec()));
}

/// Store `data` with `shape` as float64 under `key`.
pub fn put_f64(out: &mut Arrays, key: &str, shape: &[usize], data: &[f64]) {
    out.insert(
        key.to_string(),
        NpyArray {
            shape: shape.to_vec(),
            data: NpyData::F64(data.to_vec()),
        },
    );
}

/// Store a counter as a 0-d int64 array.
pub fn put_u64(out: &mut Arrays, key: &str, value: u64) {
    out.insert(
        key.to_string(),
        NpyArray {
            shape: vec![],
            data: NpyData::I64(vec![value as i64]),
        },
    );
}

/// The float32 array `key`, which must have `shape`.
pub fn take_f32(arrays: &Arrays, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
    take_real::<f32>(arrays, key, shape)
}

/// The float64 array `key`, which must have `shape`.
pub fn take_f64(arrays: &Arrays, key: &str, shape: &[usize]) -> Result<Vec<f64>> {
    take_real::<f64>(arrays, key, shape)
}

/// The counter `key` (a 0-d integer array).
pub fn take_u64(arrays: &Arrays, key: &str) -> Result<u64> {
    match arrays.get(key).map(|a| (&a.shape, &a.data)) {
        Some((s, NpyData::I64(v))) if s.is_empty() && v[0] >= 0 => Ok(v[0] as u64),
        Some((s, NpyData::I32(v))) if s.is_empty() && v[0] >= 0 => Ok(v[0] as u64),
        Some(_) => Err(Error::invalid(
            key,
            "(array)",
            "allowed: a 0-d non-negative integer array",
        )),
        None => Err(Error::new(format!("missing array `{key}`"))),
    }
}

/// The 0-d float `key`.
pub fn take_scalar(arrays: &Arrays, key: &str) -> Result<f64> {
    Ok(take_real::<f64>(arrays, key, &[])?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_exactly_and_bad_ones_are_named() {
        let mut a = Arrays::new();
        put_f32(&mut a, "w", &[2], &[1.5, f32::MIN_POSITIVE]);
        put_f64(&mut a, "p", &[1, 1], &[std::f64::consts::PI]);
        put_u64(&mut a, "t", 1 << 40);
        assert_eq!(
            take_f32(&a, "w", &[2]).unwrap(),
            vec![1.5, f32::MIN_POSITIVE]
        );
        assert_eq!(
            take_f64(&a, "p", &[1, 1]).unwrap(),
            vec![std::f64::consts::PI]
        );
        assert_eq!(take_u64(&a, "t").unwrap(), 1 << 40);
        let e = take_f32(&a, "w", &[3]).unwrap_err().to_string();
        assert!(e.contains("`w`") && e.contains("[3]"), "{e}");
        assert!(take_u64(&a, "w").unwrap_err().to_string().contains('w'));
        assert!(take_u64(&a, "none")
            .unwrap_err()
            .to_string()
            .contains("none"));
    }
}
