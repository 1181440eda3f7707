//! K networks' per-step products at once, the networks side by side in the lanes of a 16-float
//! vector: the form of "K networks stepping together" in which each step is one larger piece of
//! work. Network `l` of a group of up to [`LANES`] lives in lane `l` of every vector: entry
//! (i, kk) of its matrix, row kk of its columns and row i of its products are each one float of a
//! vector whose other lanes hold the other networks'.
//!
//! Every entry is the fused multiply-add chain over kk from zero that [`crate::packed`] runs, lane
//! by lane, so each network's product `A x` equals its own packed product (`dst = A x`, not
//! accumulating) bit for bit, on the AVX-512 path and on the scalar one. The trainers do not use it: their states and trajectories are laid
//! out network by network, and `biornn bench products --k K` times what it would gain, with and
//! without moving each step's columns into the lanes and back (docs/PERFORMANCE.md).

/// Networks per group: the lanes of one 512-bit vector of f32.
pub const LANES: usize = 16;

/// Rows of the micro-kernel's tile (one vector each) and its columns.
const MR: usize = 4;
const NC: usize = 6;

/// The matrices of `count` networks of one shape `(m, k)`, interleaved in groups of [`LANES`]:
/// entry (i, kk) of network `g * LANES + l` at `data[((g * k + kk) * m + i) * LANES + l]`, the
/// lanes past `count` zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LanePanels {
    m: usize,
    k: usize,
    count: usize,
    data: Vec<f32>,
}

impl LanePanels {
    /// Interleave `mats`, each a row-major `(m, k)` matrix, or its transpose (`transpose`: each
    /// is `(k, m)` row-major and `A = w^T`), as [`crate::packed::Panels::from_row_major`].
    pub fn from_row_major(mats: &[&[f32]], m: usize, k: usize, transpose: bool) -> LanePanels {
        let count = mats.len();
        let groups = count.div_ceil(LANES);
        let mut data = vec![0.0f32; groups * k * m * LANES];
        for (net, w) in mats.iter().enumerate() {
            assert_eq!(w.len(), m * k, "matrix {net} has the wrong size");
            let (g, l) = (net / LANES, net % LANES);
            for kk in 0..k {
                for i in 0..m {
                    let a = if transpose {
                        w[kk * m + i]
                    } else {
                        w[i * k + kk]
                    };
                    data[((g * k + kk) * m + i) * LANES + l] = a;
                }
            }
        }
        LanePanels { m, k, count, data }
    }

    /// Networks held.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Groups of [`LANES`] networks (the last may be partly empty).
    pub fn groups(&self) -> usize {
        self.count.div_ceil(LANES)
    }

    /// `dst = A rhs` for every network: `rhs` holds each network's `(k, ncols)` columns in the
    /// lanes layout ([`interleave`]), `dst` receives the `(m, ncols)` products in it. AVX-512
    /// where the process's packed products take it ([`crate::packed::active`], so `BIORNN_ISA`
    /// applies), else lane by lane with `mul_add` (the same bits).
    pub fn mul(&self, dst: &mut [f32], rhs: &[f32]) {
        let (m, k, groups) = (self.m, self.k, self.groups());
        let per_group = k * LANES;
        assert!(
            groups > 0 && k > 0 && rhs.len().is_multiple_of(groups * per_group),
            "rhs has {} values, not groups x columns x {k} x {LANES}",
            rhs.len()
        );
        let ncols = rhs.len() / (groups * per_group);
        assert_eq!(
            dst.len(),
            groups * ncols * m * LANES,
            "dst has the wrong size"
        );
        #[cfg(target_arch = "x86_64")]
        if crate::packed::active() == Some(crate::packed::Isa::Avx512) {
            // SAFETY: the AVX-512 path is active only where the CPU has AVX-512F; the shapes are
            // checked above.
            return unsafe { avx512::mul(self, dst, rhs, ncols) };
        }
        self.mul_scalar(dst, rhs, ncols);
    }

    /// The lane-by-lane reference of [`Self::mul`].
    pub fn mul_scalar(&self, dst: &mut [f32], rhs: &[f32], ncols: usize) {
        let (m, k) = (self.m, self.k);
        for g in 0..self.groups() {
            let a = &self.data[g * k * m * LANES..][..k * m * LANES];
            for c in 0..ncols {
                let b = &rhs[(g * ncols + c) * k * LANES..][..k * LANES];
                let out = &mut dst[(g * ncols + c) * m * LANES..][..m * LANES];
                for i in 0..m {
                    for l in 0..LANES {
                        let mut acc = 0.0f32;
                        for kk in 0..k {
                            acc = a[(kk * m + i) * LANES + l].mul_add(b[kk * LANES + l], acc);
                        }
                        out[i * LANES + l] = acc;
                    }
                }
            }
        }
    }
}

