//! R2N2's exactness and memory against sequence length, printed as tables (run by
//! `experiments/r2n2_exactness.sh`):
//! 1. forward T steps, then inverse T steps: the largest error of the reconstructed start state,
//!    in f32 and f64, for random networks (g = 1.5, the reference's chaotic init, and g = 0.8);
//! 2. peak heap memory of one gradient by replay against BPTT with every state stored;
//! 3. the cosine between the published (code_parity) and the exact gradient at T = 8 and T = 40
//!    over 10 seeds (n = 5, as the reference notes' check).
//!
//! `cargo run --release -p biornn-r2n2 --example exactness [-- --smoke]`

use biornn_numerics::{Real, Streams};
use biornn_r2n2::{
    forward, gradient_with_stored_states, replay_gradient, Grads, Objective, R2n2, ReplayOptions,
    Shape, State,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts heap bytes in use and their peak.
struct Counting;
static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap bytes above what was in use when `f` started.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = IN_USE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

fn shape(n: usize, g: f64) -> Shape {
    Shape {
        n,
        n_in: 10,
        n_out: 10,
        tau: 10.0,
        g_forward: g,
        g_backward: 1.0,
    }
}

fn inputs<T: Real>(steps: usize, seed: u64) -> Vec<T> {
    let mut r = Streams::new(seed).stream("inputs", 0);
    (0..steps * 10)
        .map(|_| T::from_f64(r.uniform_in(0.0, 0.5)))
        .collect()
}

fn start<T: Real>(n: usize, seed: u64) -> State<T> {
    let mut r = Streams::new(seed).stream("start", 0);
    let mut v = || T::from_f64((3.0 * r.normal()).clamp(-0.2, 0.2));
    State {
        a: (0..n).map(|_| v()).collect(),
        b: (0..n).map(|_| v()).collect(),
    }
}

/// The largest error of h_0 after T steps forward and T back.
fn reversal_error<T: Real>(n: usize, g: f64, steps: usize, seed: u64) -> f64 {
    let net = R2n2::<T>::new(shape(n, g), &Streams::new(seed)).unwrap();
    let h0 = start::<T>(n, seed);
    let x = inputs::<T>(steps, seed);
    let mut h = h0.clone();
    let (mut rates, mut drive) = (vec![T::ZERO; n], vec![T::ZERO; n]);
    for s in 0..steps {
        net.step(&mut h, &x[s * 10..(s + 1) * 10], &mut rates, &mut drive);
    }
    for s in (0..steps).rev() {
        net.unstep(&mut h, &x[s * 10..(s + 1) * 10], &mut rates, &mut drive);
    }
    h.a.iter()
        .chain(&h.b)
        .zip(h0.a.iter().chain(&h0.b))
        .map(|(p, q)| (p.to_f64() - q.to_f64()).abs())
        .fold(0.0, f64::max)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let lengths: &[usize] = if smoke {
        &[10, 100]
    } else {
        &[60, 100, 120, 200, 500, 1000, 2000]
    };
    let seeds = if smoke { 1 } else { 5 };
    let n = 64;
    println!("## Reversal: forward T steps, inverse T steps (n = 2 x {n}, max |h_0 - reconstructed|, median of {seeds} seeds)\n");
    println!("| T | f64, g = 1.5 | f32, g = 1.5 | f64, g = 0.8 | f32, g = 0.8 |");
    println!("|---|---|---|---|---|");
    for &t in lengths {
        let med = |f: &dyn Fn(u64) -> f64| {
            let mut v: Vec<f64> = (0..seeds).map(|s| f(s as u64)).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let cells: Vec<String> = [
            med(&|s| reversal_error::<f64>(n, 1.5, t, s)),
            med(&|s| reversal_error::<f32>(n, 1.5, t, s)),
            med(&|s| reversal_error::<f64>(n, 0.8, t, s)),
            med(&|s| reversal_error::<f32>(n, 0.8, t, s)),
        ]
        .iter()
        .map(|e| {
            if e.is_finite() {
                format!("{e:.1e}")
            } else {
                "diverged".into()
            }
        })
        .collect();
        println!("| {t} | {} |", cells.join(" | "));
    }

    println!(
        "\n## Memory of one gradient (f64, n = 2 x {n}, peak heap bytes beyond the network)\n"
    );
    println!("| T | replay | stored states | ratio |");
    println!("|---|---|---|---|");
    let net = R2n2::<f64>::new(shape(n, 1.5), &Streams::new(1)).unwrap();
    for &t in lengths {
        let x = inputs::<f64>(t, 1);
        let y = inputs::<f64>(t, 2);
        let h0 = start::<f64>(n, 1);
        let obj = Objective::Mse(&y);
        let mut grads = Grads::zeros_like(&net);
        let replay = peak_of(|| {
            let mut h = h0.clone();
            forward(&net, &mut h, &x, &obj, None);
            replay_gradient(&net, &mut h, &x, &obj, ReplayOptions::default(), &mut grads);
        });
        let stored = peak_of(|| {
            gradient_with_stored_states(&net, &h0, &x, &obj, &mut grads);
        });
        println!(
            "| {t} | {replay} | {stored} | {:.1} |",
            stored as f64 / replay as f64
        );
    }

    println!("\n## The published gradient (code_parity) against the exact one: cosine over 10 seeds (n = 5, BP, MSE)\n");
    println!("| T | matrix | min | median | max |");
    println!("|---|---|---|---|---|");
    for t in [8, 40] {
        let mut cos: [Vec<f64>; 3] = [vec![], vec![], vec![]];
        for seed in 0..10u64 {
            let net = R2n2::<f64>::new(shape(5, 1.5), &Streams::new(100 + seed)).unwrap();
            let h0 = start::<f64>(5, seed);
            let x = inputs::<f64>(t, seed);
            let y = inputs::<f64>(t, seed + 50);
            let obj = Objective::Mse(&y);
            let grad = |code_parity: bool| {
                let mut h = h0.clone();
                forward(&net, &mut h, &x, &obj, None);
                let mut g = Grads::zeros_like(&net);
                let o = ReplayOptions {
                    code_parity,
                    ..Default::default()
                };
                replay_gradient(&net, &mut h, &x, &obj, o, &mut g);
                g
            };
            let (exact, parity) = (grad(false), grad(true));
            for k in 0..3 {
                cos[k].push(cosine(parity.tensors()[k], exact.tensors()[k]));
            }
        }
        for (k, name) in ["W_IA", "W_BA", "W_AB"].iter().enumerate() {
            let mut v = cos[k].clone();
            v.sort_by(|a, b| a.total_cmp(b));
            println!(
                "| {t} | {name} | {:.3} | {:.3} | {:.4} |",
                v[0],
                (v[4] + v[5]) / 2.0,
                v[9]
            );
        }
    }
}
