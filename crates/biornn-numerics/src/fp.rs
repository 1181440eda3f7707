//! Subnormal floats, kept out of the hot loops. On Intel processors an operation whose input or
//! result is subnormal (below 1.2e-38 in f32) takes a microcode assist, about a hundred times the
//! normal cost; AMD's cores pay nothing. Long trials make them: a silent unit leaks geometrically
//! towards zero, and small products of small states and gradients land below the normal range.
//!
//! [`FlushSubnormals`] sets the processor's flush-to-zero and denormals-are-zero modes for the
//! current thread while it is alive, and restores the thread's own modes when dropped. A kernel
//! takes one for its whole body, so its arithmetic runs in the same mode whatever thread runs it
//! and whoever called it: results stay independent of the thread count, and other code on the
//! thread (a caller's numpy, say) keeps its modes. On processors other than x86-64 it does nothing.

/// While alive, subnormal inputs read as zero and subnormal results are written as zero on this
/// thread (x86-64: MXCSR's DAZ and FTZ bits).
#[must_use = "the modes last only while the guard is alive"]
pub struct FlushSubnormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

#[cfg(target_arch = "x86_64")]
const DAZ_FTZ: u32 = 0x8040;

impl FlushSubnormals {
    #[inline]
    #[allow(deprecated)] // the intrinsics are the documented way; inline assembly would say the same
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            // SAFETY: SSE is part of x86-64; setting DAZ and FTZ changes only how subnormal floats
            // are read and written, never traps or rounding.
            let saved = unsafe { _mm_getcsr() };
            unsafe { _mm_setcsr(saved | DAZ_FTZ) };
            FlushSubnormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushSubnormals {}
    }
}

impl Default for FlushSubnormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushSubnormals {
    #[inline]
    #[allow(deprecated)]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: restores the register this guard read.
            unsafe { std::arch::x86_64::_mm_setcsr(self.saved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlushSubnormals;
    use std::hint::black_box;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormals_flush_inside_the_guard_and_not_after() {
        let tiny = black_box(f32::MIN_POSITIVE);
        let half = black_box(0.5f32);
        assert!(tiny * half > 0.0, "outside: a subnormal result");
        {
            let _g = FlushSubnormals::new();
            assert_eq!(black_box(tiny * half), 0.0, "inside: flushed");
            let sub = black_box(f32::from_bits(1));
            assert_eq!(
                black_box(sub * 1e30f32),
                0.0,
                "inside: a subnormal input reads as zero"
            );
            {
                let _nested = FlushSubnormals::new();
            }
            assert_eq!(
                black_box(tiny * half),
                0.0,
                "a nested guard restores the outer modes"
            );
        }
        assert!(
            black_box(tiny) * black_box(half) > 0.0,
            "restored after the guard"
        );
    }
}
