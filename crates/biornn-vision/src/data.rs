//! Labelled images for the vision networks: IDX files (MNIST, Fashion-MNIST; Debian's
//! `dataset-fashion-mnist` installs them in `/usr/share/datasets/fashion-mnist`), CIFAR-10/100
//! binary batches and folders of PNG or JPEG images, as floats in [0, 1], normalised by
//! per-channel mean and standard deviation and resized bilinearly where asked.

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

    /// `(x - mean_c) / std_c`, channel by channel (statistics past the images' channels are
    /// left unused).
    pub fn normalise(&mut self, stats: &[(f64, f64)]) {
        let plane = self.h * self.w;
        let size = self.image_size();
        for img in self.pixels.chunks_mut(size) {
            for (c, (mean, std)) in stats.iter().take(self.channels).enumerate() {
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
    if dims.len() != 3 || ldims != [dims[0]] || dims[1] == 0 || dims[2] == 0 {
        return Err(Error::new(format!(
            "{}: {prefix} images {dims:?} and labels {ldims:?} (allowed: n x h x w images, h and w \
             at least 1, and n labels)",
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

/// One PNG or JPEG file as `(channels, h, w, pixels in [0, 1], [c][h][w])`: grey images have one
/// channel, colour ones three (alpha dropped, CMYK refused).
pub fn read_image(path: &Path) -> Result<(usize, usize, usize, Vec<f32>)> {
    let bad = |what: String| Error::new(format!("{}: {what}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let (channels, h, w, interleaved): (usize, usize, usize, Vec<f32>) = if bytes
        .starts_with(&[0x89, b'P', b'N', b'G'])
    {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| bad(format!("PNG: {e}")))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| bad(format!("PNG: {e}")))?;
        let (h, w) = (info.height as usize, info.width as usize);
        let per = info.color_type.samples();
        let keep = if per >= 3 { 3 } else { 1 };
        let px = buf[..h * w * per]
            .chunks(per)
            .flat_map(|p| {
                p[..keep]
                    .iter()
                    .map(|v| *v as f32 / 255.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        (keep, h, w, px)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(&bytes));
        let px = decoder.decode().map_err(|e| bad(format!("JPEG: {e}")))?;
        let info = decoder
            .info()
            .ok_or_else(|| bad("JPEG: no header".into()))?;
        let (h, w) = (info.height as usize, info.width as usize);
        let c = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            f => {
                return Err(bad(format!(
                    "JPEG pixel format {f:?} (allowed: grey or RGB, 8 bits)"
                )))
            }
        };
        (c, h, w, px.iter().map(|v| *v as f32 / 255.0).collect())
    } else {
        return Err(bad("not a PNG or JPEG file".into()));
    };
    // interleaved [h][w][c] to planes [c][h][w]
    let mut planes = vec![0.0; interleaved.len()];
    for (i, px) in interleaved.chunks(channels).enumerate() {
        for (c, v) in px.iter().enumerate() {
            planes[c * h * w + i] = *v;
        }
    }
    Ok((channels, h, w, planes))
}

/// The images of `dir/<class>/` for every class folder in `classes` (or, when `None`, every
/// folder, sorted by name, which then names the classes), each resized to `size` x `size` (or all
/// of one size when `size` is 0) with `channels` channels (grey repeated into three, or colour
/// averaged to one).
fn folder_split(
    dir: &Path,
    classes: Option<&[String]>,
    channels: usize,
    size: usize,
) -> Result<(ImageSet, Vec<String>)> {
    let bad = |what: String| Error::new(format!("{}: {what}", dir.display()));
    let names: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => {
            let mut n: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| bad(format!("{e} (a folder of images holds train/ and test/, each with one folder per class)")))?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        }
    };
    if names.is_empty() {
        return Err(bad("no class folders".into()));
    }
    let mut set = ImageSet {
        channels,
        classes: names.len(),
        ..Default::default()
    };
    for (label, name) in names.iter().enumerate() {
        let class_dir = dir.join(name);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&class_dir) {
            Ok(d) => d.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(_) if classes.is_some() => continue, // a test split may lack a class
            Err(e) => return Err(bad(format!("{name}: {e}"))),
        };
        files.retain(|p| {
            p.extension().is_some_and(|x| {
                ["png", "jpg", "jpeg"].contains(&x.to_string_lossy().to_lowercase().as_str())
            })
        });
        files.sort();
        for f in files {
            let (c, h, w, px) = read_image(&f)?;
            let mut img = ImageSet {
                channels: c,
                h,
                w,
                classes: names.len(),
                pixels: px,
                labels: vec![label],
            };
            if size > 0 {
                img = img.resized(size, size);
            }
            let plane = img.h * img.w;
            let px: Vec<f32> = match (c, channels) {
                (a, b) if a == b => img.pixels,
                (1, 3) => img.pixels.repeat(3),
                (3, 1) => (0..plane)
                    .map(|i| {
                        (img.pixels[i] + img.pixels[plane + i] + img.pixels[2 * plane + i]) / 3.0
                    })
                    .collect(),
                _ => unreachable!("images have 1 or 3 channels"),
            };
            if set.is_empty() {
                (set.h, set.w) = (img.h, img.w);
            } else if (img.h, img.w) != (set.h, set.w) {
                return Err(Error::new(format!(
                    "{}: {} x {} pixels where the first image has {} x {} (set task.image_size to resize them all)",
                    f.display(),
                    img.h,
                    img.w,
                    set.h,
                    set.w
                )));
            }
            set.pixels.extend(px);
            set.labels.push(label);
        }
    }
    if set.is_empty() {
        return Err(bad("no PNG or JPEG images in the class folders".into()));
    }
    Ok((set, names))
}

/// A folder of images as torchvision's `ImageFolder` lays them out, split in two:
/// `dir/train/<class>/*.png|jpg` and `dir/test/<class>/...`; the training split's class folders,
/// sorted by name, are the classes. Grey and colour images may mix: all get three channels if any
/// training image has colour.
pub fn load_folder(dir: &Path, size: usize) -> Result<(ImageSet, ImageSet)> {
    // a first pass for the channel count: colour anywhere in the training split means three
    let mut channels = 1;
    let train_dir = dir.join("train");
    for class in std::fs::read_dir(&train_dir)
        .map_err(|e| Error::new(format!("{}: {e} (a folder of images holds train/ and test/, each with one folder per class)", train_dir.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
    {
        for f in std::fs::read_dir(class.path()).into_iter().flatten().filter_map(|e| e.ok()) {
            if let Ok((3, ..)) = read_image(&f.path()) {
                channels = 3;
            }
        }
        if channels == 3 {
            break;
        }
    }
    let (train, names) = folder_split(&train_dir, None, channels, size)?;
    let (test, _) = folder_split(&dir.join("test"), Some(&names), channels, size)?;
    if (test.h, test.w) != (train.h, train.w) {
        return Err(Error::new(format!(
            "{}: test images of {} x {} pixels, training images of {} x {} (set task.image_size)",
            dir.display(),
            test.h,
            test.w,
            train.h,
            train.w
        )));
    }
    Ok((train, test))
}
