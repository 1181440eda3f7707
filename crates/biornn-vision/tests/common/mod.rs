//! Shared by the vision tests.

use biornn_numerics::{Real, Streams};
use biornn_vision::CordsNet;

/// Every area's per-unit bias drawn from N(0, scale^2) (stream `bias` of `seed`): away from zero,
/// so that some units sit below zero and none at ReLU's kink.
pub fn random_biases<T: Real>(net: &CordsNet, theta: &mut [T], seed: u64, scale: f64) {
    let mut rng = Streams::new(seed).stream("bias", 0);
    for l in 0..net.depth() {
        let r = net
            .layout
            .get(&format!("conv_bias.{l}"))
            .unwrap()
            .range
            .clone();
        for v in &mut theta[r] {
            *v = T::from_f64(scale * rng.normal());
        }
    }
}

/// The central difference of `loss` in coordinate `j` of `theta`, step `eps`.
#[allow(dead_code)] // not every test file checks gradients
pub fn central_difference(loss: &dyn Fn(&[f64]) -> f64, theta: &[f64], j: usize, eps: f64) -> f64 {
    let (mut a, mut b) = (theta.to_vec(), theta.to_vec());
    a[j] += eps;
    b[j] -= eps;
    (loss(&a) - loss(&b)) / (2.0 * eps)
}
