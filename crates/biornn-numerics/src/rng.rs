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

const ZIG_R: f64 = 3.654_152_885_361_009;
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

    /// Standard normal variate (ziggurat: one 64-bit draw in about 99% of calls).
    pub fn normal(&mut self) -> f64 {
        ziggurat_normal(&mut || self.next_u64())
    }

    /// A fast generator for bulk noise (xoshiro256++), seeded from this stream: still a function of
    /// the stream's name and index only.
    pub fn bulk(&mut self) -> BulkRng {
        BulkRng::from_seed(&mut || self.next_u64())
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

const LANES: usize = 8;

/// Bulk Gaussian noise: eight xoshiro256++ generators (Blackman and Vigna) advanced in lockstep, each
/// 64-bit draw turned into two normals by a Box-Muller transform with polynomial log, sine and cosine.
/// Everything is branch-free over the eight lanes so the compiler vectorises it; it is several times
/// faster than drawing normals one by one, which matters for the millions of input- and
/// recurrent-noise variates a batch needs. Seeded from a named ChaCha8 stream by
/// [`RngStream::bulk`], so it is a function of the stream's name and index only.
///
/// Uniforms have 24 bits, so |z| never exceeds sqrt(2 ln 2^24) = 5.77: the tail beyond that
/// (probability 8e-9) is cut off.
#[derive(Clone, Debug)]
pub struct BulkRng {
    s: [[u64; LANES]; 4],
    block: [f32; 2 * LANES],
    used: usize,
}

impl BulkRng {
    fn from_seed(seed: &mut impl FnMut() -> u64) -> BulkRng {
        let mut s = [[0u64; LANES]; 4];
        for lane in 0..LANES {
            for w in s.iter_mut() {
                w[lane] = seed();
            }
            if (0..4).all(|k| s[k][lane] == 0) {
                s[0][lane] = 1;
            }
        }
        BulkRng {
            s,
            block: [0.0; 2 * LANES],
            used: 2 * LANES,
        }
    }

    /// One 64-bit draw from each lane.
    #[inline(always)]
    fn next_lanes(&mut self) -> [u64; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u64; LANES];
        for l in 0..LANES {
            out[l] = (s0[l].wrapping_add(s3[l]))
                .rotate_left(23)
                .wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        out
    }

    /// Sixteen standard normals.
    #[inline(always)]
    fn next_block(&mut self) -> [f32; 2 * LANES] {
        let bits = self.next_lanes();
        let (first, second) = box_muller(&bits);
        let mut out = [0f32; 2 * LANES];
        out[..LANES].copy_from_slice(&first);
        out[LANES..].copy_from_slice(&second);
        out
    }

    /// Thirty-two standard normals: two blocks, transformed together so that 512-bit registers are
    /// filled. Same values as two calls of [`Self::next_block`].
    #[inline(always)]
    fn next_two_blocks(&mut self) -> [f32; 4 * LANES] {
        let mut bits = [0u64; 2 * LANES];
        bits[..LANES].copy_from_slice(&self.next_lanes());
        bits[LANES..].copy_from_slice(&self.next_lanes());
        let (first, second) = box_muller(&bits);
        let mut out = [0f32; 4 * LANES];
        out[..LANES].copy_from_slice(&first[..LANES]);
        out[LANES..2 * LANES].copy_from_slice(&second[..LANES]);
        out[2 * LANES..3 * LANES].copy_from_slice(&first[LANES..]);
        out[3 * LANES..].copy_from_slice(&second[LANES..]);
        out
    }

    /// One standard normal.
    pub fn normal(&mut self) -> f32 {
        if self.used == 2 * LANES {
            self.block = self.next_block();
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }

    /// Fill `out` with standard normals.
    pub fn fill_normal_f32(&mut self, out: &mut [f32]) {
        self.write_normals::<false>(out, 1.0)
    }

    /// Add `scale * N(0,1)` to every element of `out`.
    pub fn add_normal_f32(&mut self, out: &mut [f32], scale: f32) {
        self.write_normals::<true>(out, scale)
    }

    /// `out = scale * z` or `out += scale * z`. Uses 512-bit vectors where the CPU has them; the
    /// arithmetic is the same element by element (no fused multiply-add, correctly rounded division
    /// and square root), so the values do not depend on the CPU.
    fn write_normals<const ADD: bool>(&mut self, out: &mut [f32], scale: f32) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { self.write_normals_avx512::<ADD>(out, scale) };
        }
        self.write_normals_portable::<ADD>(out, scale)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    unsafe fn write_normals_avx512<const ADD: bool>(&mut self, out: &mut [f32], scale: f32) {
        self.write_normals_portable::<ADD>(out, scale)
    }

    #[inline(always)]
    fn write_normals_portable<const ADD: bool>(&mut self, out: &mut [f32], scale: f32) {
        let store = |o: &mut [f32], z: &[f32]| {
            for (o, z) in o.iter_mut().zip(z) {
                *o = if ADD { *o + scale * z } else { scale * z };
            }
        };
        let mut pairs = out.chunks_exact_mut(4 * LANES);
        for c in &mut pairs {
            store(c, &self.next_two_blocks());
        }
        let rest = pairs.into_remainder();
        let mut blocks = rest.chunks_exact_mut(2 * LANES);
        for c in &mut blocks {
            store(c, &self.next_block());
        }
        for v in blocks.into_remainder() {
            let z = self.normal();
            *v = if ADD { *v + scale * z } else { scale * z };
        }
    }
}

/// Box-Muller on `W` 64-bit draws: two standard normals from each, returned as (cos branch, sin
/// branch). Branch-free over the lanes so that it vectorises.
#[inline(always)]
fn box_muller<const W: usize>(bits: &[u64; W]) -> ([f32; W], [f32; W]) {
    // Work on 32-bit halves so that the integer-to-float conversions vectorise; the values are
    // those of bits 0..24 (u1), 24..48 (v) and 48..50 (quadrant) of each 64-bit draw.
    let mut lo = [0u32; W];
    let mut hi = [0u32; W];
    for l in 0..W {
        lo[l] = bits[l] as u32;
        hi[l] = (bits[l] >> 32) as u32;
    }
    let mut first = [0f32; W];
    let mut second = [0f32; W];
    for l in 0..W {
        let u1 = ((lo[l] & 0xFF_FFFF) as i32 as f32 + 1.0) * (1.0 / 16_777_216.0); // (0, 1]
        let v24 = (lo[l] >> 24) | ((hi[l] & 0xFFFF) << 8);
        let v = v24 as i32 as f32 * (1.0 / 16_777_216.0) - 0.5; // [-0.5, 0.5)
        let quadrant = (hi[l] >> 16) & 3;
        let r = (-2.0 * ln_f32(u1)).sqrt();
        let phi = v * std::f32::consts::FRAC_PI_2; // [-pi/4, pi/4)
        let (sin, cos) = sin_cos_small(phi);
        // rotate (cos, sin) by quadrant * pi/2: a uniform angle on the whole circle
        let swap = quadrant & 1 == 1;
        let (c, s) = if swap { (sin, cos) } else { (cos, sin) };
        let neg_c = quadrant == 1 || quadrant == 2;
        let neg_s = quadrant >= 2;
        first[l] = r * if neg_c { -c } else { c };
        second[l] = r * if neg_s { -s } else { s };
    }
    (first, second)
}

/// Natural log for x in (0, 1]: exponent bits plus 2 atanh((m-1)/(m+1)) for the mantissa m in [1, 2).
#[inline(always)]
fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) as i32 - 127) as f32;
    let m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = t
        * (2.0
            + t2 * (2.0 / 3.0
                + t2 * (2.0 / 5.0 + t2 * (2.0 / 7.0 + t2 * (2.0 / 9.0 + t2 * (2.0 / 11.0))))));
    e * std::f32::consts::LN_2 + series
}

