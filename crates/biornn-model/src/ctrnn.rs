//! The Euler-discretised continuous-time rate network and its exact backward pass.
//!
//! With s the state, r the rate seen by other units, u the input and a = dt/tau per unit:
//!
//! ```text
//! z_t = W_in u_t + W_rec r_{t-1} + b (+ noise inside)
//! s_t = (1 - a) s_{t-1} + a psi(z_t)   (+ noise outside)
//! r_t = rho(s_t)
//! y_t = readout(W_out r_t + b_out)
//! ```
//! The rate convention (gyyang) has psi = f, rho = identity; the current convention (PsychRNN) has
//! psi = identity, rho = f. Time series are column-major `[dim, T*B]` buffers (column `t*B + b`), which
//! is numpy's `[T, B, dim]` in memory. Weights are row-major `(post, pre)`.

use crate::config::{
    DaleMode, ModelConfig, NoiseConfig, NoiseKind, NoisePlacement, Readout, StateConvention,
    Trainable,
};
use crate::skip::{Block, DascDerivative, Skip, SkipKind, TimePlan};
use crate::sparse::{SparseKernels, SparseRec};
use crate::{activation::sigmoid, init, Activation};
use biornn_numerics::fp::FlushSubnormals;
use biornn_numerics::linalg::{cm, cm_mut, gemm, matvec, rm, rm_mut};
use biornn_numerics::packed::{self, Panels};
use biornn_numerics::{real::convert, Real, Result, RngStream, Streams};

/// The trainable parameters, raw (before masks and sign constraints are applied).
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T> {
    /// (n_rec, n_in)
    pub w_in: Vec<T>,
    /// (n_rec, n_rec)
    pub w_rec: Vec<T>,
    /// (n_out, n_rec)
    pub w_out: Vec<T>,
    pub b_rec: Vec<T>,
    pub b_out: Vec<T>,
    /// initial state s_0 (shared by all trials)
    pub init_state: Vec<T>,
}

/// Gradients have the shapes of the parameters.
pub type Grads<T> = Params<T>;

pub const PARAM_NAMES: [&str; 6] = ["w_in", "w_rec", "w_out", "b_rec", "b_out", "init_state"];

impl<T: Real> Params<T> {
    pub fn zeros(n_in: usize, n_rec: usize, n_out: usize) -> Self {
        Params {
            w_in: vec![T::ZERO; n_rec * n_in],
            w_rec: vec![T::ZERO; n_rec * n_rec],
            w_out: vec![T::ZERO; n_out * n_rec],
            b_rec: vec![T::ZERO; n_rec],
            b_out: vec![T::ZERO; n_out],
            init_state: vec![T::ZERO; n_rec],
        }
    }

    /// The six tensors in the order of `PARAM_NAMES`.
    pub fn tensors(&self) -> [&Vec<T>; 6] {
        [
            &self.w_in,
            &self.w_rec,
            &self.w_out,
            &self.b_rec,
            &self.b_out,
            &self.init_state,
        ]
    }

    pub fn tensors_mut(&mut self) -> [&mut Vec<T>; 6] {
        [
            &mut self.w_in,
            &mut self.w_rec,
            &mut self.w_out,
            &mut self.b_rec,
            &mut self.b_out,
            &mut self.init_state,
        ]
    }

    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.fill(T::ZERO);
        }
    }

    /// self += other, element by element.
    pub fn add_assign(&mut self, other: &Params<T>) {
        for (a, b) in self.tensors_mut().into_iter().zip(other.tensors()) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += *y;
            }
        }
    }

    pub fn convert<U: Real>(&self) -> Params<U> {
        Params {
            w_in: convert(&self.w_in),
            w_rec: convert(&self.w_rec),
            w_out: convert(&self.w_out),
            b_rec: convert(&self.b_rec),
            b_out: convert(&self.b_out),
            init_state: convert(&self.init_state),
        }
    }

    pub fn all_finite(&self) -> bool {
        self.tensors()
            .iter()
            .all(|t| t.iter().all(|v| v.is_finite()))
    }
}

/// Everything a forward pass computed, kept for the backward pass, for analysis and for local rules.
/// Buffers are reused between calls: after the first call of a given size nothing is allocated.
#[derive(Debug, Clone, Default)]
pub struct Trajectory<T> {
    pub steps: usize,
    pub batch: usize,
    /// u, `[n_in, T*B]`
    pub input: Vec<T>,
    /// z, the drive into each unit including noise placed inside, `[n_rec, T*B]`
    pub drive: Vec<T>,
    /// s, `[n_rec, (T+1)*B]`; block 0 is the initial state
    pub state: Vec<T>,
    /// r, `[n_rec, (T+1)*B]`
    pub rate: Vec<T>,
    /// W_out r + b_out, `[n_out, T*B]`
    pub out_pre: Vec<T>,
    /// readout(out_pre), `[n_out, T*B]`
    pub output: Vec<T>,
    /// recurrent noise sample, `[n_rec, T*B]` (empty when off)
    pub noise: Vec<T>,
    delta: Vec<T>,
    ds_next: Vec<T>,
    scratch: Vec<T>,
    normals: Vec<f32>,
    /// the time plan of the last forward pass, which its backward pass follows
    plan_skip: Option<Skip>,
    grad_start: usize,
    blocks: Vec<Block>,
    /// the unmixed state at the last block end (stale DASC)
    fine: Vec<T>,
    /// gradient reaching each state, and each unmixed block-end state, through skip paths
    ds_extra: Vec<T>,
    df_extra: Vec<T>,
    /// the trial-level skip of the last forward pass: its beta and spans (empty when inactive)
    trial_beta: Option<f64>,
    trial_spans: Vec<(usize, usize)>,
    /// the trial-level skip path's share of a span end's gradient
    trial_grad: Vec<T>,
    /// where a forward pass run in pieces has got to: the next step, block and span
    next_step: usize,
    next_block: usize,
    next_span: usize,
    noise_inside: bool,
    noise_outside: bool,
    /// one value per recurrent weight of a sparse network, for its gradient
    sparse_grad: Vec<T>,
    /// each unit's dt/tau repeated for every column of a step, `[n_rec, B]`, and the recurrent
    /// and readout biases likewise (`[n_rec, B]`, `[n_out, B]`): the elementwise passes then run
    /// over a whole step as one vector loop (per column, n_rec = 50 would leave a scalar remainder
    /// in every column)
    alpha_cols: Vec<T>,
    rec_bias_cols: Vec<T>,
    out_bias_cols: Vec<T>,
}

impl<T: Real> Trajectory<T> {
    /// The rate of every unit at step t (1-based: block t), `[n_rec, B]` column-major.
    pub fn rates_at(&self, t: usize, n_rec: usize) -> &[T] {
        &self.rate[t * self.batch * n_rec..(t + 1) * self.batch * n_rec]
    }
}

/// The span `lo..hi` from the first to the last of `0..n` that `keep` picks, (0, 0) if none.
fn nonzero_span(n: usize, keep: impl Fn(&usize) -> bool) -> (usize, usize) {
    match ((0..n).find(&keep), (0..n).rfind(&keep)) {
        (Some(lo), Some(hi)) => (lo, hi + 1),
        _ => (0, 0),
    }
}

fn resize<T: Real>(v: &mut Vec<T>, n: usize) {
    if v.len() != n {
        v.resize(n, T::ZERO);
    }
}

/// Run `$body` with `$f` and `$df` bound to closures of the given activation, so that each
/// activation gets its own compiled (and vectorised) copy of the hot loop instead of a branch per
/// element.
macro_rules! with_activation {
    ($act:expr, |$f:ident, $df:ident| $body:expr) => {
        match $act {
            Activation::Relu => {
                let $f = |x: T| Activation::Relu.f(x);
                let $df = |x: T| Activation::Relu.df(x);
                $body
            }
            Activation::Softplus => {
                let $f = |x: T| Activation::Softplus.f(x);
                let $df = |x: T| Activation::Softplus.df(x);
                $body
            }
            Activation::Tanh => {
                let $f = |x: T| Activation::Tanh.f(x);
                let $df = |x: T| Activation::Tanh.df(x);
                $body
            }
            Activation::Retanh => {
                let $f = |x: T| Activation::Retanh.f(x);
                let $df = |x: T| Activation::Retanh.df(x);
                $body
            }
            Activation::Sigmoid => {
                let $f = |x: T| Activation::Sigmoid.f(x);
                let $df = |x: T| Activation::Sigmoid.df(x);
                $body
            }
            Activation::Identity => {
                let $f = |x: T| Activation::Identity.f(x);
                let $df = |x: T| Activation::Identity.df(x);
                $body
            }
        }
    };
}

