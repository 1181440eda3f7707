//! Generated stimuli for the multi-area tasks: random-dot motion (a new frame each step) and
//! oriented gratings. Images are `[channels][h][w]` in [0, 1].

use biornn_numerics::RngStream;

/// A random-dot kinematogram: `dots` dots on a `h` x `w` field; each step a share `coherence` of
/// them (drawn anew each step) moves `speed` pixels right (`direction` +1) or left (-1), the rest
/// jump to random places; dots leaving the field wrap around.
#[derive(Debug, Clone)]
pub struct Dots {
    pub h: usize,
    pub w: usize,
    pub coherence: f64,
    pub direction: f64,
    pub speed: f64,
    positions: Vec<(f64, f64)>,
}

impl Dots {
    pub fn new(
        h: usize,
        w: usize,
        dots: usize,
        coherence: f64,
        direction: f64,
        speed: f64,
        rng: &mut RngStream,
    ) -> Self {
        let positions = (0..dots)
            .map(|_| (rng.uniform() * h as f64, rng.uniform() * w as f64))
            .collect();
        Dots {
            h,
            w,
            coherence,
            direction,
            speed,
            positions,
        }
    }

    /// Move the dots one step.
    pub fn advance(&mut self, rng: &mut RngStream) {
        let (h, w) = (self.h as f64, self.w as f64);
        for p in &mut self.positions {
            if rng.uniform() < self.coherence {
                p.1 = (p.1 + self.direction * self.speed).rem_euclid(w);
            } else {
                *p = (rng.uniform() * h, rng.uniform() * w);
            }
        }
    }

    /// The frame: each dot lights its pixel (1), on every channel.
    pub fn render(&self, channels: usize) -> Vec<f32> {
        let mut img = vec![0.0f32; channels * self.h * self.w];
        for (y, x) in &self.positions {
            let (i, j) = ((*y as usize).min(self.h - 1), (*x as usize).min(self.w - 1));
            for c in 0..channels {
                img[(c * self.h + i) * self.w + j] = 1.0;
            }
        }
        img
    }
}

/// A sinusoidal grating: 0.5 + 0.5 cos(2 pi f (x cos theta + y sin theta) + phase), with
/// `cycles_per_image` cycles across the image's width and orientation `theta` (radians).
pub fn grating(
    h: usize,
    w: usize,
    channels: usize,
    theta: f64,
    cycles_per_image: f64,
    phase: f64,
) -> Vec<f32> {
    let f = cycles_per_image / w as f64;
    let plane: Vec<f32> = (0..h * w)
        .map(|k| {
            let (y, x) = ((k / w) as f64, (k % w) as f64);
            let arg = 2.0 * std::f64::consts::PI * f * (x * theta.cos() + y * theta.sin()) + phase;
            (0.5 + 0.5 * arg.cos()) as f32
        })
        .collect();
    plane.repeat(channels)
}
