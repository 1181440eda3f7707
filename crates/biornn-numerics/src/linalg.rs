//! Thin, allocation-free wrappers over faer's matrix product for the two layouts biornn uses:
//! weights are row-major `(post, pre)` slices (numpy's C order), and time series are column-major
//! `[dim, T*B]` slices, so that column `t*B + b` is one sample's vector and the memory order equals
//! numpy's `[T, B, dim]`.

use crate::Real;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// View a row-major `(rows, cols)` slice (a weight matrix) as a faer matrix.
#[inline]
pub fn rm<T: Real>(data: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_row_major_slice(data, rows, cols)
}

/// View a column-major `(rows, cols)` slice (a block of time series) as a faer matrix.
#[inline]
pub fn cm<T: Real>(data: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_column_major_slice(data, rows, cols)
}

#[inline]
pub fn cm_mut<T: Real>(data: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_column_major_slice_mut(data, rows, cols)
}

#[inline]
pub fn rm_mut<T: Real>(data: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(data, rows, cols)
}

/// `dst = lhs * rhs` (accumulate = false) or `dst += lhs * rhs` (accumulate = true), single-threaded:
/// parallelism lives one level up (batch chunks, independent networks) so results never depend on the
/// thread count.
#[inline]
pub fn gemm<T: Real>(dst: MatMut<'_, T>, accumulate: bool, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    matmul(dst, beta, lhs, rhs, T::ONE, Par::Seq);
}

/// Rows and columns of `dst` in one block of [`par_gemm`]: large enough that a block runs near the
/// machine's speed, small enough that a product of one image's convolution splits into several.
pub const PAR_BLOCK_ROWS: usize = 64;
pub const PAR_BLOCK_COLS: usize = 256;

/// [`gemm`] cut into fixed blocks of `dst` (`PAR_BLOCK_ROWS` x `PAR_BLOCK_COLS`) that run in
/// parallel. The blocks depend on the shapes only, and each entry of `dst` is one block's product,
/// so the result does not depend on the number of threads.
pub fn par_gemm<T: Real>(
    dst: MatMut<'_, T>,
    accumulate: bool,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
) {
    par_blocks(dst, |r0, c0, block| {
        let (m, n) = (block.nrows(), block.ncols());
        gemm(block, accumulate, lhs.subrows(r0, m), rhs.subcols(c0, n));
    });
}

/// `dst` cut into fixed blocks of `PAR_BLOCK_ROWS` x `PAR_BLOCK_COLS` (fewer at the edges), and
/// `fill(first_row, first_col, block)` run on them in parallel. The blocks depend on the shape only.
pub fn par_blocks<T: Real>(dst: MatMut<'_, T>, fill: impl Fn(usize, usize, MatMut<'_, T>) + Sync) {
    use rayon::prelude::*;
    let mut blocks = vec![];
    let mut rest = dst;
    let mut r0 = 0;
    while rest.nrows() > 0 {
        let rows = PAR_BLOCK_ROWS.min(rest.nrows());
        let (mut band, below) = rest.split_at_row_mut(rows);
        rest = below;
        let mut c0 = 0;
        while band.ncols() > 0 {
            let width = PAR_BLOCK_COLS.min(band.ncols());
            let (block, right) = band.split_at_col_mut(width);
            blocks.push((r0, c0, block));
            band = right;
            c0 += width;
        }
        r0 += rows;
    }
    blocks
        .into_par_iter()
        .for_each(|(r0, c0, block)| fill(r0, c0, block));
}

