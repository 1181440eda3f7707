//! Products with a left-hand matrix that stays the same for many calls: a network's recurrent
//! weights, used at every step of a pass. The matrix is packed once into column panels (column
//! `k` of `A` contiguous, padded with zeros to a whole number of 16-float vectors), and each
//! product `C (+)= A B` runs a register-tiled micro-kernel over the panels with no packing, no
//! dispatch on shapes and no allocation.
//!
//! Every entry of `A B` is one fused multiply-add chain over `k = 0, 1, ...` from zero, added to
//! `C` at the end when accumulating. The tiling only decides which entries are computed together,
//! so the AVX-512, AVX2 and scalar (`mul_add`) paths give the same bits. That is not a promise
//! that a run is the same on machines with and without AVX-512: without it the default is faer
//! (see [`Isa::best`]), and faer's own bulk products pick their kernels by instruction set too, so
//! runs are bit for bit reproducible on one kind of machine. `BIORNN_ISA` (`avx512`, `avx2`,
//! `scalar` or `faer`) forces a path, to compare them on one machine; `faer` turns the packed
//! products off.

use std::sync::OnceLock;

/// The instruction sets the micro-kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 16-float vectors, tiles of up to 64 rows x 6 columns
    Avx512,
    /// 8-float vectors with FMA, tiles of up to 16 rows x 6 columns
    Avx2,
    /// `f32::mul_add` one entry at a time (the reference the vector paths are tested against)
    Scalar,
}

impl Isa {
    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The vector path networks take by default: AVX-512 where the CPU has it. The AVX2 path is
    /// there to be forced (`BIORNN_ISA=avx2`): on an AVX-512 machine faer's own AVX-512 kernels
    /// beat it, and it has not been timed against faer on a machine without AVX-512. The scalar
    /// path is a reference, never a default.
    pub fn best() -> Option<Isa> {
        Isa::Avx512.supported().then_some(Isa::Avx512)
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Scalar => "scalar",
        }
    }
}

/// Up to this many units (rows and columns of a square matrix: a dense f32 network's recurrent
/// weights) the per-step products run on the packed panels rather than faer, on this process's
/// path. Where the panels stop paying was measured per processor (`biornn bench products`, one
/// step's W r and W^T d at 256 units, 64 columns): on AMD's AVX-512 cores (a Zen 5 EPYC) they ran
/// 1.10 times as fast as faer (`biornn bench train`, whole iterations: 1.04 to 1.08 times at 192
/// and 256 units, 0.93 at 512), on an Intel Xeon 0.68 times. So 256 on an AMD processor taking the AVX-512 path, 128 otherwise. The choice is
/// fixed by the processor, so a run stays a function of its seed on one kind of machine.
pub fn max_units() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| match active() {
        Some(Isa::Avx512) if vendor_is_amd() => 256,
        _ => 128,
    })
}

/// Whether the processor says it is AMD's (CPUID leaf 0's vendor string).
fn vendor_is_amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: CPUID leaf 0 exists on every x86-64 processor.
        #[allow(unused_unsafe)]
        let id = unsafe { std::arch::x86_64::__cpuid(0) };
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&id.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&id.edx.to_le_bytes());
        vendor[8..].copy_from_slice(&id.ecx.to_le_bytes());
        &vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The path packed products take in this process: `BIORNN_ISA` if set (`faer` = none), else
/// [`Isa::best`]. A forced path the CPU lacks, or a value that names none, falls back to that
/// default, said once on stderr (a comparison run must not silently compare the default with
/// itself).
pub fn active() -> Option<Isa> {
    static ACTIVE: OnceLock<Option<Isa>> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let forced = std::env::var("BIORNN_ISA").ok();
        let forced = forced.as_deref().map(|v| v.trim().to_ascii_lowercase());
        let fallback = |why: &str| {
            let default = Isa::best().map_or("faer", Isa::name);
            eprintln!("BIORNN_ISA: {why}; the products take the default path ({default})");
            Isa::best()
        };
        match forced.as_deref() {
            None => Isa::best(),
            Some("faer") => None,
            Some("scalar") => Some(Isa::Scalar),
            Some(name @ ("avx512" | "avx2")) => {
                let isa = if name == "avx512" {
                    Isa::Avx512
                } else {
                    Isa::Avx2
                };
                match isa.supported() {
                    true => Some(isa),
                    false => fallback(&format!("this CPU has no {name}")),
                }
            }
            Some(other) => fallback(&format!(
                "`{other}` is not a path (allowed: avx512, avx2, scalar, faer)"
            )),
        }
    })
}

