//! Convolutions and pooling against a direct loop, finite differences and hand-worked cases.

use biornn_numerics::Streams;
use biornn_vision::conv::ConvPath;
use biornn_vision::pool::{global_avg, global_avg_backward, AvgPool};
use biornn_vision::Conv2d;

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Streams::new(seed).stream("test", 0);
    (0..n).map(|_| r.normal()).collect()
}

/// The definition, one output at a time.
fn direct(c: &Conv2d, w: &[f64], x: &[f64], n: usize, (h, wd): (usize, usize)) -> Vec<f64> {
    let (ho, wo) = c.out_size(h, wd);
    let mut y = vec![0.0; n * c.c_out * ho * wo];
    for b in 0..n {
        for co in 0..c.c_out {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut s = 0.0;
                    for ci in 0..c.c_in {
                        for ky in 0..c.k {
                            for kx in 0..c.k {
                                let iy = (oy * c.stride + ky) as isize - c.pad as isize;
                                let ix = (ox * c.stride + kx) as isize - c.pad as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv =
                                    x[((b * c.c_in + ci) * h + iy as usize) * wd + ix as usize];
                                s += w[((co * c.c_in + ci) * c.k + ky) * c.k + kx] * xv;
                            }
                        }
                    }
                    y[((b * c.c_out + co) * ho + oy) * wo + ox] = s;
                }
            }
        }
    }
    y
}

const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 7] = [
    // c_in, c_out, k, stride, pad, h, w
    (3, 4, 3, 1, 1, 6, 5),
    (2, 5, 3, 2, 1, 7, 7),
    (4, 3, 1, 2, 0, 6, 6),
    (1, 2, 7, 2, 3, 9, 8),
    (3, 2, 1, 1, 0, 4, 4),
    (2, 2, 3, 1, 0, 5, 4),
    // more than one block of output rows (64) and of columns (256 = images x pixels)
    (2, 70, 3, 1, 1, 9, 9),
];

/// `n` random images and random weights (from `seed`) through `c`'s forward pass, which must
/// equal the direct loop (and replace what the output held): (input, weights, output).
fn forward_equals_direct(
    c: &Conv2d,
    n: usize,
    (h, w): (usize, usize),
    seed: u64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = random(n * c.c_in * h * w, seed);
    let wt = random(c.weights(), 100 + seed);
    let (ho, wo) = c.out_size(h, w);
    let mut y = vec![1.0; n * c.c_out * ho * wo];
    c.forward(&wt, &x, (h, w), &mut y, false);
    let want = direct(c, &wt, &x, n, (h, w));
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12, "{c:?} {h}x{w}: {a} against {b}");
    }
    (x, wt, y)
}

#[test]
fn the_forward_pass_equals_the_direct_loop() {
    for (i, &(ci, co, k, s, p, h, w)) in SHAPES.iter().enumerate() {
        let c = Conv2d::new(ci, co, k, s, p);
        // more than one group of images
        let (x, wt, mut y) = forward_equals_direct(&c, 5, (h, w), i as u64);
        let want = y.clone();
        // accumulate adds to what is there
        c.forward(&wt, &x, (h, w), &mut y, true);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - 2.0 * b).abs() < 1e-12);
        }
    }
}

