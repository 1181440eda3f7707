//! The recurrent weights in compressed sparse rows, for masks sparse enough that products over the
//! mask's entries beat dense ones: the forward product W r, the backward product W^T d, and the
//! weight gradient at the mask's entries only (a sampled product), each allocation-free.
//!
//! Layouts are the dense kernels': W row-major `(post, pre)`, time series column-major `[n, cols]`
//! (column c holds one trial at one step). Sums run in a fixed order, so results do not depend on
//! threads; they differ from the dense products by rounding only.

use biornn_numerics::Real;
use serde::{Deserialize, Serialize};

/// When the recurrent products run sparse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SparseKernels {
    /// sparse when the recurrent mask is banded and at most [`AUTO_DENSITY`] dense, or scattered
    /// and at most [`AUTO_ROWS_DENSITY`]
    #[default]
    Auto,
    On,
    Off,
}

impl SparseKernels {
    pub fn is_default(&self) -> bool {
        *self == SparseKernels::Auto
    }

    /// Whether a mask of this density may run sparse (then [`SparseKernels::keeps`] decides by
    /// its storage).
    pub fn applies(self, density: f64) -> bool {
        match self {
            SparseKernels::Auto => density <= AUTO_DENSITY,
            SparseKernels::On => true,
            SparseKernels::Off => false,
        }
    }

    /// Whether a mask (`n x n`, row-major) runs sparse.
    pub fn runs_sparse<T: Real>(self, mask: &[T], n: usize) -> bool {
        if self == SparseKernels::Off {
            return false;
        }
        // refresh asks at every update while the network runs dense: a count settles most masks
        // (a dense one among them) without the scan of diagonals
        let nnz = mask.iter().filter(|m| **m != T::ZERO).count();
        if !self.applies(nnz as f64 / (n * n).max(1) as f64) {
            return false;
        }
        let (nnz, banded) = pattern_shape(mask, n);
        let density = nnz as f64 / (n * n).max(1) as f64;
        match self {
            SparseKernels::Auto if !banded => density <= AUTO_ROWS_DENSITY,
            kernels => kernels.applies(density),
        }
    }
}

/// The density at or below which `auto` runs a banded mask (stored by diagonals) sparse: where
/// a training iteration of 256 or 1,024 units is as fast either way (`biornn bench sparse`,
/// docs/PERFORMANCE.md).
pub const AUTO_DENSITY: f64 = 0.2;
/// The same for a scattered mask (stored by rows, products without vectorisation).
pub const AUTO_ROWS_DENSITY: f64 = 0.04;

/// The recurrent weights at a fixed pattern, stored by diagonals when the pattern is banded (a
/// local ring or sheet: every product is then a few contiguous multiply-adds per diagonal, which
/// vectorise) and by rows otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum SparseRec<T> {
    Diagonals(Diagonals<T>),
    Rows(Csr<T>),
}

/// The diagonals (offsets `(j - i) mod n`) a mask uses, and its number of entries.
fn diagonals_used<T: Real>(mask: &[T], n: usize) -> (Vec<bool>, usize) {
    let mut used = vec![false; n];
    let mut nnz = 0;
    for i in 0..n {
        for j in 0..n {
            if mask[i * n + j] != T::ZERO {
                used[(j + n - i) % n] = true;
                nnz += 1;
            }
        }
    }
    (used, nnz)
}

/// A mask's number of entries, and whether it is banded: at least half of the entries of the
/// diagonals it uses are in it (then it is stored by diagonals).
pub fn pattern_shape<T: Real>(mask: &[T], n: usize) -> (usize, bool) {
    let (used, nnz) = diagonals_used(mask, n);
    let diagonals = used.iter().filter(|u| **u).count();
    (nnz, 2 * nnz >= diagonals * n)
}

impl<T: Real> SparseRec<T> {
    /// The pattern of `mask`'s nonzero entries (`n x n`, row-major), values from `dense`: by
    /// diagonals when it is banded ([`pattern_shape`]), else by rows.
    pub fn new(mask: &[T], dense: &[T], n: usize) -> Self {
        let (used, nnz) = diagonals_used(mask, n);
        let diagonals = used.iter().filter(|u| **u).count();
        if 2 * nnz >= diagonals * n {
            SparseRec::Diagonals(Diagonals::new(&used, mask, dense, n))
        } else {
            let mut csr = Csr::default();
            csr.rebuild(mask, dense, n);
            SparseRec::Rows(csr)
        }
    }

