//! 2-D convolution with zero padding and stride, forward and backward, on faer products.
//!
//! A stride-1 convolution (the areas' recurrent and most feed-forward convolutions) runs as `k k`
//! shifted products: the batch's planes are zero-padded once into `[c][images x padded plane]`
//! (rows and images share their padding), and the output on that grid is the sum over kernel taps
//! of the tap's `[c_out][c_in]` weights times the padded planes shifted by the tap's offset, a
//! plain view with no copy. The grid's extra columns (the padding's) are dropped when the output is
//! read back. This copies each input
//! once instead of `k k` times (im2col). Its products run in fixed blocks of the output (rows and
//! columns, `linalg::par_blocks`) in parallel; the weight gradient runs its taps in parallel and adds
//! them in order. A batch of more than 8 images runs in groups of 8, in parallel, each on its own
//! grid (the weight gradient adds the groups' sums in order).
//!
//! Other strides, and stride-1 convolutions whose weights outweigh their input
//! ([`Conv2d::runs_shifted`]), use im2col. A batch is cut into groups of 8 images whose patches sit side by side
//! (`[c_in k k][g ho wo]`), so that small images still make a product large enough to run fast;
//! groups run in parallel. A batch of one group (one image at the published size) runs in parallel
//! inside it instead: patches built over input channels, the product cut into fixed blocks of
//! output rows and columns (`linalg::par_gemm`). Groups and blocks depend only on the shapes, never on the thread count,
//! and the weight gradient sums the groups in a fixed order, so results never depend on the number
//! of threads.

use biornn_numerics::linalg::{gemm, par_blocks, par_gemm, rm, rm_mut, strided};
use biornn_numerics::Real;
use faer::{MatMut, MatRef};
use rayon::prelude::*;
use std::sync::OnceLock;

/// How a stride-1 convolution runs. Other strides always use im2col.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// `k k` shifted products on zero-padded planes (the default).
    Shifted,
    /// im2col patches and one product (the earlier path, kept to compare against).
    Im2col,
}

impl ConvPath {
    /// The path of this process: `BIORNN_CONV=im2col` selects im2col, anything else the default.
    pub fn active() -> ConvPath {
        static ACTIVE: OnceLock<ConvPath> = OnceLock::new();
        *ACTIVE.get_or_init(
            || match std::env::var("BIORNN_CONV").as_deref().map(str::trim) {
                Ok("im2col") => ConvPath::Im2col,
                _ => ConvPath::Shifted,
            },
        )
    }
}

/// Images whose patches share one product (and whose weight gradients are summed together before
/// the groups are added in order).
const IMAGES_PER_GROUP: usize = 8;

/// `dst (+)= lhs * rhs`: one product, or with `split`, fixed blocks of `dst` in parallel.
fn product<T: Real>(
    dst: MatMut<'_, T>,
    accumulate: bool,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    split: bool,
) {
    if split {
        par_gemm(dst, accumulate, lhs, rhs)
    } else {
        gemm(dst, accumulate, lhs, rhs)
    }
}

/// A convolution without bias: `c_in` to `c_out` channels, a `k` x `k` kernel, `stride`, `pad`
/// zeros on every side. Weights `[c_out][c_in][k][k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// how it runs at stride 1 ([`ConvPath::active`] unless set with [`Conv2d::with_path`])
    pub path: ConvPath,
}

impl Conv2d {
    pub fn new(c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize) -> Self {
        assert!(k > 0 && stride > 0, "a kernel and a stride of at least 1");
        Conv2d {
            c_in,
            c_out,
            k,
            stride,
            pad,
            path: ConvPath::active(),
        }
    }

    /// The same convolution run along `path` (at stride 1; other strides use im2col).
    pub fn with_path(self, path: ConvPath) -> Self {
        Conv2d { path, ..self }
    }

    /// Whether a batch of `n` images of `h` x `w` runs as shifted products: at stride 1, when the
    /// output's rows fit the grid's (padding of at most `k - 1`, as every convolution of the
    /// networks here), and when the weights are small beside the images (`c_out k k <= 4 n h w`).
    /// Each tap reads its weights as a strided view, so the shifted products read the weights' memory
    /// `k k` times where im2col copies the input `k k` times; a deep area of a few pixels and many
    /// channels (512 at 7 x 7) has far more weights than input and runs faster through im2col.
    pub fn runs_shifted(&self, n: usize, (h, w): (usize, usize)) -> bool {
        self.stride == 1
            && self.pad < self.k
            && self.path == ConvPath::Shifted
            && self.c_out * self.k * self.k <= 4 * n * h * w
    }

