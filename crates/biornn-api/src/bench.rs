//! Timings for `biornn bench`: the CTRNN's (from `biornn_train::bench`) and ELiSe's.

pub use biornn_train::bench::*;

use biornn_core::{Learner, Phase};
use biornn_dendritic::{EliseLearner, EliseRunConfig};
use biornn_numerics::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// ELiSe's speed at one size: one network alone, then `k` networks (seeds 1 .. k) side by side on
/// every thread.
#[derive(Debug, Clone, Copy)]
pub struct EliseTiming {
    /// milliseconds a training cycle, one network on one core
    pub ms_per_cycle: f64,
    /// cycles a second of all `k` networks together
    pub parallel_cycles_per_s: f64,
    /// milliseconds of model time in one cycle
    pub cycle_model_ms: f64,
}

fn elise_learner(n_latent: usize, seed: u64) -> Result<EliseLearner> {
    let mut cfg = EliseRunConfig::default();
    cfg.network.n_latent = n_latent;
    cfg.seed = seed;
    EliseLearner::new(&cfg)
}

fn run_cycles(l: &mut EliseLearner, cycles: usize) -> Result<()> {
    let phase = Phase {
        stage: None,
        lr_factor: 1.0,
        lr_scale: 1.0,
    };
    for s in 0..cycles as u64 {
        l.update(s, &phase)?;
    }
    Ok(())
}

/// `cycles` training cycles of the default Für Elise network with `n_latent` latent neurons (every
/// 20th free, as in training), after two untimed ones; then `k` such networks at once.
pub fn bench_elise(n_latent: usize, cycles: usize, k: usize) -> Result<EliseTiming> {
    let mut one = elise_learner(n_latent, 1)?;
    run_cycles(&mut one, 2)?;
    let t0 = Instant::now();
    run_cycles(&mut one, cycles)?;
    let ms_per_cycle = t0.elapsed().as_secs_f64() * 1e3 / cycles as f64;
    let mut many = (1..=k as u64)
        .map(|seed| elise_learner(n_latent, seed))
        .collect::<Result<Vec<_>>>()?;
    let t0 = Instant::now();
    many.par_iter_mut()
        .map(|l| run_cycles(l, cycles))
        .collect::<Result<Vec<()>>>()?;
    let wall = t0.elapsed().as_secs_f64();
    let cycle_model_ms = one.teacher.len as f64 * one.net.p.dt;
    Ok(EliseTiming {
        ms_per_cycle,
        parallel_cycles_per_s: (k * cycles) as f64 / wall,
        cycle_model_ms,
    })
}