/// Images narrower than the kernel reaches: some kernel columns fall on no pixel of a row at
/// all (a 5 x 5 kernel on one pixel, the stem's 7 x 7 at stride 2 on one or two). Each path, the
/// forward pass and both gradients, in debug builds too (where the index arithmetic would
/// overflow), against the direct loop and the adjoint identity <g, W x> = <W^T g, x>.
#[test]
fn kernels_wider_than_the_image_see_zeros() {
    let shapes = [
        // c_in, c_out, k, stride, pad, h, w
        (2, 3, 5, 1, 2, 1, 1),
        (2, 3, 5, 1, 2, 4, 1),
        (1, 2, 7, 1, 3, 2, 2),
        (3, 4, 7, 2, 3, 1, 1),
        (3, 4, 7, 2, 3, 2, 2),
        (3, 4, 7, 2, 3, 2, 5),
        // few enough weights that the shifted path takes them (c_out k k <= 4 n h w)
        (2, 1, 5, 1, 2, 1, 1),
        (1, 1, 7, 1, 3, 2, 2),
    ];
    let n = 8;
    let mut shifted = 0;
    for (i, &(ci, co, k, s, p, h, w)) in shapes.iter().enumerate() {
        for path in [ConvPath::Im2col, ConvPath::Shifted] {
            let c = Conv2d::new(ci, co, k, s, p).with_path(path);
            shifted += usize::from(c.runs_shifted(n, (h, w)));
            let (x, wt, want) = forward_equals_direct(&c, n, (h, w), 200 + i as u64);
            let g = random(want.len(), 400 + i as u64);
            let mut dx = vec![0.0; x.len()];
            c.backward_input(&wt, &g, (h, w), &mut dx);
            let lhs: f64 = g.iter().zip(&want).map(|(a, b)| a * b).sum();
            let rhs: f64 = dx.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()),
                "{c:?}: {lhs} against {rhs}"
            );
            let mut dw = vec![0.0; wt.len()];
            c.backward_weight(&x, &g, (h, w), &mut dw);
            let rhs: f64 = dw.iter().zip(&wt).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()),
                "{c:?}: {lhs} against {rhs}"
            );
        }
    }
    assert!(shifted >= 2, "the shifted path ran {shifted} of the shapes");
}

#[test]
#[should_panic(expected = "smaller than the window")]
fn a_pool_wider_than_its_padded_input_is_refused() {
    AvgPool {
        k: 3,
        stride: 2,
        pad: 0,
    }
    .out_size(1, 1);
}

/// Both backward passes of `loss = <g, conv(x)>` against central differences, at every
/// `x_step`-th input and `w_step`-th weight. The loss is linear in x and in W: a central difference
/// has no truncation error at any step, and a large one keeps the loss's rounding out of it.
fn check_gradients(
    c: &Conv2d,
    wt: &[f64],
    x: &[f64],
    g: &[f64],
    hw: (usize, usize),
    x_step: usize,
    w_step: usize,
) {
    let loss = |wt: &[f64], x: &[f64]| -> f64 {
        let mut y = vec![0.0; g.len()];
        c.forward(wt, x, hw, &mut y, false);
        y.iter().zip(g).map(|(a, b)| a * b).sum()
    };
    let mut dx = vec![0.0; x.len()];
    c.backward_input(wt, g, hw, &mut dx);
    let mut dw = vec![0.0; wt.len()];
    c.backward_weight(x, g, hw, &mut dw);
    let eps = 1e-3;
    let central = |f: &dyn Fn(&[f64]) -> f64, at: &[f64], j: usize| {
        let (mut a, mut b) = (at.to_vec(), at.to_vec());
        a[j] += eps;
        b[j] -= eps;
        (f(&a) - f(&b)) / (2.0 * eps)
    };
    for j in (0..x.len()).step_by(x_step) {
        let fd = central(&|x| loss(wt, x), x, j);
        assert!(
            (fd - dx[j]).abs() < 1e-7 * (1.0 + fd.abs()),
            "{c:?} dx[{j}]: {fd} against {}",
            dx[j]
        );
    }
    for j in (0..wt.len()).step_by(w_step) {
        let fd = central(&|w| loss(w, x), wt, j);
        assert!(
            (fd - dw[j]).abs() < 1e-7 * (1.0 + fd.abs()),
            "{c:?} dw[{j}]: {fd} against {}",
            dw[j]
        );
    }
}

#[test]
fn both_gradients_equal_finite_differences() {
    for (i, &(ci, co, k, s, p, h, w)) in SHAPES.iter().enumerate() {
        let c = Conv2d::new(ci, co, k, s, p);
        let n = 5;
        let x = random(n * ci * h * w, i as u64);
        let wt = random(c.weights(), 100 + i as u64);
        let (ho, wo) = c.out_size(h, w);
        let g = random(n * co * ho * wo, 200 + i as u64);
        check_gradients(&c, &wt, &x, &g, (h, w), 7, 1);
    }
}