/// An elementwise kernel (`#[inline(always)]`) and its twin `..._avx512`: the same loops compiled
/// into a function with AVX-512 F enabled, where they vectorise 16 floats wide. Safety of the
/// twin: call it only where [`wide_elementwise`] holds.
macro_rules! with_avx512_twin {
    (
        $(#[$meta:meta])*
        fn $kernel:ident / $twin:ident<$T:ident: Real, const $C:ident: bool>(
            $($arg:ident: $ty:ty),* $(,)?
        ) $body:block
    ) => {
        $(#[$meta])*
        fn $kernel<$T: Real, const $C: bool>($($arg: $ty),*) $body

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $twin<$T: Real, const $C: bool>($($arg: $ty),*) {
            $kernel::<$T, $C>($($arg),*)
        }
    };
}

with_avx512_twin! {
/// One Euler step for a block of columns: s_next = (1-a) s_prev + a psi(z) (+ noise), r = rho(s).
/// `RATE` selects the convention (psi = f, rho = id) or (psi = id, rho = f). `alpha` is one column's
/// dt/tau, or a whole block's ([`Trajectory::alpha_cols`]: one loop, the same arithmetic).
#[inline(always)]
fn euler_block / euler_block_avx512<T: Real, const RATE: bool>(
    f: impl Fn(T) -> T,
    alpha: &[T],
    z: &[T],
    s_prev: &[T],
    s_next: &mut [T],
    r_next: &mut [T],
    noise: Option<&[T]>,
) {
    let n = alpha.len();
    if n == 0 {
        return; // an empty batch
    }
    debug_assert_eq!(z.len() % n, 0, "a block of whole columns");
    for (c, ((z, sp), (sn, rn))) in z
        .chunks_exact(n)
        .zip(s_prev.chunks_exact(n))
        .zip(s_next.chunks_exact_mut(n).zip(r_next.chunks_exact_mut(n)))
        .enumerate()
    {
        for i in 0..n {
            let a = alpha[i];
            let psi = if RATE { f(z[i]) } else { z[i] };
            sn[i] = ((T::ONE - a) * sp[i] + a * psi).flush_subnormal();
        }
        if let Some(noise) = noise {
            for (s, e) in sn.iter_mut().zip(&noise[c * n..(c + 1) * n]) {
                *s += *e;
            }
        }
        for i in 0..n {
            rn[i] = if RATE { sn[i] } else { f(sn[i]) };
        }
    }
}
}

/// Proof that this CPU has AVX-512 F, made only after checking it (by [`wide_elementwise`], and
/// by the twins' test): the twins' `unsafe` calls take one.
#[derive(Clone, Copy)]
struct Avx512Present(());

/// Whether the elementwise passes run their AVX-512 twins: where the CPU has AVX-512 and the
/// packed products take it (`BIORNN_ISA=avx2`, `scalar` or `faer` keep the 8-lane loops). The
/// passes use no fused multiply-add (Rust never contracts a * b + c) and no approximate
/// instructions, so 8 and 16 lanes give the same bits.
fn wide_elementwise() -> Option<Avx512Present> {
    let wide = biornn_numerics::packed::active() == Some(biornn_numerics::packed::Isa::Avx512);
    // `active` is Avx512 only where `is_x86_feature_detected!("avx512f")` holds
    wide.then_some(Avx512Present(()))
}

/// Call `kernel::<T, FLAG>` (FLAG: the kernel's const parameter, from a run-time bool), or its
/// AVX-512 twin where `wide` (from [`wide_elementwise`]) is present, with the same arguments.
macro_rules! wide_or_not {
    ($wide:expr, $flag:expr, $kernel:ident | $twin:ident::<$T:ty>($($a:expr),* $(,)?)) => {
        match ($wide, $flag) {
            // SAFETY: an `Avx512Present` exists only where the CPU has AVX-512 F.
            #[cfg(target_arch = "x86_64")]
            (Some(Avx512Present(())), true) => unsafe { $twin::<$T, true>($($a),*) },
            #[cfg(target_arch = "x86_64")]
            (Some(Avx512Present(())), false) => unsafe { $twin::<$T, false>($($a),*) },
            (_, true) => $kernel::<$T, true>($($a),*),
            (_, false) => $kernel::<$T, false>($($a),*),
        }
    };
}

with_avx512_twin! {
/// One step's readouts: `pre += bias`, then `out` = sigmoid(pre) or pre.
#[inline(always)]
fn readout_step / readout_step_avx512<T: Real, const SIGMOID: bool>(
    pre: &mut [T],
    bias: &[T],
    out: &mut [T],
) {
    for (p, b) in pre.iter_mut().zip(bias) {
        *p += *b;
    }
    match SIGMOID {
        true => {
            for (o, p) in out.iter_mut().zip(pre.iter()) {
                *o = sigmoid(*p);
            }
        }
        false => out.copy_from_slice(pre),
    }
}
}

with_avx512_twin! {
/// [`backward_block`] with skip connections: `extra` is gradient reaching s_t through skip paths;
/// where s_t ends a trial-level span (`trial_mix` = its beta), `trial_grad` receives that skip's
/// share first; where s_t ends a block (`mix` = (beta, gradient reaching the unmixed state)), the
/// fine path gets beta of the rest and `skip_grad` receives the block skip's (1 - beta) share.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_block_skip / backward_block_skip_avx512<T: Real, const RATE: bool>(
    df: impl Fn(T) -> T,
    alpha: &[T],
    z: &[T],
    s: &[T],
    d: &mut [T],
    ds_next: &mut [T],
    extra: &[T],
    mix: Option<(T, &[T])>,
    skip_grad: &mut [T],
    trial_mix: Option<T>,
    trial_grad: &mut [T],
) {
    // one loop per combination, so that none tests an option per element (and each vectorises)
    let (beta, df_extra) = mix.unwrap_or((T::ONE, &[]));
    let trial_beta = trial_mix.unwrap_or(T::ONE);
    let (d_in, into) = ((z, s, extra, df_extra), (d, ds_next, skip_grad, trial_grad));
    let with = (beta, trial_beta);
    match (trial_mix.is_some(), mix.is_some()) {
        (false, false) => skip_columns::<T, RATE, false, false>(df, alpha, d_in, into, with),
        (false, true) => skip_columns::<T, RATE, false, true>(df, alpha, d_in, into, with),
        (true, false) => skip_columns::<T, RATE, true, false>(df, alpha, d_in, into, with),
        (true, true) => skip_columns::<T, RATE, true, true>(df, alpha, d_in, into, with),
    }
}
}

/// [`backward_block_skip`] for one combination of a trial-level mix (`TRIAL`) and a block mix
/// (`MIX`): inputs (z, s, extra, df_extra), outputs (d, ds_next, skip_grad, trial_grad) and the
/// two betas.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn skip_columns<T: Real, const RATE: bool, const TRIAL: bool, const MIX: bool>(
    df: impl Fn(T) -> T,
    alpha: &[T],
    (z, s, extra, df_extra): (&[T], &[T], &[T], &[T]),
    (d, ds_next, skip_grad, trial_grad): (&mut [T], &mut [T], &mut [T], &mut [T]),
    (beta, trial_beta): (T, T),
) {
    let n = alpha.len();
    if n == 0 {
        return; // an empty batch
    }
    debug_assert_eq!(z.len() % n, 0, "a block of whole columns");
    for (c, ((z, s), (d, dsn))) in z
        .chunks_exact(n)
        .zip(s.chunks_exact(n))
        .zip(d.chunks_exact_mut(n).zip(ds_next.chunks_exact_mut(n)))
        .enumerate()
    {
        let col = c * n..(c + 1) * n;
        let extra = &extra[col.clone()];
        let df_extra: &[T] = if MIX { &df_extra[col.clone()] } else { &[] };
        let skip_grad: &mut [T] = if MIX {
            &mut skip_grad[col.clone()]
        } else {
            &mut []
        };
        let trial_grad: &mut [T] = if TRIAL { &mut trial_grad[col] } else { &mut [] };
        for i in 0..n {
            let a = alpha[i];
            let rho_p = if RATE { T::ONE } else { df(s[i]) };
            let mut ds = rho_p * d[i] + (T::ONE - a) * dsn[i] + extra[i];
            if TRIAL {
                // the trial-level mix came last in the forward pass, so it is undone first
                trial_grad[i] = (T::ONE - trial_beta) * ds;
                ds = trial_beta * ds;
            }
            let d_fine = if MIX {
                skip_grad[i] = (T::ONE - beta) * ds;
                beta * ds + df_extra[i]
            } else {
                ds
            };
            let d_fine = d_fine.flush_subnormal();
            dsn[i] = d_fine;
            let psi_p = if RATE { df(z[i]) } else { T::ONE };
            d[i] = (a * psi_p * d_fine).flush_subnormal();
        }
    }
}