/// The machine's own f32 peak, as the benchmarks report it: the median time of `reps` products of
/// two `size` x `size` matrices with faer (its kernels picked at run time: AVX-512 where the
/// processor has it), cut into fixed blocks on every core (`linalg::par_gemm`). A measured peak,
/// not the datasheet's. Returns (milliseconds, GFLOP/s).
pub fn bench_peak(size: usize, reps: usize) -> Result<(f64, f64)> {
    if size == 0 || size > 16_384 || reps == 0 {
        let (field, value) = if reps == 0 {
            ("--reps", reps)
        } else {
            ("--size", size)
        };
        return Err(Error::invalid(
            field,
            value,
            "allowed: a size of 1 to 16384 and at least one repetition",
        ));
    }
    use biornn_numerics::linalg::{par_gemm, rm, rm_mut};
    let a: Vec<f32> = (0..size * size).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..size * size).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; size * size];
    let mut ms = vec![];
    for rep in 0..reps + 1 {
        let t0 = Instant::now();
        par_gemm(
            rm_mut(&mut c, size, size),
            false,
            rm(&a, size, size),
            rm(&b, size, size),
        );
        // the first product warms the caches and the threads up
        if rep > 0 {
            ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    Ok((median, 2.0 * (size as f64).powi(3) / (median * 1e6)))
}

/// One step's recurrent products, `W r` and `W^T d` for `batch` columns of `n` units, each way
/// the networks can run them: faer, and the packed panels on every instruction set this CPU has
/// (`biornn_numerics::packed`). Returns (path, microseconds for the pair, median of `reps`), and
/// checks on the way that every packed path gives the same bits.
pub fn bench_products(n: usize, batch: usize, reps: usize) -> Result<Vec<(String, f64)>> {
    use biornn_numerics::linalg::{cm, cm_mut, gemm, rm};
    use biornn_numerics::packed::{Isa, Panels};
    if n == 0 || batch == 0 || reps == 0 {
        return Err(Error::invalid(
            "bench products",
            0,
            "--n, --batch and --reps must be positive",
        ));
    }
    let w: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let x: Vec<f32> = (0..n * batch)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0)
        .collect();
    let mut out = vec![0.0f32; n * batch];
    let median = |f: &mut dyn FnMut()| median_us(reps, f);
    let mut rows = vec![(
        "faer".to_string(),
        median(&mut || {
            gemm(
                cm_mut(&mut out, n, batch),
                false,
                rm(&w, n, n),
                cm(&x, n, batch),
            );
            gemm(
                cm_mut(&mut out, n, batch),
                true,
                rm(&w, n, n).transpose(),
                cm(&x, n, batch),
            );
        }),
    )];
    let (forward, backward) = (
        Panels::from_row_major(&w, n, n, false),
        Panels::from_row_major(&w, n, n, true),
    );
    let mut first: Option<Vec<f32>> = None;
    for isa in [Isa::Avx512, Isa::Avx2, Isa::Scalar] {
        if !isa.supported() {
            continue;
        }
        let run = |out: &mut Vec<f32>| {
            forward.mul_with(isa, out, false, &x);
            backward.mul_with(isa, out, true, &x);
        };
        run(&mut out);
        match &first {
            None => first = Some(out.clone()),
            Some(f) if f != &out => {
                return Err(Error::new(format!(
                    "the {} path's products differ from the first path's",
                    isa.name()
                )))
            }
            Some(_) => {}
        }
        rows.push((
            format!("packed_{}", isa.name()),
            median(&mut || run(&mut out)),
        ));
    }
    Ok(rows)
}

