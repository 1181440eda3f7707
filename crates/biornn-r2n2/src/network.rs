//! The reversible network (CogControlLab/R2N2 `models.py`, class `R2N2`): two populations A and B
//! of leaky tanh units, coupled additively so that each step can be undone exactly.
//!
//! ```text
//! h_A' = c h_A + d (W_BA tanh(h_B) + W_IA x)      A first, from the old B
//! h_B' = c h_B + d  W_AB tanh(h_A')                then B, from the new A
//! o    = W_BO tanh(h_B')                           linear readout from B
//! ```
//! with c = 1 - 1/tau, d = 1/tau. The inverse runs the two half-steps backwards with backward
//! weights, which equal -W exactly after [`R2n2::hard_reset_backward`] (the reference's
//! `hard_reset_w_backward`) or approximately after [`R2n2::solve_backward`] (its
//! `solve_w_backward`: a least-squares fit of the recurrent currents from the rates).
//!
//! Weights are row-major `(post, pre)`; the scalar type is generic so that reversal can be studied
//! in f32 and f64 (f64 is the default: the inverse divides by c < 1 and so expands rounding).

pub(crate) use biornn_numerics::linalg::{add_outer, matvec, matvec_t};
use biornn_numerics::{Error, Real, Result, Streams};

/// The sizes and constants a network is built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// units in each population
    pub n: usize,
    pub n_in: usize,
    pub n_out: usize,
    /// leak time constant in steps
    pub tau: f64,
    /// gain of the recurrent weights W_AB, W_BA
    pub g_forward: f64,
    /// gain of the feedback-alignment matrices
    pub g_backward: f64,
}

/// The two populations' pre-activations.
#[derive(Debug, Clone, PartialEq)]
pub struct State<T> {
    pub a: Vec<T>,
    pub b: Vec<T>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct R2n2<T> {
    pub shape: Shape,
    /// input to A, `(n, n_in)`
    pub w_ia: Vec<T>,
    /// B to A, `(n, n)`
    pub w_ba: Vec<T>,
    /// A to B, `(n, n)`
    pub w_ab: Vec<T>,
    /// readout from B, `(n_out, n)`
    pub w_bo: Vec<T>,
    /// the backward weights the inverse uses in place of -W_BA and -W_AB
    pub back_ba: Vec<T>,
    pub back_ab: Vec<T>,
    /// feedback alignment: fixed random stand-ins for W_AB^T `(n, n)`, W_BA^T `(n, n)` and
    /// W_BO^T `(n, n_out)`
    pub fa_ab: Vec<T>,
    pub fa_ba: Vec<T>,
    pub fa_bo: Vec<T>,
}

pub(crate) fn tanh_into<T: Real>(x: &[T], out: &mut [T]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = v.tanh();
    }
}

impl Shape {
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("network.n_hidden", self.n),
            ("n_in", self.n_in),
            ("n_out", self.n_out),
        ] {
            if v == 0 {
                return Err(Error::invalid(field, v, "allowed: a positive count"));
            }
        }
        if !(self.tau.is_finite() && self.tau > 1.0) {
            return Err(Error::invalid(
                "network.tau",
                self.tau,
                "allowed: a number of steps > 1 (the inverse divides by 1 - 1/tau)",
            ));
        }
        for (field, g) in [
            ("network.g_forward", self.g_forward),
            ("network.g_backward", self.g_backward),
        ] {
            if !(g.is_finite() && g >= 0.0) {
                return Err(Error::invalid(field, g, "allowed: a finite gain >= 0"));
            }
        }
        Ok(())
    }

    pub fn c(&self) -> f64 {
        1.0 - 1.0 / self.tau
    }
    pub fn d(&self) -> f64 {
        1.0 / self.tau
    }
}

impl<T: Real> State<T> {
    pub fn zeros(n: usize) -> Self {
        State {
            a: vec![T::ZERO; n],
            b: vec![T::ZERO; n],
        }
    }
}