with_avx512_twin! {
/// One backward step for a block of columns: `d` holds dL/dr_t on entry and dL/dz_t on exit;
/// `ds_next` carries dL/ds through the leak.
#[inline(always)]
fn backward_block / backward_block_avx512<T: Real, const RATE: bool>(
    df: impl Fn(T) -> T,
    alpha: &[T],
    z: &[T],
    s: &[T],
    d: &mut [T],
    ds_next: &mut [T],
) {
    let n = alpha.len();
    if n == 0 {
        return; // an empty batch
    }
    debug_assert_eq!(z.len() % n, 0, "a block of whole columns");
    for ((z, s), (d, dsn)) in z
        .chunks_exact(n)
        .zip(s.chunks_exact(n))
        .zip(d.chunks_exact_mut(n).zip(ds_next.chunks_exact_mut(n)))
    {
        for i in 0..n {
            let a = alpha[i];
            let rho_p = if RATE { T::ONE } else { df(s[i]) };
            let ds = (rho_p * d[i] + (T::ONE - a) * dsn[i]).flush_subnormal();
            dsn[i] = ds;
            let psi_p = if RATE { df(z[i]) } else { T::ONE };
            d[i] = (a * psi_p * ds).flush_subnormal();
        }
    }
}
}

/// How the backward pass assigns credit to the recurrent and input weights.
#[derive(Debug, Clone, Copy)]
pub enum Credit<'a, T> {
    /// exact BPTT
    Exact,
    /// RFLO (Murray 2019): no credit flows back through W_rec, only along each unit's own leak,
    /// and the output error reaches unit i through row i of `feedback` (`(n_rec, n_out)`), or
    /// through W_out^T when `None`. Summed over the trial this is exactly the weight change of
    /// RFLO's forward eligibility traces p_ij <- (1 - a_i) p_ij + a_i psi'(z_i) r_j, each times
    /// the unit's error rho'(s_i) (B e)_i, applied at the end of the trial: the two sums over time
    /// are swapped, so no n x n trace is kept per trial. Units the readout does not read (a
    /// readout mask, Dale's `readout_from_excitatory`) get no error through W_out^T.
    Local(Option<&'a [T]>),
}

/// A continuous-time rate RNN.
#[derive(Debug, Clone)]
pub struct Ctrnn<T> {
    pub n_in: usize,
    pub n_rec: usize,
    pub n_out: usize,
    /// Euler step in ms; `set_dt` changes it (the network is parameterised in continuous time).
    dt: f64,
    pub activation: Activation,
    pub convention: StateConvention,
    pub readout: Readout,
    /// per-unit time constants in ms
    pub tau: Vec<f64>,
    /// per-unit dt/tau
    alpha: Vec<T>,
    /// presynaptic sign per unit: +1 excitatory, -1 inhibitory (all +1 without Dale's law)
    pub sign: Vec<T>,
    pub dale: Option<DaleMode>,
    pub nonneg_input: bool,
    pub mask_in: Vec<T>,
    pub mask_rec: Vec<T>,
    pub mask_out: Vec<T>,
    pub trainable: Trainable,
    pub noise: NoiseConfig,
    pub params: Params<T>,
    /// the weights the dynamics use: masks and signs applied to `params`
    eff: Params<T>,
    /// when the recurrent products run sparse
    pub sparse_kernels: SparseKernels,
    /// the effective recurrent weights at the mask's entries, when they run sparse
    sparse: Option<SparseRec<T>>,
    /// the effective recurrent weights packed for the per-step products, when they run packed
    packed: Option<PackedRec>,
}

/// Up to this many units (f32, dense) the per-step recurrent products run on packed panels: there
/// they beat faer or match it by skipping its per-call packing and shape dispatch (`biornn bench
/// products`: 1.1 to 1.6 times at 50 and 64 units and 1.1 at 128 on an Intel Xeon; on a Zen 5
/// EPYC level at 50 units, 1.2 to 1.4 times at 64, 1.1 at 128 and 256); above it faer's cache
/// blocking wins. 128, or 256 on the processors where the panels still win there
/// ([`packed::max_units`]).
pub fn packed_max_units() -> usize {
    packed::max_units()
}

/// W_rec packed twice: for W r (forward) and for W^T d (backward).
#[derive(Debug, Clone, Default)]
struct PackedRec {
    forward: Panels,
    backward: Panels,
}

impl<T: Real> Ctrnn<T> {
    /// Build and initialise a network from its config. Masks come from the stream "mask", weights from
    /// the stream "init".
    pub fn new(
        cfg: &ModelConfig,
        n_in: usize,
        n_out: usize,
        dt: f64,
        streams: &Streams,
    ) -> Result<Self> {
        cfg.validate(dt)?;
        let n = cfg.n_rec;
        let n_e = cfg.n_excitatory();
        let sign: Vec<f64> = (0..n).map(|i| if i < n_e { 1.0 } else { -1.0 }).collect();
        // the fast units are the last (1 - excitatory_fraction) whether or not Dale's law is on, as
        // wmws2/temporalskip gives its last 20% tau/2 without Dale's law
        let n_slow = (cfg.dale.excitatory_fraction * n as f64).round() as usize;
        let tau: Vec<f64> = (0..n)
            .map(|i| {
                if i < n_slow {
                    cfg.tau
                } else {
                    cfg.tau_inhibitory.unwrap_or(cfg.tau)
                }
            })
            .collect();

        let mut mask_rng = streams.stream("mask", 0);
        let mask_rec = cfg
            .mask
            .recurrent
            .build("model.mask.recurrent", n, n, &mut mask_rng)?;
        let mut mask_in = cfg
            .mask
            .input
            .build("model.mask.input", n, n_in, &mut mask_rng)?;
        let mut mask_out = cfg
            .mask
            .output
            .build("model.mask.output", n_out, n, &mut mask_rng)?;
        if let Some([a, b]) = cfg.mask.input_units {
            for i in (0..n).filter(|i| *i < a || *i >= b) {
                mask_in[i * n_in..(i + 1) * n_in].fill(0.0);
            }
        }
        for o in 0..n_out {
            for j in 0..n {
                let outside = cfg.mask.readout_units.is_some_and(|[a, b]| j < a || j >= b);
                let inhibitory =
                    cfg.dale.enabled && cfg.dale.readout_from_excitatory && sign[j] < 0.0;
                if outside || inhibitory {
                    mask_out[o * n + j] = 0.0;
                }
            }
        }

        let mut init_rng = streams.stream("init", 0);
        let mut w_rec = init::recurrent(cfg, &sign, &mut init_rng);
        let mut w_in = init::input(cfg, n_in, &mut init_rng);
        let mut w_out = init::output(cfg, n_out, &sign, &mut init_rng);
        let mut b_rec = vec![0.0; n];
        if cfg.init.w_rec == crate::config::RecInit::Temporalskip {
            // wmws2/temporalskip: N(0,1) inputs, readout and biases, unscaled
            w_in.iter_mut().for_each(|w| *w = init_rng.normal());
            w_out.iter_mut().for_each(|w| *w = init_rng.normal());
            b_rec.iter_mut().for_each(|b| *b = init_rng.normal());
        }
        for (w, m) in [
            (&mut w_rec, &mask_rec),
            (&mut w_in, &mask_in),
            (&mut w_out, &mask_out),
        ] {
            for (x, k) in w.iter_mut().zip(m.iter()) {
                *x *= k;
            }
        }
        if cfg.init.rescale_masked_rows {
            init::rescale_masked_rows(&mut w_rec, &mask_rec, n);
        }
        if let Some(target) = cfg.init.spectral_radius {
            let rho = init::spectral_radius(&w_rec, n)?;
            if rho > 0.0 {
                w_rec.iter_mut().for_each(|w| *w *= target / rho);
            }
        }

        let params = Params {
            w_in: convert(&w_in),
            w_rec: convert(&w_rec),
            w_out: convert(&w_out),
            b_rec: convert(&b_rec),
            b_out: vec![T::ZERO; n_out],
            init_state: vec![T::ZERO; n],
        };
        let mut net = Ctrnn {
            n_in,
            n_rec: n,
            n_out,
            dt,
            activation: cfg.activation,
            convention: cfg.state,
            readout: cfg.readout,
            alpha: vec![T::ZERO; n],
            tau,
            sign: convert(&sign),
            dale: cfg.dale.enabled.then_some(cfg.dale.mode),
            nonneg_input: cfg.dale.enabled && cfg.dale.nonneg_input,
            mask_in: convert(&mask_in),
            mask_rec: convert(&mask_rec),
            mask_out: convert(&mask_out),
            trainable: cfg.trainable.clone(),
            noise: cfg.noise.clone(),
            eff: params.clone(),
            params,
            sparse_kernels: cfg.mask.sparse_kernels,
            sparse: None,
            packed: None,
        };
        net.set_dt(dt);
        net.project();
        Ok(net)
    }

    /// The shapes of the six parameter tensors, in the order of `PARAM_NAMES`.
    pub fn param_shapes(&self) -> [Vec<usize>; 6] {
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        [
            vec![n, ni],
            vec![n, n],
            vec![no, n],
            vec![n],
            vec![no],
            vec![n],
        ]
    }

    pub fn dt(&self) -> f64 {
        self.dt
    }

    pub fn alpha(&self) -> &[T] {
        &self.alpha
    }

    /// Change the Euler step; the continuous-time parameters are unchanged.
    pub fn set_dt(&mut self, dt: f64) {
        self.dt = dt;
        self.alpha = self.tau.iter().map(|t| T::from_f64(dt / t)).collect();
    }