    /// Take new values from `dense` on the same pattern.
    pub fn update(&mut self, mask: &[T], dense: &[T]) {
        match self {
            SparseRec::Diagonals(d) => d.gather(mask, dense),
            SparseRec::Rows(c) => {
                for (v, k) in c.val.iter_mut().zip(&c.flat) {
                    *v = dense[*k];
                }
            }
        }
    }

    /// Whether `mask` has the pattern this was built for.
    pub fn same_pattern(&self, mask: &[T]) -> bool {
        match self {
            SparseRec::Diagonals(d) => {
                d.pattern.len() == mask.len()
                    && d.pattern
                        .iter()
                        .zip(mask)
                        .all(|(p, m)| *p == (*m != T::ZERO))
            }
            SparseRec::Rows(c) => {
                let n = c.n;
                mask.len() == n * n
                    && mask.iter().filter(|m| **m != T::ZERO).count() == c.nnz()
                    && c.flat.iter().all(|k| mask[*k] != T::ZERO)
            }
        }
    }

    pub fn mul(&self, z: &mut [T], accumulate: bool, r: &[T]) {
        match self {
            SparseRec::Diagonals(d) => d.mul(z, accumulate, r),
            SparseRec::Rows(c) => c.mul(z, accumulate, r),
        }
    }

    pub fn mul_t(&self, d: &mut [T], accumulate: bool, g: &[T]) {
        match self {
            SparseRec::Diagonals(x) => x.mul_t(d, accumulate, g),
            SparseRec::Rows(c) => c.mul_t(d, accumulate, g),
        }
    }

    pub fn sampled_grad(&self, grad: &mut [T], dz: &[T], r: &[T], scratch: &mut Vec<T>) {
        match self {
            SparseRec::Diagonals(d) => d.sampled_grad(grad, dz, r, scratch),
            SparseRec::Rows(c) => c.sampled_grad(grad, dz, r, scratch),
        }
    }
}

/// A square matrix by its diagonals: diagonal `d` holds `W[i, (i + offset[d]) mod n]` for every i
/// (zero where the pattern has no entry).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagonals<T> {
    n: usize,
    offset: Vec<usize>,
    /// `[diagonals, n]`
    val: Vec<T>,
    /// the pattern, row-major, to gather values and to keep entries outside it at zero
    pattern: Vec<bool>,
}

/// `out[i] += a[i] * b[i]` over equal-length slices (vectorises).
#[inline]
fn fma_into<T: Real>(out: &mut [T], a: &[T], b: &[T]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o += *x * *y;
    }
}

impl<T: Real> Diagonals<T> {
    fn new(used: &[bool], mask: &[T], dense: &[T], n: usize) -> Self {
        let offset: Vec<usize> = (0..n).filter(|o| used[*o]).collect();
        let mut d = Diagonals {
            n,
            val: vec![T::ZERO; offset.len() * n],
            offset,
            pattern: mask.iter().map(|m| *m != T::ZERO).collect(),
        };
        d.gather(mask, dense);
        d
    }

    fn gather(&mut self, _mask: &[T], dense: &[T]) {
        let n = self.n;
        for (d, &o) in self.offset.iter().enumerate() {
            for i in 0..n {
                let k = i * n + (i + o) % n;
                self.val[d * n + i] = if self.pattern[k] { dense[k] } else { T::ZERO };
            }
        }
    }

    fn mul(&self, z: &mut [T], accumulate: bool, r: &[T]) {
        let n = self.n;
        for (zc, rc) in z.chunks_exact_mut(n).zip(r.chunks_exact(n)) {
            if !accumulate {
                zc.fill(T::ZERO);
            }
            for (d, &o) in self.offset.iter().enumerate() {
                let w = &self.val[d * n..(d + 1) * n];
                // rows 0..n-o read columns o..n, the rest wrap to columns 0..o
                fma_into(&mut zc[..n - o], &w[..n - o], &rc[o..]);
                fma_into(&mut zc[n - o..], &w[n - o..], &rc[..o]);
            }
        }
    }