/// Rows are padded to a multiple of this (one AVX-512 vector, two AVX2 vectors).
const PAD: usize = 16;
/// Columns of `B` per tile.
const NC: usize = 6;

/// An `m x k` matrix packed for `C (+)= A B`: `data[kk * stride + i] = A[i, kk]`, rows padded with
/// zeros to `stride`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panels {
    m: usize,
    k: usize,
    stride: usize,
    data: Vec<f32>,
}

impl Panels {
    /// Pack `A` given entry by entry.
    pub fn from_fn(m: usize, k: usize, a: impl Fn(usize, usize) -> f32) -> Panels {
        let mut p = Panels::default();
        p.repack(m, k, a);
        p
    }

    /// Pack a row-major `(m, k)` matrix, or its transpose (`transpose`: `w` is `(k, m)` row-major
    /// and `A = w^T`).
    pub fn from_row_major(w: &[f32], m: usize, k: usize, transpose: bool) -> Panels {
        assert_eq!(w.len(), m * k, "matrix has the wrong size");
        if transpose {
            Panels::from_fn(m, k, |i, kk| w[kk * m + i])
        } else {
            Panels::from_fn(m, k, |i, kk| w[i * k + kk])
        }
    }

    /// Pack again in place (no allocation when the shape is unchanged).
    pub fn repack(&mut self, m: usize, k: usize, a: impl Fn(usize, usize) -> f32) {
        self.m = m;
        self.k = k;
        self.stride = m.div_ceil(PAD) * PAD;
        self.data.clear();
        self.data.resize(self.stride * k, 0.0);
        for kk in 0..k {
            let col = &mut self.data[kk * self.stride..][..m];
            for (i, v) in col.iter_mut().enumerate() {
                *v = a(i, kk);
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.m
    }

    pub fn cols(&self) -> usize {
        self.k
    }

    /// `dst = A rhs` (or `dst += A rhs`), `rhs` column-major `(k, ncols)`, `dst` column-major
    /// `(m, ncols)`, on the process's path ([`active`]; the scalar path when that is faer).
    pub fn mul(&self, dst: &mut [f32], accumulate: bool, rhs: &[f32]) {
        let isa = active().unwrap_or(Isa::Scalar);
        self.mul_with(isa, dst, accumulate, rhs);
    }

    /// [`Self::mul`] on a chosen path; one the CPU lacks runs the scalar path.
    pub fn mul_with(&self, isa: Isa, dst: &mut [f32], accumulate: bool, rhs: &[f32]) {
        let (m, k) = (self.m, self.k);
        assert!(
            m > 0 && k > 0 && rhs.len().is_multiple_of(k),
            "rhs has {} values, not a multiple of {k}",
            rhs.len()
        );
        let ncols = rhs.len() / k;
        assert_eq!(dst.len(), m * ncols, "dst is ({m}, {ncols})");
        #[cfg(target_arch = "x86_64")]
        if isa.supported() {
            match isa {
                // SAFETY: the CPU has the features each function is compiled for; the shapes are
                // checked above and the panels hold stride * k values with stride >= the rows read.
                Isa::Avx512 => return unsafe { avx512::mul(self, dst, accumulate, rhs, ncols) },
                Isa::Avx2 => return unsafe { avx2::mul(self, dst, accumulate, rhs, ncols) },
                Isa::Scalar => {}
            }
        }
        self.mul_scalar(dst, accumulate, rhs, ncols);
    }

    fn mul_scalar(&self, dst: &mut [f32], accumulate: bool, rhs: &[f32], ncols: usize) {
        let (m, k) = (self.m, self.k);
        for c in 0..ncols {
            let b = &rhs[c * k..][..k];
            for (i, out) in dst[c * m..][..m].iter_mut().enumerate() {
                let mut acc = 0.0f32;
                for (kk, bv) in b.iter().enumerate() {
                    acc = self.data[kk * self.stride + i].mul_add(*bv, acc);
                }
                *out = if accumulate { *out + acc } else { acc };
            }
        }
    }
}

/// One micro-kernel per instruction set, from one template: `$mr` vectors of rows by `NC`
/// columns of accumulators, every entry a multiply-add chain over `kk` in order.
macro_rules! simd_kernel {
    ($name:ident, $feature:literal, $vec:ty, $lanes:expr, $max_mr:expr,
     $zero:ident, $load:ident, $store:ident, $splat:ident, $fma:ident, $add:ident) => {
        #[cfg(target_arch = "x86_64")]
        mod $name {
            use super::{Panels, NC};
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;

            #[target_feature(enable = $feature)]
            pub(super) unsafe fn mul(
                p: &Panels,
                dst: &mut [f32],
                accumulate: bool,
                rhs: &[f32],
                ncols: usize,
            ) {
                let vectors = p.m.div_ceil(LANES);
                let mut c0 = 0;
                while c0 < ncols {
                    let nc = (ncols - c0).min(NC);
                    let mut v0 = 0;
                    while v0 < vectors {
                        let mr = (vectors - v0).min($max_mr);
                        let at = Tile { v0, c0, accumulate };
                        unsafe {
                            match mr {
                                1 => cols::<1>(p, dst, rhs, at, nc),
                                2 => cols::<2>(p, dst, rhs, at, nc),
                                3 => cols::<3>(p, dst, rhs, at, nc),
                                _ => cols::<4>(p, dst, rhs, at, nc),
                            }
                        }
                        v0 += mr;
                    }
                    c0 += nc;
                }
            }

            #[derive(Clone, Copy)]
            struct Tile {
                v0: usize,
                c0: usize,
                accumulate: bool,
            }

            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn cols<const MR: usize>(
                p: &Panels,
                dst: &mut [f32],
                rhs: &[f32],
                at: Tile,
                nc: usize,
            ) {
                unsafe {
                    match nc {
                        1 => tile::<MR, 1>(p, dst, rhs, at),
                        2 => tile::<MR, 2>(p, dst, rhs, at),
                        3 => tile::<MR, 3>(p, dst, rhs, at),
                        4 => tile::<MR, 4>(p, dst, rhs, at),
                        5 => tile::<MR, 5>(p, dst, rhs, at),
                        _ => tile::<MR, 6>(p, dst, rhs, at),
                    }
                }
            }

            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn tile<const MR: usize, const C: usize>(
                p: &Panels,
                dst: &mut [f32],
                rhs: &[f32],
                at: Tile,
            ) {
                let (m, k, stride) = (p.m, p.k, p.stride);
                let mut acc: [[$vec; C]; MR] = [[$zero(); C]; MR];
                // SAFETY (pointer reads): row v0 * LANES + MR * LANES <= stride, kk < k, and
                // column c0 + c < ncols, so every read is inside `p.data` and `rhs`.
                let a0 = unsafe { p.data.as_ptr().add(at.v0 * LANES) };
                let b0 = unsafe { rhs.as_ptr().add(at.c0 * k) };
                for kk in 0..k {
                    let a = unsafe { a0.add(kk * stride) };
                    let mut av: [$vec; MR] = [$zero(); MR];
                    for r in 0..MR {
                        av[r] = unsafe { $load(a.add(r * LANES)) };
                    }
                    for c in 0..C {
                        let b = $splat(unsafe { *b0.add(c * k + kk) });
                        for r in 0..MR {
                            acc[r][c] = $fma(av[r], b, acc[r][c]);
                        }
                    }
                }
                for c in 0..C {
                    let out = &mut dst[(at.c0 + c) * m..][..m];
                    for r in 0..MR {
                        let i0 = (at.v0 + r) * LANES;
                        if i0 >= m {
                            break;
                        }
                        if i0 + LANES <= m {
                            let o = &mut out[i0..i0 + LANES];
                            // SAFETY: `o` holds LANES floats.
                            unsafe {
                                let v = if at.accumulate {
                                    $add($load(o.as_ptr()), acc[r][c])
                                } else {
                                    acc[r][c]
                                };
                                $store(o.as_mut_ptr(), v);
                            }
                        } else {
                            let mut tmp = [0.0f32; LANES];
                            unsafe { $store(tmp.as_mut_ptr(), acc[r][c]) };
                            for (o, t) in out[i0..].iter_mut().zip(tmp) {
                                *o = if at.accumulate { *o + t } else { t };
                            }
                        }
                    }
                }
            }
        }
    };
}

simd_kernel!(
    avx512,
    "avx512f",
    __m512,
    16,
    4,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps
);
simd_kernel!(
    avx2,
    "avx2,fma",
    __m256,
    8,
    2,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{cm, cm_mut, gemm, rm};

    #[test]
    fn the_panels_size_limit_follows_the_processor() {
        // the vendor as the kernel reports it (Linux), where it can be read
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
            if let Some(line) = info.lines().find(|l| l.starts_with("vendor_id")) {
                assert_eq!(vendor_is_amd(), line.contains("AuthenticAMD"), "{line}");
            }
        }
        let amd_avx512 = vendor_is_amd() && active() == Some(Isa::Avx512);
        assert_eq!(max_units(), if amd_avx512 { 256 } else { 128 });
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        // small integers and halves plus an irrational part: sums round differently by order
        (0..len)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 20;
                (x as f32 / 4096.0 - 0.5) * 1.7 + (i as f32).sin() * 1e-3
            })
            .collect()
    }

    #[test]
    fn every_path_gives_the_same_bits_and_equals_faer_to_rounding() {
        let paths: Vec<Isa> = [Isa::Avx512, Isa::Avx2, Isa::Scalar]
            .into_iter()
            .filter(|i| i.supported())
            .collect();
        // shapes across the tile edges: rows below, at and past a vector, columns past a tile
        for &(m, k, ncols) in &[
            (1, 1, 1),
            (7, 3, 5),
            (8, 8, 6),
            (16, 16, 7),
            (50, 50, 20),
            (64, 33, 13),
            (65, 50, 1),
            (130, 70, 12),
            (3, 200, 9),
        ] {
            let w = values(m * k, 1);
            let rhs = values(k * ncols, 2);
            let start = values(m * ncols, 3);
            for transpose in [false, true] {
                let p = Panels::from_row_major(&w, m, k, transpose);
                let a = if transpose {
                    rm(&w, k, m).transpose()
                } else {
                    rm(&w, m, k)
                };
                for accumulate in [false, true] {
                    let mut want = start.clone();
                    gemm(
                        cm_mut(&mut want, m, ncols),
                        accumulate,
                        a,
                        cm(&rhs, k, ncols),
                    );
                    let mut first: Option<Vec<f32>> = None;
                    for &isa in &paths {
                        let mut got = start.clone();
                        p.mul_with(isa, &mut got, accumulate, &rhs);
                        for (g, w) in got.iter().zip(&want) {
                            assert!(
                                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                                "{isa:?} ({m},{k},{ncols}): {g} against faer's {w}"
                            );
                        }
                        match &first {
                            None => first = Some(got),
                            Some(f) => assert!(
                                f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                                "{isa:?} differs in the last bits from {:?} at ({m},{k},{ncols})",
                                paths[0]
                            ),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_hand_worked_product() {
        // A = [[1, 2], [3, 4], [5, 6]], B = [[1, 0], [-1, 2]] (columns (1, -1) and (0, 2))
        let p = Panels::from_row_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2, false);
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Scalar] {
            let mut c = vec![10.0; 6];
            p.mul_with(isa, &mut c, true, &[1.0, -1.0, 0.0, 2.0]);
            assert_eq!(c, [9.0, 9.0, 9.0, 14.0, 18.0, 22.0], "{isa:?}");
            p.mul_with(isa, &mut c, false, &[1.0, -1.0, 0.0, 2.0]);
            assert_eq!(c, [-1.0, -1.0, -1.0, 4.0, 8.0, 12.0], "{isa:?}");
        }
    }

    #[test]
    fn repacking_keeps_the_buffer_and_the_padding_zero() {
        let mut p = Panels::from_fn(5, 4, |i, k| (i + 10 * k) as f32);
        let before = p.data.as_ptr();
        p.repack(5, 4, |i, k| -((i * k) as f32));
        assert_eq!(p.data.as_ptr(), before);
        assert_eq!(p.stride, 16);
        for kk in 0..4 {
            assert!(p.data[kk * 16 + 5..(kk + 1) * 16].iter().all(|v| *v == 0.0));
            assert_eq!(p.data[kk * 16 + 3], -((3 * kk) as f32));
        }
    }
}
