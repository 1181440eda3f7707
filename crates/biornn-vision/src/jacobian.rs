//! The network's linearisation as a matrix-free operator (section 4.3 of the notes): at a state r
//! (and an image), the Jacobian of one Euler step,
//!
//!   (J v)_l = (1 - alpha) v_l + alpha D_l (W_l * v_l + A_l * dh_l(v)),  D_l = sigma'(z_l),
//!
//! with dh_l the drive's derivative (the rectified lower areas' masks [r >= 0], and P_l for odd areas from
//! 3 on; the stem does not depend on the state). The areas feed forward only, so J is block lower
//! triangular and its spectrum is the union of the blocks' (1 - alpha) + alpha eig(D_l W_l), which
//! [`AreaBlock`] gives one area at a time. Continuous-time rates are (lambda - 1) / dt.

use crate::cordsnet::{Activation, CordsNet, StepScratch};
use biornn_numerics::krylov::LinearOp;

/// The Euler step's Jacobian at one image's state.
pub struct StepJacobian<'a> {
    net: &'a CordsNet,
    theta: &'a [f64],
    /// the state linearised at, area by area
    r: Vec<Vec<f64>>,
    /// sigma' of each area's pre-activation there
    slope: Vec<Vec<f64>>,
    alpha: f64,
}

impl<'a> StepJacobian<'a> {
    /// At state `r` (one image), driven by the stem `(s, K s)` of one image (zeros: no image).
    pub fn at(
        net: &'a CordsNet,
        theta: &'a [f64],
        r: &[Vec<f64>],
        stem: (&[f64], &[f64]),
        alpha: f64,
        act: Activation,
    ) -> Self {
        let mut next = r.to_vec();
        let mut z = net.zero_state(1);
        let mut scratch = StepScratch::default();
        net.step(theta, &mut next, stem, 1, alpha, act, &mut z, &mut scratch);
        StepJacobian {
            net,
            theta,
            r: r.to_vec(),
            slope: z
                .iter()
                .map(|zl| zl.iter().map(|v| act.slope(*v)).collect())
                .collect(),
            alpha,
        }
    }

    /// The offset of each area's units in the flat vector.
    fn split<'v>(&self, x: &'v [f64]) -> Vec<&'v [f64]> {
        let mut out = vec![];
        let mut at = 0;
        for a in &self.net.areas {
            out.push(&x[at..at + a.units()]);
            at += a.units();
        }
        out
    }
}

impl LinearOp for StepJacobian<'_> {
    fn dim(&self) -> usize {
        self.net.units()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let net = self.net;
        let v = self.split(x);
        // the rectified areas' derivative: the masks [r >= 0] applied to v. Rates never go below
        // zero under these dynamics, so [r]+ = r wherever the network can be, and a unit resting
        // at exactly 0 passes a perturbation on as the identity does
        let masked: Vec<Vec<f64>> = v
            .iter()
            .zip(&self.r)
            .map(|(vl, rl)| {
                vl.iter()
                    .zip(rl)
                    .map(|(a, r)| if *r >= 0.0 { *a } else { 0.0 })
                    .collect()
            })
            .collect();
        let zeros = vec![0.0; net.stem_out.units()];
        let mut h = vec![];
        let mut at = 0;
        for (l, a) in net.areas.iter().enumerate() {
            let out = &mut y[at..at + a.units()];
            net.area_conv[l].forward(
                &self.theta[net.p_area_conv[l].clone()],
                v[l],
                a.hw(),
                out,
                false,
            );
            // dh_l: the drive's derivative is the drive of the masked v with no stem
            net.drive(self.theta, l, &masked, (&zeros, &zeros), &mut h);
            let input = if l == 0 {
                net.stem_out
            } else {
                net.areas[l - 1]
            };
            net.area_area[l].forward(
                &self.theta[net.p_area_area[l].clone()],
                &h,
                input.hw(),
                out,
                true,
            );
            for ((o, d), vv) in out.iter_mut().zip(&self.slope[l]).zip(v[l]) {
                *o = (1.0 - self.alpha) * vv + self.alpha * d * *o;
            }
            at += a.units();
        }
    }
}

/// One area's recurrent block at a state, v -> D_l (W_l * v): stable when every eigenvalue has
/// real part below 1; its eigenvalue mu gives the step's multiplier 1 - alpha + alpha mu and the
/// relaxation time tau / (1 - Re mu).
pub struct AreaBlock<'a> {
    net: &'a CordsNet,
    theta: &'a [f64],
    area: usize,
    slope: Vec<f64>,
}

impl<'a> AreaBlock<'a> {
    pub fn of(jacobian: &StepJacobian<'a>, area: usize) -> Self {
        AreaBlock {
            net: jacobian.net,
            theta: jacobian.theta,
            area,
            slope: jacobian.slope[area].clone(),
        }
    }
}

impl LinearOp for AreaBlock<'_> {
    fn dim(&self) -> usize {
        self.net.areas[self.area].units()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let (net, l) = (self.net, self.area);
        net.area_conv[l].forward(
            &self.theta[net.p_area_conv[l].clone()],
            x,
            net.areas[l].hw(),
            y,
            false,
        );
        for (o, d) in y.iter_mut().zip(&self.slope) {
            *o *= d;
        }
    }
}