/// `k` networks' forward per-step products (`W r` for `batch` columns of `n` units), one network
/// after another on its own packed panels, and all at once with the networks in the lanes of a
/// vector (`biornn_numerics::lanes`), on columns already in the lanes and with each step's
/// columns moved into the lanes and back. Both sides take the process's packed path (AVX-512,
/// or scalar code where that is not it). Returns (what, microseconds for
/// the k products, median of `reps`), after checking that every network's lanes product is its
/// own product bit for bit.
pub fn bench_lanes(n: usize, batch: usize, k: usize, reps: usize) -> Result<Vec<(String, f64)>> {
    use biornn_numerics::lanes::{deinterleave, interleave, LanePanels, LANES};
    use biornn_numerics::packed::{active, Isa, Panels};
    if n == 0 || batch == 0 || k == 0 || reps == 0 {
        return Err(Error::invalid(
            "bench products",
            0,
            "--n, --batch, --k and --reps must be positive",
        ));
    }
    let weights: Vec<Vec<f32>> = (0..k)
        .map(|net| {
            (0..n * n)
                .map(|i| (((i + 31 * net) * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect()
        })
        .collect();
    let xs: Vec<Vec<f32>> = (0..k)
        .map(|net| {
            (0..n * batch)
                .map(|i| (((i + 17 * net) * 104_729) % 1000) as f32 / 1000.0)
                .collect()
        })
        .collect();
    // the lanes run AVX-512 where the process's packed path is AVX-512, else scalar code: the
    // networks one by one take the same
    let isa = match active() {
        Some(Isa::Avx512) => Isa::Avx512,
        _ => Isa::Scalar,
    };
    let panels: Vec<Panels> = weights
        .iter()
        .map(|w| Panels::from_row_major(w, n, n, false))
        .collect();
    let w_refs: Vec<&[f32]> = weights.iter().map(|w| w.as_slice()).collect();
    let x_refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
    let lanes = LanePanels::from_row_major(&w_refs, n, n, false);
    let mut rhs = vec![];
    interleave(&x_refs, n, batch, &mut rhs);
    let mut dst = vec![0.0f32; lanes.groups() * batch * n * LANES];
    let mut outs: Vec<Vec<f32>> = vec![vec![0.0f32; n * batch]; k];

    lanes.mul(&mut dst, &rhs);
    let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
    deinterleave(&dst, n, batch, &mut out_refs);
    let mut own = vec![0.0f32; n * batch];
    for (net, p) in panels.iter().enumerate() {
        p.mul_with(isa, &mut own, false, &xs[net]);
        if own != outs[net] {
            return Err(Error::new(format!(
                "network {net}'s product in the lanes differs from its own"
            )));
        }
    }
    let median = |f: &mut dyn FnMut()| median_us(reps, f);
    let one_by_one = median(&mut || {
        for (net, p) in panels.iter().enumerate() {
            p.mul_with(isa, &mut outs[net], false, &xs[net]);
        }
    });
    let in_lanes = median(&mut || lanes.mul(&mut dst, &rhs));
    let with_layout = median(&mut || {
        interleave(&x_refs, n, batch, &mut rhs);
        lanes.mul(&mut dst, &rhs);
        let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        deinterleave(&dst, n, batch, &mut out_refs);
    });
    Ok(vec![
        ("one_by_one".to_string(), one_by_one),
        ("lanes".to_string(), in_lanes),
        ("lanes_with_layout".to_string(), with_layout),
    ])
}

/// Microseconds per call of `f`: the median over groups of 20 calls (about `reps` calls in all),
/// the first group left out as a warm-up.
fn median_us(reps: usize, f: &mut dyn FnMut()) -> f64 {
    let mut us: Vec<f64> = (0..reps.div_ceil(20) + 1)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..20 {
                f();
            }
            t0.elapsed().as_secs_f64() * 1e6 / 20.0
        })
        .collect();
    us.remove(0);
    us.sort_by(f64::total_cmp);
    us[us.len() / 2]
}

/// The path networks' per-step products take in this process: `avx512`, `avx2`, `scalar` or
/// `faer` (`BIORNN_ISA` forces one).
pub fn packed_path() -> &'static str {
    biornn_numerics::packed::active().map_or("faer", |i| i.name())
}

/// The threads parallel work spreads over (`RAYON_NUM_THREADS`, else every core).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The benchmarks' CordsNet: square images, 10 classes.
fn bench_network(
    depth: usize,
    image: usize,
    channels: usize,
    widths: [usize; 4],
) -> Result<biornn_vision::CordsNet> {
    biornn_vision::CordsNet::new(&biornn_vision::CordsNetShape {
        depth,
        in_channels: channels,
        image: (image, image),
        widths,
        classes: 10,
    })
}

/// Every area's per-unit biases drawn from N(0, 0.1^2): every area active at rest, and no unit at
/// ReLU's kink.
fn random_biases<T: biornn_numerics::Real>(
    net: &biornn_vision::CordsNet,
    theta: &mut [T],
    rng: &mut biornn_numerics::RngStream,
) {
    for l in 0..net.depth() {
        if let Some(t) = net.layout.get(&format!("conv_bias.{l}")) {
            for v in &mut theta[t.range.clone()] {
                *v = T::from_f64(0.1 * rng.normal());
            }
        }
    }
}