    /// The same network in another precision.
    pub fn convert<U: Real>(&self) -> Ctrnn<U> {
        let mut net = Ctrnn {
            n_in: self.n_in,
            n_rec: self.n_rec,
            n_out: self.n_out,
            dt: self.dt,
            activation: self.activation,
            convention: self.convention,
            readout: self.readout,
            tau: self.tau.clone(),
            alpha: vec![],
            sign: convert(&self.sign),
            dale: self.dale,
            nonneg_input: self.nonneg_input,
            mask_in: convert(&self.mask_in),
            mask_rec: convert(&self.mask_rec),
            mask_out: convert(&self.mask_out),
            trainable: self.trainable.clone(),
            noise: self.noise.clone(),
            params: self.params.convert(),
            eff: self.eff.convert(),
            sparse_kernels: self.sparse_kernels,
            sparse: None,
            packed: None,
        };
        net.set_dt(self.dt);
        net.refresh();
        net
    }

    /// The weights the dynamics use (masks and Dale signs applied), in `(post, pre)` layout.
    pub fn effective(&self) -> &Params<T> {
        &self.eff
    }

    /// The units `lo..hi` that can receive input: outside them every row of the input mask is 0
    /// (the long-term protocol feeds units 0-19 of 50). Products over the input weights skip the
    /// rest, which changes no bit of what the kept rows get.
    pub fn input_rows(&self) -> (usize, usize) {
        let ni = self.n_in;
        let fed = |i: &usize| {
            self.mask_in[i * ni..(i + 1) * ni]
                .iter()
                .any(|m| *m != T::ZERO)
        };
        nonzero_span(self.n_rec, fed)
    }

    /// The units `lo..hi` the readout can see: outside them every column of the readout mask is 0.
    pub fn readout_cols(&self) -> (usize, usize) {
        let (n, no) = (self.n_rec, self.n_out);
        let seen = |j: &usize| (0..no).any(|o| self.mask_out[o * n + j] != T::ZERO);
        nonzero_span(n, seen)
    }

    fn reparam_abs(&self) -> bool {
        self.dale == Some(DaleMode::Reparam)
    }