/// A `rows` x `cols` view of `data` whose entry `(i, j)` is `data[i * row_stride + j * col_stride]`
/// (for example one kernel tap of a convolution's `[c_out][c_in][k][k]` weights).
///
/// # Panics
/// If the view reaches past the end of `data`.
pub fn strided<T: Real>(
    data: &[T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> MatRef<'_, T> {
    if rows > 0 && cols > 0 {
        let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
        assert!(
            last < data.len(),
            "a {rows} x {cols} view with strides ({row_stride}, {col_stride}) reaches entry {last} of {}",
            data.len()
        );
    }
    let (rs, cs) = (
        isize::try_from(row_stride).expect("row stride fits isize"),
        isize::try_from(col_stride).expect("column stride fits isize"),
    );
    // SAFETY: every entry (i, j) with i < rows, j < cols lies at i rs + j cs <= last < data.len()
    // (checked above), inside `data`'s one allocation, borrowed immutably for the view's lifetime.
    unsafe { MatRef::from_raw_parts(data.as_ptr(), rows, cols, rs, cs) }
}

/// `y (+)= W x` for a row-major `W` of `y.len()` rows and `x.len()` columns: one sample's product,
/// for rules that step a single network (batch 1).
pub fn matvec<T: Real>(w: &[T], x: &[T], y: &mut [T], accumulate: bool) {
    let cols = x.len();
    for (i, yi) in y.iter_mut().enumerate() {
        let row = &w[i * cols..(i + 1) * cols];
        let mut s = T::ZERO;
        for j in 0..cols {
            s += row[j] * x[j];
        }
        *yi = if accumulate { *yi + s } else { s };
    }
}

/// `y (+)= W^T x` for a row-major `W` of `x.len()` rows and `y.len()` columns.
pub fn matvec_t<T: Real>(w: &[T], x: &[T], y: &mut [T], accumulate: bool) {
    let cols = y.len();
    if !accumulate {
        y.fill(T::ZERO);
    }
    for (i, xi) in x.iter().enumerate() {
        let row = &w[i * cols..(i + 1) * cols];
        for j in 0..cols {
            y[j] += row[j] * *xi;
        }
    }
}

/// `W += s u v^T` for a row-major `W` of `u.len()` rows and `v.len()` columns.
pub fn add_outer<T: Real>(w: &mut [T], s: T, u: &[T], v: &[T]) {
    let cols = v.len();
    for (i, ui) in u.iter().enumerate() {
        let su = s * *ui;
        let row = &mut w[i * cols..(i + 1) * cols];
        for j in 0..cols {
            row[j] += su * v[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strided_view_reads_every_stride_th_entry_and_refuses_to_reach_past_the_end() {
        // one tap (index 1 of 2) of [c_out = 2][c_in = 3][2] weights: entry (i, j) at 6 i + 2 j + 1
        let w: Vec<f64> = (0..12).map(f64::from).collect();
        let tap = strided(&w[1..], 2, 3, 6, 2);
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(tap[(i, j)], (6 * i + 2 * j + 1) as f64);
            }
        }
        assert_eq!(tap.transpose()[(2, 1)], 11.0);
        let past = std::panic::catch_unwind(|| strided(&w[2..], 2, 3, 6, 2).nrows());
        assert!(past.is_err(), "entry 10 of 10 is past the end");
        assert_eq!(strided(&w[..0], 0, 3, 6, 2).nrows(), 0);
    }

    #[test]
    fn layouts_multiply_as_numpy_would() {
        // W (2x3) row-major times X (3 rows, 2 columns) column-major.
        let w = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x = [1.0f64, 0.0, 1.0, /* col 1 */ 0.0, 1.0, 0.0];
        let mut out = [0.0f64; 4];
        gemm(cm_mut(&mut out, 2, 2), false, rm(&w, 2, 3), cm(&x, 3, 2));
        assert_eq!(out, [4.0, 10.0, 2.0, 5.0]);
        gemm(cm_mut(&mut out, 2, 2), true, rm(&w, 2, 3), cm(&x, 3, 2));
        assert_eq!(out, [8.0, 20.0, 4.0, 10.0]);
    }

    #[test]
    fn par_gemm_equals_gemm_whatever_the_thread_count() {
        // several blocks each way, none of them full at the edges
        let (m, k, n) = (2 * PAR_BLOCK_ROWS + 5, 37, 2 * PAR_BLOCK_COLS + 9);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 23) as f32 * 0.1 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 19) as f32 * 0.1 - 0.9)
            .collect();
        let base: Vec<f32> = (0..m * n).map(|i| (i % 5) as f32).collect();
        for accumulate in [false, true] {
            let mut want = base.clone();
            gemm(
                rm_mut(&mut want, m, n),
                accumulate,
                rm(&a, m, k),
                rm(&b, k, n),
            );
            let run = |threads: usize| {
                let mut got = base.clone();
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| {
                        par_gemm(
                            rm_mut(&mut got, m, n),
                            accumulate,
                            rm(&a, m, k),
                            rm(&b, k, n),
                        )
                    });
                got
            };
            let one = run(1);
            assert_eq!(one, run(3), "thread count");
            for (x, y) in one.iter().zip(&want) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} against {y}");
            }
        }
    }

    #[test]
    fn vector_products_by_hand() {
        let w = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
        let mut y = [0.0; 2];
        matvec(&w, &[1.0, 0.0, -1.0], &mut y, false);
        assert_eq!(y, [-2.0, -2.0]);
        matvec(&w, &[1.0, 0.0, -1.0], &mut y, true);
        assert_eq!(y, [-4.0, -4.0]);
        let mut z = [0.0; 3];
        matvec_t(&w, &[1.0, -1.0], &mut z, false);
        assert_eq!(z, [-3.0, -3.0, -3.0]);
        let mut m = [0.0; 6];
        add_outer(&mut m, 2.0, &[1.0, 2.0], &[1.0, 0.0, 3.0]);
        assert_eq!(m, [2.0, 0.0, 6.0, 4.0, 0.0, 12.0]);
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use crate::Streams;

    /// `whole` and `part` each write a product into zeroed buffers of `size` values; entries
    /// `lo..lo + len` of every run of `stride` values must agree bit for bit.
    fn same_block(
        (size, stride, lo, len): (usize, usize, usize, usize),
        whole: impl FnOnce(&mut [f32]),
        part: impl FnOnce(&mut [f32]),
    ) {
        let (mut w, mut p) = (vec![0.0f32; size], vec![0.0f32; size]);
        whole(&mut w);
        part(&mut p);
        for (w, p) in w.chunks_exact(stride).zip(p.chunks_exact(stride)) {
            assert_eq!(w[lo..lo + len], p[lo..lo + len]);
        }
    }

    fn random(len: usize, purpose: &str) -> Vec<f32> {
        let mut rng = Streams::new(7).stream(purpose, 0);
        (0..len).map(|_| rng.normal() as f32).collect()
    }

    /// The masked-unit products (Ctrnn: inputs to some units, a readout from others) compute only
    /// a block of rows or columns; that block must equal the same block of the whole product bit
    /// for bit, so a network trains the same either way. Shapes as the long-term protocol's.
    #[test]
    fn a_block_of_rows_or_columns_is_the_same_block_of_the_whole_product() {
        let (n, ni, no, tb) = (50, 85, 33, 1400);
        let (lo, len) = (20, 20);
        let w_in = random(n * ni, "w_in");
        let u = random(ni * tb, "u");
        let dz = random(n * tb, "dz");
        let w_out = random(no * n, "w_out");
        let d_out = random(no * tb, "d_out");
        let rate = random(n * tb, "rate");
        let (u_t, w_in) = (cm(&u, ni, tb), rm(&w_in, n, ni));
        // drive = W_in U, rows lo..lo+len
        same_block(
            (n * tb, n, lo, len),
            |d| gemm(cm_mut(d, n, tb), false, w_in, u_t),
            |d| {
                gemm(
                    cm_mut(d, n, tb).subrows_mut(lo, len),
                    false,
                    w_in.subrows(lo, len),
                    u_t,
                )
            },
        );
        // dW_in = dz U^T, rows lo..lo+len
        let dz = cm(&dz, n, tb);
        same_block(
            (n * ni, n * ni, lo * ni, len * ni),
            |d| gemm(rm_mut(d, n, ni), false, dz, u_t.transpose()),
            |d| {
                gemm(
                    rm_mut(d, n, ni).subrows_mut(lo, len),
                    false,
                    dz.subrows(lo, len),
                    u_t.transpose(),
                )
            },
        );
        // dr = W_out^T d_out, rows lo..lo+len
        let (w_out, d_out) = (rm(&w_out, no, n), cm(&d_out, no, tb));
        same_block(
            (n * tb, n, lo, len),
            |d| gemm(cm_mut(d, n, tb), false, w_out.transpose(), d_out),
            |d| {
                gemm(
                    cm_mut(d, n, tb).subrows_mut(lo, len),
                    false,
                    w_out.subcols(lo, len).transpose(),
                    d_out,
                )
            },
        );
        // dW_out = d_out R^T, columns lo..lo+len
        let rate = cm(&rate, n, tb);
        same_block(
            (no * n, n, lo, len),
            |d| gemm(rm_mut(d, no, n), false, d_out, rate.transpose()),
            |d| {
                gemm(
                    rm_mut(d, no, n).subcols_mut(lo, len),
                    false,
                    d_out,
                    rate.subrows(lo, len).transpose(),
                )
            },
        );
    }
}
