//! Fixtures the binary's tests share.

use biornn_numerics::Streams;
use std::path::Path;

/// Small labelled images in MNIST's IDX format, written to `dir` (12 x 12, 4 classes).
pub fn write_idx_images(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Streams::new(21).stream("images", 0);
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        // each class brightens its own quadrant, over noise
        let mut pixels = vec![];
        for l in &labels {
            for y in 0..12 {
                for x in 0..12 {
                    let q = (y / 6) * 2 + x / 6;
                    let base = if q == *l as usize { 160.0 } else { 40.0 };
                    pixels.push((base + 60.0 * rng.uniform()) as u8);
                }
            }
        }
        let idx = |dims: &[u32], data: &[u8]| {
            let mut b = vec![0, 0, 0x08, dims.len() as u8];
            for d in dims {
                b.extend_from_slice(&d.to_be_bytes());
            }
            b.extend_from_slice(data);
            b
        };
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n as u32, 12, 12], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[n as u32], &labels),
        )
        .unwrap();
    }
}
