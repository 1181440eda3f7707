//! `.safetensors` files: every array kind biornn writes survives the round trip, and a file written
//! byte by byte in the format's layout (as other tools write it) reads.

use biornn_numerics::npz::{NpyArray, NpyData};
use biornn_numerics::tensors::{from_bytes, read_arrays, to_bytes, write_safetensors};
use std::collections::BTreeMap;

#[test]
fn every_kind_of_array_round_trips() {
    let mut a = BTreeMap::new();
    a.insert(
        "w".to_string(),
        NpyArray::f32(&[2, 3], vec![1.0, -2.5, 3.0, 0.0, 1e-8, -0.0]),
    );
    a.insert(
        "x".to_string(),
        NpyArray {
            shape: vec![],
            data: NpyData::F64(vec![std::f64::consts::PI]),
        },
    );
    a.insert(
        "i".to_string(),
        NpyArray {
            shape: vec![3],
            data: NpyData::I64(vec![-1, 0, 7]),
        },
    );
    a.insert(
        "j".to_string(),
        NpyArray {
            shape: vec![2],
            data: NpyData::I32(vec![5, -6]),
        },
    );
    a.insert(
        "u".to_string(),
        NpyArray {
            shape: vec![2],
            data: NpyData::U8(vec![0, 255]),
        },
    );
    a.insert(
        "b".to_string(),
        NpyArray {
            shape: vec![2],
            data: NpyData::Bool(vec![true, false]),
        },
    );
    a.insert(
        "config".to_string(),
        NpyArray {
            shape: vec![],
            data: NpyData::Str(vec!["seed = 1\n[model]\nn_rec = 8\n".into()]),
        },
    );
    let back = from_bytes(&to_bytes(&a).unwrap()).unwrap();
    assert_eq!(back, a);
    let dir = std::env::temp_dir().join(format!("biornn-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    write_safetensors(&path, &a).unwrap();
    assert_eq!(read_arrays(&path).unwrap(), a);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_in_the_formats_own_layout_reads() {
    // 8 bytes of header length (little-endian), the JSON header, then the tensors' bytes
    let header = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(1.5f32.to_le_bytes());
    bytes.extend((-2.0f32).to_le_bytes());
    bytes.extend(42i64.to_le_bytes());
    let a = from_bytes(&bytes).unwrap();
    assert_eq!(a["w"], NpyArray::f32(&[2], vec![1.5, -2.0]));
    assert_eq!(a["b"].data, NpyData::I64(vec![42]));
    // another writer's metadata is not an array
    assert_eq!(a.len(), 2);
    // a truncated file is an error, not a panic
    let e = from_bytes(&bytes[..bytes.len() - 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("safetensors"), "{e}");
}