    fn mul_t(&self, out: &mut [T], accumulate: bool, g: &[T]) {
        let n = self.n;
        for (oc, gc) in out.chunks_exact_mut(n).zip(g.chunks_exact(n)) {
            if !accumulate {
                oc.fill(T::ZERO);
            }
            for (d, &o) in self.offset.iter().enumerate() {
                let w = &self.val[d * n..(d + 1) * n];
                // W[i, i + o] g[i] goes to column i + o
                fma_into(&mut oc[o..], &w[..n - o], &gc[..n - o]);
                fma_into(&mut oc[..o], &w[n - o..], &gc[n - o..]);
            }
        }
    }

    fn sampled_grad(&self, grad: &mut [T], dz: &[T], r: &[T], scratch: &mut Vec<T>) {
        let n = self.n;
        scratch.clear();
        scratch.resize(self.val.len(), T::ZERO);
        for (dc, rc) in dz.chunks_exact(n).zip(r.chunks_exact(n)) {
            for (d, &o) in self.offset.iter().enumerate() {
                let acc = &mut scratch[d * n..(d + 1) * n];
                let (head, tail) = acc.split_at_mut(n - o);
                fma_into(head, &dc[..n - o], &rc[o..]);
                fma_into(tail, &dc[n - o..], &rc[..o]);
            }
        }
        grad.fill(T::ZERO);
        for (d, &o) in self.offset.iter().enumerate() {
            for i in 0..n {
                let k = i * n + (i + o) % n;
                if self.pattern[k] {
                    grad[k] = scratch[d * n + i];
                }
            }
        }
    }
}

/// A square matrix's entries at a fixed pattern, by rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr<T> {
    n: usize,
    /// row i's entries are `start[i]..start[i + 1]`
    start: Vec<usize>,
    col: Vec<usize>,
    /// each entry's index in the dense row-major matrix
    flat: Vec<usize>,
    val: Vec<T>,
}