/// Matrix-free analysis at one CordsNet shape (random weights and biases, f64): the whole step
/// Jacobian (every area's units at once) at the state `settle` steps after a random image appears,
/// and `k` Arnoldi steps on it. Returns the units, the milliseconds and the largest |eigenvalue|
/// found.
pub fn bench_cordsnet_arnoldi(
    depth: usize,
    image: usize,
    channels: usize,
    widths: [usize; 4],
    (k, settle): (usize, usize),
) -> Result<(usize, f64, f64)> {
    use biornn_numerics::krylov::arnoldi;
    use biornn_vision::jacobian::StepJacobian;
    use biornn_vision::Activation;
    let net = bench_network(depth, image, channels, widths)?;
    let mut theta: Vec<f64> = net.init(&biornn_numerics::Streams::new(1));
    let mut rng = biornn_numerics::Streams::new(2).stream("bench_images", 0);
    // biases, so that the state is not all at ReLU's kink
    random_biases(&net, &mut theta, &mut rng);
    let x: Vec<f64> = (0..channels * image * image)
        .map(|_| rng.normal())
        .collect();
    let (s, ks) = net.stem(&theta, &x, 1);
    let mut r = net.zero_state::<f64>(1);
    let (mut z, mut scratch) = (net.zero_state(1), Default::default());
    for _ in 0..settle {
        net.step(
            &theta,
            &mut r,
            (&s, &ks),
            1,
            0.2,
            Activation::Relu,
            &mut z,
            &mut scratch,
        );
    }
    let t0 = Instant::now();
    let jac = StepJacobian::at(&net, &theta, &r, (&s, &ks), 0.2, Activation::Relu);
    let ritz = arnoldi(
        &jac,
        k,
        &mut biornn_numerics::Streams::new(3).stream("bench_arnoldi", 0),
    )?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let top = ritz.eigenvalues.first().map_or(0.0, |e| e.norm());
    Ok((net.units(), ms, top))
}

/// CordsNet's speed at one shape: milliseconds of one Euler step of `batch` images (the stem
/// computed once per image beforehand, as a static image allows), and of one training step
/// (`stimulus` steps with the image from the spontaneous state, cross-entropy over the last half,
/// and the gradient through them; BPTT keeps every `segment`-th state, 0: all). Random weights
/// and biases (N(0, 0.1^2), so that every area is active at rest), f32; the spontaneous state is
/// `depth` steps from rest without an image, and the steps are timed from it. The median of
/// `iters` timings after one untimed.
pub fn bench_cordsnet(
    depth: usize,
    image: usize,
    channels: usize,
    widths: [usize; 4],
    batch: usize,
    (stimulus, segment): (usize, usize),
    iters: usize,
) -> Result<(f64, f64)> {
    use biornn_vision::{Activation, Protocol};
    let net = bench_network(depth, image, channels, widths)?;
    let mut theta: Vec<f32> = net.init(&biornn_numerics::Streams::new(1));
    let mut rng = biornn_numerics::Streams::new(2).stream("bench_images", 0);
    random_biases(&net, &mut theta, &mut rng);
    let x: Vec<f32> = (0..batch * channels * image * image)
        .map(|_| rng.normal() as f32)
        .collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let (s, ks) = net.stem(&theta, &x, batch);
    let spont = net.spontaneous(&theta, depth, 0.2, Activation::Relu);
    let mut r = net.broadcast(&spont, batch);
    let mut z = net.zero_state::<f32>(batch);
    let mut scratch = Default::default();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut step_ms = vec![];
    for i in 0..=iters {
        let t0 = Instant::now();
        net.step(
            &theta,
            &mut r,
            (&s, &ks),
            batch,
            0.2,
            Activation::Relu,
            &mut z,
            &mut scratch,
        );
        if i > 0 {
            step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let p = Protocol {
        alpha: 0.2,
        spontaneous: 0,
        stimulus,
        loss_steps: stimulus.div_ceil(2),
        offset: 0,
        penalty_steps: 0,
        penalty_weight: 0.0,
        segment,
    };
    let mut grad = vec![0.0f32; theta.len()];
    let mut train_ms = vec![];
    for i in 0..=iters.min(5) {
        let t0 = Instant::now();
        grad.fill(0.0);
        net.loss_and_grad(&theta, &x, &labels, &spont, &p, Activation::Relu, &mut grad);
        if i > 0 {
            train_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((median(step_ms), median(train_ms)))
}
