//! PyTorch checkpoints (`torch.save` of a state dict): a zip holding `<top>/data.pkl`, a pickle
//! whose tensors point at raw storages `<top>/data/<key>`. Read without Python: a small pickle
//! machine that knows the opcodes `torch.save` writes (protocol 2, and 4's framing) and the three
//! callables a state dict needs (`OrderedDict`, `_rebuild_tensor_v2`, `_rebuild_parameter`); anything
//! else is kept as an opaque object, so an unusual checkpoint fails only if a tensor depends on it.
//! The storages' device is ignored (a checkpoint saved from a GPU reads the same), and so is the
//! zip's top folder name.

use crate::error::{io_context, Error, Result};
use crate::npz::{unzip, NpyArray, NpyData};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A storage's element type, from its legacy class name (`torch.FloatStorage`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    F16,
    Bf16,
    I64,
    I32,
    U8,
    Bool,
}

impl Dtype {
    fn from_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Dtype::F32,
            "DoubleStorage" => Dtype::F64,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::Bf16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
            Dtype::U8 | Dtype::Bool => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage {
        dtype: Dtype,
        key: String,
    },
    Tensor {
        dtype: Dtype,
        key: String,
        offset: usize,
        size: Vec<usize>,
        stride: Vec<usize>,
    },
    /// the result of a callable this reader does not model
    Object(String),
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::new(format!(
        "not a PyTorch checkpoint this reader understands ({what})"
    ))
}

