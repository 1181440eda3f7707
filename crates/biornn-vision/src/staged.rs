//! Stages 1b to 4 of the reference's staged training (`wmws2/cordsnet`, `training/`), which move a
//! trained compatibility CNN step by step into CordsNet:
//!
//! - **1b, folding** (`main_training_1_folding.py`): the CNN's batch norms folded into its convs,
//!   and the biases of the stem and the skips pushed through the zero-padded convs after them into
//!   one full map per area, a_l, so that the CNN reads x_l = ReLU(C_l (A_l h_l + a_l) + c_l) with
//!   h_l built from the x's as CordsNet's drives from the rates ([`fold`]);
//! - **2, the inverse fit** (`class_rnn_2_inverse.py`): each area's recurrent conv W_l and per-unit
//!   bias b_l fitted so that the linear network's steady state, as a three-term Neumann series
//!   s_3 = sum_{k<=3} W^k (b + u), reproduces the CNN's pre-activation t = C (u + a) + c, with the
//!   drive u = A h computed from the CNN's own activities (teacher forcing), and W^3 (b + u) held
//!   small ([`inverse_loss_and_grad`]);
//! - **3 and 4** are runs of the network itself (identity, then PReLU with a shared slope annealed
//!   to 0: [`anneal_slope`]); stage 5 is the final training.

use crate::cnn::{CompatCnn, FoldedNorms};
use crate::cordsnet::CordsNet;
use biornn_numerics::{Error, Real, Result};

/// The weight of the penalty on W^3 (b + u) in stage 2's loss (the reference's `1e1`).
pub const INVERSE_PENALTY: f64 = 10.0;

/// Neumann terms of the steady state in stage 2 (the reference's `range(3)`).
const NEUMANN_STEPS: usize = 3;

/// A compatibility CNN folded into CordsNet's parameters (stage 1b), with what stage 2's targets
/// need beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// a CordsNet's parameters: stem, skips, feed-forward convs and readout from the folded CNN;
    /// the recurrent convs as given, the per-unit biases zero
    pub theta: Vec<f64>,
    /// per area: C_l, the CNN's second conv with its norm folded in
    pub target_conv: Vec<Vec<f64>>,
    /// per area: a_l, the full map added to A_l h_l (its norm's bias and the stem's or skip's
    /// bias pushed through A_l)
    pub area_bias: Vec<Vec<f64>>,
    /// per area: C_l a_l + c_l, the constant part of the target
    pub target_bias: Vec<Vec<f64>>,
}

/// What the folded CNN computes for a batch: per area the drive u_l = A_l h_l (without a_l), the
/// pre-activation t_l = C_l (u_l + a_l) + c_l and x_l = ReLU(t_l); and the logits.
#[derive(Debug, Clone, Default)]
pub struct FoldedPass {
    pub drive: Vec<Vec<f64>>,
    pub target: Vec<Vec<f64>>,
    pub x: Vec<Vec<f64>>,
    pub logits: Vec<f64>,
}

fn broadcast(bias: &[f64], plane: usize) -> Vec<f64> {
    bias.iter()
        .flat_map(|b| std::iter::repeat_n(*b, plane))
        .collect()
}