    /// The number of weights.
    pub fn weights(&self) -> usize {
        self.c_out * self.c_in * self.k * self.k
    }

    /// The output's height and width for an input of `h` x `w` (which must cover the kernel once
    /// padded).
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |x: usize| {
            assert!(
                x + 2 * self.pad >= self.k,
                "input {x} smaller than the kernel"
            );
            (x + 2 * self.pad - self.k) / self.stride + 1
        };
        (o(h), o(w))
    }

    fn patch(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// The input position `o * stride + kk - pad` along one axis of length `len`, if inside.
    #[inline]
    fn source(&self, o: usize, kk: usize, len: usize) -> Option<usize> {
        (o * self.stride + kk)
            .checked_sub(self.pad)
            .filter(|i| *i < len)
    }

    /// The output columns `lo .. hi` whose kernel column `kk` falls inside an input row of
    /// length `len` (out of `out` columns).
    fn valid(&self, kk: usize, len: usize, out: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        // o s + kk >= p  and  o s + kk - p <= len - 1
        let lo = if kk >= p { 0 } else { (p - kk).div_ceil(s) };
        let hi = if len + p > kk {
            ((len - 1 + p - kk) / s + 1).min(out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }

    /// One channel of one image's patches: `rows[(ky k + kx) ld + off + oy wo + ox]` (the `k k`
    /// rows of that channel, `ld` long).
    fn im2col_channel<T: Real>(
        &self,
        plane: &[T],
        (h, w): (usize, usize),
        rows: &mut [T],
        ld: usize,
        off: usize,
    ) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ky in 0..k {
            for kx in 0..k {
                let row = (ky * k + kx) * ld + off;
                let out = &mut rows[row..row + ho * wo];
                let (lo, hi) = self.valid(kx, w, wo);
                for oy in 0..ho {
                    let dst = &mut out[oy * wo..(oy + 1) * wo];
                    match self.source(oy, ky, h) {
                        None => dst.fill(T::ZERO),
                        Some(iy) => {
                            let src = &plane[iy * w..(iy + 1) * w];
                            dst[..lo].fill(T::ZERO);
                            dst[hi..].fill(T::ZERO);
                            if lo == hi {
                                // this kernel column reaches no pixel of a row this narrow
                                continue;
                            }
                            // the first valid column's source, then every stride-th
                            let first = lo * self.stride + kx - self.pad;
                            if self.stride == 1 {
                                dst[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                            } else {
                                for (j, d) in dst[lo..hi].iter_mut().enumerate() {
                                    *d = src[first + j * self.stride];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Self::im2col_channel`]: each patch entry of one channel of one image added
    /// back to its input position.
    fn col2im_channel_add<T: Real>(
        &self,
        rows: &[T],
        (h, w): (usize, usize),
        plane: &mut [T],
        ld: usize,
        off: usize,
    ) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ky in 0..k {
            for kx in 0..k {
                let row = (ky * k + kx) * ld + off;
                let src = &rows[row..row + ho * wo];
                let (lo, hi) = self.valid(kx, w, wo);
                if lo == hi {
                    continue;
                }
                for oy in 0..ho {
                    let Some(iy) = self.source(oy, ky, h) else {
                        continue;
                    };
                    let dst = &mut plane[iy * w..(iy + 1) * w];
                    let first = lo * self.stride + kx - self.pad;
                    for (j, v) in src[oy * wo + lo..oy * wo + hi].iter().enumerate() {
                        dst[first + j * self.stride] += *v;
                    }
                }
            }
        }
    }

    /// Whether a batch of `n` images of `p` output pixels runs in parallel inside its group: when
    /// it is one group, and its product is large enough to pay for splitting.
    fn split(&self, n: usize, p: usize) -> bool {
        n <= IMAGES_PER_GROUP && self.c_out * self.patch() * n * p >= 1 << 22
    }

    /// A group's patches `[c_in k k][g ho wo]`; with `split`, built in parallel over channels.
    fn im2col<T: Real>(&self, x: &[T], (h, w): (usize, usize), cols: &mut Vec<T>, split: bool) {
        let (ho, wo) = self.out_size(h, w);
        let (p, kk, plane) = (ho * wo, self.k * self.k, h * w);
        let g = x.len() / (self.c_in * plane);
        cols.resize(self.patch() * g * p, T::ZERO);
        let channel = |(ci, rows): (usize, &mut [T])| {
            for i in 0..g {
                let src = &x[(i * self.c_in + ci) * plane..(i * self.c_in + ci + 1) * plane];
                self.im2col_channel(src, (h, w), rows, g * p, i * p);
            }
        };
        if split {
            cols.par_chunks_mut(kk * g * p)
                .enumerate()
                .for_each(channel);
        } else {
            cols.chunks_mut(kk * g * p).enumerate().for_each(channel);
        }
    }

    /// A group's `dy` (`[g][c_out][p]`) as `[c_out][g p]`, the layout of its products.
    fn gather<T: Real>(&self, dy: &[T], p: usize, out: &mut Vec<T>, split: bool) {
        let ys = self.c_out * p;
        let g = dy.len() / ys;
        out.resize(self.c_out * g * p, T::ZERO);
        let channel = |(co, row): (usize, &mut [T])| {
            for i in 0..g {
                row[i * p..(i + 1) * p]
                    .copy_from_slice(&dy[i * ys + co * p..i * ys + (co + 1) * p]);
            }
        };
        if split {
            out.par_chunks_mut(g * p).enumerate().for_each(channel);
        } else {
            out.chunks_mut(g * p).enumerate().for_each(channel);
        }
    }

    /// `y (+)= W * x` for a batch `x` of `[n][c_in][h][w]` into `y` of `[n][c_out][ho][wo]`.
    pub fn forward<T: Real>(
        &self,
        weights: &[T],
        x: &[T],
        hw: (usize, usize),
        y: &mut [T],
        accumulate: bool,
    ) {
        if self.runs_shifted(x.len() / (self.c_in * hw.0 * hw.1), hw) {
            return self.forward_shifted(weights, x, hw, y, accumulate);
        }
        let (ho, wo) = self.out_size(hw.0, hw.1);
        let (xs, ys, p) = (self.c_in * hw.0 * hw.1, self.c_out * ho * wo, ho * wo);
        debug_assert_eq!(x.len() / xs, y.len() / ys);
        let split = self.split(y.len() / ys, p);
        let wm = rm(weights, self.c_out, self.patch());
        y.par_chunks_mut(ys * IMAGES_PER_GROUP)
            .zip(x.par_chunks(xs * IMAGES_PER_GROUP))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, out), (yg, xg)| {
                    let g = xg.len() / xs;
                    self.im2col(xg, hw, cols, split);
                    out.resize(self.c_out * g * p, T::ZERO);
                    product(
                        rm_mut(out, self.c_out, g * p),
                        false,
                        wm,
                        rm(cols, self.patch(), g * p),
                        split,
                    );
                    // [c_out][image][pixel] back to [image][c_out][pixel]
                    for (i, yi) in yg.chunks_mut(ys).enumerate() {
                        let channel = |(co, dst): (usize, &mut [T])| {
                            let src = &out[(co * g + i) * p..(co * g + i + 1) * p];
                            if accumulate {
                                dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
                            } else {
                                dst.copy_from_slice(src);
                            }
                        };
                        if split {
                            yi.par_chunks_mut(p).enumerate().for_each(channel);
                        } else {
                            yi.chunks_mut(p).enumerate().for_each(channel);
                        }
                    }
                },
            );
    }

    /// `dx += W^T dy`: the gradient with respect to the input, for a batch.
    pub fn backward_input<T: Real>(
        &self,
        weights: &[T],
        dy: &[T],
        hw: (usize, usize),
        dx: &mut [T],
    ) {
        if self.runs_shifted(dx.len() / (self.c_in * hw.0 * hw.1), hw) {
            return self.backward_input_shifted(weights, dy, hw, dx);
        }
        let (h, w) = hw;
        let (ho, wo) = self.out_size(h, w);
        let (xs, ys, p, kk) = (
            self.c_in * h * w,
            self.c_out * ho * wo,
            ho * wo,
            self.k * self.k,
        );
        let split = self.split(dy.len() / ys, p);
        let wt = rm(weights, self.c_out, self.patch()).transpose();
        dx.par_chunks_mut(xs * IMAGES_PER_GROUP)
            .zip(dy.par_chunks(ys * IMAGES_PER_GROUP))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, dym), (dxg, dyg)| {
                    let g = dyg.len() / ys;
                    self.gather(dyg, p, dym, split);
                    cols.resize(self.patch() * g * p, T::ZERO);
                    product(
                        rm_mut(cols, self.patch(), g * p),
                        false,
                        wt,
                        rm(dym, self.c_out, g * p),
                        split,
                    );
                    // every (image, channel) plane takes its own k k rows of the patches' gradient
                    let plane = |(j, dst): (usize, &mut [T])| {
                        let (i, ci) = (j / self.c_in, j % self.c_in);
                        let rows = &cols[ci * kk * g * p..(ci + 1) * kk * g * p];
                        self.col2im_channel_add(rows, hw, dst, g * p, i * p);
                    };
                    if split {
                        dxg.par_chunks_mut(h * w).enumerate().for_each(plane);
                    } else {
                        dxg.chunks_mut(h * w).enumerate().for_each(plane);
                    }
                },
            );
    }

    /// `dW += dy x^T` summed over the batch: the gradient with respect to the weights.
    pub fn backward_weight<T: Real>(&self, x: &[T], dy: &[T], hw: (usize, usize), dw: &mut [T]) {
        if self.runs_shifted(x.len() / (self.c_in * hw.0 * hw.1), hw) {
            return self.backward_weight_shifted(x, dy, hw, dw);
        }
        let (ho, wo) = self.out_size(hw.0, hw.1);
        let (xs, ys, p) = (self.c_in * hw.0 * hw.1, self.c_out * ho * wo, ho * wo);
        let split = self.split(dy.len() / ys, p);
        // a group's dy x^T: added to `dw` directly when it is the only group
        let group = |(xg, dyg): (&[T], &[T]), dw: &mut [T], accumulate: bool| {
            let g = xg.len() / xs;
            let (mut cols, mut dym) = (vec![], vec![]);
            self.im2col(xg, hw, &mut cols, split);
            self.gather(dyg, p, &mut dym, split);
            product(
                rm_mut(dw, self.c_out, self.patch()),
                accumulate,
                rm(&dym, self.c_out, g * p),
                rm(&cols, self.patch(), g * p).transpose(),
                split,
            );
        };
        sum_over_groups(dw, (x, xs), (dy, ys), |xg, dyg, dw, single| {
            group((xg, dyg), dw, single)
        });
    }

    /// The zero-padded grid of a stride-1 convolution of an `h` x `w` input. Rows and images
    /// share their padding: a row is `w + pad` long (the `pad` zeros after one row are those before
    /// the next) and an image `h + pad` rows, so pixel `(y, x)` of image `i` sits at `front + i plane
    /// + y row + x`. Output `(oy, ox)` sits at `i plane + oy row + ox`, and tap `(ky, kx)` reads the
    /// input `ky row + kx` further on.
    fn grid(&self, (h, w): (usize, usize)) -> Grid {
        let (p, k) = (self.pad, self.k);
        let row = w + p;
        Grid {
            row,
            plane: (h + p) * row,
            front: p * row + p,
            reach: (k - 1) * row + k - 1,
        }
    }

    /// Tap `(ky, kx)`'s offset along the grid.
    fn tap_offset(&self, tap: usize, row: usize) -> usize {
        (tap / self.k) * row + tap % self.k
    }

    /// Tap `tap`'s `[c_out][c_in]` weights, a view into `[c_out][c_in][k][k]`.
    fn tap_weights<'a, T: Real>(&self, weights: &'a [T], tap: usize) -> MatRef<'a, T> {
        let kk = self.k * self.k;
        strided(&weights[tap..], self.c_out, self.c_in, self.c_in * kk, kk)
    }

    /// `y (+)= W * x` at stride 1 as shifted products (see the module's documentation).
    fn forward_shifted<T: Real>(
        &self,
        weights: &[T],
        x: &[T],
        hw: (usize, usize),
        y: &mut [T],
        accumulate: bool,
    ) {
        let xs = self.c_in * hw.0 * hw.1;
        let ys = y.len() / (x.len() / xs).max(1);
        by_groups((y, ys), (x, xs), |yg, xg| {
            self.shifted_products(weights, xg, hw, yg, (false, accumulate))
        });
    }

    /// `dx += W^T dy` at stride 1: the adjoint of [`Self::forward_shifted`].
    fn backward_input_shifted<T: Real>(
        &self,
        weights: &[T],
        dy: &[T],
        hw: (usize, usize),
        dx: &mut [T],
    ) {
        let xs = self.c_in * hw.0 * hw.1;
        let ys = dy.len() / (dx.len() / xs).max(1);
        by_groups((dx, xs), (dy, ys), |dxg, dyg| {
            self.shifted_products(weights, dyg, hw, dxg, (true, true))
        });
    }

    /// One group of images through the shifted products, in fixed blocks in parallel:
    /// `dst (+)= W src` (`x` to `y`), or with `adjoint`, `dst (+)= W^T src` (`dy` to `dx`, `src`
    /// spread on the grid after `reach` zeros so that every tap's shift back stays inside it).
    /// `hw` is the input's size either way.
    fn shifted_products<T: Real>(
        &self,
        weights: &[T],
        src: &[T],
        hw: (usize, usize),
        dst: &mut [T],
        (adjoint, accumulate): (bool, bool),
    ) {
        let (g, ohw) = (self.grid(hw), self.out_size(hw.0, hw.1));
        let (c_src, c_dst, src_hw, dst_hw) = if adjoint {
            (self.c_out, self.c_in, ohw, hw)
        } else {
            (self.c_in, self.c_out, hw, ohw)
        };
        let cols = dst.len() / (c_dst * dst_hw.0 * dst_hw.1) * g.plane;
        // where the source's first pixel sits on its grid, and the grid's length
        let (at, len) = if adjoint {
            (g.reach, g.reach + cols)
        } else {
            (g.front, g.front + cols + g.reach)
        };
        let mut padded = vec![];
        spread(src, c_src, src_hw, &g, (at, len), &mut padded);
        let grid = rm(&padded, c_src, len);
        let mut out = vec![T::ZERO; c_dst * cols];
        par_blocks(rm_mut(&mut out, c_dst, cols), |r0, c0, mut block| {
            let (m, n) = (block.nrows(), block.ncols());
            for tap in 0..self.k * self.k {
                let (shift, w) = if adjoint {
                    let w = self.tap_weights(weights, tap).transpose();
                    (at - self.tap_offset(tap, g.row), w)
                } else {
                    (self.tap_offset(tap, g.row), self.tap_weights(weights, tap))
                };
                let shifted = grid.subcols(c0 + shift, n);
                gemm(block.as_mut(), tap > 0, w.subrows(r0, m), shifted);
            }
        });
        // the output sits at the grid's start, the input gradient where the input did
        let from = if adjoint { g.front } else { 0 };
        read_back(&out, c_dst, dst_hw, &g, from, dst, accumulate);
    }

    /// `dW += dy x^T` at stride 1: each tap's `[c_out][c_in]` gradient is one product of `dy` on
    /// the grid (zero on the padding's columns) with the padded input shifted by the tap.
    fn backward_weight_shifted<T: Real>(
        &self,
        x: &[T],
        dy: &[T],
        hw: (usize, usize),
        dw: &mut [T],
    ) {
        let xs = self.c_in * hw.0 * hw.1;
        let ys = dy.len() / (x.len() / xs).max(1);
        sum_over_groups(dw, (x, xs), (dy, ys), |xg, dyg, dw, _| {
            self.backward_weight_shifted_on(xg, dyg, hw, dw)
        });
    }

    /// [`Self::backward_weight_shifted`] of one group of images, its taps in parallel.
    fn backward_weight_shifted_on<T: Real>(
        &self,
        x: &[T],
        dy: &[T],
        hw: (usize, usize),
        dw: &mut [T],
    ) {
        let (g, ohw) = (self.grid(hw), self.out_size(hw.0, hw.1));
        let cols = x.len() / (self.c_in * hw.0 * hw.1) * g.plane;
        let len = g.front + cols + g.reach;
        let (mut input, mut grads) = (vec![], vec![]);
        spread(x, self.c_in, hw, &g, (g.front, len), &mut input);
        spread(dy, self.c_out, ohw, &g, (0, cols), &mut grads);
        let (input, grads) = (rm(&input, self.c_in, len), rm(&grads, self.c_out, cols));
        let kk = self.k * self.k;
        let taps: Vec<Vec<T>> = (0..kk)
            .into_par_iter()
            .map(|tap| {
                let mut part = vec![T::ZERO; self.c_out * self.c_in];
                let shifted = input.subcols(self.tap_offset(tap, g.row), cols);
                gemm(
                    rm_mut(&mut part, self.c_out, self.c_in),
                    false,
                    grads,
                    shifted.transpose(),
                );
                part
            })
            .collect();
        // the taps in order, each weight's k k taps side by side in `dw`
        for (j, w) in dw.chunks_exact_mut(kk).enumerate() {
            for (tap, d) in w.iter_mut().enumerate() {
                *d += taps[tap][j];
            }
        }
    }
}

/// The layout of a stride-1 convolution's zero-padded grid ([`Conv2d::grid`]).
struct Grid {
    /// the grid's row: an input row and the padding it shares with the next
    row: usize,
    /// one image's rows and the padding rows it shares with the next
    plane: usize,
    /// where the first image's first pixel sits
    front: usize,
    /// how far the last tap reads beyond an output's position
    reach: usize,
}

/// `src` (`[n][c][rows][cols]`) on zero grids: `buf` becomes `[c][len]`, image `i`'s pixel
/// `(y, x)` of channel `ch` at `ch len + at + i plane + y row + x`.
fn spread<T: Real>(
    src: &[T],
    c: usize,
    (rows, cols): (usize, usize),
    g: &Grid,
    (at, len): (usize, usize),
    buf: &mut Vec<T>,
) {
    let size = rows * cols;
    let n = src.len() / (c * size);
    buf.clear();
    buf.resize(c * len, T::ZERO);
    buf.par_chunks_mut(len).enumerate().for_each(|(ch, dst)| {
        for i in 0..n {
            let image = &src[(i * c + ch) * size..(i * c + ch + 1) * size];
            for (y, line) in image.chunks_exact(cols).enumerate() {
                let d = at + i * g.plane + y * g.row;
                dst[d..d + cols].copy_from_slice(line);
            }
        }
    });
}

/// The reverse of [`spread`]: `dst` (`[n][c][rows][cols]`) set to (or, with `accumulate`, added)
/// the entries of `grid` (`[c][n plane]`) at the same positions.
fn read_back<T: Real>(
    grid: &[T],
    c: usize,
    (rows, cols): (usize, usize),
    g: &Grid,
    at: usize,
    dst: &mut [T],
    accumulate: bool,
) {
    let len = grid.len() / c;
    dst.par_chunks_mut(rows * cols)
        .enumerate()
        .for_each(|(j, image)| {
            let (i, ch) = (j / c, j % c);
            for (y, line) in image.chunks_exact_mut(cols).enumerate() {
                let s = ch * len + at + i * g.plane + y * g.row;
                let src = &grid[s..s + cols];
                if accumulate {
                    line.iter_mut().zip(src).for_each(|(d, v)| *d += *v);
                } else {
                    line.copy_from_slice(src);
                }
            }
        });
}

/// `run(out, input)` over a batch (`per_out` and `per_in` values an image) in groups of
/// `IMAGES_PER_GROUP` images, the groups in parallel (each still splits its own work): every
/// group's grid and products stay small, and a small batch's threads get whole groups rather than
/// only the blocks of one product.
fn by_groups<T: Real>(
    (out, per_out): (&mut [T], usize),
    (input, per_in): (&[T], usize),
    run: impl Fn(&mut [T], &[T]) + Sync,
) {
    if input.len() > per_in * IMAGES_PER_GROUP {
        out.par_chunks_mut(per_out * IMAGES_PER_GROUP)
            .zip(input.par_chunks(per_in * IMAGES_PER_GROUP))
            .for_each(|(o, i)| run(o, i));
    } else {
        run(out, input);
    }
}

/// `dw +=` a weight gradient summed over a batch's groups of `IMAGES_PER_GROUP` images (`x` and
/// `dy`, with `xs` and `ys` values an image): `part(x, dy, dw, true)` adds a single group's into
/// `dw`; several groups run in parallel, each into its own zeroed part (`part(.., false)`), and
/// the parts are added in group order.
fn sum_over_groups<T: Real>(
    dw: &mut [T],
    (x, xs): (&[T], usize),
    (dy, ys): (&[T], usize),
    part: impl Fn(&[T], &[T], &mut [T], bool) + Sync,
) {
    if x.len() <= xs * IMAGES_PER_GROUP {
        return part(x, dy, dw, true);
    }
    let parts: Vec<Vec<T>> = x
        .par_chunks(xs * IMAGES_PER_GROUP)
        .zip(dy.par_chunks(ys * IMAGES_PER_GROUP))
        .map(|(xg, dyg)| {
            let mut p = vec![T::ZERO; dw.len()];
            part(xg, dyg, &mut p, false);
            p
        })
        .collect();
    for p in parts {
        for (d, v) in dw.iter_mut().zip(p) {
            *d += v;
        }
    }
}
