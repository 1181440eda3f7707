//! The cache wired to the consolidator (our reading; the reference's scripts feed the stored
//! sequence directly in both directions, section 2.5 of the reference notes). The experienced
//! sequence is stored in one shot in two caches, one per replay direction, as +-1 patterns: each
//! input value thresholded at 0.5 and repeated `replicas` times (a majority vote reads it back),
//! followed by `tag_units` random +-1 units drawn afresh for each position, so that repeated
//! symbols (a a a) are distinct patterns. The forward replay then takes its inputs and targets from
//! the forward cache's recall started at the first pattern, the backward replay from the reverse
//! cache's recall started at the last; both under the external gate, each element read half way
//! through a swing of the gate. Recall is nearly exact for short sequences (at m = 1, n up to 4, the
//! defaults misread 0.1% to 0.7% of the elements, docs/REPLAY.md; with 2 replicas a tie reads as
//! on, so a single flipped replica of an off element reads as on: an odd count is a true vote) and
//! degrades as the sequence nears the cache's capacity. Recall errors (a wrong element, one skipped or repeated) reach learning unchanged.

use crate::cache::{Cache, Direction, Lambda, MAX_CACHE_UNITS};
use biornn_numerics::{Result, Streams};
use serde::{Deserialize, Serialize};

/// Steps of the external gate per recalled element (exp6.py's 30).
const STEPS_PER_ELEMENT: usize = 30;

/// `[rule.cache]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// replays take their inputs from the cache's recall (false: from the stored sequence, as
    /// the reference's scripts)
    pub wired: bool,
    /// units per input value
    pub replicas: usize,
    /// random units that tell positions apart
    pub tag_units: usize,
    pub tau: f64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            wired: false,
            replicas: 2,
            tag_units: 256,
            tau: 6.0,
        }
    }
}

impl CacheConfig {
    pub fn validate(&self) -> Result<()> {
        use biornn_numerics::Error;
        if self.replicas == 0 || self.replicas > 1000 {
            return Err(Error::invalid(
                "rule.cache.replicas",
                self.replicas,
                "allowed: 1 to 1000",
            ));
        }
        if self.tag_units > 10_000 {
            return Err(Error::invalid(
                "rule.cache.tag_units",
                self.tag_units,
                "allowed: 0 to 10000",
            ));
        }
        if !(self.tau.is_finite() && self.tau >= 1.0) {
            return Err(Error::invalid(
                "rule.cache.tau",
                self.tau,
                "allowed: a number of steps >= 1",
            ));
        }
        Ok(())
    }
}

/// Encodes sequences of `n_in` values as cache patterns and reads recalls back.
#[derive(Debug, Clone, PartialEq)]
pub struct WiredCache {
    pub cfg: CacheConfig,
    pub n_in: usize,
}

impl WiredCache {
    /// The cache for inputs of `n_in` values, refused where its units (`n_in` x replicas + tag
    /// units) exceed what [`Cache::new`] allows, naming the settings that make them.
    pub fn new(cfg: &CacheConfig, n_in: usize) -> Result<Self> {
        let w = WiredCache {
            cfg: cfg.clone(),
            n_in,
        };
        if w.units() > MAX_CACHE_UNITS {
            return Err(biornn_numerics::Error::invalid(
                "rule.cache",
                format!(
                    "replicas = {}, tag_units = {} ({} inputs: {} units)",
                    cfg.replicas,
                    cfg.tag_units,
                    n_in,
                    w.units()
                ),
                &format!(
                    "allowed: at most {MAX_CACHE_UNITS} units (two units x units matrices of f64)"
                ),
            ));
        }
        Ok(w)
    }

    pub fn units(&self) -> usize {
        self.n_in * self.cfg.replicas + self.cfg.tag_units
    }

    /// The patterns of `seq` (`rows x n_in`), tags from stream `cache_tags` at `index`.
    pub fn encode(&self, seq: &[f64], streams: &Streams, index: u64) -> Vec<f64> {
        let mut tags = streams.stream("cache_tags", index);
        let mut out = Vec::with_capacity(seq.len() / self.n_in * self.units());
        for row in seq.chunks(self.n_in) {
            for v in row {
                let s = if *v >= 0.5 { 1.0 } else { -1.0 };
                out.extend(std::iter::repeat_n(s, self.cfg.replicas));
            }
            out.extend((0..self.cfg.tag_units).map(|_| tags.sign()));
        }
        out
    }