impl<T: Real> R2n2<T> {
    /// A network drawn as the reference's `init_ws` draws it, from the streams `r2n2_w`
    /// (W_AB, W_BA: std g_f / sqrt(n); W_IA: std 0.1 / sqrt(n); W_BO: std 0.1 / sqrt(n_out)) and
    /// `r2n2_fa` (the feedback matrices: std g_b / sqrt(n), and g_b / sqrt(n_out) for W_BO's);
    /// the backward weights start at exactly -W.
    pub fn new(shape: Shape, streams: &Streams) -> Result<Self> {
        shape.validate()?;
        let Shape { n, n_in, n_out, .. } = shape;
        let mut rng = streams.stream("r2n2_w", 0);
        let mut draw = |len: usize, std: f64| -> Vec<T> {
            (0..len).map(|_| T::from_f64(rng.normal() * std)).collect()
        };
        let sn = (n as f64).sqrt();
        let w_ab = draw(n * n, shape.g_forward / sn);
        let w_ba = draw(n * n, shape.g_forward / sn);
        let w_ia = draw(n * n_in, 0.1 / sn);
        let w_bo = draw(n_out * n, 0.1 / (n_out as f64).sqrt());
        let mut rng = streams.stream("r2n2_fa", 0);
        let mut draw = |len: usize, std: f64| -> Vec<T> {
            (0..len).map(|_| T::from_f64(rng.normal() * std)).collect()
        };
        let fa_ab = draw(n * n, shape.g_backward / sn);
        let fa_ba = draw(n * n, shape.g_backward / sn);
        let fa_bo = draw(n * n_out, shape.g_backward / (n_out as f64).sqrt());
        let mut net = R2n2 {
            shape,
            w_ia,
            w_ba,
            w_ab,
            w_bo,
            back_ba: vec![],
            back_ab: vec![],
            fa_ab,
            fa_ba,
            fa_bo,
        };
        net.hard_reset_backward();
        Ok(net)
    }

    /// The same network in another scalar type (training in f32, analysing in f64).
    pub fn convert<U: Real>(&self) -> R2n2<U> {
        let c = |v: &Vec<T>| v.iter().map(|x| U::from_f64(x.to_f64())).collect();
        R2n2 {
            shape: self.shape,
            w_ia: c(&self.w_ia),
            w_ba: c(&self.w_ba),
            w_ab: c(&self.w_ab),
            w_bo: c(&self.w_bo),
            back_ba: c(&self.back_ba),
            back_ab: c(&self.back_ab),
            fa_ab: c(&self.fa_ab),
            fa_ba: c(&self.fa_ba),
            fa_bo: c(&self.fa_bo),
        }
    }

    fn cd(&self) -> (T, T) {
        (T::from_f64(self.shape.c()), T::from_f64(self.shape.d()))
    }

    /// Backward weights set to exactly -W (the reference calls this before every backward pass).
    pub fn hard_reset_backward(&mut self) {
        self.back_ba = self.w_ba.iter().map(|w| -*w).collect();
        self.back_ab = self.w_ab.iter().map(|w| -*w).collect();
    }

    /// One forward step with input `x`; `rates` is scratch of `n` entries.
    pub fn step(&self, s: &mut State<T>, x: &[T], rates: &mut [T], drive: &mut [T]) {
        let (c, d) = self.cd();
        tanh_into(&s.b, rates);
        matvec(&self.w_ba, rates, drive, false);
        matvec(&self.w_ia, x, drive, true);
        for (h, u) in s.a.iter_mut().zip(drive.iter()) {
            *h = c * *h + d * *u;
        }
        tanh_into(&s.a, rates);
        matvec(&self.w_ab, rates, drive, false);
        for (h, u) in s.b.iter_mut().zip(drive.iter()) {
            *h = c * *h + d * *u;
        }
    }

    /// Undo one step whose input was `x`, with the backward weights.
    pub fn unstep(&self, s: &mut State<T>, x: &[T], rates: &mut [T], drive: &mut [T]) {
        let (c, d) = self.cd();
        let (ic, dc) = (T::ONE / c, d / c);
        tanh_into(&s.a, rates);
        matvec(&self.back_ab, rates, drive, false);
        for (h, u) in s.b.iter_mut().zip(drive.iter()) {
            *h = ic * *h + dc * *u;
        }
        tanh_into(&s.b, rates);
        matvec(&self.back_ba, rates, drive, false);
        for (h, u) in s.a.iter_mut().zip(drive.iter()) {
            *h = ic * *h + dc * *u;
        }
        matvec(&self.w_ia, x, drive, false);
        for (h, u) in s.a.iter_mut().zip(drive.iter()) {
            *h -= dc * *u;
        }
    }

    /// The readout o = W_BO tanh(h_B); `rates` is scratch.
    pub fn output(&self, s: &State<T>, rates: &mut [T], o: &mut [T]) {
        tanh_into(&s.b, rates);
        matvec(&self.w_bo, rates, o, false);
    }