/// Each network's column-major `(rows, ncols)` columns (`cols[net]`) into the lanes layout
/// [`LanePanels::mul`] reads: row r of column c of network `g * LANES + l` at
/// `out[((g * ncols + c) * rows + r) * LANES + l]`, the lanes past the networks zero.
pub fn interleave(cols: &[&[f32]], rows: usize, ncols: usize, out: &mut Vec<f32>) {
    let groups = cols.len().div_ceil(LANES);
    out.clear();
    out.resize(groups * ncols * rows * LANES, 0.0);
    for (net, x) in cols.iter().enumerate() {
        assert_eq!(x.len(), rows * ncols, "columns of network {net}");
        let (g, l) = (net / LANES, net % LANES);
        let base = g * ncols * rows * LANES;
        for (j, v) in x.iter().enumerate() {
            out[base + j * LANES + l] = *v;
        }
    }
}

/// The inverse of [`interleave`]: each network's `(rows, ncols)` columns out of the lanes.
pub fn deinterleave(lanes: &[f32], rows: usize, ncols: usize, cols: &mut [&mut [f32]]) {
    for (net, x) in cols.iter_mut().enumerate() {
        assert_eq!(x.len(), rows * ncols, "columns of network {net}");
        let (g, l) = (net / LANES, net % LANES);
        let base = g * ncols * rows * LANES;
        for (j, v) in x.iter_mut().enumerate() {
            *v = lanes[base + j * LANES + l];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LanePanels, LANES, MR, NC};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn mul(p: &LanePanels, dst: &mut [f32], rhs: &[f32], ncols: usize) {
        for g in 0..p.groups() {
            let mut c0 = 0;
            while c0 < ncols {
                let nc = (ncols - c0).min(NC);
                let mut i0 = 0;
                while i0 < p.m {
                    let mr = (p.m - i0).min(MR);
                    let at = Tile { g, i0, c0, ncols };
                    unsafe {
                        match (mr, nc) {
                            (4, 6) => tile::<4, 6>(p, dst, rhs, at),
                            (4, n) => tail::<4>(p, dst, rhs, at, n),
                            (3, n) => tail::<3>(p, dst, rhs, at, n),
                            (2, n) => tail::<2>(p, dst, rhs, at, n),
                            (_, n) => tail::<1>(p, dst, rhs, at, n),
                        }
                    }
                    i0 += mr;
                }
                c0 += nc;
            }
        }
    }

    #[derive(Clone, Copy)]
    struct Tile {
        g: usize,
        i0: usize,
        c0: usize,
        ncols: usize,
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tail<const R: usize>(
        p: &LanePanels,
        dst: &mut [f32],
        rhs: &[f32],
        at: Tile,
        nc: usize,
    ) {
        unsafe {
            match nc {
                1 => tile::<R, 1>(p, dst, rhs, at),
                2 => tile::<R, 2>(p, dst, rhs, at),
                3 => tile::<R, 3>(p, dst, rhs, at),
                4 => tile::<R, 4>(p, dst, rhs, at),
                5 => tile::<R, 5>(p, dst, rhs, at),
                _ => tile::<R, 6>(p, dst, rhs, at),
            }
        }
    }

    /// R rows by C columns of every lane: one vector per entry, a multiply-add chain over kk.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const C: usize>(
        p: &LanePanels,
        dst: &mut [f32],
        rhs: &[f32],
        at: Tile,
    ) {
        let (m, k) = (p.m, p.k);
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        // SAFETY (pointer reads and writes): i0 + R <= m, c0 + C <= ncols, kk < k and g < groups,
        // so every vector lies inside `p.data`, `rhs` and `dst`, whose sizes `mul` checked.
        let a0 = unsafe { p.data.as_ptr().add((at.g * k * m + at.i0) * LANES) };
        let b0 = unsafe { rhs.as_ptr().add((at.g * at.ncols + at.c0) * k * LANES) };
        for kk in 0..k {
            let mut av = [_mm512_setzero_ps(); R];
            for (r, a) in av.iter_mut().enumerate() {
                *a = unsafe { _mm512_loadu_ps(a0.add((kk * m + r) * LANES)) };
            }
            for c in 0..C {
                let b = unsafe { _mm512_loadu_ps(b0.add((c * k + kk) * LANES)) };
                for r in 0..R {
                    acc[r][c] = _mm512_fmadd_ps(av[r], b, acc[r][c]);
                }
            }
        }
        let d0 = unsafe { dst.as_mut_ptr().add((at.g * at.ncols + at.c0) * m * LANES) };
        for (r, row) in acc.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                unsafe { _mm512_storeu_ps(d0.add((c * m + at.i0 + r) * LANES), *v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::{Isa, Panels};

    fn values(len: usize, seed: usize) -> Vec<f32> {
        // small integers plus an irrational part: sums round differently in another order
        (0..len)
            .map(|i| ((i * 7 + seed * 13) % 11) as f32 * 0.5 - 2.0 + (i as f32 * 0.37).sin() * 0.01)
            .collect()
    }

    #[test]
    fn each_network_in_the_lanes_equals_its_own_packed_product_bit_for_bit() {
        // column tails of every width (20 = 3 x 6 + 2, 1, 13 = 2 x 6 + 1, 6, 3, 4, 5 = 11 - 6),
        // row tails of 1 to 3, and up to three groups of networks
        for &(m, k, ncols) in &[
            (50, 50, 20),
            (7, 5, 1),
            (33, 9, 13),
            (4, 3, 6),
            (6, 2, 3),
            (5, 3, 4),
            (9, 4, 11),
        ] {
            for &count in &[1, 3, 16, 20, 33] {
                for transpose in [false, true] {
                    let mats: Vec<Vec<f32>> = (0..count).map(|s| values(m * k, s)).collect();
                    let xs: Vec<Vec<f32>> =
                        (0..count).map(|s| values(k * ncols, 100 + s)).collect();
                    let refs: Vec<&[f32]> = mats.iter().map(|w| w.as_slice()).collect();
                    let lanes = LanePanels::from_row_major(&refs, m, k, transpose);
                    assert_eq!(lanes.groups(), count.div_ceil(LANES));
                    let mut rhs = vec![];
                    let x_refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
                    interleave(&x_refs, k, ncols, &mut rhs);
                    let mut dst = vec![f32::NAN; lanes.groups() * ncols * m * LANES];
                    lanes.mul(&mut dst, &rhs);
                    let mut reference = vec![f32::NAN; dst.len()];
                    lanes.mul_scalar(&mut reference, &rhs, ncols);
                    assert_eq!(
                        dst.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "vector and scalar paths, {m} x {k} x {ncols}, {count} networks"
                    );
                    let mut outs: Vec<Vec<f32>> = vec![vec![0.0; m * ncols]; count];
                    let mut out_refs: Vec<&mut [f32]> =
                        outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                    deinterleave(&dst, m, ncols, &mut out_refs);
                    for (net, out) in outs.iter().enumerate() {
                        let panels = Panels::from_row_major(&mats[net], m, k, transpose);
                        for isa in [Isa::Scalar, Isa::Avx512, Isa::Avx2] {
                            if !isa.supported() {
                                continue;
                            }
                            let mut own = vec![0.0f32; m * ncols];
                            panels.mul_with(isa, &mut own, false, &xs[net]);
                            assert_eq!(
                                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                                own.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                                "network {net} of {count}, {m} x {k} x {ncols}, {}",
                                isa.name()
                            );
                        }
                    }
                    // the empty lanes of a partial group stay zero
                    if !count.is_multiple_of(LANES) {
                        let last = count % LANES;
                        let g = lanes.groups() - 1;
                        let group = &dst[g * ncols * m * LANES..];
                        assert!(group
                            .chunks_exact(LANES)
                            .all(|v| v[last..].iter().all(|x| *x == 0.0)));
                    }
                }
            }
        }
    }

    #[test]
    fn interleaving_round_trips() {
        let xs: Vec<Vec<f32>> = (0..18).map(|s| values(6, s)).collect();
        let refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
        let mut lanes = vec![];
        interleave(&refs, 3, 2, &mut lanes);
        assert_eq!(lanes.len(), 2 * 2 * 3 * LANES);
        // network 17 is lane 1 of the second group; its row 2 of column 1 is value 5
        assert_eq!(lanes[((2 + 1) * 3 + 2) * LANES + 1], xs[17][5]);
        let mut back: Vec<Vec<f32>> = vec![vec![0.0; 6]; 18];
        let mut back_refs: Vec<&mut [f32]> = back.iter_mut().map(|b| b.as_mut_slice()).collect();
        deinterleave(&lanes, 3, 2, &mut back_refs);
        assert_eq!(back, xs);
    }
}
