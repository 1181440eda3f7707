//! Benchmarks of the training iteration: what `biornn bench` runs and `bench/compare.sh` sets beside
//! PyTorch. A "training iteration" is: build a task batch, forward, backward, Adam update. The network
//! is the rate-convention CTRNN with relu, a sigmoid readout, the masked squared error and Adam, on 85
//! inputs and 33 outputs (the Yang layout), without noise, so that the PyTorch reference
//! (`bench/pytorch/ctrnn_bench.py`) computes exactly the same thing.

use crate::config::{RunConfig, TrainConfig};
use crate::engine::{chunk_ranges, Engine};
use crate::optim::Optimizer;
use biornn_model::{Activation, Ctrnn, Grads, NoiseConfig};
use biornn_numerics::linalg::{cm, cm_mut, gemm, rm};
use biornn_numerics::{Result, Streams};
use biornn_tasks::yang::{build_into, YangRule, YangTrialSpec};
use biornn_tasks::TaskBatch;
use rayon::prelude::*;
use std::f64::consts::PI;
use std::time::Instant;

pub const N_IN: usize = 85;
pub const N_OUT: usize = 33;

/// The config of the benchmarked network.
pub fn bench_config(n: usize, batch: usize, chunks: usize) -> RunConfig {
    let mut cfg = RunConfig::default();
    cfg.model.n_rec = n;
    cfg.model.activation = Activation::Relu;
    cfg.model.noise = NoiseConfig {
        sigma: 0.0,
        ..Default::default()
    };
    cfg.train = TrainConfig {
        batch_size: batch,
        batch_chunks: chunks.min(batch).max(1),
        clip_value: None,
        ..Default::default()
    };
    cfg
}

/// A batch of `batch` fdgo trials of exactly `steps` steps (dt 20 ms), locations from `index`.
pub fn fixed_length_batch(steps: usize, batch: usize, index: u64) -> TaskBatch {
    let mut out = TaskBatch::default();
    fixed_length_batch_into(steps, batch, index, &mut out);
    out
}

/// As [`fixed_length_batch`], into `out`'s buffers.
pub fn fixed_length_batch_into(steps: usize, batch: usize, index: u64, out: &mut TaskBatch) {
    let mut rng = Streams::new(17).stream("bench_batch", index);
    let go = (steps / 4).max(1).min(steps.saturating_sub(1));
    let mut trials = std::mem::take(&mut out.trials);
    trials.resize_with(batch, || biornn_tasks::Trial::new(N_IN, N_OUT, 20.0));
    for trial in trials.iter_mut() {
        {
            let spec = YangTrialSpec {
                rule: YangRule::FdGo,
                stim1_loc: rng.uniform_in(0.0, 2.0 * PI),
                stim2_loc: f64::NAN,
                stim1_strength: [1.0, 0.0],
                stim2_strength: [f64::NAN; 2],
                stim1_on: go / 2,
                stim1_off: steps,
                stim2_on: steps,
                stim2_off: steps,
                fix_off: steps - go,
                response_on: steps - go,
                t_end: steps,
            };
            build_into(&spec, 20.0, trial);
        }
    }
    out.assemble_from(&trials);
    out.trials = trials;
}

/// Floating-point operations of one training iteration's matrix products (elementwise work is not
/// counted): forward input, recurrent and readout products, and their backward counterparts.
pub fn train_flops(n: usize, batch: usize, steps: usize) -> f64 {
    let tb = (steps * batch) as f64;
    let (n, ni, no) = (n as f64, N_IN as f64, N_OUT as f64);
    tb * (2.0 * n * ni + 2.0 * n * n + 2.0 * no * n) // forward
        + tb * (2.0 * n * no + 2.0 * n * n + 2.0 * n * n + 2.0 * n * ni + 2.0 * no * n)
    // backward
}