/// Fold the trained compatibility CNN (`cnn_theta`, its norms' running statistics `buffers`) into
/// the parameters of `net`, the CordsNet of the same shape, whose recurrent convs start as in
/// `init` (a CordsNet parameter vector; the reference's default initialisation).
pub fn fold(
    net: &CordsNet,
    cnn: &CompatCnn,
    cnn_theta: &[f64],
    buffers: &[f64],
    init: &[f64],
) -> Result<Folded> {
    if cnn.shape != net.shape || init.len() != net.layout.len {
        return Err(Error::new(format!(
            "network.from: the compatibility CNN's shape {:?} is not the network's {:?}",
            cnn.shape, net.shape
        )));
    }
    let parts: FoldedNorms = cnn.fold_norms(cnn_theta, buffers);
    let mut theta = init.to_vec();
    let mut put =
        |range: &std::ops::Range<usize>, v: &[f64]| theta[range.clone()].copy_from_slice(v);
    put(&net.p_inp_conv, &parts.stem.weight);
    put(&net.p_inp_skip, &parts.inp_skip);
    for l in 0..net.depth() {
        put(&net.p_area_area[l], &parts.area_area[l].weight);
        put(&net.p_conv_bias[l], &vec![0.0; net.areas[l].units()]);
    }
    for (i, p) in parts.skip_area.iter().enumerate() {
        put(&net.p_skip_area[i], &p.weight);
    }
    put(&net.p_out_w, &parts.out_w);
    put(&net.p_out_b, &parts.out_b);
    // the stem's bias, a constant map through the average pool (zero padding counted, so the
    // border shrinks), and through K
    let (mid, so) = (net.stem_mid, net.stem_out);
    let mut stem_bias = vec![0.0; so.units()];
    net.stem_pool.forward(
        &broadcast(&parts.stem.bias, mid.h * mid.w),
        mid.c,
        mid.hw(),
        &mut stem_bias,
    );
    let mut skip_bias = vec![0.0; so.units()];
    net.inp_skip
        .forward(&parts.inp_skip, &stem_bias, so.hw(), &mut skip_bias, false);
    let (mut area_bias, mut target_conv, mut target_bias) = (vec![], vec![], vec![]);
    for l in 0..net.depth() {
        let a = net.areas[l];
        let input = if l == 0 { so } else { net.areas[l - 1] };
        // the constant part of the drive h_l
        let h_bias = match l {
            0 => stem_bias.clone(),
            1 => skip_bias.clone(),
            _ if l.is_multiple_of(2) => vec![0.0; input.units()],
            _ => broadcast(&parts.skip_area[(l - 3) / 2].bias, input.h * input.w),
        };
        let mut al = broadcast(&parts.area_area[l].bias, a.h * a.w);
        net.area_area[l].forward(
            &parts.area_area[l].weight,
            &h_bias,
            input.hw(),
            &mut al,
            true,
        );
        let mut tb = broadcast(&parts.area_conv[l].bias, a.h * a.w);
        net.area_conv[l].forward(&parts.area_conv[l].weight, &al, a.hw(), &mut tb, true);
        area_bias.push(al);
        target_conv.push(parts.area_conv[l].weight.clone());
        target_bias.push(tb);
    }
    Ok(Folded {
        theta,
        target_conv,
        area_bias,
        target_bias,
    })
}

impl Folded {
    /// The folded CNN on `n` images (normalised, `[n][c][H][W]`): equal to the compatibility CNN in
    /// evaluation mode; its drives and pre-activations are stage 2's inputs and targets.
    pub fn forward(&self, net: &CordsNet, images: &[f64], n: usize) -> FoldedPass {
        let (s, ks) = net.stem(&self.theta, images, n);
        let mut pass = FoldedPass::default();
        let mut h = vec![];
        for l in 0..net.depth() {
            let a = net.areas[l];
            let input = if l == 0 {
                net.stem_out
            } else {
                net.areas[l - 1]
            };
            net.drive(&self.theta, l, &pass.x, (&s, &ks), &mut h);
            let mut u = vec![0.0; n * a.units()];
            net.area_area[l].forward(
                &self.theta[net.p_area_area[l].clone()],
                &h,
                input.hw(),
                &mut u,
                false,
            );
            let mut t: Vec<f64> = self.target_bias[l]
                .iter()
                .cycle()
                .take(u.len())
                .copied()
                .collect();
            // t = C (u + a) + c, with C a and c already in the target's bias
            net.area_conv[l].forward(&self.target_conv[l], &u, a.hw(), &mut t, true);
            pass.x.push(t.iter().map(|v| v.max(0.0)).collect());
            pass.drive.push(u);
            pass.target.push(t);
        }
        pass.logits = net.readout(&self.theta, &pass.x, n);
        pass
    }
}

