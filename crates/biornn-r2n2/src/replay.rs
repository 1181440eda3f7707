//! Learning by replay (CogControlLab/R2N2 `backward_learning_seq_prediction` and
//! `backward_learning_decision_making`): a forward pass that keeps only the final state, then a
//! backward replay that feeds the inputs in reverse, recomputes each earlier state by inverting the
//! dynamics, and carries the adjoints back, accumulating local (post-synaptic error x pre-synaptic
//! rate) weight gradients. Nothing is stored per step: memory is O(n) whatever the length.
//!
//! The adjoints, with G_A(T+1) = G_B(T+1) = 0 and o_s read from h_B(s+1):
//! ```text
//! G_B(s+1) = carry_B + phi'(h_B(s+1)) . (W_BO^T do_s)
//! G_A(s+1) = carry_A + d phi'(h_A(s+1)) . (W_AB^T G_B(s+1))
//! carry_A  = c G_A(s+1)                                          (exact)
//! carry_B  = c G_B(s+1) + d phi'(h_B(s)) . (W_BA^T G_A(s+1))
//! ```
//! `code_parity` reproduces the published code: its loop hands the later adjoints on as the carry
//! (carry_A = G_A(s+1), carry_B = G_B(s+1): no leak, no path through W_BA^T), and its derivative is
//! the soft-clipped 1 / cosh^2(10 tanh(x / 10)) instead of 1 - tanh^2(x). With feedback alignment
//! the transposes are replaced by the fixed random matrices.

use crate::network::{add_outer, matvec, matvec_t, tanh_into, R2n2, State};
use biornn_numerics::Real;

/// What carries the error backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// the transposed forward weights (backpropagation)
    #[default]
    Bp,
    /// fixed random matrices (feedback alignment)
    Fa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayOptions {
    pub feedback: Feedback,
    /// the published carry and derivative (section 2.4 of the reference notes)
    pub code_parity: bool,
}

/// What a sequence is scored on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective<'a, T> {
    /// 1/2 |o_s - y_s|^2 at every step; targets `steps x n_out` (next-step prediction)
    Mse(&'a [T]),
    /// cross-entropy of softmax(o) against the class, at the last step only (classification)
    ClassAtEnd(usize),
}

/// Gradients of the summed loss with respect to the four trained matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads<T> {
    pub w_ia: Vec<T>,
    pub w_ba: Vec<T>,
    pub w_ab: Vec<T>,
    pub w_bo: Vec<T>,
}

impl<T: Real> Grads<T> {
    pub fn zeros_like(net: &R2n2<T>) -> Self {
        Grads {
            w_ia: vec![T::ZERO; net.w_ia.len()],
            w_ba: vec![T::ZERO; net.w_ba.len()],
            w_ab: vec![T::ZERO; net.w_ab.len()],
            w_bo: vec![T::ZERO; net.w_bo.len()],
        }
    }
    pub fn tensors(&self) -> [&[T]; 4] {
        [&self.w_ia, &self.w_ba, &self.w_ab, &self.w_bo]
    }
}

/// The derivative of tanh: exact, or the reference code's soft-clipped form.
#[inline]
pub fn tanh_slope<T: Real>(x: T, code_parity: bool) -> T {
    let t = if code_parity {
        (T::from_f64(10.0) * (x / T::from_f64(10.0)).tanh()).tanh()
    } else {
        x.tanh()
    };
    T::ONE - t * t
}

/// The loss of output `o` at step `s` of `steps`, and its gradient do (zero where unscored).
/// Returns whether the step is scored.
fn output_error<T: Real>(
    objective: &Objective<T>,
    s: usize,
    steps: usize,
    o: &[T],
    delta: &mut [T],
) -> (f64, bool) {
    match objective {
        Objective::Mse(targets) => {
            let y = &targets[s * o.len()..(s + 1) * o.len()];
            let mut loss = 0.0;
            for k in 0..o.len() {
                delta[k] = o[k] - y[k];
                loss += 0.5 * delta[k].to_f64().powi(2);
            }
            (loss, true)
        }
        Objective::ClassAtEnd(class) => {
            if s + 1 != steps {
                delta.fill(T::ZERO);
                return (0.0, false);
            }
            let max = o
                .iter()
                .fold(T::from_f64(f64::NEG_INFINITY), |m, v| m.max(*v));
            let mut sum = T::ZERO;
            for k in 0..o.len() {
                delta[k] = (o[k] - max).exp();
                sum += delta[k];
            }
            for d in delta.iter_mut() {
                *d /= sum;
            }
            let loss = -delta[*class].to_f64().ln();
            delta[*class] -= T::ONE;
            (loss, true)
        }
    }
}

