//! 2-D convolution with zero padding and stride, forward and backward, as im2col and one faer
//! product per group of images (their patches side by side, so that small images still make a
//! product large enough to run fast). Groups have a fixed size and run in parallel; every group's
//! arithmetic is the same whatever the thread count, and the weight gradient sums the groups in a
//! fixed order, so results never depend on the number of threads.

use biornn_numerics::linalg::{gemm, rm, rm_mut};
use biornn_numerics::Real;
use rayon::prelude::*;

/// Images whose patches share one product (and whose weight gradients are summed together before
/// the groups are added in order).
const IMAGES_PER_GROUP: usize = 8;

/// A convolution without bias: `c_in` to `c_out` channels, a `k` x `k` kernel, `stride`, `pad`
/// zeros on every side. Weights `[c_out][c_in][k][k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
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
        }
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

    /// A 1 x 1 kernel at stride 1 without padding: the image is its own im2col.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
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

    /// One image's patches: `cols[(ci k + ky) k + kx][off + oy wo + ox]`, rows `ld` long.
    #[allow(clippy::too_many_arguments)]
    fn im2col<T: Real>(&self, x: &[T], h: usize, w: usize, cols: &mut [T], ld: usize, off: usize) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ci in 0..self.c_in {
            let plane = &x[ci * h * w..(ci + 1) * h * w];
            for ky in 0..k {
                for kx in 0..k {
                    let row = ((ci * k + ky) * k + kx) * ld + off;
                    let out = &mut cols[row..row + ho * wo];
                    let (lo, hi) = self.valid(kx, w, wo);
                    for oy in 0..ho {
                        let dst = &mut out[oy * wo..(oy + 1) * wo];
                        match self.source(oy, ky, h) {
                            None => dst.fill(T::ZERO),
                            Some(iy) => {
                                let src = &plane[iy * w..(iy + 1) * w];
                                dst[..lo].fill(T::ZERO);
                                dst[hi..].fill(T::ZERO);
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
    }

    /// The adjoint of [`Self::im2col`]: each patch entry added back to its input position.
    fn col2im_add<T: Real>(
        &self,
        cols: &[T],
        (h, w): (usize, usize),
        dx: &mut [T],
        ld: usize,
        off: usize,
    ) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ci in 0..self.c_in {
            let plane = &mut dx[ci * h * w..(ci + 1) * h * w];
            for ky in 0..k {
                for kx in 0..k {
                    let row = ((ci * k + ky) * k + kx) * ld + off;
                    let src = &cols[row..row + ho * wo];
                    let (lo, hi) = self.valid(kx, w, wo);
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
        let (h, w) = hw;
        let (ho, wo) = self.out_size(h, w);
        let (xs, ys, p) = (self.c_in * h * w, self.c_out * ho * wo, ho * wo);
        debug_assert_eq!(x.len() / xs, y.len() / ys);
        let wm = rm(weights, self.c_out, self.patch());
        y.par_chunks_mut(ys * IMAGES_PER_GROUP)
            .zip(x.par_chunks(xs * IMAGES_PER_GROUP))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, out), (yg, xg)| {
                    let g = xg.len() / xs;
                    cols.resize(self.patch() * g * p, T::ZERO);
                    for (i, xi) in xg.chunks(xs).enumerate() {
                        self.im2col(xi, h, w, cols, g * p, i * p);
                    }
                    out.resize(self.c_out * g * p, T::ZERO);
                    gemm(
                        rm_mut(out, self.c_out, g * p),
                        false,
                        wm,
                        rm(cols, self.patch(), g * p),
                    );
                    // [c_out][image][pixel] back to [image][c_out][pixel]
                    for (i, yi) in yg.chunks_mut(ys).enumerate() {
                        for co in 0..self.c_out {
                            let src = &out[co * g * p + i * p..co * g * p + (i + 1) * p];
                            let dst = &mut yi[co * p..(co + 1) * p];
                            if accumulate {
                                dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
                            } else {
                                dst.copy_from_slice(src);
                            }
                        }
                    }
                },
            );
    }

    /// A group's `dy` as `[c_out][image][pixel]`, the layout of the group's product.
    fn gather<T: Real>(&self, dyg: &[T], ys: usize, p: usize, out: &mut Vec<T>) {
        let g = dyg.len() / ys;
        out.resize(self.c_out * g * p, T::ZERO);
        for (i, dyi) in dyg.chunks(ys).enumerate() {
            for co in 0..self.c_out {
                out[co * g * p + i * p..co * g * p + (i + 1) * p]
                    .copy_from_slice(&dyi[co * p..(co + 1) * p]);
            }
        }
    }

    /// `dx += W^T dy`: the gradient with respect to the input, for a batch.
    pub fn backward_input<T: Real>(
        &self,
        weights: &[T],
        dy: &[T],
        hw: (usize, usize),
        dx: &mut [T],
    ) {
        let (h, w) = hw;
        let (ho, wo) = self.out_size(h, w);
        let (xs, ys, p) = (self.c_in * h * w, self.c_out * ho * wo, ho * wo);
        let wt = rm(weights, self.c_out, self.patch()).transpose();
        dx.par_chunks_mut(xs * IMAGES_PER_GROUP)
            .zip(dy.par_chunks(ys * IMAGES_PER_GROUP))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, dym), (dxg, dyg)| {
                    let g = dyg.len() / ys;
                    self.gather(dyg, ys, p, dym);
                    cols.resize(self.patch() * g * p, T::ZERO);
                    gemm(
                        rm_mut(cols, self.patch(), g * p),
                        false,
                        wt,
                        rm(dym, self.c_out, g * p),
                    );
                    for (i, dxi) in dxg.chunks_mut(xs).enumerate() {
                        if self.is_pointwise() {
                            for ci in 0..self.c_in {
                                let src = &cols[ci * g * p + i * p..ci * g * p + (i + 1) * p];
                                dxi[ci * p..(ci + 1) * p]
                                    .iter_mut()
                                    .zip(src)
                                    .for_each(|(d, s)| *d += *s);
                            }
                        } else {
                            self.col2im_add(cols, hw, dxi, g * p, i * p);
                        }
                    }
                },
            );
    }

    /// `dW += dy x^T` summed over the batch: the gradient with respect to the weights.
    pub fn backward_weight<T: Real>(&self, x: &[T], dy: &[T], hw: (usize, usize), dw: &mut [T]) {
        let (h, w) = hw;
        let (ho, wo) = self.out_size(h, w);
        let (xs, ys, p) = (self.c_in * h * w, self.c_out * ho * wo, ho * wo);
        let group = |(xg, dyg): (&[T], &[T])| -> Vec<T> {
            let g = xg.len() / xs;
            let mut part = vec![T::ZERO; self.weights()];
            let (mut cols, mut dym) = (vec![T::ZERO; self.patch() * g * p], vec![]);
            for (i, xi) in xg.chunks(xs).enumerate() {
                self.im2col(xi, h, w, &mut cols, g * p, i * p);
            }
            self.gather(dyg, ys, p, &mut dym);
            gemm(
                rm_mut(&mut part, self.c_out, self.patch()),
                false,
                rm(&dym, self.c_out, g * p),
                rm(&cols, self.patch(), g * p).transpose(),
            );
            part
        };
        let parts: Vec<Vec<T>> = x
            .par_chunks(xs * IMAGES_PER_GROUP)
            .zip(dy.par_chunks(ys * IMAGES_PER_GROUP))
            .map(group)
            .collect();
        for part in parts {
            for (d, p) in dw.iter_mut().zip(part) {
                *d += p;
            }
        }
    }
}
