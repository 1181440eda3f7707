//! One convolution at a time, at the shapes of CordsNet's areas: milliseconds (best of seven) of
//! the forward pass, the input gradient and the weight gradient along each path (im2col and
//! shifted products), f32 on all threads. `bench/cordsnet_compare.sh` prints it beside PyTorch's
//! (`bench/pytorch/conv_shapes.py`, the same shapes).
//!
//!   cargo run --release --example conv_shapes [-- --smoke]
use biornn_vision::conv::{Conv2d, ConvPath};
use std::time::Instant;

/// c_in, c_out, k, stride, pad, image side, images
const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 7] = [
    (64, 64, 3, 1, 1, 56, 1),
    (128, 128, 3, 1, 1, 28, 1),
    (256, 256, 3, 1, 1, 14, 1),
    (512, 512, 3, 1, 1, 7, 1),
    (64, 128, 3, 2, 1, 56, 1),
    (32, 32, 3, 1, 1, 14, 16),
    (32, 32, 3, 1, 1, 7, 16),
];

fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (shapes, reps) = if smoke {
        (vec![(4, 4, 3, 1, 1, 8, 2), (4, 8, 3, 2, 1, 8, 2)], 1)
    } else {
        (SHAPES.to_vec(), 7)
    };
    println!("convolution,path,forward_ms,input_grad_ms,weight_grad_ms,forward_gflops");
    for (ci, co, k, s, p, side, n) in shapes {
        for path in [ConvPath::Im2col, ConvPath::Shifted] {
            let c = Conv2d::new(ci, co, k, s, p).with_path(path);
            let hw = (side, side);
            let (ho, wo) = c.out_size(side, side);
            let x: Vec<f32> = (0..n * ci * side * side)
                .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let w: Vec<f32> = (0..c.weights())
                .map(|i| ((i * 104_729) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let mut y = vec![0f32; n * co * ho * wo];
            let (mut dx, mut dw) = (vec![0f32; x.len()], vec![0f32; w.len()]);
            let fwd = best_of(reps, || c.forward(&w, &x, hw, &mut y, false));
            let din = best_of(reps, || c.backward_input(&w, &y, hw, &mut dx));
            let dwt = best_of(reps, || c.backward_weight(&x, &y, hw, &mut dw));
            let shifted = c.runs_shifted(n, hw);
            let name = format!("{ci}->{co} k{k} s{s} {side}x{side} n{n}");
            // the rule of `runs_shifted` sends some stride-1 shapes to im2col even when asked
            let label = match (path, shifted) {
                (ConvPath::Im2col, _) => "im2col",
                (ConvPath::Shifted, true) => "shifted",
                (ConvPath::Shifted, false) => "shifted->im2col",
            };
            let gflops = 2.0 * (co * ci * k * k * ho * wo * n) as f64 * 1e-6 / fwd;
            println!("{name},{label},{fwd:.3},{din:.3},{dwt:.3},{gflops:.0}");
        }
    }
}