/// (sin x, cos x) for |x| <= pi/4, Taylor polynomials (errors below 4e-7).
#[inline(always)]
fn sin_cos_small(x: f32) -> (f32, f32) {
    let x2 = x * x;
    let sin = x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))));
    let cos = 1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0)));
    (sin, cos)
}

/// The 256-layer normal ziggurat on any source of 64 random bits.
#[inline(always)]
fn ziggurat_normal(bits: &mut impl FnMut() -> u64) -> f64 {
    let z = ziggurat();
    let open01 = |b: u64| ((b >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    loop {
        let b = bits();
        let i = (b & 0xff) as usize;
        // symmetric uniform in (-1, 1) from the 53 high bits, independent of the layer bits
        let u = ((b >> 11) as f64 + 0.5) * (2.0 / (1u64 << 53) as f64) - 1.0;
        let x = u * z.x[i];
        if x.abs() < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            // the tail beyond R (Marsaglia 1964)
            loop {
                let tx = open01(bits()).ln() / ZIG_R;
                let ty = open01(bits()).ln();
                if -2.0 * ty >= tx * tx {
                    return if u < 0.0 { tx - ZIG_R } else { ZIG_R - tx };
                }
            }
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * open01(bits()) < (-0.5 * x * x).exp() {
            return x;
        }
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
    fn bulk_normals_match_the_gaussian() {
        let mut b = Streams::new(5).stream("noise", 0).bulk();
        let n = 1_000_003; // not a multiple of the block
        let mut xs = vec![0f32; n];
        b.fill_normal_f32(&mut xs);
        let mean = xs.iter().map(|x| *x as f64).sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.003 && (var - 1.0).abs() < 0.004,
            "{mean} {var}"
        );
        for (q, p) in [
            (-3.0, 0.00135),
            (-2.0, 0.02275),
            (-1.0, 0.15866),
            (-0.3, 0.38209),
            (0.0, 0.5),
            (0.7, 0.75804),
            (2.5, 0.99379),
        ] {
            let frac = xs.iter().filter(|x| **x < q).count() as f64 / n as f64;
            assert!((frac - p).abs() < 0.0015, "P(X < {q}) = {frac}, want {p}");
        }
        // odd moments vanish, the fourth is 3
        let m3 = xs.iter().map(|x| (*x as f64).powi(3)).sum::<f64>() / n as f64;
        let m4 = xs.iter().map(|x| (*x as f64).powi(4)).sum::<f64>() / n as f64;
        assert!(m3.abs() < 0.02 && (m4 - 3.0).abs() < 0.05, "{m3} {m4}");
        // neighbouring draws are uncorrelated (lanes and the two halves of a block)
        for lag in [1usize, 8, 16] {
            let c = xs
                .iter()
                .zip(&xs[lag..])
                .map(|(a, b)| (*a * *b) as f64)
                .sum::<f64>()
                / (n - lag) as f64;
            assert!(c.abs() < 0.005, "lag {lag}: {c}");
        }
        let mut again = vec![0f32; 20];
        Streams::new(5)
            .stream("noise", 0)
            .bulk()
            .fill_normal_f32(&mut again);
        assert_eq!(&again[..], &xs[..20]);
        let mut other = vec![0f32; 20];
        Streams::new(5)
            .stream("noise", 1)
            .bulk()
            .fill_normal_f32(&mut other);
        assert_ne!(other, again);
    }

    #[test]
    fn bulk_paths_give_the_same_values() {
        let fresh = || Streams::new(11).stream("noise", 3).bulk();
        let n = 1000 + 16 + 5; // pairs of blocks, one block and a remainder
        let mut one_by_one = fresh();
        let expected: Vec<f32> = (0..n).map(|_| one_by_one.normal()).collect();
        let mut filled = vec![0f32; n];
        fresh().fill_normal_f32(&mut filled);
        assert_eq!(filled, expected);
        let mut portable = vec![0f32; n];
        fresh().write_normals_portable::<false>(&mut portable, 1.0);
        assert_eq!(portable, expected);
        let mut added = vec![1.0f32; n];
        fresh().add_normal_f32(&mut added, 0.5);
        for (a, e) in added.iter().zip(&expected) {
            assert_eq!(*a, 1.0 + 0.5 * e);
        }
    }

    #[test]
    fn bit_extraction_from_halves_matches_the_64_bit_form() {
        let mut r = Streams::new(9).stream("bits", 0);
        for _ in 0..100_000 {
            let b = r.next_u64();
            let (lo, hi) = (b as u32, (b >> 32) as u32);
            assert_eq!((lo & 0xFF_FFFF) as u64, b & 0xFF_FFFF);
            assert_eq!(
                ((lo >> 24) | ((hi & 0xFFFF) << 8)) as u64,
                (b >> 24) & 0xFF_FFFF
            );
            assert_eq!(((hi >> 16) & 3) as u64, (b >> 48) & 3);
        }
    }

    #[test]
    fn polynomial_log_and_trig_are_accurate() {
        for i in 1..=1000 {
            let x = i as f32 / 1000.0;
            assert!(
                (ln_f32(x) - x.ln()).abs() < 2e-6 * (1.0 + x.ln().abs()),
                "ln {x}"
            );
            let a = (x - 0.5) * std::f32::consts::FRAC_PI_2;
            let (s, c) = sin_cos_small(a);
            assert!(
                (s - a.sin()).abs() < 1e-6 && (c - a.cos()).abs() < 1e-6,
                "trig {a}"
            );
        }
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