/// Forward, both backward passes (the weight gradient added to 0.5) in f32 on a pool of
/// `threads`: what must not depend on the thread count.
fn passes_on_threads(
    c: &Conv2d,
    (w32, x32, g32): (&[f32], &[f32], &[f32]),
    hw: (usize, usize),
    threads: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut y = vec![0.0f32; g32.len()];
            c.forward(w32, x32, hw, &mut y, false);
            let mut dx = vec![0.0f32; x32.len()];
            c.backward_input(w32, g32, hw, &mut dx);
            let mut dw = vec![0.5f32; w32.len()];
            c.backward_weight(x32, g32, hw, &mut dw);
            (y, dx, dw)
        })
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // two groups of images, which run in parallel (one large image splits: the test below)
    let c = Conv2d::new(3, 70, 3, 1, 1);
    let (n, h, w) = (9, 8, 8);
    let (x, wt) = (
        f32s(&random(n * 3 * h * w, 1)),
        f32s(&random(c.weights(), 2)),
    );
    let (ho, wo) = c.out_size(h, w);
    let g = f32s(&random(n * 70 * ho * wo, 3));
    let run = |threads| passes_on_threads(&c, (&wt, &x, &g), (h, w), threads);
    assert_eq!(run(1), run(3));
}

/// One image large enough that each convolution runs split across threads inside its group
/// (patches over channels, the product in fixed blocks): against the direct loop, finite
/// differences on a sample of entries, and at two thread counts.
#[test]
fn a_single_large_image_splits_and_still_equals_the_direct_loop() {
    let c = Conv2d::new(16, 70, 3, 1, 1);
    let (n, h, w) = (1, 24, 24);
    let x = random(n * 16 * h * w, 7);
    let wt = random(c.weights(), 8);
    let (ho, wo) = c.out_size(h, w);
    let mut y = vec![0.0; n * 70 * ho * wo];
    c.forward(&wt, &x, (h, w), &mut y, false);
    for (a, b) in y.iter().zip(direct(&c, &wt, &x, n, (h, w))) {
        assert!((a - b).abs() < 1e-11, "{a} against {b}");
    }
    let g = random(y.len(), 9);
    check_gradients(&c, &wt, &x, &g, (h, w), 97, 89);
    let (x32, w32, g32) = (f32s(&x), f32s(&wt), f32s(&g));
    let run = |threads| passes_on_threads(&c, (&w32, &x32, &g32), (h, w), threads);
    assert_eq!(run(1), run(3));
}

#[test]
fn average_pooling_counts_the_padding_as_pytorch() {
    // 4 x 4 plane of 1 .. 16, k 3, stride 2, pad 1: 2 x 2 windows, each divided by 9
    let x: Vec<f64> = (1..=16).map(f64::from).collect();
    let pool = AvgPool {
        k: 3,
        stride: 2,
        pad: 1,
    };
    assert_eq!(pool.out_size(4, 4), (2, 2));
    let mut y = vec![0.0; 4];
    pool.forward(&x, 1, (4, 4), &mut y);
    // top-left window covers rows 0-1, cols 0-1: 1 + 2 + 5 + 6 = 14
    let want = [
        14.0 / 9.0,
        (2.0 + 3.0 + 4.0 + 6.0 + 7.0 + 8.0) / 9.0,
        (5.0 + 6.0 + 9.0 + 10.0 + 13.0 + 14.0) / 9.0,
        (6.0 + 7.0 + 8.0 + 10.0 + 11.0 + 12.0 + 14.0 + 15.0 + 16.0) / 9.0,
    ];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} against {b}");
    }
    // backward is the adjoint: <pool x, g> = <x, pool^T g>, on two planes of 7 x 6
    let x = random(2 * 42, 5);
    let (ho, wo) = pool.out_size(7, 6);
    let g = random(2 * ho * wo, 6);
    let mut y = vec![0.0; g.len()];
    pool.forward(&x, 2, (7, 6), &mut y);
    let mut dx = vec![0.0; x.len()];
    pool.backward(&g, 2, (7, 6), &mut dx);
    let lhs: f64 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-12);
    // global average pooling and its adjoint
    let mut m = vec![0.0; 2];
    global_avg(&x, 42, &mut m);
    assert!((m[0] - x[..42].iter().sum::<f64>() / 42.0).abs() < 1e-12);
    let mut d = vec![0.0f64; x.len()];
    global_avg_backward(&[1.0, 2.0], 42, &mut d);
    assert!((d[0] - 1.0 / 42.0).abs() < 1e-15 && (d[50] - 2.0 / 42.0).abs() < 1e-15);
}

