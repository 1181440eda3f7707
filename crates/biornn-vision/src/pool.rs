//! Average pooling (zero padding counted, PyTorch's `count_include_pad=True`), global average
//! pooling and adaptive average pooling onto a grid, forward and backward, per channel plane of
//! NCHW data.

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

/// The cells of adaptive average pooling onto `cells` along an axis of `len` (PyTorch's
/// `AdaptiveAvgPool2d`): cell i covers floor(i len / cells) to ceil((i + 1) len / cells), so cells
/// overlap where `len` is not a multiple of `cells`.
fn grid_span(i: usize, cells: usize, len: usize) -> std::ops::Range<usize> {
    (i * len / cells)..((i + 1) * len).div_ceil(cells)
}

/// Each plane of `h` x `w` averaged over a `grid` x `grid` grid of cells (adaptive average
/// pooling): `y` is `[plane][grid][grid]`. `grid` must be 1 to min(h, w).
pub fn grid_avg<T: Real>(x: &[T], planes: usize, (h, w): (usize, usize), grid: usize, y: &mut [T]) {
    assert!(
        (1..=h.min(w)).contains(&grid),
        "a grid of 1 to min(h, w) cells a side"
    );
    for p in 0..planes {
        let src = &x[p * h * w..(p + 1) * h * w];
        for gy in 0..grid {
            let rows = grid_span(gy, grid, h);
            for gx in 0..grid {
                let cols = grid_span(gx, grid, w);
                let mut s = T::ZERO;
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        s += src[iy * w + ix];
                    }
                }
                let size = (rows.len() * cols.len()) as f64;
                y[(p * grid + gy) * grid + gx] = s * T::from_f64(1.0 / size);
            }
        }
    }
}

/// `dx += grid_avg^T dy`, `dy` as [`grid_avg`]'s `y`.
pub fn grid_avg_backward<T: Real>(
    dy: &[T],
    planes: usize,
    (h, w): (usize, usize),
    grid: usize,
    dx: &mut [T],
) {
    for p in 0..planes {
        let dst = &mut dx[p * h * w..(p + 1) * h * w];
        for gy in 0..grid {
            let rows = grid_span(gy, grid, h);
            for gx in 0..grid {
                let cols = grid_span(gx, grid, w);
                let size = (rows.len() * cols.len()) as f64;
                let g = dy[(p * grid + gy) * grid + gx] * T::from_f64(1.0 / size);
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        dst[iy * w + ix] += g;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 x 3 plane onto 2 x 2 cells: rows and columns 0-1 and 1-2, overlapping in the middle.
    #[test]
    fn grid_cells_follow_adaptive_pooling_on_a_hand_worked_plane() {
        let x: Vec<f64> = (1..=9).map(f64::from).collect(); // 1 2 3 / 4 5 6 / 7 8 9
        let mut y = vec![0.0; 4];
        grid_avg(&x, 1, (3, 3), 2, &mut y);
        assert_eq!(y, [3.0, 4.0, 6.0, 7.0]); // (1+2+4+5)/4, (2+3+5+6)/4, ...
        let mut g = [0.0];
        grid_avg(&x, 1, (3, 3), 1, &mut g);
        assert_eq!(g[0], 5.0);
        // a grid as fine as the plane is the plane
        let mut same = vec![0.0; 9];
        grid_avg(&x, 1, (3, 3), 3, &mut same);
        assert_eq!(same, x);
        // the backward pass is the transpose: <grid(x), d> = <x, grid^T d>, two planes of 5 x 4
        let x: Vec<f64> = (0..40).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let d: Vec<f64> = (0..2 * 9).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
        let (mut y, mut dx) = (vec![0.0; 18], vec![0.0; 40]);
        grid_avg(&x, 2, (5, 4), 3, &mut y);
        grid_avg_backward(&d, 2, (5, 4), 3, &mut dx);
        let (a, b): (f64, f64) = (
            y.iter().zip(&d).map(|(p, q)| p * q).sum(),
            x.iter().zip(&dx).map(|(p, q)| p * q).sum(),
        );
        assert!((a - b).abs() < 1e-12 * a.abs().max(1.0), "{a} against {b}");
        assert!(dx.iter().any(|v| *v != 0.0));
    }
}