    /// Recompute the effective weights after `params` changed.
    pub fn refresh(&mut self) {
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        let reparam = self.reparam_abs();
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                let w = self.params.w_rec[k];
                let w = if reparam { w.abs() * self.sign[j] } else { w };
                self.eff.w_rec[k] = w * self.mask_rec[k];
            }
            for j in 0..ni {
                let k = i * ni + j;
                let w = self.params.w_in[k];
                let w = if reparam && self.nonneg_input {
                    w.abs()
                } else {
                    w
                };
                self.eff.w_in[k] = w * self.mask_in[k];
            }
        }
        for o in 0..no {
            for j in 0..n {
                let k = o * n + j;
                let w = self.params.w_out[k];
                let w = if reparam { w.abs() * self.sign[j] } else { w };
                self.eff.w_out[k] = w * self.mask_out[k];
            }
        }
        self.eff.b_rec.copy_from_slice(&self.params.b_rec);
        self.eff.b_out.copy_from_slice(&self.params.b_out);
        self.eff.init_state.copy_from_slice(&self.params.init_state);
        // the same pattern takes the new values; a new one (a loaded checkpoint may have replaced
        // the mask) is measured again
        if self.sparse_kernels == SparseKernels::Off {
            self.sparse = None;
        } else if let Some(s) = self
            .sparse
            .as_mut()
            .filter(|s| s.same_pattern(&self.mask_rec))
        {
            s.update(&self.mask_rec, &self.eff.w_rec);
        } else if self.sparse_kernels.runs_sparse(&self.mask_rec, n) {
            self.sparse = Some(SparseRec::new(&self.mask_rec, &self.eff.w_rec, n));
        } else {
            self.sparse = None;
        }
        let dense_f32 = T::as_f32(&self.eff.w_rec).filter(|_| self.sparse.is_none());
        match dense_f32 {
            Some(w) if n <= packed_max_units() && packed::active().is_some() => {
                let p = self.packed.get_or_insert_with(PackedRec::default);
                p.forward.repack(n, n, |i, j| w[i * n + j]);
                p.backward.repack(n, n, |j, i| w[i * n + j]);
            }
            _ => self.packed = None,
        }
    }

    /// Whether the per-step recurrent products run on packed panels ([`packed_max_units`]).
    pub fn runs_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// `out (+)= W_rec x` (`transpose`: `W_rec^T x`) for columns of `n_rec` values: through the
    /// sparse kernels, the packed panels or faer, whichever the network runs.
    pub fn recurrent_product(&self, out: &mut [T], accumulate: bool, x: &[T], transpose: bool) {
        if let Some(csr) = &self.sparse {
            return match transpose {
                false => csr.mul(out, accumulate, x),
                true => csr.mul_t(out, accumulate, x),
            };
        }
        if let Some(p) = &self.packed {
            let (out, x) = (
                T::as_f32_mut(out).expect("panels exist for f32 networks only"),
                T::as_f32(x).expect("panels exist for f32 networks only"),
            );
            let panels = if transpose { &p.backward } else { &p.forward };
            return panels.mul(out, accumulate, x);
        }
        let n = self.n_rec;
        let w = rm(&self.eff.w_rec, n, n);
        let cols = x.len() / n;
        let w = if transpose { w.transpose() } else { w };
        gemm(cm_mut(out, n, cols), accumulate, w, cm(x, n, cols));
    }

    /// Whether the recurrent products run sparse.
    pub fn runs_sparse(&self) -> bool {
        self.sparse.is_some()
    }

    /// Which kernel runs the per-step recurrent products: "sparse" (a sparse mask's diagonals or
    /// rows), "packed-avx512", "packed-avx2" or "packed-scalar" (dense, on pre-packed panels, by
    /// the instruction set in use) or "dense" (the general product).
    pub fn recurrent_kernel(&self) -> String {
        match self.runs_packed().then(packed::active).flatten() {
            _ if self.runs_sparse() => "sparse".into(),
            Some(isa) => format!("packed-{}", isa.name()),
            None => "dense".into(),
        }
    }

    /// Enforce the constraints on the raw parameters (called after every optimiser update): masked
    /// weights are set to zero, and in Dale's projection mode weights of the wrong sign are set to zero.
    pub fn project(&mut self) {
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        let project = self.dale == Some(DaleMode::Project);
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                let w = &mut self.params.w_rec[k];
                if self.mask_rec[k] == T::ZERO || (project && *w * self.sign[j] < T::ZERO) {
                    *w = T::ZERO;
                }
            }
            for j in 0..ni {
                let k = i * ni + j;
                let w = &mut self.params.w_in[k];
                if self.mask_in[k] == T::ZERO || (project && self.nonneg_input && *w < T::ZERO) {
                    *w = T::ZERO;
                }
            }
        }
        for o in 0..no {
            for j in 0..n {
                let k = o * n + j;
                let w = &mut self.params.w_out[k];
                if self.mask_out[k] == T::ZERO || (project && *w * self.sign[j] < T::ZERO) {
                    *w = T::ZERO;
                }
            }
        }
        self.refresh();
    }

    /// Replace the effective weights (for example loaded from a checkpoint written in `(post, pre)`
    /// layout). Under Dale's reparameterisation the raw weight is the effective one, whose magnitude is
    /// what the reparameterisation uses.
    pub fn set_params(&mut self, params: Params<T>) {
        self.params = params;
        self.project();
    }

    /// Draw recurrent noise for `steps` x `batch` into `traj.noise`, from `rng` (through its fast bulk
    /// generator).
    pub fn sample_noise(
        &self,
        traj: &mut Trajectory<T>,
        steps: usize,
        batch: usize,
        rng: &mut RngStream,
    ) {
        let n = self.n_rec;
        resize(&mut traj.noise, n * steps * batch);
        resize(&mut traj.scratch, n * batch);
        if batch == 0 {
            return; // no trials, no noise
        }
        let sigma = self.noise.sigma;
        let mut bulk = rng.bulk();
        let mut z = std::mem::take(&mut traj.normals);
        z.resize(n * batch, 0.0);
        match self.noise.kind {
            NoiseKind::White => {
                let scale: Vec<T> = self
                    .alpha
                    .iter()
                    .map(|a| {
                        let a = a.to_f64();
                        T::from_f64(match self.noise.placement {
                            NoisePlacement::Inside => (2.0 / a).sqrt() * sigma,
                            NoisePlacement::Outside => (2.0 * a).sqrt() * sigma,
                        })
                    })
                    .collect();
                for block in traj.noise.chunks_exact_mut(n * batch) {
                    bulk.fill_normal_f32(&mut z);
                    for (col, zc) in block.chunks_exact_mut(n).zip(z.chunks_exact(n)) {
                        for ((v, s), e) in col.iter_mut().zip(&scale).zip(zc) {
                            *v = *s * T::from_f64(*e as f64);
                        }
                    }
                }
            }
            NoiseKind::Ou | NoiseKind::OuEuler => {
                // exact: stationary standard deviation sigma at every step; Euler: the reference's
                let k = self.dt / self.noise.tau_ou;
                let (decay, kick) = if self.noise.kind == NoiseKind::Ou {
                    ((-k).exp(), (1.0 - (-2.0 * k).exp()).sqrt() * sigma)
                } else {
                    (1.0 - k, (2.0 * k).sqrt() * sigma)
                };
                let (decay, kick) = (T::from_f64(decay), T::from_f64(kick));
                let sig = T::from_f64(sigma);
                let eta = &mut traj.scratch;
                bulk.fill_normal_f32(&mut z);
                for (e, x) in eta.iter_mut().zip(&z) {
                    *e = sig * T::from_f64(*x as f64);
                }
                for (t, block) in traj.noise.chunks_exact_mut(n * batch).enumerate() {
                    if t > 0 {
                        bulk.fill_normal_f32(&mut z);
                        for (e, x) in eta.iter_mut().zip(&z) {
                            *e = *e * decay + kick * T::from_f64(*x as f64);
                        }
                    }
                    block.copy_from_slice(eta);
                }
            }
        }
        traj.normals = z;
    }

    /// Run the network on `input` (`[n_in, steps*batch]` column-major). With `noisy`, the noise in
    /// `traj.noise` (from `sample_noise`) is added; otherwise the run is deterministic.
    pub fn forward(
        &self,
        input: &[T],
        steps: usize,
        batch: usize,
        noisy: bool,
        traj: &mut Trajectory<T>,
    ) {
        self.forward_with(input, steps, batch, noisy, &TimePlan::plain(), traj)
    }

    /// [`Self::forward`] on the input already in `traj.input` (`[n_in, steps*batch]`): for callers
    /// that gather a batch chunk's input straight into the trajectory, saving a copy of it.
    pub fn forward_in_place(
        &self,
        steps: usize,
        batch: usize,
        noisy: bool,
        traj: &mut Trajectory<T>,
    ) {
        self.start_on_own_input(steps, batch, noisy, &TimePlan::plain(), traj);
        self.forward_advance(traj, steps);
        self.forward_finish(traj);
    }

    /// [`Self::forward`] with skip connections through time and a gradient start (see
    /// [`crate::skip`]); the backward pass then follows the same plan.
    pub fn forward_with(
        &self,
        input: &[T],
        steps: usize,
        batch: usize,
        noisy: bool,
        plan: &TimePlan,
        traj: &mut Trajectory<T>,
    ) {
        self.forward_on(input, steps, batch, noisy, plan, traj);
        // the trajectory keeps a copy of the input for the backward pass (`forward_on` left it
        // empty: extended, not zeroed and overwritten)
        traj.input.extend_from_slice(input);
    }

    /// [`Self::forward_with`] reading the input from `input` (`[n_in, steps*batch]`) without
    /// keeping a copy in the trajectory: for callers that hold the input anyway, as K networks
    /// trained on one shared batch do. The backward pass then takes the same input
    /// ([`Self::backward_on`]). The arithmetic is that of [`Self::forward_with`], bit for bit.
    pub fn forward_on(
        &self,
        input: &[T],
        steps: usize,
        batch: usize,
        noisy: bool,
        plan: &TimePlan,
        traj: &mut Trajectory<T>,
    ) {
        // no stale input from an earlier pass: a `backward` (not `backward_on`) after this pass
        // finds none and says so, instead of differentiating through another input
        traj.input.clear();
        self.start_on(input, steps, batch, noisy, plan, traj);
        self.forward_advance(traj, steps);
        self.forward_finish(traj);
    }

    /// A forward pass in pieces, for closed-loop tasks whose later input depends on the network's
    /// earlier output: `forward_start`, then `forward_advance` to a step, look at the state there
    /// (`readout_at`), `rewrite_input` for steps not yet run, advance again, and `forward_finish`.
    /// Run straight through, it is [`Self::forward_with`].
    pub fn forward_start(
        &self,
        input: &[T],
        steps: usize,
        batch: usize,
        noisy: bool,
        plan: &TimePlan,
        traj: &mut Trajectory<T>,
    ) {
        assert_eq!(
            input.len(),
            self.n_in * steps * batch,
            "input has the wrong size"
        );
        resize(&mut traj.input, input.len());
        traj.input.copy_from_slice(input);
        self.start_on_own_input(steps, batch, noisy, plan, traj);
    }

    /// [`Self::forward_start`] on the input already in `traj.input`.
    fn start_on_own_input(
        &self,
        steps: usize,
        batch: usize,
        noisy: bool,
        plan: &TimePlan,
        traj: &mut Trajectory<T>,
    ) {
        let input = std::mem::take(&mut traj.input);
        self.start_on(&input, steps, batch, noisy, plan, traj);
        traj.input = input;
    }

    /// The start of a forward pass on `input` (wherever it is kept): the input projections of
    /// every step and the initial state.
    fn start_on(
        &self,
        input: &[T],
        steps: usize,
        batch: usize,
        noisy: bool,
        plan: &TimePlan,
        traj: &mut Trajectory<T>,
    ) {
        let _flush = FlushSubnormals::new();
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        assert_eq!(input.len(), ni * steps * batch, "input has the wrong size");
        traj.plan_skip = plan.active_skip();
        traj.grad_start = plan.grad_start.min(steps);
        plan.blocks_into(steps, &mut traj.blocks);
        if !traj.blocks.is_empty() {
            resize(&mut traj.fine, n * batch);
        }
        traj.trial_beta = plan.trial_beta();
        traj.trial_spans.clear();
        if traj.trial_beta.is_some() {
            traj.trial_spans.extend_from_slice(&plan.trial_spans);
            for (k, &(a, b)) in traj.trial_spans.iter().enumerate() {
                assert!(
                    a < b && b <= steps,
                    "trial span {a}..{b} outside 0..{steps}"
                );
                if k > 0 {
                    assert!(
                        b > traj.trial_spans[k - 1].1,
                        "trial spans must end in order"
                    );
                }
            }
        }
        traj.next_step = 0;
        traj.next_block = 0;
        traj.next_span = 0;
        let tb = steps * batch;
        traj.steps = steps;
        traj.batch = batch;
        resize(&mut traj.drive, n * tb);
        resize(&mut traj.state, n * (tb + batch));
        resize(&mut traj.rate, n * (tb + batch));
        resize(&mut traj.out_pre, no * tb);
        resize(&mut traj.output, no * tb);
        let noisy = noisy && self.noise.sigma > 0.0;
        if noisy {
            assert_eq!(
                traj.noise.len(),
                n * tb,
                "call sample_noise before a noisy forward pass"
            );
        }
        let inside = noisy && self.noise.placement == NoisePlacement::Inside;
        let outside = noisy && self.noise.placement == NoisePlacement::Outside;
        traj.noise_inside = inside;
        traj.noise_outside = outside;

        // All input projections at once: Z = W_in U, then + b (+ noise inside). Only the units
        // that receive input (`input_rows`) take part in the product; the others' projection is 0.
        let (lo, hi) = self.input_rows();
        gemm(
            cm_mut(&mut traj.drive, n, tb).subrows_mut(lo, hi - lo),
            false,
            rm(&self.eff.w_in, n, ni).subrows(lo, hi - lo),
            cm(input, ni, tb),
        );
        if (lo, hi) != (0, n) {
            for col in traj.drive.chunks_exact_mut(n) {
                col[..lo].fill(T::ZERO);
                col[hi..].fill(T::ZERO);
            }
        }
        self.repeat_per_column(traj);
        for step in traj.drive.chunks_exact_mut((n * batch).max(1)) {
            for (z, b) in step.iter_mut().zip(&traj.rec_bias_cols) {
                *z += *b;
            }
        }
        if inside {
            for (z, e) in traj.drive.iter_mut().zip(&traj.noise) {
                *z += *e;
            }
        }

        let (act, conv) = (self.activation, self.convention);
        for col in 0..batch {
            for i in 0..n {
                let s0 = self.eff.init_state[i];
                traj.state[col * n + i] = s0;
                traj.rate[col * n + i] = match conv {
                    StateConvention::Rate => s0,
                    StateConvention::Current => act.f(s0),
                };
            }
        }
    }

    /// Run the steps of a pass begun by [`Self::forward_start`] up to (not including) step `until`;
    /// afterwards the states up to `until` are final (mixed where a block or span ends there).
    pub fn forward_advance(&self, traj: &mut Trajectory<T>, until: usize) {
        let _flush = FlushSubnormals::new();
        let (n, batch) = (self.n_rec, traj.batch);
        assert!(
            traj.next_step <= until && until <= traj.steps,
            "advance to step {until} from {} of {}",
            traj.next_step,
            traj.steps
        );
        let outside = traj.noise_outside;
        let act = self.activation;
        let (wide, rate) = (wide_elementwise(), self.convention == StateConvention::Rate);
        let blk = n * batch;
        for t in traj.next_step..until {
            let (prev_rates, _) = traj.rate.split_at(blk * (t + 1));
            let r_prev = &prev_rates[blk * t..];
            let z = &mut traj.drive[blk * t..blk * (t + 1)];
            self.recurrent_product(z, true, r_prev, false);
            let (s_before, s_after) = traj.state.split_at_mut(blk * (t + 1));
            let s_prev = &s_before[blk * t..];
            let s_next = &mut s_after[..blk];
            let r_next = &mut traj.rate[blk * (t + 1)..blk * (t + 2)];
            let noise = outside.then(|| &traj.noise[blk * t..blk * (t + 1)]);
            let alpha = &traj.alpha_cols;
            with_activation!(act, |f, _df| wide_or_not!(
                wide,
                rate,
                euler_block | euler_block_avx512::<T>(f, alpha, z, s_prev, s_next, r_next, noise)
            ));
            if traj.next_block < traj.blocks.len() && traj.blocks[traj.next_block].end == t + 1 {
                let b = traj.blocks[traj.next_block];
                traj.next_block += 1;
                self.mix_block_end(traj, b, batch);
            }
            if traj.next_span < traj.trial_spans.len()
                && traj.trial_spans[traj.next_span].1 == t + 1
            {
                let span = traj.trial_spans[traj.next_span];
                traj.next_span += 1;
                self.mix_span_end(traj, span, batch);
            }
        }
        traj.next_step = until;
    }

    /// The readout `W_out r + b_out` at step `t` (the state after it) for every column, into
    /// `out` (`[n_out, B]`): what a closed-loop task reads before the rest of the pass is run.
    pub fn readout_at(&self, traj: &Trajectory<T>, t: usize, out: &mut [T]) {
        let (n, no, batch) = (self.n_rec, self.n_out, traj.batch);
        assert!(t < traj.next_step, "step {t} has not been run");
        assert_eq!(out.len(), no * batch);
        let r = traj.rates_at(t + 1, n);
        for (col, o) in r.chunks_exact(n).zip(out.chunks_exact_mut(no)) {
            for (k, v) in o.iter_mut().enumerate() {
                let w = &self.eff.w_out[k * n..(k + 1) * n];
                *v = w
                    .iter()
                    .zip(col)
                    .fold(self.eff.b_out[k], |acc, (a, b)| acc + *a * *b);
            }
        }
    }

    /// Replace the input of column `col` at a step not yet run, `t`, by `u` (`n_in` values).
    pub fn rewrite_input(&self, traj: &mut Trajectory<T>, t: usize, col: usize, u: &[T]) {
        let (n, ni, batch) = (self.n_rec, self.n_in, traj.batch);
        assert!(
            t >= traj.next_step && t < traj.steps,
            "step {t} has been run or is out of range"
        );
        assert_eq!(u.len(), ni);
        assert!(col < batch, "column {col} of a batch of {batch}");
        let c = t * batch + col;
        traj.input[ni * c..ni * (c + 1)].copy_from_slice(u);
        let z = &mut traj.drive[n * c..n * (c + 1)];
        for (i, z) in z.iter_mut().enumerate() {
            let w = &self.eff.w_in[i * ni..(i + 1) * ni];
            *z = w.iter().zip(u).fold(T::ZERO, |acc, (a, b)| acc + *a * *b) + self.eff.b_rec[i];
        }
        if traj.noise_inside {
            for (z, e) in z.iter_mut().zip(&traj.noise[n * c..n * (c + 1)]) {
                *z += *e;
            }
        }
    }

    /// Finish a pass run in pieces: the readouts of every step.
    pub fn forward_finish(&self, traj: &mut Trajectory<T>) {
        let _flush = FlushSubnormals::new();
        let (n, no) = (self.n_rec, self.n_out);
        let tb = traj.steps * traj.batch;
        let blk = n * traj.batch;
        assert_eq!(
            traj.next_step, traj.steps,
            "the pass has not reached its end"
        );
        // All readouts at once.
        gemm(
            cm_mut(&mut traj.out_pre, no, tb),
            false,
            rm(&self.eff.w_out, no, n),
            cm(&traj.rate[blk..], n, tb),
        );
        // a step's columns at a time, as one loop
        let cols = (no * traj.batch).max(1);
        let bias = &traj.out_bias_cols;
        let (wide, sigmoid) = (wide_elementwise(), self.readout == Readout::Sigmoid);
        for (pre, out) in traj
            .out_pre
            .chunks_exact_mut(cols)
            .zip(traj.output.chunks_exact_mut(cols))
        {
            wide_or_not!(
                wide,
                sigmoid,
                readout_step | readout_step_avx512::<T>(pre, bias, out)
            );
        }
    }

    /// Fill [`Trajectory::alpha_cols`] and the biases repeated per column for the trajectory's
    /// batch.
    fn repeat_per_column(&self, traj: &mut Trajectory<T>) {
        let batch = traj.batch;
        traj.alpha_cols.clear();
        traj.rec_bias_cols.clear();
        traj.out_bias_cols.clear();
        for _ in 0..batch {
            traj.alpha_cols.extend_from_slice(&self.alpha);
            traj.rec_bias_cols.extend_from_slice(&self.eff.b_rec);
            traj.out_bias_cols.extend_from_slice(&self.eff.b_out);
        }
    }

    /// Mix the state at the end of block `b` with its skip target, and recompute the rates there.
    fn mix_block_end(&self, traj: &mut Trajectory<T>, b: Block, batch: usize) {
        let skip = traj.plan_skip.expect("blocks exist only with a skip");
        let blk = self.n_rec * batch;
        let beta = T::from_f64(skip.beta);
        let theta = T::from_f64(skip.theta as f64);
        let (before, after) = traj.state.split_at_mut(blk * b.end);
        let s_end = &mut after[..blk];
        let s0 = &before[blk * b.start..blk * (b.start + 1)];
        let stale =
            skip.kind == SkipKind::Dasc && skip.derivative == DascDerivative::Stale && b.follows;
        for k in 0..blk {
            let target = match skip.kind {
                SkipKind::Sctt => s0[k],
                SkipKind::Dasc if stale => {
                    s0[k] + theta * (traj.fine[k] - before[blk * (b.start - 1) + k])
                }
                SkipKind::Dasc => s0[k] + theta * (before[blk * (b.start + 1) + k] - s0[k]),
            };
            traj.fine[k] = s_end[k];
            s_end[k] = beta * s_end[k] + (T::ONE - beta) * target;
        }
        self.refresh_rates(traj, b.end, blk);
    }

    /// The trial-level skip at the end of `span`: s_end <- beta s_end + (1 - beta) s_start.
    fn mix_span_end(&self, traj: &mut Trajectory<T>, span: (usize, usize), batch: usize) {
        let beta = T::from_f64(traj.trial_beta.expect("spans exist only with a trial beta"));
        let blk = self.n_rec * batch;
        let (before, after) = traj.state.split_at_mut(blk * span.1);
        let s0 = &before[blk * span.0..blk * (span.0 + 1)];
        for (s, a) in after[..blk].iter_mut().zip(s0) {
            *s = beta * *s + (T::ONE - beta) * *a;
        }
        self.refresh_rates(traj, span.1, blk);
    }

    /// Recompute the rates of state `t` after its state was changed.
    fn refresh_rates(&self, traj: &mut Trajectory<T>, t: usize, blk: usize) {
        let s_end = &traj.state[blk * t..blk * (t + 1)];
        let r_end = &mut traj.rate[blk * t..blk * (t + 1)];
        match self.convention {
            StateConvention::Rate => r_end.copy_from_slice(s_end),
            StateConvention::Current => {
                let act = self.activation;
                for (r, s) in r_end.iter_mut().zip(s_end.iter()) {
                    *r = act.f(*s);
                }
            }
        }
    }

    /// One noise-free step of one trial outside a trajectory, for rules that step a network
    /// forever without resetting it (FORCE): the drive z = W_in u + W_rec r + b + `extra` (`extra`:
    /// what else reaches the units, e.g. a fed-back readout, `n_rec` values), then the Euler update
    /// of the state `s` and the rate `r` in place. `z` is scratch of `n_rec` values.
    pub fn step_in_place(&self, u: &[T], extra: &[T], s: &mut [T], r: &mut [T], z: &mut [T]) {
        let n = self.n_rec;
        assert!(u.len() == self.n_in && extra.len() == n && s.len() == n && r.len() == n);
        matvec(&self.eff.w_rec, r, z, false);
        matvec(&self.eff.w_in, u, z, true);
        for ((z, b), e) in z.iter_mut().zip(&self.eff.b_rec).zip(extra) {
            *z += *b + *e;
        }
        let (alpha, conv) = (&self.alpha, self.convention);
        with_activation!(self.activation, |f, _df| {
            for i in 0..n {
                let a = alpha[i];
                match conv {
                    StateConvention::Rate => {
                        s[i] = ((T::ONE - a) * s[i] + a * f(z[i])).flush_subnormal();
                        r[i] = s[i];
                    }
                    StateConvention::Current => {
                        s[i] = ((T::ONE - a) * s[i] + a * z[i]).flush_subnormal();
                        r[i] = f(s[i]);
                    }
                }
            }
        })
    }

    /// Turn dL/dy (gradient w.r.t. `traj.output`, `[n_out, T*B]`) into dL/d(W_out r + b_out), in place.
    pub fn readout_backward(&self, traj: &Trajectory<T>, d_output: &mut [T]) {
        let _flush = FlushSubnormals::new();
        if self.readout == Readout::Sigmoid {
            // a saturated sigmoid's slope is subnormal far out: flushed, as the recurrent loops'
            for (d, y) in d_output.iter_mut().zip(&traj.output) {
                *d = (*d * *y * (T::ONE - *y)).flush_subnormal();
            }
        }
    }

    /// Exact BPTT. `d_out_pre` is dL/d(W_out r_t + b_out) for every step (`[n_out, T*B]`),
    /// `d_rate` optionally adds dL/dr_t from terms on the rates (regularisers), `[n_rec, T*B]`.
    /// Writes the gradients with respect to the raw parameters into `grads` (non-trainable ones are 0).
    pub fn backward(
        &self,
        traj: &mut Trajectory<T>,
        d_out_pre: &[T],
        d_rate: Option<&[T]>,
        grads: &mut Grads<T>,
    ) {
        self.backward_with(traj, d_out_pre, d_rate, Credit::Exact, grads)
    }

    /// The backward pass with the credit assignment `credit`: exact BPTT or RFLO's local one.
    /// RFLO runs on the plain time plan only (no skip connections, gradient from step 0).
    pub fn backward_with(
        &self,
        traj: &mut Trajectory<T>,
        d_out_pre: &[T],
        d_rate: Option<&[T]>,
        credit: Credit<'_, T>,
        grads: &mut Grads<T>,
    ) {
        let input = std::mem::take(&mut traj.input);
        self.backward_core(&input, traj, d_out_pre, d_rate, credit, grads);
        traj.input = input;
    }

    /// The exact backward pass of a forward pass run by [`Self::forward_on`] on `input` (the same
    /// input again): [`Self::backward`] without a copy of the input in the trajectory.
    pub fn backward_on(
        &self,
        input: &[T],
        traj: &mut Trajectory<T>,
        d_out_pre: &[T],
        d_rate: Option<&[T]>,
        grads: &mut Grads<T>,
    ) {
        self.backward_core(input, traj, d_out_pre, d_rate, Credit::Exact, grads)
    }

    fn backward_core(
        &self,
        input: &[T],
        traj: &mut Trajectory<T>,
        d_out_pre: &[T],
        d_rate: Option<&[T]>,
        credit: Credit<'_, T>,
        grads: &mut Grads<T>,
    ) {
        let _flush = FlushSubnormals::new();
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        let (steps, batch) = (traj.steps, traj.batch);
        let tb = steps * batch;
        let blk = n * batch;
        assert_eq!(d_out_pre.len(), no * tb);
        assert_eq!(input.len(), ni * tb, "input is not the forward pass's");
        resize(&mut traj.delta, n * tb);
        resize(&mut traj.ds_next, blk);
        resize(&mut traj.scratch, blk);
        traj.ds_next.fill(T::ZERO);
        self.repeat_per_column(traj);

        // dL/dr from the readout (or the error broadcast through the feedback) for every step at once.
        // Through W_out^T only the units the readout sees (`readout_cols`) get a share.
        let read = self.readout_cols();
        let (feedback, (lo, hi)) = match credit {
            Credit::Local(Some(b)) => {
                assert_eq!(b.len(), n * no, "feedback is (n_rec, n_out)");
                (rm(b, n, no), (0, n))
            }
            Credit::Exact | Credit::Local(None) => (
                rm(&self.eff.w_out, no, n)
                    .subcols(read.0, read.1 - read.0)
                    .transpose(),
                read,
            ),
        };
        gemm(
            cm_mut(&mut traj.delta, n, tb).subrows_mut(lo, hi - lo),
            false,
            feedback,
            cm(d_out_pre, no, tb),
        );
        if (lo, hi) != (0, n) {
            for col in traj.delta.chunks_exact_mut(n) {
                col[..lo].fill(T::ZERO);
                col[hi..].fill(T::ZERO);
            }
        }
        let exact = matches!(credit, Credit::Exact);
        if let Some(dr) = d_rate {
            for (d, x) in traj.delta.iter_mut().zip(dr) {
                *d += *x;
            }
        }

        let (act, conv) = (self.activation, self.convention);
        let g0 = traj.grad_start;
        let general = !traj.blocks.is_empty() || g0 > 0 || !traj.trial_spans.is_empty();
        assert!(
            exact || !general,
            "RFLO's local credit runs on the plain time plan only"
        );
        if general {
            resize(&mut traj.ds_extra, blk * (steps + 1));
            resize(&mut traj.df_extra, blk * (steps + 1));
            resize(&mut traj.trial_grad, blk);
            traj.ds_extra.fill(T::ZERO);
            traj.df_extra.fill(T::ZERO);
        }
        let mut block_i = traj.blocks.len();
        let mut span_i = traj.trial_spans.len();
        let (wide, rate) = (wide_elementwise(), conv == StateConvention::Rate);
        // Backward sweep; delta block t turns from dL/dr_t (direct) into dL/dz_t.
        for t in (g0..steps).rev() {
            let (left, right) = traj.delta.split_at_mut(blk * (t + 1));
            let d = &mut left[blk * t..];
            if t + 1 < steps && exact {
                self.recurrent_product(d, true, &right[..blk], true);
            }
            let z = &traj.drive[blk * t..blk * (t + 1)];
            let s = &traj.state[blk * (t + 1)..blk * (t + 2)];
            let (alpha, ds_next) = (&traj.alpha_cols, &mut traj.ds_next);
            if !general {
                with_activation!(act, |_f, df| wide_or_not!(
                    wide,
                    rate,
                    backward_block | backward_block_avx512::<T>(df, alpha, z, s, d, ds_next)
                ));
                continue;
            }
            // the state t + 1 may end a block: its gradient splits between the fine path and the skip
            let block = (block_i > 0 && traj.blocks[block_i - 1].end == t + 1).then(|| {
                block_i -= 1;
                traj.blocks[block_i]
            });
            let span = (span_i > 0 && traj.trial_spans[span_i - 1].1 == t + 1).then(|| {
                span_i -= 1;
                traj.trial_spans[span_i]
            });
            let beta = traj.plan_skip.map_or(T::ONE, |k| T::from_f64(k.beta));
            let trial_mix = span.and(traj.trial_beta).map(T::from_f64);
            let j = blk * (t + 1)..blk * (t + 2);
            let extra = &traj.ds_extra[j.clone()];
            let mix = block.map(|_| (beta, &traj.df_extra[j.clone()]));
            let (skip_grad, trial_grad) = (&mut traj.scratch, &mut traj.trial_grad);
            with_activation!(act, |_f, df| wide_or_not!(
                wide,
                rate,
                backward_block_skip
                    | backward_block_skip_avx512::<T>(
                        df, alpha, z, s, d, ds_next, extra, mix, skip_grad, trial_mix, trial_grad
                    )
            ));
            if let Some(b) = block {
                self.scatter_skip_gradient(traj, b, blk);
            }
            if let Some((start, _)) = span {
                let to = &mut traj.ds_extra[blk * start..blk * (start + 1)];
                for (e, g) in to.iter_mut().zip(&traj.trial_grad) {
                    *e += *g;
                }
            }
        }
        if g0 > 0 {
            // nothing before the gradient start is trained through
            traj.delta[..blk * g0].fill(T::ZERO);
        }

        // Initial state: it feeds step 0 through W_rec and through the leak (the leak only, for RFLO).
        if exact {
            self.recurrent_product(&mut traj.scratch, false, &traj.delta[..blk], true);
        } else {
            traj.scratch.fill(T::ZERO);
        }
        grads.init_state.fill(T::ZERO);
        for b in 0..batch {
            let o = b * n;
            for i in 0..n {
                if g0 > 0 {
                    break;
                }
                let rho_p = match conv {
                    StateConvention::Rate => T::ONE,
                    StateConvention::Current => act.df(traj.state[o + i]),
                };
                let skip = if general {
                    traj.ds_extra[o + i]
                } else {
                    T::ZERO
                };
                grads.init_state[i] += rho_p * traj.scratch[o + i]
                    + (T::ONE - self.alpha[i]) * traj.ds_next[o + i]
                    + skip;
            }
        }

        // Weight gradients as single large products over all steps.
        let dz = cm(&traj.delta, n, tb);
        match &self.sparse {
            Some(csr) => csr.sampled_grad(
                &mut grads.w_rec,
                &traj.delta,
                &traj.rate[..n * tb],
                &mut traj.sparse_grad,
            ),
            None => gemm(
                rm_mut(&mut grads.w_rec, n, n),
                false,
                dz,
                cm(&traj.rate[..n * tb], n, tb).transpose(),
            ),
        }
        // The masks zero the input weights of units outside `input_rows` and the readout weights
        // of units outside `readout_cols`, so their gradients are 0 without a product.
        let (lo, hi) = self.input_rows();
        grads.w_in[..lo * ni].fill(T::ZERO);
        grads.w_in[hi * ni..].fill(T::ZERO);
        gemm(
            rm_mut(&mut grads.w_in, n, ni).subrows_mut(lo, hi - lo),
            false,
            dz.subrows(lo, hi - lo),
            cm(input, ni, tb).transpose(),
        );
        let (lo, hi) = read;
        for row in grads.w_out.chunks_exact_mut(n) {
            row[..lo].fill(T::ZERO);
            row[hi..].fill(T::ZERO);
        }
        gemm(
            rm_mut(&mut grads.w_out, no, n).subcols_mut(lo, hi - lo),
            false,
            cm(d_out_pre, no, tb),
            cm(&traj.rate[blk..], n, tb)
                .subrows(lo, hi - lo)
                .transpose(),
        );
        grads.b_rec.fill(T::ZERO);
        for col in traj.delta.chunks_exact(n) {
            for (g, d) in grads.b_rec.iter_mut().zip(col) {
                *g += *d;
            }
        }
        grads.b_out.fill(T::ZERO);
        for col in d_out_pre.chunks_exact(no) {
            for (g, d) in grads.b_out.iter_mut().zip(col) {
                *g += *d;
            }
        }
        self.effective_to_raw(grads);
    }

    /// After [`Self::backward`]: the loss's gradient with respect to the inputs of the trajectory's
    /// forward pass, `[n_in, T*B]` (column `t*B + b`), W_in^T dL/dz: what an upstream network
    /// feeding this one trains on.
    pub fn input_gradient(&self, traj: &Trajectory<T>) -> Vec<T> {
        let _flush = FlushSubnormals::new();
        let (n, ni) = (self.n_rec, self.n_in);
        let tb = traj.steps * traj.batch;
        let mut du = vec![T::ZERO; ni * tb];
        gemm(
            cm_mut(&mut du, ni, tb),
            false,
            rm(&self.eff.w_in, n, ni).transpose(),
            cm(&traj.delta[..n * tb], n, tb),
        );
        du
    }

    /// Send the skip path's share of a block end's gradient (left in `traj.scratch` by
    /// [`backward_block_skip`]) to the states the skip target was made from.
    fn scatter_skip_gradient(&self, traj: &mut Trajectory<T>, b: Block, blk: usize) {
        let skip = traj.plan_skip.expect("blocks exist only with a skip");
        let theta = T::from_f64(skip.theta as f64);
        let stale =
            skip.kind == SkipKind::Dasc && skip.derivative == DascDerivative::Stale && b.follows;
        let at = |state: usize| blk * state;
        for k in 0..blk {
            let g = traj.scratch[k];
            match skip.kind {
                SkipKind::Sctt => traj.ds_extra[at(b.start) + k] += g,
                SkipKind::Dasc if stale => {
                    // target = s_start + theta (fine_start - s_{start-1})
                    traj.ds_extra[at(b.start) + k] += g;
                    traj.df_extra[at(b.start) + k] += theta * g;
                    traj.ds_extra[at(b.start - 1) + k] -= theta * g;
                }
                SkipKind::Dasc => {
                    // target = (1 - theta) s_start + theta s_{start+1}
                    traj.ds_extra[at(b.start) + k] += (T::ONE - theta) * g;
                    traj.ds_extra[at(b.start + 1) + k] += theta * g;
                }
            }
        }
    }

    /// Chain rule from effective to raw weights (masks, |W| sign reparameterisation), and zero the
    /// gradients of frozen parameters.
    fn effective_to_raw(&self, g: &mut Grads<T>) {
        let (n, ni, no) = (self.n_rec, self.n_in, self.n_out);
        let reparam = self.reparam_abs();
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                let chain = if reparam {
                    self.sign[j] * self.params.w_rec[k].signum()
                } else {
                    T::ONE
                };
                g.w_rec[k] *= self.mask_rec[k] * chain;
            }
            for j in 0..ni {
                let k = i * ni + j;
                let chain = if reparam && self.nonneg_input {
                    self.params.w_in[k].signum()
                } else {
                    T::ONE
                };
                g.w_in[k] *= self.mask_in[k] * chain;
            }
        }
        for o in 0..no {
            for j in 0..n {
                let k = o * n + j;
                let chain = if reparam {
                    self.sign[j] * self.params.w_out[k].signum()
                } else {
                    T::ONE
                };
                g.w_out[k] *= self.mask_out[k] * chain;
            }
        }
        let tr = &self.trainable;
        for (flag, t) in [
            (tr.w_in, &mut g.w_in),
            (tr.w_rec, &mut g.w_rec),
            (tr.w_out, &mut g.w_out),
            (tr.b_rec, &mut g.b_rec),
            (tr.b_out, &mut g.b_out),
            (tr.init_state, &mut g.init_state),
        ] {
            if !flag {
                t.fill(T::ZERO);
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod wide_tests {
    use super::*;

    /// Values spread over every activation's interesting range, zeros and tiny values included.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let v = (x as f32 / u32::MAX as f32 - 0.5) * 24.0;
                match i % 17 {
                    0 => 0.0,
                    1 => 1e-39,
                    _ => v,
                }
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every elementwise kernel's AVX-512 twin gives its 8-lane loop's bits, for every activation
    /// (through `with_activation!`, as the passes call them) and both conventions, with and
    /// without noise and in every skip combination, on 150 values (vector bodies and
    /// remainders). Meaningful in release builds, where loops are vectorised (`cargo test
    /// --release`, as the README and CI run the tests).
    #[test]
    fn the_avx512_twins_equal_the_eight_lane_kernels_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512 on this CPU: nothing to compare");
            return;
        }
        // the element type `with_activation!`'s closures name
        type T = f32;
        // the kernels take whole columns: one column of all 150 values, as a whole step's pass
        let len = 150;
        let alpha: Vec<f32> = values(len, 1).iter().map(|v| v.abs() / 24.0).collect();
        let (z, s, noise) = (values(len, 2), values(len, 3), values(len, 4));
        let (extra, df_extra, d0) = (values(len, 5), values(len, 6), values(len, 7));
        let present = Some(Avx512Present(()));
        for (act, rate) in Activation::ALL
            .into_iter()
            .flat_map(|a| [(a, true), (a, false)])
        {
            let run_euler = |wide: Option<Avx512Present>, noise: Option<&[f32]>| {
                let (mut sn, mut rn) = (vec![0.0; len], vec![0.0; len]);
                with_activation!(act, |f, _df| wide_or_not!(
                    wide,
                    rate,
                    euler_block
                        | euler_block_avx512::<f32>(f, &alpha, &z, &s, &mut sn, &mut rn, noise)
                ));
                (bits(&sn), bits(&rn))
            };
            for noise in [Some(&noise[..]), None] {
                let (narrow, wide) = (run_euler(None, noise), run_euler(present, noise));
                assert_eq!(narrow, wide, "{act:?} euler, rate convention {rate}");
            }
            let run_back = |wide: Option<Avx512Present>| {
                let (mut d, mut dsn) = (d0.clone(), values(len, 8));
                with_activation!(act, |_f, df| wide_or_not!(
                    wide,
                    rate,
                    backward_block
                        | backward_block_avx512::<f32>(df, &alpha, &z, &s, &mut d, &mut dsn)
                ));
                (bits(&d), bits(&dsn))
            };
            assert_eq!(
                run_back(None),
                run_back(present),
                "{act:?} backward, rate {rate}"
            );
            let run_skip = |wide: Option<Avx512Present>,
                            mix: Option<(f32, &[f32])>,
                            trial_mix: Option<f32>| {
                let (mut d, mut dsn) = (d0.clone(), values(len, 8));
                let (mut skip, mut trial) = (vec![0.0; len], vec![0.0; len]);
                with_activation!(act, |_f, df| wide_or_not!(
                    wide,
                    rate,
                    backward_block_skip
                        | backward_block_skip_avx512::<f32>(
                            df, &alpha, &z, &s, &mut d, &mut dsn, &extra, mix, &mut skip,
                            trial_mix, &mut trial
                        )
                ));
                (bits(&d), bits(&dsn), bits(&skip), bits(&trial))
            };
            for mix in [None, Some((0.3, &df_extra[..]))] {
                for trial_mix in [None, Some(0.6)] {
                    assert_eq!(
                        run_skip(None, mix, trial_mix),
                        run_skip(present, mix, trial_mix),
                        "{act:?} backward with skips {mix:?} {trial_mix:?}, rate {rate}"
                    );
                }
            }
        }
        for sigmoid in [false, true] {
            let run = |wide: Option<Avx512Present>| {
                let (mut pre, mut out) = (z.clone(), vec![0.0; len]);
                wide_or_not!(
                    wide,
                    sigmoid,
                    readout_step | readout_step_avx512::<f32>(&mut pre, &alpha, &mut out)
                );
                (bits(&pre), bits(&out))
            };
            assert_eq!(run(None), run(present), "readout, sigmoid {sigmoid}");
        }
    }
}
