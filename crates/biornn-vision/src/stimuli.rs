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

/// The metrics column of the test accuracy at one coherence of random-dot motion.
pub fn coherence_column(coherence: f64) -> String {
    format!("test_accuracy_coh_{coherence}")
}

/// `right` of `n` as a share, NaN where there were none.
pub fn share(right: usize, n: usize) -> f64 {
    match n {
        0 => f64::NAN,
        n => right as f64 / n as f64,
    }
}

/// Each value of `list` once, in the order of its first appearance (the coherence levels a task
/// scores apart).
pub fn distinct(list: &[f64]) -> Vec<f64> {
    let mut levels: Vec<f64> = vec![];
    for c in list {
        if !levels.contains(c) {
            levels.push(*c);
        }
    }
    levels
}

/// A set of random-dot movies to classify by direction (label 1: rightward, 0: leftward), each a
/// function of its index alone: its own stream draws the direction (each with probability one
/// half), then the coherence from `coherences`, the dots and every frame
/// ([`Dots`]: the dots advance, then the frame is drawn). Frames are normalised by the field's
/// exact pixel statistics (a pixel is lit with probability 1 - (1 - 1/(h w))^dots).
#[derive(Debug, Clone)]
pub struct DotMovies {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub dots: usize,
    pub speed: f64,
    pub coherences: Vec<f64>,
    pub frames: usize,
    seed: u64,
    purpose: String,
    labels: Vec<usize>,
    /// each movie's coherence
    drawn: Vec<f64>,
}

impl DotMovies {
    /// `count` movies drawn from the streams `purpose`, 0..count, of the root seed `seed`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (channels, h, w): (usize, usize, usize),
        dots: usize,
        speed: f64,
        coherences: &[f64],
        frames: usize,
        count: usize,
        seed: u64,
        purpose: &str,
    ) -> Self {
        let (labels, drawn) = (0..count)
            .map(|i| {
                let mut rng = biornn_numerics::Streams::new(seed).stream(purpose, i as u64);
                let right = rng.bernoulli(0.5) as usize;
                (right, rng.choice(coherences))
            })
            .unzip();
        DotMovies {
            channels,
            h,
            w,
            dots,
            speed,
            coherences: coherences.to_vec(),
            frames,
            seed,
            purpose: purpose.into(),
            labels,
            drawn,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Each movie's coherence.
    pub fn coherences_drawn(&self) -> &[f64] {
        &self.drawn
    }

    /// The coherences movies are drawn from, each once, in the order listed.
    pub fn levels(&self) -> Vec<f64> {
        distinct(&self.coherences)
    }

    /// Each channel's (mean, std) over frames: a pixel is 1 with the probability that at least
    /// one of the dots, each uniform over the field, is on it.
    pub fn stats(&self) -> Vec<(f64, f64)> {
        let p = 1.0 - (1.0 - 1.0 / (self.h * self.w) as f64).powi(self.dots as i32);
        vec![(p, (p * (1.0 - p)).sqrt()); self.channels]
    }

    /// The movies `indices`, frame by frame (`[frame][movie][c][h][w]`, normalised), and their
    /// labels.
    pub fn batch(&self, indices: &[usize]) -> (Vec<Vec<f32>>, Vec<usize>) {
        let size = self.channels * self.h * self.w;
        let (mean, std) = self.stats()[0];
        let mut frames = vec![Vec::with_capacity(indices.len() * size); self.frames];
        for &i in indices {
            let mut rng = biornn_numerics::Streams::new(self.seed).stream(&self.purpose, i as u64);
            let right = rng.bernoulli(0.5);
            let coherence = rng.choice(&self.coherences);
            let direction = if right { 1.0 } else { -1.0 };
            let mut field = Dots::new(
                self.h, self.w, self.dots, coherence, direction, self.speed, &mut rng,
            );
            for frame in frames.iter_mut() {
                field.advance(&mut rng);
                frame.extend(
                    field
                        .render(self.channels)
                        .iter()
                        .map(|v| ((*v as f64 - mean) / std) as f32),
                );
            }
        }
        let labels = indices.iter().map(|i| self.labels[*i]).collect();
        (frames, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movies(coherences: &[f64], count: usize) -> DotMovies {
        DotMovies::new((1, 12, 10), 6, 1.0, coherences, 5, count, 3, "test_dots")
    }

    /// At coherence 1 every dot moves one pixel a step: each frame is the one before shifted one
    /// column in the movie's direction (wrapping), and the label is that direction.
    #[test]
    fn fully_coherent_movies_shift_one_column_a_frame_their_labels_way() {
        let m = movies(&[1.0], 8);
        let (frames, labels) = m.batch(&(0..8).collect::<Vec<_>>());
        assert_eq!(labels, m.labels());
        assert!(labels.contains(&0) && labels.contains(&1));
        let (h, w) = (12, 10);
        for (i, label) in labels.iter().enumerate() {
            let step = if *label == 1 { 1 } else { w - 1 };
            for t in 1..frames.len() {
                let (before, now) = (
                    &frames[t - 1][i * h * w..(i + 1) * h * w],
                    &frames[t][i * h * w..(i + 1) * h * w],
                );
                for y in 0..h {
                    for x in 0..w {
                        assert_eq!(now[y * w + (x + step) % w], before[y * w + x], "movie {i}");
                    }
                }
            }
        }
    }

    /// A movie is a function of its index: the same in any batch, and its frames normalised by the
    /// field's exact statistics (1 dot on 4 pixels: lit with probability 1/4).
    #[test]
    fn a_movie_depends_on_its_index_alone_and_is_normalised_by_the_fields_statistics() {
        let m = movies(&[0.3, 0.9], 6);
        let (alone, _) = m.batch(&[4]);
        let (mixed, labels) = m.batch(&[2, 4, 0]);
        let size = 12 * 10;
        for (a, b) in alone.iter().zip(&mixed) {
            assert_eq!(a[..], b[size..2 * size]);
        }
        assert_eq!(labels, [m.labels()[2], m.labels()[4], m.labels()[0]]);
        let one = DotMovies::new((2, 2, 2), 1, 1.0, &[0.5], 3, 1, 1, "test_dots");
        let (mean, std) = one.stats()[1];
        assert_eq!(one.stats().len(), 2);
        assert!((mean - 0.25).abs() < 1e-15 && (std - 0.1875f64.sqrt()).abs() < 1e-15);
        // over many frames the normalised pixels average about 0 with unit variance
        let big = DotMovies::new((1, 8, 8), 10, 1.0, &[0.5], 20, 200, 2, "test_dots");
        let (frames, _) = big.batch(&(0..200).collect::<Vec<_>>());
        let all: Vec<f64> = frames.iter().flatten().map(|v| *v as f64).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }
}
