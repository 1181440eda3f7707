//! `.npz` files (numpy's zip of `.npy` arrays), written and read without numpy.
//!
//! Writing: arrays in C order, stored uncompressed, written to a temporary file in the same directory,
//! synced and renamed, so a crash never leaves a half-written file under the final name.
//! Reading: what `numpy.savez` and `numpy.savez_compressed` write (zip64 headers, deflate, C or
//! Fortran order) for the dtypes biornn uses.

use crate::error::{io_context, Error, Result};
use crate::Real;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The values of one array, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    /// A unicode string array (numpy `<U`); biornn writes 0-d ones for text such as the config.
    Str(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    pub fn new<T: Real>(shape: &[usize], data: Vec<T>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data mismatch"
        );
        let data = if T::NPY_DESCR == "<f4" {
            NpyData::F32(data.iter().map(|v| v.to_f64() as f32).collect())
        } else {
            NpyData::F64(data.iter().map(|v| v.to_f64()).collect())
        };
        NpyArray {
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn f32(shape: &[usize], data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data mismatch"
        );
        NpyArray {
            shape: shape.to_vec(),
            data: NpyData::F32(data),
        }
    }

    pub fn i32(shape: &[usize], data: Vec<i32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data mismatch"
        );
        NpyArray {
            shape: shape.to_vec(),
            data: NpyData::I32(data),
        }
    }

    pub fn string(text: &str) -> Self {
        NpyArray {
            shape: vec![],
            data: NpyData::Str(vec![text.to_string()]),
        }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype_name(&self) -> &'static str {
        match self.data {
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
            NpyData::I32(_) => "int32",
            NpyData::I64(_) => "int64",
            NpyData::U8(_) => "uint8",
            NpyData::Bool(_) => "bool",
            NpyData::Str(_) => "str",
        }
    }

    /// The values as floating point of type `T`; numeric dtypes convert, strings are an error.
    pub fn to_real<T: Real>(&self) -> Result<Vec<T>> {
        let v: Vec<T> = match &self.data {
            NpyData::F32(d) => d.iter().map(|v| T::from_f64(*v as f64)).collect(),
            NpyData::F64(d) => d.iter().map(|v| T::from_f64(*v)).collect(),
            NpyData::I32(d) => d.iter().map(|v| T::from_f64(*v as f64)).collect(),
            NpyData::I64(d) => d.iter().map(|v| T::from_f64(*v as f64)).collect(),
            NpyData::U8(d) => d.iter().map(|v| T::from_f64(*v as f64)).collect(),
            NpyData::Bool(d) => d.iter().map(|v| T::from_f64(*v as u8 as f64)).collect(),
            NpyData::Str(_) => {
                return Err(Error::new(
                    "expected a numeric array, found a string array".to_string(),
                ))
            }
        };
        Ok(v)
    }

    pub fn as_string(&self) -> Result<String> {
        match &self.data {
            NpyData::Str(v) if v.len() == 1 => Ok(v[0].clone()),
            _ => Err(Error::new(format!(
                "expected a 0-d string array, found {} with shape {:?}",
                self.dtype_name(),
                self.shape
            ))),
        }
    }

    fn descr_and_bytes(&self) -> (String, Vec<u8>) {
        match &self.data {
            NpyData::F32(d) => ("<f4".into(), f32::to_le_bytes_vec(d)),
            NpyData::F64(d) => ("<f8".into(), f64::to_le_bytes_vec(d)),
            NpyData::I32(d) => (
                "<i4".into(),
                d.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            NpyData::I64(d) => (
                "<i8".into(),
                d.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            NpyData::U8(d) => ("|u1".into(), d.clone()),
            NpyData::Bool(d) => ("|b1".into(), d.iter().map(|b| *b as u8).collect()),
            NpyData::Str(d) => {
                let width = d
                    .iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(1);
                let mut bytes = Vec::with_capacity(d.len() * width * 4);
                for s in d {
                    let mut n = 0;
                    for c in s.chars() {
                        bytes.extend_from_slice(&(c as u32).to_le_bytes());
                        n += 1;
                    }
                    bytes.resize(bytes.len() + (width - n) * 4, 0);
                }
                (format!("<U{width}"), bytes)
            }
        }
    }
}

/// Encode one array as the bytes of a `.npy` file (format version 1.0).
pub fn encode_npy(array: &NpyArray) -> Vec<u8> {
    let (descr, body) = array.descr_and_bytes();
    let shape = match array.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", array.shape[0]),
        _ => format!(
            "({})",
            array
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that magic (6) + version (2) + length (2) + header is a multiple of 64, ending in '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + body.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

/// CRC-32 (IEEE), as zip and gzip use.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    reflected_crc(TABLE.get_or_init(|| crc_table(0xEDB8_8320)), data)
}

/// CRC-32C (Castagnoli), as TensorFlow's record files use.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    reflected_crc(TABLE.get_or_init(|| crc_table(0x82F6_3B78)), data)
}

/// The byte table of a reflected CRC-32 with polynomial `poly`.
fn crc_table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
        }
        *e = c;
    }
    t
}

