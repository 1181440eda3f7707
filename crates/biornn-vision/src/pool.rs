//! Average pooling (zero padding counted, PyTorch's `count_include_pad=True`) and global average
//! pooling, forward and backward, per channel plane of NCHW data.

use biornn_numerics::Real;

/// Average pooling over `k` x `k` windows at `stride` with `pad` zeros on every side; every window
/// is divided by k^2, padding included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl AvgPool {
    /// The output's height and width for an input of `h` x `w` (which must cover the window once
    /// padded; the stride must be at least 1).
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        assert!(
            self.k > 0 && self.stride > 0,
            "a window and a stride of at least 1"
        );
        let o = |x: usize| {
            assert!(
                x + 2 * self.pad >= self.k,
                "input {x} smaller than the window"
            );
            (x + 2 * self.pad - self.k) / self.stride + 1
        };
        (o(h), o(w))
    }

    /// The input range of window `o` along an axis of length `len`.
    fn span(&self, o: usize, len: usize) -> std::ops::Range<usize> {
        let start = (o * self.stride).saturating_sub(self.pad);
        let end = (o * self.stride + self.k).saturating_sub(self.pad).min(len);
        start..end
    }

    /// `y = pool(x)` for `planes` planes of `h` x `w`.
    pub fn forward<T: Real>(&self, x: &[T], planes: usize, (h, w): (usize, usize), y: &mut [T]) {
        let (ho, wo) = self.out_size(h, w);
        let scale = T::from_f64(1.0 / (self.k * self.k) as f64);
        for p in 0..planes {
            let src = &x[p * h * w..(p + 1) * h * w];
            let dst = &mut y[p * ho * wo..(p + 1) * ho * wo];
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut s = T::ZERO;
                    for iy in self.span(oy, h) {
                        for ix in self.span(ox, w) {
                            s += src[iy * w + ix];
                        }
                    }
                    dst[oy * wo + ox] = s * scale;
                }
            }
        }
    }

    /// `dx += pool^T dy`.
    pub fn backward<T: Real>(&self, dy: &[T], planes: usize, (h, w): (usize, usize), dx: &mut [T]) {
        let (ho, wo) = self.out_size(h, w);
        let scale = T::from_f64(1.0 / (self.k * self.k) as f64);
        for p in 0..planes {
            let src = &dy[p * ho * wo..(p + 1) * ho * wo];
            let dst = &mut dx[p * h * w..(p + 1) * h * w];
            for oy in 0..ho {
                for ox in 0..wo {
                    let g = src[oy * wo + ox] * scale;
                    for iy in self.span(oy, h) {
                        for ix in self.span(ox, w) {
                            dst[iy * w + ix] += g;
                        }
                    }
                }
            }
        }
    }
}

/// The mean of each plane of `size` values: `y[p] = mean(x[p])`.
pub fn global_avg<T: Real>(x: &[T], size: usize, y: &mut [T]) {
    let scale = T::from_f64(1.0 / size as f64);
    for (yp, plane) in y.iter_mut().zip(x.chunks(size)) {
        let mut s = T::ZERO;
        for v in plane {
            s += *v;
        }
        *yp = s * scale;
    }
}

/// `dx[p] += dy[p] / size` over each plane.
pub fn global_avg_backward<T: Real>(dy: &[T], size: usize, dx: &mut [T]) {
    let scale = T::from_f64(1.0 / size as f64);
    for (g, plane) in dy.iter().zip(dx.chunks_mut(size)) {
        for v in plane {
            *v += *g * scale;
        }
    }
}
