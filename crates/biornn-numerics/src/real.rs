//! The floating-point type kernels are written against: f32 for training, f64 for gradient checks and
//! analysis.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

pub trait Real:
    faer::traits::RealField
    + Copy
    + Default
    + Debug
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    const ZERO: Self;
    const ONE: Self;
    /// numpy's dtype string for this type (`<f4`, `<f8`).
    const NPY_DESCR: &'static str;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn signum(self) -> Self;
    fn is_finite(self) -> bool;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn ln_1p(self) -> Self;
    /// e^x for the hot loops: for f32 a branch-free polynomial that vectorises (within 2 ulp of
    /// `exp` over the range that matters, saturating outside it); for f64 exactly `exp`, so gradient
    /// checks see the reference function.
    fn exp_fast(self) -> Self;
    /// ln(1 + y) for y in [0, 1] (softplus's tail, `ln(1 + e^{-|x|})`), for the hot loops: for f32
    /// a branch-free series that vectorises (within 2 ulp of `ln_1p` there); for f64 exactly
    /// `ln_1p`, so gradient checks see the reference function.
    fn ln_1p_unit_fast(self) -> Self;
    fn to_le_bytes_vec(data: &[Self]) -> Vec<u8>;
    /// The slice as f32 values when `Self` is f32 (the kernels written for f32 only, such as
    /// [`crate::packed`], take this way in), else `None`.
    fn as_f32(data: &[Self]) -> Option<&[f32]>;
    fn as_f32_mut(data: &mut [Self]) -> Option<&mut [f32]>;
    /// The smallest positive normal number.
    const MIN_NORMAL: Self;
    /// Zero for a subnormal value, else the value (NaN stays NaN). The recurrent loops apply it to
    /// the states and gradients they carry from step to step: a silent unit's state decays
    /// geometrically into the subnormal range over a long trial, where Intel processors run every
    /// operation on it about a hundred times slower (microcode assists; AMD's do not). In software,
    /// it flushes the same values on every processor and thread; the subnormals made inside
    /// products are flushed by [`crate::fp::FlushSubnormals`], on x86-64 only.
    #[inline(always)]
    fn flush_subnormal(self) -> Self {
        if self.abs() < Self::MIN_NORMAL {
            Self::ZERO
        } else {
            self
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $descr:expr, $exp_fast:expr, $ln_1p_unit_fast:expr, $as_f32:expr, $as_f32_mut:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NPY_DESCR: &'static str = $descr;
            const MIN_NORMAL: Self = <$t>::MIN_POSITIVE;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn signum(self) -> Self {
                <$t>::signum(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn exp_fast(self) -> Self {
                $exp_fast(self)
            }
            #[inline(always)]
            fn ln_1p_unit_fast(self) -> Self {
                $ln_1p_unit_fast(self)
            }
            fn to_le_bytes_vec(data: &[Self]) -> Vec<u8> {
                data.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            #[inline(always)]
            fn as_f32(data: &[Self]) -> Option<&[f32]> {
                $as_f32(data)
            }
            #[inline(always)]
            fn as_f32_mut(data: &mut [Self]) -> Option<&mut [f32]> {
                $as_f32_mut(data)
            }
        }
    };
}

impl_real!(f32, "<f4", exp_f32, ln_1p_unit_f32, Some, Some);
impl_real!(f64, "<f8", f64::exp, f64::ln_1p, |_| None, |_| None);

/// ln(1 + y) in f32 for y in [0, 1], without a call or a branch so that loops over it vectorise
/// (libm's `log1pf` is a call per element, a third of a softplus network's training time). With
/// s = y / (2 + y), in [0, 1/3] and exact to rounding for every y, ln(1 + y) = 2 atanh(s) =
/// 2 s (1 + s^2/3 + s^4/5 + ...); eight terms leave a truncation error below 2e-9 relative.
#[inline(always)]
pub fn ln_1p_unit_f32(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let z = s * s;
    let mut p = 1.0f32 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    // 2 s + 2 s z p: the leading term kept apart, so the sum rounds once at the end
    let two_s = s + s;
    two_s * z * p + two_s
}

/// e^x in f32 (Cephes `expf`): x = k ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, and
/// 2^k through the exponent bits. Rounding to the nearest integer uses the 1.5 * 2^23 trick so the
/// function has no branches or calls and loops over it vectorise. Inputs are clamped to
/// [-87.3, 88.0], so the result saturates instead of overflowing.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * C1 - k * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    // 2^k from the bits of `shifted` (1.5 * 2^23 + k, in a binade whose unit is 1): integer
    // operations only, where `k as i32` (a saturating conversion) would stop the loop vectorising
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    e * f32::from_bits(k_bits.wrapping_add(127) << 23)
}

/// Convert a slice between precisions (f32 weights into an f64 gradient check, and back).
pub fn convert<A: Real, B: Real>(src: &[A]) -> Vec<B> {
    src.iter().map(|v| B::from_f64(v.to_f64())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_ln_1p_is_accurate_on_the_unit_interval() {
        let ulp = |v: f64| (v as f32).abs().next_up() as f64 - (v as f32).abs() as f64;
        let mut worst_ulps = 0.0f64;
        let mut y = 0.0f32;
        let mut check = |y: f32| {
            let want = (y as f64).ln_1p();
            let got = ln_1p_unit_f32(y) as f64;
            if want > 0.0 {
                worst_ulps = worst_ulps.max((got - want).abs() / ulp(want));
            } else {
                assert_eq!(got, 0.0);
            }
        };
        while y <= 1.0 {
            check(y);
            y += 1.0 / 4099.0;
        }
        // tiny arguments keep their relative accuracy (1 + y would round them away)
        for e in 1..140 {
            check(2f32.powi(-e));
            check(3.0 * 2f32.powi(-e - 1));
        }
        check(1.0);
        assert!(worst_ulps <= 2.0, "worst error {worst_ulps} ulp");
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp_f32(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        // 2^k taken from the bits gives the same bits as 2^k through a conversion of k, over the
        // whole clamped range and beyond it
        let converted = |x: f32| {
            let x = x.clamp(-87.3, 88.0);
            let k = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
            let r = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
            let mut p = 1.987_569_1e-4f32;
            for c in [
                1.398_199_9e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                1.666_666_5e-1,
                5e-1,
            ] {
                p = p * r + c;
            }
            (p * r * r + r + 1.0) * f32::from_bits(((k as i32 + 127) as u32) << 23)
        };
        let mut x = -100.0f32;
        while x <= 100.0 {
            assert_eq!(exp_f32(x).to_bits(), converted(x).to_bits(), "x = {x}");
            x += 0.0071;
        }
        assert!(exp_f32(-1000.0) < 1e-37 && exp_f32(1000.0).is_finite());
    }
}
