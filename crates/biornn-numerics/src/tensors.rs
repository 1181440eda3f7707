//! `.safetensors` files (Hugging Face's format, through its `safetensors` crate): the same named
//! arrays as biornn's `.npz`, for the tools that read safetensors. Numbers and booleans are tensors
//! (little-endian, C order, as `.npz`); text arrays (a run's config) go into the header's metadata
//! as JSON, `{"shape": [...], "strings": [...]}`, under their own names.

use crate::npz::{read_npz, write_atomic, NpyArray, NpyData};
use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One array's bytes as a safetensors view.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn le<T, const N: usize>(v: &[T], f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(f).collect()
}

/// The arrays as the bytes of a `.safetensors` file.
pub fn to_bytes(arrays: &BTreeMap<String, NpyArray>) -> Result<Vec<u8>> {
    let mut raws = vec![];
    let mut text = HashMap::new();
    for (name, a) in arrays {
        let (dtype, bytes) = match &a.data {
            NpyData::F32(v) => (Dtype::F32, le(v, |x| x.to_le_bytes())),
            NpyData::F64(v) => (Dtype::F64, le(v, |x| x.to_le_bytes())),
            NpyData::I32(v) => (Dtype::I32, le(v, |x| x.to_le_bytes())),
            NpyData::I64(v) => (Dtype::I64, le(v, |x| x.to_le_bytes())),
            NpyData::U8(v) => (Dtype::U8, v.clone()),
            NpyData::Bool(v) => (Dtype::BOOL, v.iter().map(|b| *b as u8).collect()),
            NpyData::Str(s) => {
                let json = serde_json::json!({ "shape": a.shape, "strings": s });
                text.insert(name.clone(), json.to_string());
                continue;
            }
        };
        raws.push((
            name.clone(),
            Raw {
                dtype,
                shape: a.shape.clone(),
                bytes,
            },
        ));
    }
    let views: Vec<(&String, &Raw)> = raws.iter().map(|(n, r)| (n, r)).collect();
    safetensors::serialize(views, (!text.is_empty()).then_some(text))
        .map_err(|e| Error::new(format!("safetensors: {e}")))
}

/// Write the arrays as a `.safetensors` file (atomically: a reader never sees half of it).
pub fn write_safetensors(path: &Path, arrays: &BTreeMap<String, NpyArray>) -> Result<()> {
    write_atomic(path, &to_bytes(arrays)?)
}

fn array_of(view: &TensorView<'_>, name: &str) -> Result<NpyArray> {
    let b = view.data();
    let chunks = |n: usize| b.chunks_exact(n);
    let data = match view.dtype() {
        Dtype::F32 => NpyData::F32(
            chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        Dtype::F64 => NpyData::F64(
            chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        Dtype::I32 => NpyData::I32(
            chunks(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        Dtype::I64 => NpyData::I64(
            chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        Dtype::U8 => NpyData::U8(b.to_vec()),
        Dtype::BOOL => NpyData::Bool(b.iter().map(|v| *v != 0).collect()),
        other => {
            return Err(Error::new(format!(
                "`{name}` is {other:?} (allowed: F32, F64, I32, I64, U8, BOOL)"
            )))
        }
    };
    Ok(NpyArray {
        shape: view.shape().to_vec(),
        data,
    })
}

/// The arrays of a `.safetensors` file's bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<BTreeMap<String, NpyArray>> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::new(format!("safetensors: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let a = array_of(&view, &name)?;
        out.insert(name, a);
    }
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::new(format!("safetensors: {e}")))?;
    for (name, json) in meta.metadata().iter().flatten() {
        // other writers' metadata (`format`, ...) is not ours: only our shape-and-strings entries
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            continue;
        };
        let (Some(shape), Some(strings)) = (v["shape"].as_array(), v["strings"].as_array()) else {
            continue;
        };
        let shape: Vec<usize> = shape
            .iter()
            .filter_map(|d| d.as_u64().map(|d| d as usize))
            .collect();
        let strings: Vec<String> = strings
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        if shape.iter().product::<usize>() == strings.len() {
            out.insert(
                name.clone(),
                NpyArray {
                    shape,
                    data: NpyData::Str(strings),
                },
            );
        }
    }
    Ok(out)
}

pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    from_bytes(&bytes).map_err(|e| e.context(path.display()))
}

/// A file of named arrays, `.safetensors` or `.npz` by its extension.
pub fn read_arrays(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    match path.extension().is_some_and(|e| e == "safetensors") {
        true => read_safetensors(path),
        false => read_npz(path),
    }
}