struct Machine<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .data
            .get(self.at..self.at + n)
            .ok_or_else(|| bad("the pickle ends early"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.at..];
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| bad("an unterminated GLOBAL"))?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
    fn pop(&mut self) -> Result<Value> {
        self.stack
            .pop()
            .ok_or_else(|| bad("a pop from an empty stack"))
    }
    /// Everything above the topmost mark, the mark removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let k = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or_else(|| bad("no MARK"))?;
        let items = self.stack.split_off(k + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top(&mut self) -> Result<&mut Value> {
        self.stack.last_mut().ok_or_else(|| bad("an empty stack"))
    }
    fn text(&mut self, n: usize) -> Result<Value> {
        Ok(Value::Str(
            String::from_utf8_lossy(self.take(n)?).into_owned(),
        ))
    }

    fn run(mut self) -> Result<Value> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b')' => self.stack.push(Value::Tuple(vec![])),
                b']' => self.stack.push(Value::List(vec![])),
                b'}' => self.stack.push(Value::Dict(vec![])),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err(bad("an integer wider than 64 bits"));
                    }
                    let mut v: i64 = 0;
                    for (i, b) in bytes.iter().enumerate() {
                        v |= (*b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.stack.push(Value::Float(v));
                }
                b'X' | b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8c | b'U' => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v));
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v));
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let k = self.u32()?;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or_else(|| bad(format!("memo {k} read before it was written")))?;
                    self.stack.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err(bad("STACK_GLOBAL of non-strings")),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(bad("a short stack for a tuple"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = items
                        .chunks(2)
                        .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or(Value::None)))
                        .collect();
                    self.stack.push(Value::Dict(pairs));
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Value::List(l) = self.top()? {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(l) = self.top()? {
                        l.extend(items);
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    if let Value::Dict(d) = self.top()? {
                        d.push((k, v));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if let Value::Dict(d) = self.top()? {
                        for p in items.chunks(2) {
                            d.push((p[0].clone(), p.get(1).cloned().unwrap_or(Value::None)));
                        }
                    }
                }
                b'b' => {
                    // BUILD: an object's state (a state dict's `_metadata`): not needed
                    self.pop()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = persistent_storage(&pid)?;
                    self.stack.push(storage);
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args)?;
                    self.stack.push(v);
                }
                _ => {
                    return Err(bad(format!(
                        "pickle opcode 0x{op:02x} at byte {}",
                        self.at - 1
                    )))
                }
            }
        }
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)`: the location is ignored.
fn persistent_storage(pid: &Value) -> Result<Value> {
    let Value::Tuple(items) = pid else {
        return Err(bad("a persistent id that is not a tuple"));
    };
    match items.as_slice() {
        [Value::Str(kind), Value::Global(_, class), Value::Str(key), ..] if kind == "storage" => {
            let dtype =
                Dtype::from_storage(class).ok_or_else(|| bad(format!("storage type {class}")))?;
            Ok(Value::Storage {
                dtype,
                key: key.clone(),
            })
        }
        _ => Err(bad("a persistent id that is not a storage")),
    }
}

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(bad(format!("a tensor's {what}"))),
            })
            .collect(),
        _ => Err(bad(format!("a tensor's {what}"))),
    }
}

fn reduce(callable: Value, args: Value) -> Result<Value> {
    let Value::Global(module, name) = &callable else {
        return Ok(Value::Object("a call of a non-global".into()));
    };
    let args = match args {
        Value::Tuple(a) => a,
        other => vec![other],
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(vec![])),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
            let (
                Some(Value::Storage { dtype, key }),
                Some(Value::Int(offset)),
                Some(size),
                Some(stride),
            ) = (args.first(), args.get(1), args.get(2), args.get(3))
            else {
                return Err(bad("the arguments of _rebuild_tensor_v2"));
            };
            Ok(Value::Tensor {
                dtype: *dtype,
                key: key.clone(),
                offset: usize::try_from(*offset)
                    .map_err(|_| bad("a tensor's negative storage offset"))?,
                size: usizes(size, "size")?,
                stride: usizes(stride, "stride")?,
            })
        }
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => args
            .into_iter()
            .next()
            .ok_or_else(|| bad("the arguments of _rebuild_parameter")),
        _ => Ok(Value::Object(format!("{module}.{name}"))),
    }
}

/// A tensor's values in C order, gathered through its strides from its storage's bytes.
fn gather(
    bytes: &[u8],
    dtype: Dtype,
    offset: usize,
    size: &[usize],
    stride: &[usize],
) -> Result<NpyData> {
    // sizes and strides come from the file: every product and sum checked
    let n = size
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .filter(|n| *n <= 1 << 28)
        .ok_or_else(|| bad("a tensor's size (at most 2^28 values)"))?;
    let es = dtype.size();
    // grown as the values are found inside the storage, not reserved on the file's word
    let mut index = Vec::with_capacity(n.min(bytes.len() / es));
    let mut pos = vec![0usize; size.len()];
    for _ in 0..n {
        let at = pos
            .iter()
            .zip(stride)
            .try_fold(offset, |a, (p, s)| a.checked_add(p.checked_mul(*s)?))
            .filter(|a| {
                a.checked_add(1)
                    .and_then(|end| end.checked_mul(es))
                    .is_some_and(|end| end <= bytes.len())
            })
            .ok_or_else(|| bad("a tensor reaching past its storage"))?;
        index.push(at * es);
        for d in (0..size.len()).rev() {
            pos[d] += 1;
            if pos[d] < size[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    let at = |i: usize, k: usize| &bytes[i..i + k];
    Ok(match dtype {
        Dtype::F32 => NpyData::F32(
            index
                .iter()
                .map(|i| f32::from_le_bytes(at(*i, 4).try_into().unwrap()))
                .collect(),
        ),
        Dtype::F64 => NpyData::F64(
            index
                .iter()
                .map(|i| f64::from_le_bytes(at(*i, 8).try_into().unwrap()))
                .collect(),
        ),
        Dtype::F16 => NpyData::F32(
            index
                .iter()
                .map(|i| f16_to_f32(u16::from_le_bytes(at(*i, 2).try_into().unwrap())))
                .collect(),
        ),
        Dtype::Bf16 => NpyData::F32(
            index
                .iter()
                .map(|i| {
                    f32::from_bits((u16::from_le_bytes(at(*i, 2).try_into().unwrap()) as u32) << 16)
                })
                .collect(),
        ),
        Dtype::I64 => NpyData::I64(
            index
                .iter()
                .map(|i| i64::from_le_bytes(at(*i, 8).try_into().unwrap()))
                .collect(),
        ),
        Dtype::I32 => NpyData::I32(
            index
                .iter()
                .map(|i| i32::from_le_bytes(at(*i, 4).try_into().unwrap()))
                .collect(),
        ),
        Dtype::U8 => NpyData::U8(index.iter().map(|i| bytes[*i]).collect()),
        Dtype::Bool => NpyData::Bool(index.iter().map(|i| bytes[*i] != 0).collect()),
    })
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: renormalise
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The tensors of a `torch.save`d state dict (nested dicts flattened with `.`), in C order.
pub fn decode_pth(bytes: &[u8]) -> Result<BTreeMap<String, NpyArray>> {
    let entries = unzip(bytes, "PyTorch checkpoint")?;
    let (pkl_name, pkl) = entries
        .iter()
        .find(|(n, _)| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or_else(|| {
            bad("no data.pkl: a checkpoint from torch.save with the zip format (PyTorch 1.6 or later)")
        })?;
    let prefix = pkl_name.strip_suffix("data.pkl").unwrap_or("");
    if entries
        .iter()
        .any(|(n, b)| n == &format!("{prefix}byteorder") && b.as_slice() != b"little")
    {
        return Err(bad("a big-endian checkpoint"));
    }
    let storages: HashMap<&str, &[u8]> = entries
        .iter()
        .filter_map(|(n, b)| {
            n.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix("data/"))
                .map(|k| (k, b.as_slice()))
        })
        .collect();
    let root = Machine {
        data: pkl,
        at: 0,
        stack: vec![],
        memo: HashMap::new(),
    }
    .run()?;
    let mut out = BTreeMap::new();
    flatten(&root, "", &storages, &mut out)?;
    if out.is_empty() {
        return Err(bad("no tensors in the checkpoint"));
    }
    Ok(out)
}

fn flatten(
    v: &Value,
    name: &str,
    storages: &HashMap<&str, &[u8]>,
    out: &mut BTreeMap<String, NpyArray>,
) -> Result<()> {
    match v {
        Value::Dict(pairs) => {
            for (k, x) in pairs {
                let key = match k {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                let full = if name.is_empty() {
                    key
                } else {
                    format!("{name}.{key}")
                };
                flatten(x, &full, storages, out)?;
            }
        }
        Value::Tensor {
            dtype,
            key,
            offset,
            size,
            stride,
        } => {
            let bytes = storages
                .get(key.as_str())
                .ok_or_else(|| bad(format!("`{name}`: storage data/{key} missing")))?;
            let data = gather(bytes, *dtype, *offset, size, stride)
                .map_err(|e| e.context(format!("tensor `{name}`")))?;
            out.insert(
                name.to_string(),
                NpyArray {
                    shape: size.clone(),
                    data,
                },
            );
        }
        _ => {}
    }
    Ok(())
}

/// Read a `.pth` file: [`decode_pth`] of its bytes.
pub fn read_pth(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let bytes = io_context(std::fs::read(path), path)?;
    decode_pth(&bytes).map_err(|e| e.context(path.display().to_string()))
}