/// Stage 2's loss on teacher-forced drives `u` and targets `t` (per area, `[n][units]`) and its
/// gradient with respect to the recurrent convs W_l and the per-unit biases b_l, added into `grad`
/// (a CordsNet layout; nothing else receives gradient):
///
///   L = mean_l mean((s_3,l - t_l)^2) + 10 mean_l mean((W_l^3 (b_l + u_l))^2),
///   s_0 = b + u,  s_{k+1} = W s_k + b + u.
///
/// Returns the two terms (the fit error and the penalty, each averaged over the areas).
pub fn inverse_loss_and_grad<T: Real>(
    net: &CordsNet,
    theta: &[T],
    u: &[Vec<T>],
    t: &[Vec<T>],
    n: usize,
    grad: &mut [T],
) -> (f64, f64) {
    let depth = net.depth();
    let (mut fit, mut penalty) = (0.0, 0.0);
    for l in 0..depth {
        let a = net.areas[l];
        let conv = &net.area_conv[l];
        let w = &theta[net.p_area_conv[l].clone()];
        let b = &theta[net.p_conv_bias[l].clone()];
        let units = n * a.units();
        let v: Vec<T> = u[l]
            .iter()
            .zip(b.iter().cycle())
            .map(|(u, b)| *u + *b)
            .collect();
        // the series and the powers, each term kept for the backward pass
        let mut s = vec![v.clone()];
        let mut p = vec![v.clone()];
        for k in 0..NEUMANN_STEPS {
            let mut next = v.clone();
            conv.forward(w, &s[k], a.hw(), &mut next, true);
            s.push(next);
            let mut pow = vec![T::ZERO; units];
            conv.forward(w, &p[k], a.hw(), &mut pow, false);
            p.push(pow);
        }
        let m = units as f64;
        let scale = 1.0 / depth as f64;
        let mut gs: Vec<T> = s[NEUMANN_STEPS]
            .iter()
            .zip(&t[l])
            .map(|(s, t)| {
                let e = (*s - *t).to_f64();
                fit += e * e / m * scale;
                T::from_f64(2.0 * e / m * scale)
            })
            .collect();
        let mut gp: Vec<T> = p[NEUMANN_STEPS]
            .iter()
            .map(|p| {
                let x = p.to_f64();
                penalty += x * x / m * scale;
                T::from_f64(2.0 * INVERSE_PENALTY * x / m * scale)
            })
            .collect();
        let mut dv = vec![T::ZERO; units];
        let dw = &mut grad[net.p_area_conv[l].clone()];
        for k in (0..NEUMANN_STEPS).rev() {
            conv.backward_weight(&s[k], &gs, a.hw(), dw);
            conv.backward_weight(&p[k], &gp, a.hw(), dw);
            dv.iter_mut().zip(&gs).for_each(|(d, g)| *d += *g);
            let (mut ds, mut dp) = (vec![T::ZERO; units], vec![T::ZERO; units]);
            conv.backward_input(w, &gs, a.hw(), &mut ds);
            conv.backward_input(w, &gp, a.hw(), &mut dp);
            gs = ds;
            gp = dp;
        }
        // s_0 = p_0 = b + u
        dv.iter_mut()
            .zip(gs.iter().zip(&gp))
            .for_each(|(d, (a, b))| *d += *a + *b);
        let db = &mut grad[net.p_conv_bias[l].clone()];
        for chunk in dv.chunks(a.units()) {
            db.iter_mut().zip(chunk).for_each(|(d, g)| *d += *g);
        }
    }
    (fit, penalty)
}

/// Stage 4's shared PReLU slope at annealing level `level` of `levels` (the reference's
/// max(0, 0.95 - 0.05 epoch) for 20 levels, one an epoch): 1 - (level + 1) / levels, then 0
/// (ReLU) once the schedule has run out.
pub fn anneal_slope(level: u64, levels: u64) -> f64 {
    if levels == 0 {
        return 0.0;
    }
    (1.0 - (level + 1) as f64 / levels as f64).max(0.0)
}
