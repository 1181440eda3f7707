//! TensorBoard event files for the metrics, written directly (the format is small): a file of
//! records, each `length (u64 LE), masked CRC-32C of the length, an `Event` protobuf, masked CRC-32C
//! of it`; the first event names the file version, then one event per metrics row with every
//! numeric column as a scalar (`simple_value`) at the row's step. Off unless [`enable`] names a
//! directory (`biornn train --tensorboard DIR`); each run writes into `DIR/<run name>/`.

use biornn_numerics::npz::crc32c;
use biornn_numerics::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

static DIR: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Mirror the metrics rows of runs opened from now on into event files under `dir`, or stop
/// (`None`): for this process, until changed (a Python session trains one run with, the next
/// without).
pub fn enable(dir: Option<&Path>) {
    *DIR.write().unwrap_or_else(|e| e.into_inner()) = dir.map(Path::to_path_buf);
}

/// The directory event files go to, if enabled.
pub fn dir() -> Option<PathBuf> {
    DIR.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord frame around `data`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked(crc32c(&len)).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked(crc32c(data)).to_le_bytes());
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(field: u64, b: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// An `Event` protobuf: wall time, step, and either the file version or scalars.
pub fn event(
    wall_time: f64,
    step: i64,
    file_version: Option<&str>,
    scalars: &[(&str, f32)],
) -> Vec<u8> {
    let mut e = vec![0x09];
    e.extend_from_slice(&wall_time.to_le_bytes());
    varint(2 << 3, &mut e);
    varint(step as u64, &mut e);
    if let Some(v) = file_version {
        bytes_field(3, v.as_bytes(), &mut e);
    }
    if !scalars.is_empty() {
        let mut summary = vec![];
        for (tag, value) in scalars {
            let mut v = vec![];
            bytes_field(1, tag.as_bytes(), &mut v);
            v.push((2 << 3) | 5);
            v.extend_from_slice(&value.to_le_bytes());
            bytes_field(1, &v, &mut summary);
        }
        bytes_field(5, &summary, &mut e);
    }
    e
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An open event file of one run.
pub struct EventWriter {
    file: std::fs::File,
    columns: Vec<String>,
}

impl EventWriter {
    /// A new event file in `dir/<run>/` for rows of `columns` (the first is the step).
    pub fn create(dir: &Path, run: &str, columns: Vec<String>) -> Result<EventWriter> {
        let d = dir.join(run);
        std::fs::create_dir_all(&d).map_err(|e| Error::new(format!("{}: {e}", d.display())))?;
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
        let t = now();
        // a fresh name for each writer: a resumed run adds a file, TensorBoard reads them all
        let mut k = 0;
        let path = loop {
            let p = d.join(format!(
                "events.out.tfevents.{}.{}.biornn.{}.{k}",
                t as u64,
                host.trim(),
                std::process::id()
            ));
            if !p.exists() {
                break p;
            }
            k += 1;
        };
        let mut file = std::fs::File::create(&path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        file.write_all(&record(&event(t, 0, Some("brain.Event:2"), &[])))?;
        file.flush()?;
        Ok(EventWriter { file, columns })
    }

    /// One metrics row as scalars at its step (cells that are not numbers are left out).
    pub fn row(&mut self, cells: &[String]) -> Result<()> {
        let Some(step) = cells.first().and_then(|c| c.parse::<i64>().ok()) else {
            return Ok(());
        };
        let scalars: Vec<(&str, f32)> = self
            .columns
            .iter()
            .zip(cells)
            .skip(1)
            .filter_map(|(c, v)| Some((c.as_str(), v.parse::<f32>().ok()?)))
            .collect();
        self.file
            .write_all(&record(&event(now(), step, None, &scalars)))?;
        self.file.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_the_record_frame_are_tensorflows() {
        // the check value of CRC-32C
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        let r = record(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(
            &r[8..12],
            &masked(crc32c(&3u64.to_le_bytes())).to_le_bytes()
        );
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(&r[15..], &masked(crc32c(b"abc")).to_le_bytes());
    }

    #[test]
    fn an_event_is_a_hand_checked_protobuf() {
        // wall_time 1.0, step 300 (varint ac 02), one scalar "a" = 0.5
        let e = event(1.0, 300, None, &[("a", 0.5)]);
        let mut want = vec![0x09];
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 0xac, 0x02]);
        // summary (5): value (1): tag (1) "a", simple_value (2, fixed32) 0.5
        want.extend_from_slice(&[0x2a, 0x0a, 0x0a, 0x08, 0x0a, 0x01, b'a', 0x15]);
        want.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(e, want);
    }
}