impl<T: Real> Csr<T> {
    /// The pattern of the nonzero entries of `mask` (`n x n`, row-major), values from `dense`.
    pub fn rebuild(&mut self, mask: &[T], dense: &[T], n: usize) {
        self.n = n;
        self.start.clear();
        self.col.clear();
        self.flat.clear();
        self.val.clear();
        self.start.push(0);
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                if mask[k] != T::ZERO {
                    self.col.push(j);
                    self.flat.push(k);
                    self.val.push(dense[k]);
                }
            }
            self.start.push(self.col.len());
        }
    }

    pub fn nnz(&self) -> usize {
        self.col.len()
    }

    /// `z = W r` (or `z += W r` with `accumulate`) for every column of `r` (`[n, cols]`).
    pub fn mul(&self, z: &mut [T], accumulate: bool, r: &[T]) {
        let n = self.n;
        for (zc, rc) in z.chunks_exact_mut(n).zip(r.chunks_exact(n)) {
            for (i, zi) in zc.iter_mut().enumerate() {
                let mut acc = T::ZERO;
                for k in self.start[i]..self.start[i + 1] {
                    acc += self.val[k] * rc[self.col[k]];
                }
                *zi = if accumulate { *zi + acc } else { acc };
            }
        }
    }

    /// `d = W^T g` (or `d += W^T g` with `accumulate`) for every column of `g` (`[n, cols]`).
    pub fn mul_t(&self, d: &mut [T], accumulate: bool, g: &[T]) {
        let n = self.n;
        for (dc, gc) in d.chunks_exact_mut(n).zip(g.chunks_exact(n)) {
            if !accumulate {
                dc.fill(T::ZERO);
            }
            for (i, gi) in gc.iter().enumerate() {
                for k in self.start[i]..self.start[i + 1] {
                    dc[self.col[k]] += self.val[k] * *gi;
                }
            }
        }
    }

    /// `grad = dz r^T` at the pattern's entries only (zero elsewhere), over every column of `dz`
    /// and `r` (`[n, cols]` each): the weight gradient of `z = W r`. `scratch` holds one value per
    /// entry.
    pub fn sampled_grad(&self, grad: &mut [T], dz: &[T], r: &[T], scratch: &mut Vec<T>) {
        let n = self.n;
        scratch.clear();
        scratch.resize(self.nnz(), T::ZERO);
        for (dc, rc) in dz.chunks_exact(n).zip(r.chunks_exact(n)) {
            for (i, di) in dc.iter().enumerate() {
                if *di == T::ZERO {
                    continue;
                }
                for k in self.start[i]..self.start[i + 1] {
                    scratch[k] += *di * rc[self.col[k]];
                }
            }
        }
        grad.fill(T::ZERO);
        for (k, g) in self.flat.iter().zip(scratch.iter()) {
            grad[*k] = *g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biornn_numerics::linalg::{cm, cm_mut, gemm, rm, rm_mut};
    use biornn_numerics::Streams;

    /// A random matrix on a random pattern (`band` > 0: a ring band of that radius, with a few
    /// holes), and the pattern's sparse form.
    fn case(
        n: usize,
        density: f64,
        band: usize,
        seed: u64,
    ) -> (Vec<f64>, Vec<f64>, SparseRec<f64>) {
        let mut rng = Streams::new(seed).stream("sparse", 0);
        let mask: Vec<f64> = (0..n * n)
            .map(|k| {
                let d = (k / n).abs_diff(k % n);
                let on = if band > 0 {
                    d.min(n - d) <= band && rng.bernoulli(0.9)
                } else {
                    rng.bernoulli(density)
                };
                on as u8 as f64
            })
            .collect();
        let w: Vec<f64> = mask.iter().map(|m| m * rng.normal()).collect();
        let sparse = SparseRec::new(&mask, &w, n);
        (mask, w, sparse)
    }

    fn random(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = Streams::new(seed).stream("x", 0);
        (0..len).map(|_| rng.normal()).collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn products_equal_the_dense_ones_to_rounding() {
        let (n, cols) = (37, 5);
        for (density, band) in [(0.0, 0), (0.05, 0), (0.3, 0), (1.0, 0), (0.0, 1), (0.0, 4)] {
            let (mask, w, csr) = case(n, density, band, 3);
            // a band (or nothing at all) is stored by diagonals, a scattered pattern by rows
            assert_eq!(
                matches!(csr, SparseRec::Diagonals(_)),
                band > 0 || density == 1.0 || density == 0.0,
                "{density} {band}"
            );
            assert!(csr.same_pattern(&mask));
            let r = random(n * cols, 4);
            let start = random(n * cols, 5);
            for accumulate in [false, true] {
                let (mut a, mut b) = (start.clone(), start.clone());
                csr.mul(&mut a, accumulate, &r);
                gemm(
                    cm_mut(&mut b, n, cols),
                    accumulate,
                    rm(&w, n, n),
                    cm(&r, n, cols),
                );
                close(&a, &b);
                let (mut a, mut b) = (start.clone(), start.clone());
                csr.mul_t(&mut a, accumulate, &r);
                gemm(
                    cm_mut(&mut b, n, cols),
                    accumulate,
                    rm(&w, n, n).transpose(),
                    cm(&r, n, cols),
                );
                close(&a, &b);
            }
            // the sampled gradient is the dense one times the mask
            let dz = random(n * cols, 6);
            let mut dense = vec![0.0; n * n];
            gemm(
                rm_mut(&mut dense, n, n),
                false,
                cm(&dz, n, cols),
                cm(&r, n, cols).transpose(),
            );
            let masked: Vec<f64> = dense.iter().zip(&mask).map(|(g, m)| g * m).collect();
            let mut grad = vec![7.0; n * n];
            csr.sampled_grad(&mut grad, &dz, &r, &mut vec![]);
            close(&grad, &masked);
        }
    }

    #[test]
    fn auto_runs_sparse_below_the_threshold_only() {
        assert!(SparseKernels::Auto.applies(0.043));
        assert!(!SparseKernels::Auto.applies(0.5));
        assert!(SparseKernels::On.applies(1.0));
        assert!(!SparseKernels::Off.applies(0.01));
    }
}
