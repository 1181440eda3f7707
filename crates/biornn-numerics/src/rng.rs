//! Reproducible randomness: one root seed, and an independent ChaCha8 stream for each named purpose
//! (task timing, trial content, input noise, recurrent noise, weight init, rule sampling, ...) and
//! index (batch number, trial number, network number).
//!
//! A stream depends only on `(root, purpose, index)`, never on which thread asks for it or in which
//! order, so results do not depend on the number of threads. Normal variates use our own Box-Muller
//! transform on top of the pinned ChaCha8 generator, so their values do not change with a `rand`
//! upgrade.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The root seed from which every stream of a run is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub root: u64,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Streams {
    pub fn new(root: u64) -> Self {
        Streams { root }
    }

    /// The stream for `purpose` number `index`.
    pub fn stream(&self, purpose: &str, index: u64) -> RngStream {
        let mut seed = [0u8; 32];
        let mut state = splitmix64(self.root) ^ fnv1a(purpose);
        state = splitmix64(state) ^ splitmix64(index.wrapping_add(0x5851_F42D_4C95_7F2D));
        for chunk in seed.chunks_mut(8) {
            state = splitmix64(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        RngStream {
            inner: ChaCha8Rng::from_seed(seed),
            spare_normal: None,
        }
    }

    /// A child root seed, for sub-runs (network `k` of a multi-seed run gets `streams.child("net", k)`).
    pub fn child(&self, purpose: &str, index: u64) -> Streams {
        Streams {
            root: self.stream(purpose, index).next_u64(),
        }
    }
}

/// One random stream with the draws biornn needs.
#[derive(Clone, Debug)]
pub struct RngStream {
    inner: ChaCha8Rng,
    spare_normal: Option<f64>,
}

impl RngStream {
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1), 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in 0..n (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// One element of `items`, uniformly.
    pub fn choice<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// +1 or -1 with equal probability.
    pub fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal variate (Box-Muller; the second variate of each pair is kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Fill `out` with `scale * N(0,1)`.
    pub fn fill_normal<T: crate::Real>(&mut self, out: &mut [T], scale: f64) {
        for v in out.iter_mut() {
            *v = T::from_f64(scale * self.normal());
        }
    }

    /// Index drawn with probability proportional to `weights` (non-negative, not all zero).
    pub fn weighted_index(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let s = Streams::new(7);
        let a: Vec<u64> = (0..4).map(|_| s.stream("noise", 3).next_u64()).collect();
        assert!(a.iter().all(|v| *v == a[0]));
        assert_ne!(
            s.stream("noise", 3).next_u64(),
            s.stream("noise", 4).next_u64()
        );
        assert_ne!(
            s.stream("noise", 3).next_u64(),
            s.stream("init", 3).next_u64()
        );
        assert_ne!(
            Streams::new(8).stream("noise", 3).next_u64(),
            s.stream("noise", 3).next_u64()
        );
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Streams::new(1).stream("t", 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn weighted_index_follows_weights() {
        let mut r = Streams::new(2).stream("t", 0);
        let w = [1.0, 0.0, 3.0];
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[r.weighted_index(&w)] += 1;
        }
        assert_eq!(counts[1], 0);
        let frac = counts[2] as f64 / 40_000.0;
        assert!((frac - 0.75).abs() < 0.01, "{frac}");
    }

    #[test]
    fn below_is_uniform_and_in_range() {
        let mut r = Streams::new(3).stream("t", 0);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[r.below(5)] += 1;
        }
        for c in counts {
            assert!((c as f64 / 10_000.0 - 1.0).abs() < 0.05);
        }
    }
}