    /// The reference's `solve_w_backward`: from `samples` forward steps, each the presynaptic rates
    /// of A's and B's recurrent input and the currents they made (`(tanh h_B, W_BA tanh h_B,
    /// tanh h_A', W_AB tanh h_A')`), fit the backward weights by least squares with an intercept
    /// (discarded) so that they map rates to the negated current. With samples whose rates span
    /// all n directions (at least n + 1 affinely independent ones) the fit recovers -W; fewer
    /// directions are an error.
    pub fn solve_backward(&mut self, samples: &ForwardSamples<T>) -> Result<()> {
        let n = self.shape.n;
        if samples.n != n {
            return Err(Error::new(format!(
                "solve_backward: samples of {} units for a network of {n} per population",
                samples.n
            )));
        }
        let m = samples.len();
        if m < n + 1 {
            return Err(Error::new(format!(
                "solve_backward needs at least n + 1 = {} forward samples, got {m}",
                n + 1
            )));
        }
        self.back_ba = fit_negated(&samples.rates_b, &samples.current_a, m, n)?;
        self.back_ab = fit_negated(&samples.rates_a, &samples.current_b, m, n)?;
        Ok(())
    }

    /// Run `steps` forward steps from `s` on `inputs` (`steps x n_in`), recording what
    /// [`R2n2::solve_backward`] needs.
    pub fn record(&self, s: &mut State<T>, inputs: &[T], samples: &mut ForwardSamples<T>) {
        let n = self.shape.n;
        let (mut rates, mut drive) = (vec![T::ZERO; n], vec![T::ZERO; n]);
        let (c, d) = self.cd();
        for x in inputs.chunks(self.shape.n_in) {
            tanh_into(&s.b, &mut rates);
            matvec(&self.w_ba, &rates, &mut drive, false);
            samples.rates_b.extend_from_slice(&rates);
            samples.current_a.extend_from_slice(&drive);
            matvec(&self.w_ia, x, &mut drive, true);
            for (h, u) in s.a.iter_mut().zip(&drive) {
                *h = c * *h + d * *u;
            }
            tanh_into(&s.a, &mut rates);
            matvec(&self.w_ab, &rates, &mut drive, false);
            samples.rates_a.extend_from_slice(&rates);
            samples.current_b.extend_from_slice(&drive);
            for (h, u) in s.b.iter_mut().zip(&drive) {
                *h = c * *h + d * *u;
            }
        }
    }
}

/// What forward running records for fitting the backward weights, one row of n per step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForwardSamples<T> {
    pub n: usize,
    pub rates_b: Vec<T>,
    pub current_a: Vec<T>,
    pub rates_a: Vec<T>,
    pub current_b: Vec<T>,
}

impl<T> ForwardSamples<T> {
    pub fn new(n: usize) -> Self {
        ForwardSamples {
            n,
            rates_b: vec![],
            current_a: vec![],
            rates_a: vec![],
            current_b: vec![],
        }
    }
    /// Steps recorded.
    pub fn len(&self) -> usize {
        self.rates_b.len() / self.n.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.rates_b.is_empty()
    }
}

/// Least squares with an intercept: the `(n, n)` matrix M minimising sum_k |-y_k - M x_k - b|^2
/// over rows x_k, y_k (`m x n` row-major), in f64.
fn fit_negated<T: Real>(x: &[T], y: &[T], m: usize, n: usize) -> Result<Vec<T>> {
    use faer::linalg::solvers::SolveLstsq;
    let mean = |v: &[T], j: usize| (0..m).map(|k| v[k * n + j].to_f64()).sum::<f64>() / m as f64;
    let (mx, my): (Vec<f64>, Vec<f64>) = (
        (0..n).map(|j| mean(x, j)).collect(),
        (0..n).map(|j| mean(y, j)).collect(),
    );
    let a = faer::Mat::<f64>::from_fn(m, n, |k, j| x[k * n + j].to_f64() - mx[j]);
    // the QR solve does not truncate rank: rates that span fewer than n directions (beyond the
    // rounding of T) give huge finite weights, so the rank is checked on the singular values
    let sv = a.singular_values().map_err(|e| {
        Error::new(format!(
            "solve_backward: the singular values of the samples did not converge ({e:?})"
        ))
    })?;
    let largest = sv.iter().copied().fold(0.0f64, f64::max);
    let epsilon = if std::mem::size_of::<T>() == 4 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    // the rounding of T in n-dimensional rates, not the sample count, sets what is resolved
    let tolerance = largest * n as f64 * epsilon;
    let rank = sv.iter().filter(|s| **s > tolerance).count();
    if rank < n {
        return Err(Error::new(format!(
            "solve_backward: the {m} forward samples' rates span {rank} of {n} directions (rank-deficient: \
             record runs with varied inputs and start states)"
        )));
    }
    let b = faer::Mat::<f64>::from_fn(m, n, |k, j| -(y[k * n + j].to_f64() - my[j]));
    let sol = a.col_piv_qr().solve_lstsq(&b);
    let mut out = vec![T::ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            let v = sol[(j, i)];
            if !v.is_finite() {
                return Err(Error::new("solve_backward: the forward samples do not determine the weights (rank-deficient)"));
            }
            out[i * n + j] = T::from_f64(v);
        }
    }
    Ok(out)
}