fn reflected_crc(table: &[u32; 256], data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for b in data {
        c = table[((c ^ *b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// Encode named arrays as the bytes of an `.npz` (a stored, uncompressed zip).
pub fn encode_npz(arrays: &BTreeMap<String, NpyArray>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut count = 0u16;
    for (name, array) in arrays {
        let npy = encode_npy(array);
        let fname = format!("{name}.npy");
        if npy.len() > u32::MAX as usize || out.len() > u32::MAX as usize {
            return Err(Error::new(format!(
                "array `{name}` makes the file larger than 4 GiB, which this writer does not support"
            )));
        }
        let crc = crc32(&npy);
        let offset = out.len() as u32;
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0u16.to_le_bytes()); // flags
        common.extend_from_slice(&0u16.to_le_bytes()); // stored
        common.extend_from_slice(&0u16.to_le_bytes()); // time
        common.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&(npy.len() as u32).to_le_bytes());
        common.extend_from_slice(&(npy.len() as u32).to_le_bytes());
        common.extend_from_slice(&(fname.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(fname.as_bytes());
        out.extend_from_slice(&npy);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        central.extend_from_slice(&common);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(fname.as_bytes());
        count += 1;
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

/// Write `bytes` to `path` atomically: temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    io_context(result, path)
}

pub fn write_npz(path: &Path, arrays: &BTreeMap<String, NpyArray>) -> Result<()> {
    write_atomic(path, &encode_npz(arrays)?)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// Decode the bytes of an `.npz` into named arrays (the `.npy` suffix is dropped from the names).
pub fn decode_npz(bytes: &[u8]) -> Result<BTreeMap<String, NpyArray>> {
    let mut arrays = BTreeMap::new();
    for (name, data) in unzip(bytes, ".npz")? {
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let array = decode_npy(&data).map_err(|e| e.context(format!("array `{key}`")))?;
        arrays.insert(key, array);
    }
    Ok(arrays)
}

/// The entries of a zip archive (an `.npz`, a PyTorch checkpoint), each name with its bytes, in
/// the central directory's order; stored and deflated entries, zip64 included. `kind` names the
/// file in errors.
pub fn unzip(bytes: &[u8], kind: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let corrupt = |what: &str| Error::new(format!("not a valid {kind} file ({what})"));
    if bytes.len() < 22 {
        return Err(corrupt("too short for a zip archive"));
    }
    let eocd = (0..=bytes.len() - 22)
        .rev()
        .take(65_557)
        .find(|&i| u32_at(bytes, i) == Some(0x0605_4b50))
        .ok_or_else(|| corrupt("no end-of-central-directory record; truncated?"))?;
    let mut count = u16_at(bytes, eocd + 10).unwrap() as u64;
    let mut cd_offset = u32_at(bytes, eocd + 16).unwrap() as u64;
    if (count == 0xFFFF || cd_offset == 0xFFFF_FFFF) && eocd >= 20 {
        // zip64: the locator sits just before the classic record.
        let loc = eocd - 20;
        if u32_at(bytes, loc) == Some(0x0706_4b50) {
            let rec = u64_at(bytes, loc + 8).ok_or_else(|| corrupt("zip64 locator"))? as usize;
            if u32_at(bytes, rec) != Some(0x0606_4b50) {
                return Err(corrupt("zip64 end record"));
            }
            count = u64_at(bytes, rec + 32).ok_or_else(|| corrupt("zip64 end record"))?;
            cd_offset = u64_at(bytes, rec + 48).ok_or_else(|| corrupt("zip64 end record"))?;
        }
    }
    let mut entries = vec![];
    let mut p = cd_offset as usize;
    for _ in 0..count {
        if u32_at(bytes, p) != Some(0x0201_4b50) {
            return Err(corrupt("central directory entry"));
        }
        let method = u16_at(bytes, p + 10).ok_or_else(|| corrupt("entry"))?;
        let mut csize = u32_at(bytes, p + 20).ok_or_else(|| corrupt("entry"))? as u64;
        let mut usize_ = u32_at(bytes, p + 24).ok_or_else(|| corrupt("entry"))? as u64;
        let name_len = u16_at(bytes, p + 28).ok_or_else(|| corrupt("entry"))? as usize;
        let extra_len = u16_at(bytes, p + 30).ok_or_else(|| corrupt("entry"))? as usize;
        let comment_len = u16_at(bytes, p + 32).ok_or_else(|| corrupt("entry"))? as usize;
        let mut offset = u32_at(bytes, p + 42).ok_or_else(|| corrupt("entry"))? as u64;
        let name_bytes = bytes
            .get(p + 46..p + 46 + name_len)
            .ok_or_else(|| corrupt("entry name"))?;
        let name = String::from_utf8_lossy(name_bytes).to_string();
        let extra = bytes
            .get(p + 46 + name_len..p + 46 + name_len + extra_len)
            .ok_or_else(|| corrupt("entry extra field"))?;
        // zip64 extended information: the 8-byte values that overflowed, in a fixed order.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap();
            let size = u16_at(extra, e + 2).unwrap() as usize;
            if id == 0x0001 {
                let mut q = e + 4;
                if usize_ == 0xFFFF_FFFF {
                    usize_ = u64_at(extra, q).ok_or_else(|| corrupt("zip64 extra"))?;
                    q += 8;
                }
                if csize == 0xFFFF_FFFF {
                    csize = u64_at(extra, q).ok_or_else(|| corrupt("zip64 extra"))?;
                    q += 8;
                }
                if offset == 0xFFFF_FFFF {
                    offset = u64_at(extra, q).ok_or_else(|| corrupt("zip64 extra"))?;
                }
            }
            e += 4 + size;
        }
        p += 46 + name_len + extra_len + comment_len;

        let lh = offset as usize;
        if u32_at(bytes, lh) != Some(0x0403_4b50) {
            return Err(corrupt(&format!("local header of `{name}`")));
        }
        let lname = u16_at(bytes, lh + 26).ok_or_else(|| corrupt("local header"))? as usize;
        let lextra = u16_at(bytes, lh + 28).ok_or_else(|| corrupt("local header"))? as usize;
        let start = lh + 30 + lname + lextra;
        let raw = bytes
            .get(start..start + csize as usize)
            .ok_or_else(|| corrupt(&format!("data of `{name}` runs past the end; truncated?")))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec(raw)
                .map_err(|_| corrupt(&format!("deflate stream of `{name}`")))?,
            m => {
                return Err(Error::new(format!(
                    "`{name}` uses zip compression method {m}; only stored (0) and deflate (8) are supported"
                )))
            }
        };
        if data.len() as u64 != usize_ {
            return Err(corrupt(&format!("size of `{name}`")));
        }
        entries.push((name, data));
    }
    Ok(entries)
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let i = header.find(&pat)? + pat.len();
    Some(header[i..].trim_start())
}

/// Decode the bytes of one `.npy` file.
pub fn decode_npy(bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(Error::new("not a .npy array (bad magic)"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16_at(bytes, 8).unwrap() as usize, 10),
        2 | 3 => (
            u32_at(bytes, 8).ok_or_else(|| Error::new("truncated .npy header"))? as usize,
            12,
        ),
        v => {
            return Err(Error::new(format!(
                ".npy format version {v} is not supported"
            )))
        }
    };
    let header = std::str::from_utf8(
        bytes
            .get(hstart..hstart + hlen)
            .ok_or_else(|| Error::new("truncated .npy header"))?,
    )
    .map_err(|_| Error::new(".npy header is not text"))?;
    let descr_v =
        header_value(header, "descr").ok_or_else(|| Error::new("no descr in .npy header"))?;
    let descr = descr_v
        .trim_start_matches(['\'', '"'])
        .split(['\'', '"'])
        .next()
        .unwrap_or("")
        .to_string();
    let fortran = header_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .unwrap_or(false);
    let shape_v =
        header_value(header, "shape").ok_or_else(|| Error::new("no shape in .npy header"))?;
    let inner = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| Error::new("bad shape in .npy header"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::new(format!("bad shape {inner:?} in .npy header")))?;
    let body = &bytes[hstart + hlen..];
    // the header's shape is not trusted: a product past usize is as short a file as any
    let n = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| Error::new(format!("array shape {shape:?} is too large")))?;
    let need = |width: usize| -> Result<&[u8]> {
        let bytes = n.saturating_mul(width);
        body.get(..bytes).ok_or_else(|| {
            Error::new(format!(
                "array data is shorter than its shape {shape:?} needs; truncated?"
            ))
        })
    };
    macro_rules! read {
        ($t:ty, $w:expr, $var:ident) => {{
            let b = need($w)?;
            NpyData::$var(
                b.chunks_exact($w)
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            )
        }};
    }
    let mut data = match descr.as_str() {
        "<f4" => read!(f32, 4, F32),
        "<f8" => read!(f64, 8, F64),
        "<i4" => read!(i32, 4, I32),
        "<i8" => read!(i64, 8, I64),
        "|u1" | "<u1" => NpyData::U8(need(1)?.to_vec()),
        "|b1" => NpyData::Bool(need(1)?.iter().map(|b| *b != 0).collect()),
        d if d.starts_with("<U") => {
            let width: usize = d[2..]
                .parse()
                .ok()
                .filter(|w| *w > 0 && *w <= 1 << 20)
                .ok_or_else(|| {
                    Error::new(format!(
                        "string dtype {d} (allowed: <U1 to <U1048576)"
                    ))
                })?;
            let b = need(width * 4)?;
            NpyData::Str(
                b.chunks_exact(width * 4)
                    .map(|c| {
                        c.chunks_exact(4)
                            .map(|u| u32::from_le_bytes(u.try_into().unwrap()))
                            .take_while(|u| *u != 0)
                            .filter_map(char::from_u32)
                            .collect()
                    })
                    .collect(),
            )
        }
        d => {
            return Err(Error::new(format!(
                "dtype {d} is not supported (allowed: float32, float64, int32, int64, uint8, bool, str)"
            )))
        }
    };
    if fortran && shape.len() > 1 {
        data = fortran_to_c(data, &shape);
    }
    Ok(NpyArray { shape, data })
}

fn fortran_to_c(data: NpyData, shape: &[usize]) -> NpyData {
    fn perm<T: Clone>(v: Vec<T>, shape: &[usize]) -> Vec<T> {
        let n = v.len();
        let mut out = v.clone();
        let nd = shape.len();
        let mut idx = vec![0usize; nd];
        for (c_pos, slot) in out.iter_mut().enumerate().take(n) {
            // c_pos -> multi-index (C order), then Fortran offset.
            let mut rem = c_pos;
            for d in (0..nd).rev() {
                idx[d] = rem % shape[d];
                rem /= shape[d];
            }
            let mut f = 0;
            let mut stride = 1;
            for d in 0..nd {
                f += idx[d] * stride;
                stride *= shape[d];
            }
            *slot = v[f].clone();
        }
        out
    }
    match data {
        NpyData::F32(v) => NpyData::F32(perm(v, shape)),
        NpyData::F64(v) => NpyData::F64(perm(v, shape)),
        NpyData::I32(v) => NpyData::I32(perm(v, shape)),
        NpyData::I64(v) => NpyData::I64(perm(v, shape)),
        NpyData::U8(v) => NpyData::U8(perm(v, shape)),
        NpyData::Bool(v) => NpyData::Bool(perm(v, shape)),
        NpyData::Str(v) => NpyData::Str(perm(v, shape)),
    }
}

pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let bytes = io_context(std::fs::read(path), path)?;
    decode_npz(&bytes).map_err(|e| e.context(path.display()))
}

/// Fetch a named array and check its shape, with errors that name the file's key and what was expected.
pub fn take_real<T: Real>(
    arrays: &BTreeMap<String, NpyArray>,
    key: &str,
    shape: &[usize],
) -> Result<Vec<T>> {
    let a = arrays.get(key).ok_or_else(|| {
        Error::new(format!(
            "missing array `{key}` (found: {})",
            arrays.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    if a.shape != shape {
        return Err(Error::new(format!(
            "array `{key}` has shape {:?}, expected {shape:?}",
            a.shape
        )));
    }
    a.to_real::<T>()
        .map_err(|e| e.context(format!("array `{key}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let a = NpyArray::f32(&[2, 3], vec![1., 2., 3., 4., 5., 6.]);
        let b = encode_npy(&a);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b[10 + hlen - 1], b'\n');
        assert_eq!(decode_npy(&b).unwrap(), a);
    }

    #[test]
    fn npz_round_trip_all_dtypes() {
        let mut m = BTreeMap::new();
        m.insert(
            "w".to_string(),
            NpyArray::f32(&[2, 2], vec![1.5, -2.0, 0.0, 3.25]),
        );
        m.insert(
            "d".to_string(),
            NpyArray::new::<f64>(&[3], vec![1e-300, 2.0, -3.0]),
        );
        m.insert("i".to_string(), NpyArray::i32(&[1, 3], vec![-1, 0, 7]));
        m.insert("s".to_string(), NpyArray::string("dt = 20.0\n# é"));
        m.insert("scalar".to_string(), NpyArray::f32(&[], vec![4.0]));
        let bytes = encode_npz(&m).unwrap();
        assert_eq!(decode_npz(&bytes).unwrap(), m);
    }

    #[test]
    fn truncated_file_is_an_error_not_a_panic() {
        let mut m = BTreeMap::new();
        m.insert("w".to_string(), NpyArray::f32(&[100], vec![1.0; 100]));
        let bytes = encode_npz(&m).unwrap();
        for cut in [0, 10, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_npz(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[40] ^= 0xFF;
        let _ = decode_npz(&flipped); // must not panic
    }

    #[test]
    fn fortran_order_is_converted() {
        let mut b = Vec::new();
        let header = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut h = header.to_string();
        let total = 10 + h.len() + 1;
        h.push_str(&" ".repeat((64 - total % 64) % 64));
        h.push('\n');
        b.extend_from_slice(b"\x93NUMPY\x01\x00");
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        // C-order [[1,2,3],[4,5,6]] stored column by column.
        for v in [1i32, 4, 2, 5, 3, 6] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let a = decode_npy(&b).unwrap();
        assert_eq!(a.data, NpyData::I32(vec![1, 2, 3, 4, 5, 6]));
    }

    /// An .npy file of `header` (a dict's text) and `data`.
    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        h.push_str(&" ".repeat((64 - (10 + h.len() + 1) % 64) % 64));
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn crafted_headers_are_errors_not_panics() {
        for (header, want) in [
            (
                "{'descr': '<U0', 'fortran_order': False, 'shape': (2,), }",
                "<U0",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
                "too large",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
                "shorter",
            ),
        ] {
            let e = decode_npy(&npy(header, &[0; 16])).unwrap_err().to_string();
            assert!(e.contains(want), "{header}: {e}");
        }
    }

    #[test]
    fn crc_matches_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