/// Run forward from `h` (left at the final state) over `inputs` (`steps x n_in`), writing every
/// step's output into `outputs` (`steps x n_out`) when asked; returns the summed loss. Without
/// `outputs` nothing grows with the sequence's length.
pub fn forward<T: Real>(
    net: &R2n2<T>,
    h: &mut State<T>,
    inputs: &[T],
    objective: &Objective<T>,
    mut outputs: Option<&mut Vec<T>>,
) -> f64 {
    let (n, n_in, n_out) = (net.shape.n, net.shape.n_in, net.shape.n_out);
    let steps = inputs.len() / n_in;
    if let Some(out) = outputs.as_deref_mut() {
        out.resize(steps * n_out, T::ZERO);
    }
    let (mut rates, mut drive) = (vec![T::ZERO; n], vec![T::ZERO; n]);
    let (mut o, mut delta) = (vec![T::ZERO; n_out], vec![T::ZERO; n_out]);
    let mut loss = 0.0;
    for s in 0..steps {
        net.step(h, &inputs[s * n_in..(s + 1) * n_in], &mut rates, &mut drive);
        net.output(h, &mut rates, &mut o);
        loss += output_error(objective, s, steps, &o, &mut delta).0;
        if let Some(out) = outputs.as_deref_mut() {
            out[s * n_out..(s + 1) * n_out].copy_from_slice(&o);
        }
    }
    loss
}

/// Backward replay from the final state `h` of a forward pass over `inputs`: `h` ends at the
/// reconstructed start state, `grads` (overwritten) holds the gradient of the summed loss.
pub fn replay_gradient<T: Real>(
    net: &R2n2<T>,
    h: &mut State<T>,
    inputs: &[T],
    objective: &Objective<T>,
    options: ReplayOptions,
    grads: &mut Grads<T>,
) {
    let (n, n_in, n_out) = (net.shape.n, net.shape.n_in, net.shape.n_out);
    let (c, d) = (T::from_f64(net.shape.c()), T::from_f64(net.shape.d()));
    let parity = options.code_parity;
    let fa = options.feedback == Feedback::Fa;
    let steps = inputs.len() / n_in;
    for g in [
        &mut grads.w_ia,
        &mut grads.w_ba,
        &mut grads.w_ab,
        &mut grads.w_bo,
    ] {
        g.fill(T::ZERO);
    }
    let zeros = || vec![T::ZERO; n];
    let (mut rates, mut drive) = (zeros(), zeros());
    let (mut rate_a, mut rate_b, mut slope_a, mut slope_b) = (zeros(), zeros(), zeros(), zeros());
    let (mut g_a, mut g_b, mut carry_a, mut carry_b, mut back) =
        (zeros(), zeros(), zeros(), zeros(), zeros());
    let (mut o, mut delta) = (vec![T::ZERO; n_out], vec![T::ZERO; n_out]);
    for s in (0..steps).rev() {
        let x = &inputs[s * n_in..(s + 1) * n_in];
        // the later state h(s+1): its rates, slopes and the output it made
        tanh_into(&h.a, &mut rate_a);
        tanh_into(&h.b, &mut rate_b);
        for i in 0..n {
            slope_a[i] = tanh_slope(h.a[i], parity);
            slope_b[i] = tanh_slope(h.b[i], parity);
        }
        matvec(&net.w_bo, &rate_b, &mut o, false);
        let (_, scored) = output_error(objective, s, steps, &o, &mut delta);
        net.unstep(h, x, &mut rates, &mut drive);
        // G_B(s+1)
        if scored {
            if fa {
                matvec(&net.fa_bo, &delta, &mut back, false);
            } else {
                matvec_t(&net.w_bo, &delta, &mut back, false);
            }
            for i in 0..n {
                g_b[i] = carry_b[i] + slope_b[i] * back[i];
            }
        } else {
            g_b.copy_from_slice(&carry_b);
        }
        // G_A(s+1)
        if fa {
            matvec(&net.fa_ab, &g_b, &mut back, false);
        } else {
            matvec_t(&net.w_ab, &g_b, &mut back, false);
        }
        for i in 0..n {
            g_a[i] = carry_a[i] + d * slope_a[i] * back[i];
        }
        // local weight changes
        if scored {
            add_outer(&mut grads.w_bo, T::ONE, &delta, &rate_b);
        }
        add_outer(&mut grads.w_ab, d, &g_b, &rate_a);
        tanh_into(&h.b, &mut rates);
        add_outer(&mut grads.w_ba, d, &g_a, &rates);
        add_outer(&mut grads.w_ia, d, &g_a, x);
        // the carry to h(s)
        if parity {
            carry_a.copy_from_slice(&g_a);
            carry_b.copy_from_slice(&g_b);
        } else {
            if fa {
                matvec(&net.fa_ba, &g_a, &mut back, false);
            } else {
                matvec_t(&net.w_ba, &g_a, &mut back, false);
            }
            for i in 0..n {
                carry_a[i] = c * g_a[i];
                carry_b[i] = c * g_b[i] + d * tanh_slope(h.b[i], false) * back[i];
            }
        }
    }
}