    /// The input values a pattern holds: each the majority of its replicas (ties read as 1).
    pub fn decode(&self, pattern: &[f64], out: &mut Vec<f64>) {
        let r = self.cfg.replicas;
        for j in 0..self.n_in {
            let sum: f64 = pattern[j * r..(j + 1) * r].iter().sum();
            out.push(if sum >= 0.0 { 1.0 } else { 0.0 });
        }
    }

    /// Store `seq` and recall it both ways: (the forward recall, the reverse recall put back in
    /// time order), each `rows x n_in` with as many rows as the recall produced.
    pub fn recall(
        &self,
        seq: &[f64],
        streams: &Streams,
        index: u64,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = self.units();
        let patterns = self.encode(seq, streams, index);
        let k = patterns.len() / n;
        let per = STEPS_PER_ELEMENT;
        let mut out = vec![];
        for direction in [Direction::Forward, Direction::Reverse] {
            let mut cache = Cache::new(n, 0.0, self.cfg.tau, streams)?;
            cache.store(&patterns, direction)?;
            let start = match direction {
                Direction::Forward => &patterns[..n],
                Direction::Reverse => &patterns[(k - 1) * n..],
            };
            let recall = cache.replay(
                start,
                Lambda::External {
                    steps_per_pattern: per,
                },
                &patterns,
            );
            // one element per swing of the gate, read half way through it (the transition is
            // done, the next not begun)
            let mut rows = vec![];
            self.decode(start, &mut rows);
            for j in 0..k - 1 {
                self.decode(recall.at(j * per + per / 2, n), &mut rows);
            }
            if direction == Direction::Reverse {
                let mut ordered = Vec::with_capacity(rows.len());
                for row in rows.chunks(self.n_in).rev() {
                    ordered.extend_from_slice(row);
                }
                rows = ordered;
            }
            out.push(rows);
        }
        let reverse = out.pop().unwrap_or_default();
        let forward = out.pop().unwrap_or_default();
        Ok((forward, reverse))
    }
}

/// The fraction of the experienced sequence's rows that the recall got wrong: rows compared by
/// position, rows missing or extra counted as wrong.
pub fn recall_error(experienced: &[f64], recalled: &[f64], n_in: usize) -> f64 {
    let (a, b) = (experienced.len() / n_in, recalled.len() / n_in);
    let same = experienced
        .chunks(n_in)
        .zip(recalled.chunks(n_in))
        .filter(|(x, y)| x == y)
        .count();
    1.0 - same as f64 / a.max(b).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_sequence_comes_back_both_ways_and_errors_are_counted() {
        let w = WiredCache {
            cfg: CacheConfig {
                wired: true,
                ..Default::default()
            },
            n_in: 3,
        };
        // a a a EOL b b b EOL
        let seq = biornn_tasks::anbn::sequence(3);
        let (f, r) = w.recall(&seq, &Streams::new(1), 0).unwrap();
        assert_eq!(recall_error(&seq, &f, 3), 0.0, "forward {f:?}");
        assert_eq!(recall_error(&seq, &r, 3), 0.0, "reverse {r:?}");
        // a skipped row shifts everything after it: a a EOL b b b EOL against a a a EOL b b b EOL
        // agrees at rows 0, 1, 4 and 5 of 8
        let mut skipped = seq[..3].to_vec();
        skipped.extend_from_slice(&seq[6..]);
        assert!((recall_error(&seq, &skipped, 3) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_cache_too_large_to_hold_is_refused_by_name() {
        let cfg = CacheConfig {
            wired: true,
            replicas: 1000,
            tag_units: 10_000,
            ..Default::default()
        };
        let e = WiredCache::new(&cfg, 10).unwrap_err().to_string();
        assert!(e.contains("rule.cache") && e.contains("20000 units"), "{e}");
        assert!(e.contains(&MAX_CACHE_UNITS.to_string()), "{e}");
        assert!(WiredCache::new(&CacheConfig::default(), 3).is_ok());
        let e = Cache::new(MAX_CACHE_UNITS + 1, 1.0, 6.0, &Streams::new(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cache.n"), "{e}");
    }
}
