//! Reproducible randomness: one root seed, and an independent ChaCha8 stream for each named purpose
//! (task timing, trial content, input noise, recurrent noise, weight init, rule sampling, ...) and
//! index (batch number, trial number, network number).
//!
//! A stream depends only on `(root, purpose, index)`, never on which thread asks for it or in which
//! order, so results do not depend on the number of threads. Normal variates use our own ziggurat
//! (Marsaglia and Tsang 2000, 256 layers) on top of the pinned ChaCha8 generator, so their values do
//! not change with a `rand` upgrade.

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
}

const ZIG_R: f64 = 3.654_152_885_361_008_8;
const ZIG_V: f64 = 0.004_928_673_233_99;

/// Layer edges x_i and densities f(x_i) = exp(-x_i^2 / 2) of the 256-layer normal ziggurat.
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let f = |x: f64| (-0.5 * x * x).exp();
        let mut x = [0.0; 257];
        x[0] = ZIG_V / f(ZIG_R);
        x[1] = ZIG_R;
        for i in 1..256 {
            let arg = ZIG_V / x[i] + f(x[i]);
            x[i + 1] = if arg >= 1.0 {
                0.0
            } else {
                (-2.0 * arg.ln()).sqrt()
            };
        }
        x[256] = 0.0;
        let mut fx = [0.0; 257];
        for i in 0..257 {
            fx[i] = f(x[i]);
        }
        Ziggurat { x, f: fx }
    })
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

    /// Uniform in (0, 1), never 0.
    fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal variate (ziggurat: one 64-bit draw in about 99% of calls).
    pub fn normal(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let bits = self.next_u64();
            let i = (bits & 0xff) as usize;
            // symmetric uniform in (-1, 1) from the 53 high bits, independent of the layer bits
            let u = ((bits >> 11) as f64 + 0.5) * (2.0 / (1u64 << 53) as f64) - 1.0;
            let x = u * z.x[i];
            if x.abs() < z.x[i + 1] {
                return x;
            }
            if i == 0 {
                // the tail beyond R (Marsaglia 1964)
                loop {
                    let tx = self.open01().ln() / ZIG_R;
                    let ty = self.open01().ln();
                    if -2.0 * ty >= tx * tx {
                        return if u < 0.0 { tx - ZIG_R } else { ZIG_R - tx };
                    }
                }
            }
            if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * self.uniform() < (-0.5 * x * x).exp() {
                return x;
            }
        }
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
    fn normal_matches_the_gaussian_cdf() {
        // fraction below a few quantiles, and the tails beyond the ziggurat's base
        let mut r = Streams::new(4).stream("t", 0);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        for (q, p) in [
            (-2.0, 0.02275),
            (-1.0, 0.15866),
            (0.0, 0.5),
            (0.5, 0.69146),
            (1.5, 0.93319),
        ] {
            let frac = xs.iter().filter(|x| **x < q).count() as f64 / n as f64;
            assert!((frac - p).abs() < 0.003, "P(X < {q}) = {frac}, want {p}");
        }
        let tail = xs.iter().filter(|x| x.abs() > 3.0).count() as f64 / n as f64;
        assert!((tail - 0.0027).abs() < 0.0006, "tail {tail}");
        assert!(xs.iter().any(|x| x.abs() > ZIG_R), "the tail is sampled");
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