/// The same gradient by ordinary BPTT: every state of the forward pass stored (O(n T) memory),
/// then the adjoints carried back through the stored trajectory with the exact carry. The yardstick
/// for replay's exactness and memory.
pub fn gradient_with_stored_states<T: Real>(
    net: &R2n2<T>,
    h0: &State<T>,
    inputs: &[T],
    objective: &Objective<T>,
    grads: &mut Grads<T>,
) -> f64 {
    let (n, n_in, n_out) = (net.shape.n, net.shape.n_in, net.shape.n_out);
    let (c, d) = (T::from_f64(net.shape.c()), T::from_f64(net.shape.d()));
    let steps = inputs.len() / n_in;
    let mut states = Vec::with_capacity(steps + 1);
    states.push(h0.clone());
    let (mut rates, mut drive) = (vec![T::ZERO; n], vec![T::ZERO; n]);
    let mut o = vec![T::ZERO; n_out];
    let mut delta = vec![T::ZERO; n_out];
    let mut loss = 0.0;
    for s in 0..steps {
        let mut h = states[s].clone();
        net.step(
            &mut h,
            &inputs[s * n_in..(s + 1) * n_in],
            &mut rates,
            &mut drive,
        );
        net.output(&h, &mut rates, &mut o);
        loss += output_error(objective, s, steps, &o, &mut delta).0;
        states.push(h);
    }
    for g in [
        &mut grads.w_ia,
        &mut grads.w_ba,
        &mut grads.w_ab,
        &mut grads.w_bo,
    ] {
        g.fill(T::ZERO);
    }
    let zeros = || vec![T::ZERO; n];
    let (mut carry_a, mut carry_b, mut g_a, mut g_b, mut back) =
        (zeros(), zeros(), zeros(), zeros(), zeros());
    let (mut rate_a, mut rate_b) = (zeros(), zeros());
    for s in (0..steps).rev() {
        let (prev, next) = (&states[s], &states[s + 1]);
        tanh_into(&next.a, &mut rate_a);
        tanh_into(&next.b, &mut rate_b);
        matvec(&net.w_bo, &rate_b, &mut o, false);
        let (_, scored) = output_error(objective, s, steps, &o, &mut delta);
        if scored {
            matvec_t(&net.w_bo, &delta, &mut back, false);
            add_outer(&mut grads.w_bo, T::ONE, &delta, &rate_b);
        } else {
            back.fill(T::ZERO);
        }
        for i in 0..n {
            g_b[i] = carry_b[i] + (T::ONE - rate_b[i] * rate_b[i]) * back[i];
        }
        matvec_t(&net.w_ab, &g_b, &mut back, false);
        for i in 0..n {
            g_a[i] = carry_a[i] + d * (T::ONE - rate_a[i] * rate_a[i]) * back[i];
        }
        add_outer(&mut grads.w_ab, d, &g_b, &rate_a);
        tanh_into(&prev.b, &mut rates);
        add_outer(&mut grads.w_ba, d, &g_a, &rates);
        add_outer(&mut grads.w_ia, d, &g_a, &inputs[s * n_in..(s + 1) * n_in]);
        matvec_t(&net.w_ba, &g_a, &mut back, false);
        for i in 0..n {
            carry_a[i] = c * g_a[i];
            carry_b[i] = c * g_b[i] + d * (T::ONE - rates[i] * rates[i]) * back[i];
        }
    }
    loss
}