pub fn eval_flops(n: usize, batch: usize, steps: usize) -> f64 {
    let tb = (steps * batch) as f64;
    let (n, ni, no) = (n as f64, N_IN as f64, N_OUT as f64);
    tb * (2.0 * n * ni + 2.0 * n * n + 2.0 * no * n)
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    /// milliseconds of each timed iteration
    pub ms: Vec<f64>,
    pub flops: f64,
}

impl BenchResult {
    pub fn median_ms(&self) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        let k = v.len();
        if k % 2 == 1 {
            v[k / 2]
        } else {
            0.5 * (v[k / 2 - 1] + v[k / 2])
        }
    }

    pub fn gflops(&self) -> f64 {
        self.flops / (self.median_ms() * 1e6)
    }
}

/// Milliseconds of each of `iters` calls of `body(i)`, after `warmup` untimed ones.
fn time_iterations(warmup: usize, iters: usize, mut body: impl FnMut(usize)) -> Vec<f64> {
    let mut ms = Vec::with_capacity(iters);
    for i in 0..warmup + iters {
        let t0 = Instant::now();
        body(i);
        if i >= warmup {
            ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms
}

/// Time `iters` training iterations after `warmup` untimed ones.
pub fn bench_train(
    n: usize,
    batch: usize,
    steps: usize,
    chunks: usize,
    iters: usize,
    warmup: usize,
) -> Result<BenchResult> {
    bench_train_config(&bench_config(n, batch, chunks), steps, iters, warmup)
}

/// Training iterations of a network whose recurrent weights lie on a ring mask of `radius`
/// (density (2 radius + 1) / n; stored by diagonals), or with `random` on a random mask of that
/// density (stored by rows), through the sparse kernels and through dense masking, in alternating
/// rounds so that both see the same machine. Returns the density and the two timings (sparse,
/// dense).
pub fn bench_sparse(
    n: usize,
    batch: usize,
    steps: usize,
    chunks: usize,
    iters: usize,
    radius: f64,
    random: Option<f64>,
) -> Result<(f64, BenchResult, BenchResult)> {
    use biornn_model::sparse::SparseKernels;
    let config = |kernels| {
        let mut cfg = bench_config(n, batch, chunks);
        cfg.model.mask.recurrent = match random {
            Some(density) => biornn_model::MaskSpec::Random { density },
            None => biornn_model::MaskSpec::Local {
                width: None,
                radius,
                periodic: false,
                metric: biornn_model::mask::Metric::Euclidean,
                rule: biornn_model::mask::LocalRule::Hard,
                lambda: 0.0,
            },
        };
        cfg.model.mask.sparse_kernels = kernels;
        cfg
    };
    let (sparse_cfg, dense_cfg) = (config(SparseKernels::On), config(SparseKernels::Off));
    sparse_cfg.validate()?;
    let (mut sparse, mut dense) = (vec![], vec![]);
    for _ in 0..3 {
        sparse.extend(bench_train_config(&sparse_cfg, steps, iters, 1)?.ms);
        dense.extend(bench_train_config(&dense_cfg, steps, iters, 1)?.ms);
    }
    let net = Ctrnn::<f32>::new(&sparse_cfg.model, N_IN, N_OUT, 20.0, &Streams::new(1))?;
    let nnz = net.mask_rec.iter().filter(|m| **m != 0.0).count();
    let flops = train_flops(n, batch, steps);
    Ok((
        nnz as f64 / (n * n) as f64,
        BenchResult { ms: sparse, flops },
        BenchResult { ms: dense, flops },
    ))
}

/// Time `iters` training iterations of the network `cfg` describes after `warmup` untimed ones.
fn bench_train_config(
    cfg: &RunConfig,
    steps: usize,
    iters: usize,
    warmup: usize,
) -> Result<BenchResult> {
    let (n, batch) = (cfg.model.n_rec, cfg.train.batch_size);
    let streams = Streams::new(cfg.seed);
    let mut net = Ctrnn::<f32>::new(&cfg.model, N_IN, N_OUT, 20.0, &streams)?;
    let mut engine = Engine::<f32>::default();
    let mut grads = Grads::zeros(N_IN, n, N_OUT);
    let mut opt = Optimizer::new(&cfg.train, N_IN, n, N_OUT);
    let mut b = TaskBatch::default();
    let ms = time_iterations(warmup, iters, |i| {
        fixed_length_batch_into(steps, batch, i as u64, &mut b);
        engine.loss_and_grad(&net, &b, &cfg.train, None, &mut grads);
        opt.step(&mut net, &grads, cfg.train.learning_rate);
    });
    Ok(BenchResult {
        ms,
        flops: train_flops(n, batch, steps),
    })
}

/// Time `iters` forward-only evaluations (task batch, forward, loss) after `warmup`.
pub fn bench_eval(
    n: usize,
    batch: usize,
    steps: usize,
    chunks: usize,
    iters: usize,
    warmup: usize,
) -> Result<BenchResult> {
    let cfg = bench_config(n, batch, chunks);
    let net = Ctrnn::<f32>::new(&cfg.model, N_IN, N_OUT, 20.0, &Streams::new(cfg.seed))?;
    let mut engine = Engine::<f32>::default();
    let judge = |trial: &biornn_tasks::TrialOutputs| {
        let last = trial.last();
        let correct = biornn_tasks::yang::correct(last.output, last.y_loc);
        biornn_tasks::TrialScore {
            correct,
            steps_right: correct as usize,
            steps_scored: 1,
            ambiguous: false,
        }
    };
    let mut b = TaskBatch::default();
    let ms = time_iterations(warmup, iters, |i| {
        fixed_length_batch_into(steps, batch, i as u64, &mut b);
        engine.evaluate(&net, &b, &cfg.train, None, &judge);
    });
    Ok(BenchResult {
        ms,
        flops: eval_flops(n, batch, steps),
    })
}

/// The practical ceiling: the same matrix products as a training iteration (same shapes, same chunks
/// in parallel), with nothing else. Median milliseconds and GFLOP/s.
pub fn bench_gemm_ceiling(
    n: usize,
    batch: usize,
    steps: usize,
    chunks: usize,
    iters: usize,
) -> BenchResult {
    let ranges = chunk_ranges(batch, chunks);
    let w = vec![0.01f32; n * n];
    let w_in = vec![0.01f32; n * N_IN];
    let w_out = vec![0.01f32; N_OUT * n];
    struct Bufs {
        u: Vec<f32>,
        r: Vec<f32>,
        z: Vec<f32>,
        y: Vec<f32>,
        gw: Vec<f32>,
        gin: Vec<f32>,
        gout: Vec<f32>,
    }
    let mut bufs: Vec<Bufs> = ranges
        .iter()
        .map(|(a, b)| {
            let tb = steps * (b - a);
            Bufs {
                u: vec![0.5; N_IN * tb],
                r: vec![0.5; n * (tb + (b - a))],
                z: vec![0.0; n * tb],
                y: vec![0.0; N_OUT * tb],
                gw: vec![0.0; n * n],
                gin: vec![0.0; n * N_IN],
                gout: vec![0.0; N_OUT * n],
            }
        })
        .collect();
    let mut ms = vec![];
    for _ in 0..iters + 1 {
        let t0 = Instant::now();
        bufs.par_iter_mut()
            .zip(ranges.par_iter())
            .for_each(|(b, &(b0, b1))| {
                let bc = b1 - b0;
                let tb = steps * bc;
                let blk = n * bc;
                gemm(
                    cm_mut(&mut b.z, n, tb),
                    false,
                    rm(&w_in, n, N_IN),
                    cm(&b.u, N_IN, tb),
                );
                for t in 0..steps {
                    let (prev, next) = b.r.split_at_mut(blk * (t + 1));
                    gemm(
                        cm_mut(&mut next[..blk], n, bc),
                        false,
                        rm(&w, n, n),
                        cm(&prev[blk * t..], n, bc),
                    );
                }
                gemm(
                    cm_mut(&mut b.y, N_OUT, tb),
                    false,
                    rm(&w_out, N_OUT, n),
                    cm(&b.r[blk..], n, tb),
                );
                gemm(
                    cm_mut(&mut b.z, n, tb),
                    false,
                    rm(&w_out, N_OUT, n).transpose(),
                    cm(&b.y, N_OUT, tb),
                );
                for t in (0..steps).rev() {
                    let (prev, next) = b.r.split_at_mut(blk * (t + 1));
                    gemm(
                        cm_mut(&mut prev[blk * t..], n, bc),
                        true,
                        rm(&w, n, n).transpose(),
                        cm(&next[..blk], n, bc),
                    );
                }
                gemm(
                    cm_mut(&mut b.gw, n, n),
                    false,
                    cm(&b.z, n, tb),
                    cm(&b.r[..n * tb], n, tb).transpose(),
                );
                gemm(
                    cm_mut(&mut b.gin, n, N_IN),
                    false,
                    cm(&b.z, n, tb),
                    cm(&b.u, N_IN, tb).transpose(),
                );
                gemm(
                    cm_mut(&mut b.gout, N_OUT, n),
                    false,
                    cm(&b.y, N_OUT, tb),
                    cm(&b.r[blk..], n, tb).transpose(),
                );
            });
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    ms.remove(0);
    BenchResult {
        ms,
        flops: train_flops(n, batch, steps),
    }
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// K independent networks trained at once, in parallel over networks (each with its own seed and its
/// own fixed batch chunks). Returns the wall-clock seconds for `iters` updates of every network.
pub fn bench_seeds(k: usize, n: usize, batch: usize, steps: usize, iters: usize) -> Result<f64> {
    let t0 = Instant::now();
    (0..k)
        .into_par_iter()
        .map(|seed| -> Result<()> {
            let mut cfg = bench_config(n, batch, 1);
            cfg.seed = seed as u64;
            let mut net =
                Ctrnn::<f32>::new(&cfg.model, N_IN, N_OUT, 20.0, &Streams::new(cfg.seed))?;
            let mut engine = Engine::<f32>::default();
            let mut grads = Grads::zeros(N_IN, n, N_OUT);
            let mut opt = Optimizer::new(&cfg.train, N_IN, n, N_OUT);
            let mut b = TaskBatch::default();
            for i in 0..iters {
                fixed_length_batch_into(steps, batch, i as u64, &mut b);
                engine.loss_and_grad(&net, &b, &cfg.train, None, &mut grads);
                opt.step(&mut net, &grads, cfg.train.learning_rate);
            }
            Ok(())
        })
        .collect::<Result<Vec<()>>>()?;
    Ok(t0.elapsed().as_secs_f64())
}

/// Microseconds to generate one batch of `batch` Yang trials (rules in turn), with gyyang's input noise
/// or without.
pub fn bench_tasks(batch: usize, iters: usize, noise: bool) -> f64 {
    use biornn_tasks::yang::YangTask;
    use biornn_tasks::{generate_into, BatchSpec, Timing};
    let spec = BatchSpec {
        dt: 20.0,
        batch_size: batch,
        timing: Timing::PerBatch,
        input_noise_std: if noise { 0.0316 } else { 0.0 },
    };
    let streams = Streams::new(3);
    let mut us = vec![];
    let mut b = TaskBatch::default();
    for i in 0..iters {
        let task = YangTask {
            rule: YangRule::ALL[i % 20],
            easy: false,
        };
        let t0 = Instant::now();
        generate_into(&task, &spec, &streams, i as u64, &mut b);
        us.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    us[us.len() / 2]
}

/// One round of the long-term protocol (`biornn longterm TASK --networks K`: K networks of its
/// shape, 10 updates of 20 trials each, then an evaluation of every network on 200 trials), its
/// arithmetic counted at its shapes and its kernels timed alone on one thread: faer's whole-pass
/// products (input, readout, the readout's backward product, the three weight gradients), the
/// per-step recurrent products on the path the networks take (W r forward, W^T d backward) and
/// the normal deviates of the recurrent noise. Spread over every thread without loss, they give
/// the least time a round can take with this arithmetic, every elementwise pass, the loss, Adam,
/// copies and task building left out ([`RoundFloor::floor_s`]).
#[derive(Debug, Clone)]
pub struct RoundFloor {
    /// trial-steps (columns) one network trains on in the round
    pub train_columns: usize,
    /// trial-steps one network is evaluated on after it
    pub eval_columns: usize,
    /// trial-steps one network's backward sweeps run through (from each trial's gradient start)
    pub backward_columns: usize,
    /// the round's matrix-product arithmetic, every network (GFLOP)
    pub gflop: f64,
    /// seconds of one thread, every network: the per-step recurrent products
    pub per_step_s: f64,
    /// the same: the whole-pass products
    pub whole_pass_s: f64,
    /// the same: the normal deviates
    pub normals_s: f64,
    /// threads the round spreads over
    pub threads: usize,
}

impl RoundFloor {
    /// Seconds per round with the kernels' work spread over every thread without loss.
    pub fn floor_s(&self) -> f64 {
        (self.per_step_s + self.whole_pass_s + self.normals_s) / self.threads as f64
    }
}

/// [`RoundFloor`] for the networks of `cfg` (its task and count; plain training's batches of
/// round `round`, at the fine step), each kernel the median of `reps` timings.
pub fn bench_longterm_floor(
    cfg: &crate::longterm::LongTermConfig,
    round: usize,
    reps: usize,
) -> Result<RoundFloor> {
    use crate::longterm::round_steps;
    use biornn_numerics::linalg::rm_mut;
    use biornn_tasks::temporalskip::{N_INPUT, N_OUTPUT};
    cfg.validate()?;
    if reps == 0 {
        return Err(biornn_numerics::Error::invalid(
            "--reps",
            reps,
            "allowed: at least one repetition",
        ));
    }
    if round >= cfg.max_rounds {
        return Err(biornn_numerics::Error::invalid(
            "--round",
            round,
            &format!(
                "allowed: 0 to {} (the protocol's rounds)",
                cfg.max_rounds - 1
            ),
        ));
    }
    let networks = cfg.networks;
    let (train_steps, eval_steps) = round_steps(cfg, round);
    let (ni, no, n, b) = (N_INPUT, N_OUTPUT, cfg.n_rec, cfg.batch);
    let net = Ctrnn::<f32>::new(&cfg.model(), ni, no, cfg.dt, &Streams::new(cfg.seed))?;
    let (fed, read) = {
        let ((lo, hi), (rlo, rhi)) = (net.input_rows(), net.readout_cols());
        (hi - lo, rhi - rlo)
    };
    let steps_trained: usize = train_steps.iter().map(|(steps, _)| steps).sum();
    // the backward sweep runs from the gradient start on: one W^T d per step from there
    let steps_back: usize = train_steps.iter().map(|(steps, g0)| steps - g0).sum();
    let train_columns = steps_trained * b;
    let eval_columns = eval_steps * cfg.eval_trials;
    // the evaluation runs its trials in chunks of `b` (the last one narrower when `b` does not
    // divide them), every step of each
    let (full_chunks, last_chunk) = (cfg.eval_trials / b, cfg.eval_trials % b);

    // seconds of one call of `f`: the median of `reps` timings after one untimed call
    let median = |f: &mut dyn FnMut()| -> f64 {
        let mut ms = time_iterations(1, reps, |_| f());
        ms.sort_by(f64::total_cmp);
        ms[ms.len() / 2] / 1e3
    };
    let fill = |len: usize, k: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * k) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    };
    // one step's product on the network's own path, `cols` columns, forward or backward
    let step_product = |cols: usize, transpose: bool| -> f64 {
        let (x, mut out) = (fill(n * cols, 7919), vec![0.0f32; n * cols]);
        median(&mut || {
            for _ in 0..100 {
                net.recurrent_product(&mut out, true, &x, transpose);
            }
        }) / 100.0
    };
    let (forward, backward) = (step_product(b, false), step_product(b, true));
    let last_forward = if last_chunk > 0 {
        step_product(last_chunk, false)
    } else {
        0.0
    };
    let per_step_s = steps_trained as f64 * forward
        + steps_back as f64 * backward
        + eval_steps as f64 * (full_chunks as f64 * forward + last_forward);

    // whole-pass products on one typical update's columns, scaled to the round's
    let c = train_columns / train_steps.len().max(1);
    let (w_in, w_out, w_outt) = (fill(fed * ni, 31), fill(no * n, 37), fill(read * no, 41));
    let (u, r, d, d_out) = (
        fill(ni * c, 43),
        fill(n * c, 47),
        fill(n * c, 53),
        fill(no * c, 59),
    );
    let (mut drive, mut y, mut delta) = (
        vec![0.0f32; fed * c],
        vec![0.0f32; no * c],
        vec![0.0f32; read * c],
    );
    let (mut g_rec, mut g_in, mut g_out) = (
        vec![0.0f32; n * n],
        vec![0.0f32; fed * ni],
        vec![0.0f32; no * read],
    );
    let input = median(&mut || {
        gemm(
            cm_mut(&mut drive, fed, c),
            false,
            rm(&w_in, fed, ni),
            cm(&u, ni, c),
        )
    });
    let readout = median(&mut || {
        gemm(
            cm_mut(&mut y, no, c),
            false,
            rm(&w_out, no, n),
            cm(&r, n, c),
        )
    });
    let readout_back = median(&mut || {
        gemm(
            cm_mut(&mut delta, read, c),
            false,
            rm(&w_outt, read, no),
            cm(&d_out, no, c),
        )
    });
    let grad_rec = median(&mut || {
        gemm(
            rm_mut(&mut g_rec, n, n),
            false,
            cm(&d, n, c),
            cm(&r, n, c).transpose(),
        )
    });
    let grad_in = median(&mut || {
        gemm(
            rm_mut(&mut g_in, fed, ni),
            false,
            cm(&d[..fed * c], fed, c),
            cm(&u, ni, c).transpose(),
        )
    });
    let grad_out = median(&mut || {
        gemm(
            rm_mut(&mut g_out, no, read),
            false,
            cm(&d_out, no, c),
            cm(&r[..read * c], read, c).transpose(),
        )
    });
    let per_column = |s: f64| s / c as f64;
    let whole_pass_s = train_columns as f64
        * per_column(input + readout + readout_back + grad_rec + grad_in + grad_out)
        + eval_columns as f64 * per_column(input + readout);

    // the recurrent noise: a normal deviate per unit and column, training and evaluation
    let mut z = vec![0.0f32; n * c];
    let mut rng = Streams::new(1).stream("bench_normals", 0).bulk();
    let normals = median(&mut || rng.fill_normal_f32(&mut z));
    let normals_s = (train_columns + eval_columns) as f64 * per_column(normals);

    let (fed, read, nn) = (fed as f64, read as f64, 2.0 * (n * n) as f64);
    let (ni, no, n) = (ni as f64, no as f64, n as f64);
    // per column: forward (input, recurrent, readout); training adds the readout's backward
    // product and the three weight gradients on every column, W^T d from the gradient start on
    let forward_flops = 2.0 * (fed * ni + no * n) + nn;
    let gradient_flops = 2.0 * (read * no + fed * ni + no * read) + nn;
    let back_columns = (steps_back * b) as f64;
    let k = networks as f64;
    let gflop = k
        * ((train_columns + eval_columns) as f64 * forward_flops
            + train_columns as f64 * gradient_flops
            + back_columns * nn)
        / 1e9;
    Ok(RoundFloor {
        train_columns,
        eval_columns,
        backward_columns: steps_back * b,
        gflop,
        per_step_s: k * per_step_s,
        whole_pass_s: k * whole_pass_s,
        normals_s: k * normals_s,
        threads: rayon::current_num_threads(),
    })
}
