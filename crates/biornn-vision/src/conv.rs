//! 2-D convolution with zero padding and stride, forward and backward, as im2col and one faer
//! product per image. Images run in parallel; every image's arithmetic is the same whatever the
//! thread count, and the weight gradient sums fixed groups of images in a fixed order, so results
//! never depend on the number of threads.

use biornn_numerics::linalg::{gemm, rm, rm_mut};
use biornn_numerics::Real;
use rayon::prelude::*;

/// Images whose weight gradients are summed together before the groups are added in order.
const IMAGES_PER_GROUP: usize = 4;

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

    /// One image's patches: `cols[(ci k + ky) k + kx][oy wo + ox]`.
    fn im2col<T: Real>(&self, x: &[T], h: usize, w: usize, cols: &mut [T]) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ci in 0..self.c_in {
            let plane = &x[ci * h * w..(ci + 1) * h * w];
            for ky in 0..k {
                for kx in 0..k {
                    let row = ((ci * k + ky) * k + kx) * ho * wo;
                    let out = &mut cols[row..row + ho * wo];
                    for oy in 0..ho {
                        let dst = &mut out[oy * wo..(oy + 1) * wo];
                        match self.source(oy, ky, h) {
                            None => dst.fill(T::ZERO),
                            Some(iy) => {
                                let src = &plane[iy * w..(iy + 1) * w];
                                for (ox, d) in dst.iter_mut().enumerate() {
                                    *d = self.source(ox, kx, w).map_or(T::ZERO, |ix| src[ix]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Self::im2col`]: each patch entry added back to its input position.
    fn col2im_add<T: Real>(&self, cols: &[T], h: usize, w: usize, dx: &mut [T]) {
        let (ho, wo) = self.out_size(h, w);
        let k = self.k;
        for ci in 0..self.c_in {
            let plane = &mut dx[ci * h * w..(ci + 1) * h * w];
            for ky in 0..k {
                for kx in 0..k {
                    let row = ((ci * k + ky) * k + kx) * ho * wo;
                    let src = &cols[row..row + ho * wo];
                    for oy in 0..ho {
                        let Some(iy) = self.source(oy, ky, h) else {
                            continue;
                        };
                        let dst = &mut plane[iy * w..(iy + 1) * w];
                        for ox in 0..wo {
                            if let Some(ix) = self.source(ox, kx, w) {
                                dst[ix] += src[oy * wo + ox];
                            }
                        }
                    }
                }
            }
        }
    }

    /// `y (+)= W * x` for one image `x` of `[c_in][h][w]`; `cols` is scratch.
    pub fn forward_one<T: Real>(
        &self,
        weights: &[T],
        x: &[T],
        (h, w): (usize, usize),
        y: &mut [T],
        accumulate: bool,
        cols: &mut Vec<T>,
    ) {
        let (ho, wo) = self.out_size(h, w);
        let wm = rm(weights, self.c_out, self.patch());
        let ym = rm_mut(y, self.c_out, ho * wo);
        if self.is_pointwise() {
            gemm(ym, accumulate, wm, rm(x, self.c_in, h * w));
        } else {
            cols.resize(self.patch() * ho * wo, T::ZERO);
            self.im2col(x, h, w, cols);
            gemm(ym, accumulate, wm, rm(cols, self.patch(), ho * wo));
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
        let (ho, wo) = self.out_size(hw.0, hw.1);
        let (xs, ys) = (self.c_in * hw.0 * hw.1, self.c_out * ho * wo);
        debug_assert_eq!(x.len() / xs, y.len() / ys);
        y.par_chunks_mut(ys)
            .zip(x.par_chunks(xs))
            .for_each_init(Vec::new, |cols, (yi, xi)| {
                self.forward_one(weights, xi, hw, yi, accumulate, cols)
            });
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
        let (xs, ys) = (self.c_in * h * w, self.c_out * ho * wo);
        let wt = rm(weights, self.c_out, self.patch()).transpose();
        dx.par_chunks_mut(xs)
            .zip(dy.par_chunks(ys))
            .for_each_init(Vec::new, |cols, (dxi, dyi)| {
                let dym = rm(dyi, self.c_out, ho * wo);
                if self.is_pointwise() {
                    gemm(rm_mut(dxi, self.c_in, h * w), true, wt, dym);
                } else {
                    cols.resize(self.patch() * ho * wo, T::ZERO);
                    gemm(rm_mut(cols, self.patch(), ho * wo), false, wt, dym);
                    self.col2im_add(cols, h, w, dxi);
                }
            });
    }

    /// `dW += dy x^T` summed over the batch: the gradient with respect to the weights.
    pub fn backward_weight<T: Real>(&self, x: &[T], dy: &[T], hw: (usize, usize), dw: &mut [T]) {
        let (h, w) = hw;
        let (ho, wo) = self.out_size(h, w);
        let (xs, ys) = (self.c_in * h * w, self.c_out * ho * wo);
        let group = |(xg, dyg): (&[T], &[T])| -> Vec<T> {
            let mut part = vec![T::ZERO; self.weights()];
            let mut cols = vec![];
            for (xi, dyi) in xg.chunks(xs).zip(dyg.chunks(ys)) {
                let colsm = if self.is_pointwise() {
                    rm(xi, self.c_in, h * w)
                } else {
                    cols.resize(self.patch() * ho * wo, T::ZERO);
                    self.im2col(xi, h, w, &mut cols);
                    rm(&cols, self.patch(), ho * wo)
                };
                gemm(
                    rm_mut(&mut part, self.c_out, self.patch()),
                    true,
                    rm(dyi, self.c_out, ho * wo),
                    colsm.transpose(),
                );
            }
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
