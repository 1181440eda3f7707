//! Labelled images for the vision networks: IDX files (MNIST, Fashion-MNIST; Debian's
//! `dataset-fashion-mnist` installs them in `/usr/share/datasets/fashion-mnist`) and CIFAR-10/100
//! binary batches, as floats in [0, 1], normalised by per-channel mean and standard deviation and
//! resized bilinearly where asked.

use biornn_numerics::{Error, Result};
use biornn_tasks::digits::read_idx;
use std::path::{Path, PathBuf};

/// Images `[n][channels][h][w]` in [0, 1] (or normalised) with their labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageSet {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub classes: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<usize>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image_size(&self) -> usize {
        self.channels * self.h * self.w
    }
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.image_size()..(i + 1) * self.image_size()]
    }

    /// The images at `indices`, in that order, as one batch.
    pub fn batch(&self, indices: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let mut x = Vec::with_capacity(indices.len() * self.image_size());
        for &i in indices {
            x.extend_from_slice(self.image(i));
        }
        (x, indices.iter().map(|i| self.labels[*i]).collect())
    }

    /// The first `n` images (all if fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.image_size());
        self.labels.truncate(n);
    }

    /// Each channel's mean and standard deviation over every image and pixel.
    pub fn channel_stats(&self) -> Vec<(f64, f64)> {
        let plane = self.h * self.w;
        (0..self.channels)
            .map(|c| {
                let (mut s, mut s2, mut k) = (0.0f64, 0.0f64, 0.0f64);
                for img in self.pixels.chunks(self.image_size()) {
                    for v in &img[c * plane..(c + 1) * plane] {
                        s += *v as f64;
                        s2 += (*v as f64) * (*v as f64);
                        k += 1.0;
                    }
                }
                let mean = s / k.max(1.0);
                (mean, (s2 / k.max(1.0) - mean * mean).max(0.0).sqrt())
            })
            .collect()
    }

    /// `(x - mean_c) / std_c`, channel by channel.
    pub fn normalise(&mut self, stats: &[(f64, f64)]) {
        let plane = self.h * self.w;
        let size = self.image_size();
        for img in self.pixels.chunks_mut(size) {
            for (c, (mean, std)) in stats.iter().enumerate() {
                let inv = 1.0 / std.max(1e-12);
                for v in &mut img[c * plane..(c + 1) * plane] {
                    *v = ((*v as f64 - mean) * inv) as f32;
                }
            }
        }
    }

    /// Every image resized to `h` x `w` by bilinear interpolation with half-pixel centres
    /// (PyTorch's `interpolate(mode="bilinear", align_corners=False)` without antialiasing).
    pub fn resized(&self, h: usize, w: usize) -> ImageSet {
        if (h, w) == (self.h, self.w) {
            return self.clone();
        }
        let mut pixels = Vec::with_capacity(self.len() * self.channels * h * w);
        let axis = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
            (0..out)
                .map(|o| {
                    let x = ((o as f64 + 0.5) * inp as f64 / out as f64 - 0.5).max(0.0);
                    let i0 = (x.floor() as usize).min(inp - 1);
                    let i1 = (i0 + 1).min(inp - 1);
                    (i0, i1, (x - i0 as f64) as f32)
                })
                .collect()
        };
        let (ys, xs) = (axis(h, self.h), axis(w, self.w));
        for plane in self.pixels.chunks(self.h * self.w) {
            for &(y0, y1, fy) in &ys {
                for &(x0, x1, fx) in &xs {
                    let at = |y: usize, x: usize| plane[y * self.w + x];
                    let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                    let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                    pixels.push(top * (1.0 - fy) + bottom * fy);
                }
            }
        }
        ImageSet {
            channels: self.channels,
            h,
            w,
            classes: self.classes,
            pixels,
            labels: self.labels.clone(),
        }
    }
}

/// `<stem>` or `<stem>.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::new(format!(
                "{}: no {stem} or {stem}.gz (an IDX directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, plain or gzipped)",
                dir.display()
            ))
        })
}

fn idx_split(dir: &Path, prefix: &str) -> Result<ImageSet> {
    let (dims, images) = read_idx(&find(dir, &format!("{prefix}-images-idx3-ubyte"))?)?;
    let (ldims, labels) = read_idx(&find(dir, &format!("{prefix}-labels-idx1-ubyte"))?)?;
    if dims.len() != 3 || ldims != [dims[0]] {
        return Err(Error::new(format!(
            "{}: {prefix} images {dims:?} and labels {ldims:?} (allowed: n x h x w images and n labels)",
            dir.display()
        )));
    }
    let classes = labels
        .iter()
        .map(|l| *l as usize + 1)
        .max()
        .unwrap_or(0)
        .max(10);
    Ok(ImageSet {
        channels: 1,
        h: dims[1],
        w: dims[2],
        classes,
        pixels: images.iter().map(|p| *p as f32 / 255.0).collect(),
        labels: labels.iter().map(|l| *l as usize).collect(),
    })
}

/// The training and test sets of an IDX directory (MNIST's format).
pub fn load_idx(dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let (mut train, mut test) = (idx_split(dir, "train")?, idx_split(dir, "t10k")?);
    let classes = train.classes.max(test.classes);
    train.classes = classes;
    test.classes = classes;
    Ok((train, test))
}

/// CIFAR's binary format: records of `label_bytes` label bytes (1 for CIFAR-10; 2 for CIFAR-100,
/// coarse then fine, of which the fine label is used) and 3,072 pixels (1,024 each of red, green,
/// blue, row-major 32 x 32).
pub fn read_cifar_batch(path: &Path, label_bytes: usize, set: &mut ImageSet) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    let record = label_bytes + 3072;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(Error::new(format!(
            "{}: {} bytes, not a whole number of {record}-byte CIFAR records",
            path.display(),
            bytes.len()
        )));
    }
    for r in bytes.chunks(record) {
        let label = r[label_bytes - 1] as usize;
        if label >= set.classes {
            return Err(Error::new(format!(
                "{}: label {label} (allowed: below {})",
                path.display(),
                set.classes
            )));
        }
        set.labels.push(label);
        set.pixels
            .extend(r[label_bytes..].iter().map(|p| *p as f32 / 255.0));
    }
    Ok(())
}

/// CIFAR-10 (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`) or CIFAR-100
/// (`train.bin`, `test.bin`) from their binary distributions' directory.
pub fn load_cifar(dir: &Path, classes: usize) -> Result<(ImageSet, ImageSet)> {
    let empty = ImageSet {
        channels: 3,
        h: 32,
        w: 32,
        classes,
        ..Default::default()
    };
    let (mut train, mut test) = (empty.clone(), empty);
    let (label_bytes, train_files, test_file): (usize, Vec<String>, &str) = match classes {
        10 => (
            1,
            (1..=5).map(|k| format!("data_batch_{k}.bin")).collect(),
            "test_batch.bin",
        ),
        100 => (2, vec!["train.bin".into()], "test.bin"),
        _ => {
            return Err(Error::invalid(
                "task.dataset",
                classes,
                "allowed: CIFAR-10 or CIFAR-100",
            ))
        }
    };
    for f in &train_files {
        read_cifar_batch(&dir.join(f), label_bytes, &mut train)?;
    }
    read_cifar_batch(&dir.join(test_file), label_bytes, &mut test)?;
    Ok((train, test))
}
