//! Noise robustness (the paper's claim that CordsNets degrade more gracefully than CNNs; the
//! reference ships no noise code, so the protocol is ours): Gaussian noise on the image, drawn
//! once per image or anew at every Euler step, in units of the normalised pixels' standard
//! deviation; and noise in the dynamics, each rate kicked by alpha sigma N(0, 1) after every step
//! (noise entering with the drive).

use crate::cordsnet::{Activation, CordsNet, StepScratch};
use biornn_numerics::{Real, RngStream};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Noise {
    /// the image's noise, in pixel standard deviations
    pub input_std: f64,
    /// a fresh draw of the image noise at every step (else one per image)
    pub per_step: bool,
    /// the rates' noise per step, before the factor alpha
    pub dynamics_std: f64,
}

impl CordsNet {
    /// [`CordsNet::run`] under `noise` drawn from `rng`: logits `[step][n][classes]`.
    #[allow(clippy::too_many_arguments)]
    pub fn run_noisy<T: Real>(
        &self,
        theta: &[T],
        images: &[T],
        n: usize,
        start: &[Vec<T>],
        steps: usize,
        alpha: f64,
        act: Activation,
        noise: Noise,
        rng: &mut RngStream,
    ) -> Vec<Vec<T>> {
        // the image's stem once, or again at every step where each step draws its own noise
        let fresh = |t: usize| t == 0 || (noise.per_step && noise.input_std > 0.0);
        self.run_with(theta, n, start, steps, alpha, act, noise, rng, |t| {
            fresh(t).then_some(images)
        })
    }

    /// [`CordsNet::run_noisy`] on a moving stimulus, `frames[t]` (`n` images) shown at step t:
    /// the image noise is drawn anew for every frame.
    #[allow(clippy::too_many_arguments)]
    pub fn run_frames_noisy<T: Real>(
        &self,
        theta: &[T],
        frames: &[Vec<T>],
        n: usize,
        start: &[Vec<T>],
        alpha: f64,
        act: Activation,
        noise: Noise,
        rng: &mut RngStream,
    ) -> Vec<Vec<T>> {
        self.run_with(theta, n, start, frames.len(), alpha, act, noise, rng, |t| {
            Some(&frames[t][..])
        })
    }

    /// The steps from `start`, a new image's stem computed at each step where `image(t)` gives
    /// one (with its noise), the previous one kept otherwise; the dynamics' noise after every step.
    #[allow(clippy::too_many_arguments)]
    fn run_with<'a, T: Real + 'a>(
        &self,
        theta: &[T],
        n: usize,
        start: &[Vec<T>],
        steps: usize,
        alpha: f64,
        act: Activation,
        noise: Noise,
        rng: &mut RngStream,
        image: impl Fn(usize) -> Option<&'a [T]>,
    ) -> Vec<Vec<T>> {
        let noisy = |images: &[T], rng: &mut RngStream| -> Vec<T> {
            if noise.input_std == 0.0 {
                return images.to_vec();
            }
            images
                .iter()
                .map(|x| *x + T::from_f64(noise.input_std * rng.normal()))
                .collect()
        };
        let mut stem = (vec![], vec![]);
        let mut r = self.broadcast(start, n);
        let mut z = self.zero_state(n);
        let mut scratch = StepScratch::default();
        let kick = alpha * noise.dynamics_std;
        (0..steps)
            .map(|t| {
                if let Some(x) = image(t) {
                    stem = self.stem(theta, &noisy(x, rng), n);
                }
                self.step(
                    theta,
                    &mut r,
                    (&stem.0, &stem.1),
                    n,
                    alpha,
                    act,
                    &mut z,
                    &mut scratch,
                );
                if kick > 0.0 {
                    for v in r.iter_mut().flatten() {
                        *v += T::from_f64(kick * rng.normal());
                    }
                }
                self.readout(theta, &r, n)
            })
            .collect()
    }
}