/// The forward pass (added to 0.25) and both gradients (added to 0.5 and -1) along the shifted
/// and the im2col path, which must agree to rounding; the shifted path's results.
fn paths_agree(
    base: &Conv2d,
    (wt, x, g): (&[f64], &[f64], &[f64]),
    (h, w): (usize, usize),
) -> [Vec<f64>; 3] {
    let passes = |c: &Conv2d| {
        let mut y = vec![0.25; g.len()];
        c.forward(wt, x, (h, w), &mut y, true);
        let mut dx = vec![0.5; x.len()];
        c.backward_input(wt, g, (h, w), &mut dx);
        let mut dw = vec![-1.0; wt.len()];
        c.backward_weight(x, g, (h, w), &mut dw);
        [y, dx, dw]
    };
    let shifted = passes(&base.with_path(ConvPath::Shifted));
    let im2col = passes(&base.with_path(ConvPath::Im2col));
    for (which, (u, v)) in ["y", "dx", "dw"].iter().zip(shifted.iter().zip(&im2col)) {
        for (p, q) in u.iter().zip(v) {
            assert!(
                (p - q).abs() < 1e-11 * (1.0 + q.abs()),
                "{base:?} {which}: {p} against {q}"
            );
        }
    }
    shifted
}

/// Both ways a stride-1 convolution runs (shifted products on padded planes, the default, and
/// im2col) give the same forward pass and gradients to rounding, on shapes with and without
/// padding, a 1 x 1 kernel, and more than one block of output rows and columns.
#[test]
fn shifted_products_equal_im2col_at_stride_one() {
    let shapes = SHAPES.iter().copied().filter(|s| s.3 == 1).chain([
        (16, 70, 3, 1, 1, 24, 24),
        (5, 6, 5, 1, 2, 7, 9),
        (3, 4, 5, 1, 1, 6, 8),
    ]);
    for (i, (ci, co, k, s, p, h, w)) in shapes.enumerate() {
        let base = Conv2d::new(ci, co, k, s, p);
        let (shifted, im2col) = (
            base.with_path(ConvPath::Shifted),
            base.with_path(ConvPath::Im2col),
        );
        let n = 3;
        assert!(shifted.runs_shifted(n, (h, w)) == (p < k), "{shifted:?}");
        assert!(!im2col.runs_shifted(n, (h, w)));
        let x = random(n * ci * h * w, 300 + i as u64);
        let wt = random(base.weights(), 400 + i as u64);
        let (ho, wo) = base.out_size(h, w);
        let g = random(n * co * ho * wo, 500 + i as u64);
        paths_agree(&base, (&wt, &x, &g), (h, w));
        // the shapes of the test above (both gradients) now run through the shifted path too
        check_gradients(&shifted, &wt, &x, &g, (h, w), 5, 3);
    }
    // a deep area: many more weights than input, im2col (it reads the weights once)
    let deep = Conv2d::new(512, 512, 3, 1, 1).with_path(ConvPath::Shifted);
    assert!(!deep.runs_shifted(1, (7, 7)) && deep.runs_shifted(1, (56, 56)));
    assert!(
        !Conv2d::new(4, 4, 3, 2, 1).runs_shifted(8, (16, 16)),
        "stride 2"
    );
}

/// More than one group of images at stride 1: the groups run shifted in parallel, each on its own
/// grid, and the weight gradient adds their sums in group order. Against im2col and the
/// direct loop, and at two thread counts.
#[test]
fn groups_of_images_run_shifted_and_equal_im2col() {
    let base = Conv2d::new(4, 6, 3, 1, 1);
    let (n, h, w) = (17, 5, 6);
    let shifted = base.with_path(ConvPath::Shifted);
    assert!(shifted.runs_shifted(n, (h, w)));
    let x = random(n * 4 * h * w, 61);
    let wt = random(base.weights(), 62);
    let g = random(n * 6 * h * w, 63);
    let [y, _, _] = paths_agree(&base, (&wt, &x, &g), (h, w));
    let want = direct(&base, &wt, &x, n, (h, w));
    for (p, q) in y.iter().zip(&want) {
        assert!((p - 0.25 - q).abs() < 1e-12, "{p} against {q}");
    }
    let (x32, w32, g32) = (f32s(&x), f32s(&wt), f32s(&g));
    let run = |threads| passes_on_threads(&shifted, (&w32, &x32, &g32), (h, w), threads);
    assert_eq!(run(1), run(2));
}
