//! `.npz` files sealed with a CRC-32 over every other array (the `checksum` array), so that a torn
//! or corrupted checkpoint is detected when read, never trained on.

use biornn_core::Arrays;
use biornn_numerics::npz::{crc32, encode_npy, read_npz, write_npz, NpyArray, NpyData};
use biornn_numerics::{Error, Result};
use std::path::Path;

/// CRC-32 over every array but `checksum`, in name order.
pub fn checksum(arrays: &Arrays) -> i64 {
    let mut bytes = Vec::new();
    for (k, a) in arrays.iter().filter(|(k, _)| k.as_str() != "checksum") {
        bytes.extend_from_slice(k.as_bytes());
        bytes.extend_from_slice(&encode_npy(a));
    }
    crc32(&bytes) as i64
}

/// Add the `checksum` array.
pub fn seal(mut arrays: Arrays) -> Arrays {
    let c = checksum(&arrays);
    arrays.insert(
        "checksum".into(),
        NpyArray {
            shape: vec![],
            data: NpyData::I64(vec![c]),
        },
    );
    arrays
}

/// Seal `arrays` and write them atomically to `path`.
pub fn write_sealed(path: &Path, arrays: Arrays) -> Result<()> {
    write_npz(path, &seal(arrays))
}

/// Read `path` and check its checksum where it has one (files from numpy have none).
pub fn read_checked(path: &Path) -> Result<Arrays> {
    let arrays = read_npz(path)?;
    if let Some(stored) = arrays.get("checksum") {
        let stored = stored
            .to_real::<f64>()
            .map_err(|e| e.context(path.display()))?
            .first()
            .copied()
            .unwrap_or(-1.0) as i64;
        if stored != checksum(&arrays) {
            return Err(
                Error::new("checksum mismatch: the file is corrupt").context(path.display())
            );
        }
    }
    Ok(arrays)
}
