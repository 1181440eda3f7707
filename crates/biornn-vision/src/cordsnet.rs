//! CordsNet (`wmws2/cordsnet`, `cordsnet.py`): a linear stem, then L areas (L = 2, 4, 6, 8), each a
//! leaky rate population with a convolutional recurrent kernel, stepped by synchronous forward
//! Euler:
//!
//!   r_l <- (1 - alpha) r_l + alpha sigma(W_l * r_l + b_l + A_l * h_l)
//!
//! with h_0 = s (the stem), h_1 = [r_0]+ + K s, h_l = [r_{l-1}]+ + [r_{l-2}]+ for even l >= 2 and
//! [r_{l-1}]+ + P_l [r_{l-2}]+ for odd l >= 3 (the skip added *before* the feed-forward conv A_l),
//! every area reading the others' previous state. The readout is U GAP([r_{L-1}]+ + [r_{L-2}]+) + c.
//!
//! The parameters live in one flat vector in a [`Layout`] of named tensors, with the reference's key
//! names (weight-norm folded: plain weights), so an optimiser, a checkpoint and an `.npz` see one
//! buffer.

use crate::conv::Conv2d;
use crate::pool::{global_avg, AvgPool};
use biornn_numerics::{Error, Real, Result, Streams};
use rayon::prelude::*;
use std::ops::Range;

/// The depths the reference builds.
pub const DEPTHS: [usize; 4] = [2, 4, 6, 8];

/// What a network is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct CordsNetShape {
    /// areas, 2, 4, 6 or 8 (R2 .. R8)
    pub depth: usize,
    pub in_channels: usize,
    /// input height and width
    pub image: (usize, usize),
    /// channels of the area pairs (0-1, 2-3, 4-5, 6-7); the reference's 64, 128, 256, 512
    pub widths: [usize; 4],
    pub classes: usize,
}

impl CordsNetShape {
    /// The published model's shape: R8 on 224 x 224 RGB, 1,000 classes.
    pub fn published() -> Self {
        CordsNetShape {
            depth: 8,
            in_channels: 3,
            image: (224, 224),
            widths: [64, 128, 256, 512],
            classes: 1000,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !DEPTHS.contains(&self.depth) {
            return Err(Error::invalid(
                "network.depth",
                self.depth,
                "allowed: 2, 4, 6 or 8",
            ));
        }
        if self.in_channels == 0 || self.classes == 0 || self.widths.contains(&0) {
            return Err(Error::invalid(
                "network",
                format!(
                    "in_channels {}, classes {}, widths {:?}",
                    self.in_channels, self.classes, self.widths
                ),
                "allowed: positive channel and class counts",
            ));
        }
        // any size works: the stem and the stride-2 areas round up, down to one pixel
        let (h, w) = self.image;
        if !(1..=4096).contains(&h) || !(1..=4096).contains(&w) {
            return Err(Error::invalid(
                "network.image",
                format!("{h} x {w}"),
                "allowed: 1 to 4096 pixels a side",
            ));
        }
        Ok(())
    }
}

/// One area's activity shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaShape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl AreaShape {
    pub fn units(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn hw(&self) -> (usize, usize) {
        (self.h, self.w)
    }
}

/// A named tensor in the flat parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
}

/// Where each named tensor sits in the flat parameter vector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub tensors: Vec<Tensor>,
    pub len: usize,
}

impl Layout {
    fn push(&mut self, name: String, shape: Vec<usize>) -> Range<usize> {
        let n: usize = shape.iter().product();
        let range = self.len..self.len + n;
        self.len += n;
        self.tensors.push(Tensor {
            name,
            shape,
            range: range.clone(),
        });
        range
    }
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// The nonlinearity inside the areas: ReLU in the final model, the identity in stage 3, PReLU of
/// one shared, scheduled slope in stage 4.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Relu,
    Linear,
    PRelu(f64),
}

impl Activation {
    #[inline]
    pub fn apply<T: Real>(self, z: T) -> T {
        match self {
            Activation::Relu => z.max(T::ZERO),
            Activation::Linear => z,
            Activation::PRelu(a) => {
                if z > T::ZERO {
                    z
                } else {
                    T::from_f64(a) * z
                }
            }
        }
    }
    #[inline]
    pub fn slope<T: Real>(self, z: T) -> T {
        match self {
            Activation::Relu => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::Linear => T::ONE,
            Activation::PRelu(a) => {
                if z > T::ZERO {
                    T::ONE
                } else {
                    T::from_f64(a)
                }
            }
        }
    }
}

/// The network's structure: shapes, convolutions and where each parameter lives.
#[derive(Debug, Clone, PartialEq)]
pub struct CordsNet {
    pub shape: CordsNetShape,
    pub areas: Vec<AreaShape>,
    /// the stem's output, the drive of area 0
    pub stem_out: AreaShape,
    pub layout: Layout,
    pub(crate) stem_conv: Conv2d,
    pub(crate) stem_pool: AvgPool,
    /// the stem's image after its conv, before pooling
    pub(crate) stem_mid: AreaShape,
    pub(crate) inp_skip: Conv2d,
    pub(crate) area_conv: Vec<Conv2d>,
    pub(crate) area_area: Vec<Conv2d>,
    /// the 1 x 1 stride-2 skips, for odd areas from 3 on
    pub(crate) skip_area: Vec<Conv2d>,
    pub(crate) p_inp_conv: Range<usize>,
    pub(crate) p_inp_skip: Range<usize>,
    pub(crate) p_area_conv: Vec<Range<usize>>,
    pub(crate) p_area_area: Vec<Range<usize>>,
    pub(crate) p_conv_bias: Vec<Range<usize>>,
    pub(crate) p_skip_area: Vec<Range<usize>>,
    pub(crate) p_out_w: Range<usize>,
    pub(crate) p_out_b: Range<usize>,
}

impl CordsNet {
    pub fn new(shape: &CordsNetShape) -> Result<Self> {
        shape.validate()?;
        let width = |l: usize| shape.widths[l / 2];
        let c0 = width(0);
        let stem_conv = Conv2d::new(shape.in_channels, c0, 7, 2, 3);
        let (h1, w1) = stem_conv.out_size(shape.image.0, shape.image.1);
        let stem_mid = AreaShape {
            c: c0,
            h: h1,
            w: w1,
        };
        let stem_pool = AvgPool {
            k: 3,
            stride: 2,
            pad: 1,
        };
        let (h0, w0) = stem_pool.out_size(h1, w1);
        let stem_out = AreaShape {
            c: c0,
            h: h0,
            w: w0,
        };
        let mut layout = Layout::default();
        let p_inp_conv = layout.push("inp_conv.weight".into(), vec![c0, shape.in_channels, 7, 7]);
        let inp_skip = Conv2d::new(c0, c0, 3, 1, 1);
        let p_inp_skip = layout.push("inp_skip.weight".into(), vec![c0, c0, 3, 3]);
        let mut areas = vec![];
        let (mut area_conv, mut area_area) = (vec![], vec![]);
        let (mut p_area_conv, mut p_area_area, mut p_conv_bias) = (vec![], vec![], vec![]);
        let mut prev = stem_out;
        for l in 0..shape.depth {
            let c = width(l);
            let stride = if l >= 2 && l % 2 == 0 { 2 } else { 1 };
            let a = Conv2d::new(prev.c, c, 3, stride, 1);
            let (h, w) = a.out_size(prev.h, prev.w);
            let area = AreaShape { c, h, w };
            areas.push(area);
            area_conv.push(Conv2d::new(c, c, 3, 1, 1));
            area_area.push(a);
            p_area_conv.push(layout.push(format!("area_conv.{l}.weight"), vec![c, c, 3, 3]));
            p_area_area.push(layout.push(format!("area_area.{l}.weight"), vec![c, prev.c, 3, 3]));
            prev = area;
        }
        for l in 0..shape.depth {
            let a = areas[l];
            p_conv_bias.push(layout.push(format!("conv_bias.{l}"), vec![a.c, a.h, a.w]));
        }
        let (mut skip_area, mut p_skip_area) = (vec![], vec![]);
        for l in (3..shape.depth).step_by(2) {
            let i = (l - 3) / 2;
            let (from, to) = (areas[l - 2].c, areas[l].c);
            skip_area.push(Conv2d::new(from, to, 1, 2, 0));
            p_skip_area.push(layout.push(format!("skip_area.{i}.weight"), vec![to, from, 1, 1]));
        }
        let top = areas[shape.depth - 1].c;
        let p_out_w = layout.push("out_fc.weight".into(), vec![shape.classes, top]);
        let p_out_b = layout.push("out_fc.bias".into(), vec![shape.classes]);
        Ok(CordsNet {
            shape: shape.clone(),
            areas,
            stem_out,
            layout,
            stem_conv,
            stem_pool,
            stem_mid,
            inp_skip,
            area_conv,
            area_area,
            skip_area,
            p_inp_conv,
            p_inp_skip,
            p_area_conv,
            p_area_area,
            p_conv_bias,
            p_skip_area,
            p_out_w,
            p_out_b,
        })
    }

    pub fn depth(&self) -> usize {
        self.areas.len()
    }

    /// Units in all areas together (752,640 for the published R8).
    pub fn units(&self) -> usize {
        self.areas.iter().map(|a| a.units()).sum()
    }

    /// PyTorch's default initialisation (Kaiming-uniform weights, bound 1/sqrt(fan_in)), biases of
    /// the areas zero, from stream `cordsnet_init`.
    pub fn init<T: Real>(&self, streams: &Streams) -> Vec<T> {
        let mut theta = vec![T::ZERO; self.layout.len];
        let mut rng = streams.stream("cordsnet_init", 0);
        for t in &self.layout.tensors {
            if t.name.starts_with("conv_bias") {
                continue;
            }
            let top = self.areas[self.depth() - 1].c;
            kaiming_uniform(&mut theta[t.range.clone()], t, top, &mut rng);
        }
        theta
    }

    /// The stem of a batch of images `[n][in][H][W]`: `s = pool(conv7x7(x))` and `K s`, the
    /// constant drives of areas 0 and 1 (computed once per static image).
    pub fn stem<T: Real>(&self, theta: &[T], images: &[T], n: usize) -> (Vec<T>, Vec<T>) {
        let mut mid = vec![T::ZERO; n * self.stem_mid.units()];
        self.stem_conv.forward(
            &theta[self.p_inp_conv.clone()],
            images,
            self.shape.image,
            &mut mid,
            false,
        );
        let mut s = vec![T::ZERO; n * self.stem_out.units()];
        self.stem_pool
            .forward(&mid, n * self.stem_mid.c, self.stem_mid.hw(), &mut s);
        let mut ks = vec![T::ZERO; s.len()];
        self.inp_skip.forward(
            &theta[self.p_inp_skip.clone()],
            &s,
            self.stem_out.hw(),
            &mut ks,
            false,
        );
        (s, ks)
    }

    /// A zero state of `n` images: one buffer per area.
    pub fn zero_state<T: Real>(&self, n: usize) -> Vec<Vec<T>> {
        self.areas
            .iter()
            .map(|a| vec![T::ZERO; n * a.units()])
            .collect()
    }

    /// The drive h_l of area `l` from the previous state's rectified areas `q` (`[r]+`) and the
    /// stem's drives, into `h`.
    pub(crate) fn drive<T: Real>(
        &self,
        theta: &[T],
        l: usize,
        q: &[Vec<T>],
        stem: (&[T], &[T]),
        h: &mut Vec<T>,
    ) {
        match l {
            0 => {
                h.clear();
                h.extend_from_slice(stem.0);
            }
            1 => {
                h.clear();
                h.extend(q[0].iter().zip(stem.1).map(|(a, b)| *a + *b));
            }
            _ if l.is_multiple_of(2) => {
                h.clear();
                h.extend(q[l - 1].iter().zip(&q[l - 2]).map(|(a, b)| *a + *b));
            }
            _ => {
                h.clear();
                h.extend_from_slice(&q[l - 1]);
                let i = (l - 3) / 2;
                // a source at rest adds nothing (its convolution would be of zeros)
                if any_nonzero(&q[l - 2]) {
                    self.skip_area[i].forward(
                        &theta[self.p_skip_area[i].clone()],
                        &q[l - 2],
                        self.areas[l - 2].hw(),
                        h,
                        true,
                    );
                }
            }
        }
    }

    /// One synchronous Euler step of every area: `r` is replaced by the next state. `z` receives
    /// each area's pre-activation (for the backward pass); `scratch` holds the drives.
    #[allow(clippy::too_many_arguments)]
    pub fn step<T: Real>(
        &self,
        theta: &[T],
        r: &mut [Vec<T>],
        stem: (&[T], &[T]),
        n: usize,
        alpha: f64,
        act: Activation,
        z: &mut [Vec<T>],
        scratch: &mut StepScratch<T>,
    ) {
        rectify(r, &mut scratch.q);
        scratch.h.resize_with(self.depth(), Vec::new);
        let q = &scratch.q;
        let (keep, take) = (T::from_f64(1.0 - alpha), T::from_f64(alpha));
        // The areas' drives read only the previous state (through `q`), so the areas run in
        // parallel, each from its drive to its next state (its convolutions split further where a
        // thread is idle): no hand-over between areas, and each area's sums are a serial loop's.
        z[..self.depth()]
            .par_iter_mut()
            .zip(r[..self.depth()].par_iter_mut())
            .zip(scratch.h.par_iter_mut())
            .enumerate()
            .for_each(|(l, ((zl, rl), h))| {
                self.pre_activation(theta, l, (rl, n), q, stem, h, zl);
                for (v, zv) in rl.iter_mut().zip(zl.iter()) {
                    // a silent unit's leak would end subnormal, where Intel runs a hundred times
                    // slower
                    *v = (keep * *v + take * act.apply(*zv)).flush_subnormal();
                }
            });
    }

    /// Area `l`'s pre-activation z_l = W_l r_l + A_l h_l + b_l, from its state `rl` of `n`
    /// images, the rectified previous states `q` and the stem's drives (`h` receives the drive).
    #[allow(clippy::too_many_arguments)]
    fn pre_activation<T: Real>(
        &self,
        theta: &[T],
        l: usize,
        (rl, n): (&[T], usize),
        q: &[Vec<T>],
        stem: (&[T], &[T]),
        h: &mut Vec<T>,
        zl: &mut Vec<T>,
    ) {
        let a = self.areas[l];
        zl.resize(n * a.units(), T::ZERO);
        // W_l * r_l; an area at rest (from rest, until the image's drive reaches it) and a
        // drive of zeros skip their convolutions, whose results would be zeros
        if any_nonzero(rl) {
            self.area_conv[l].forward(&theta[self.p_area_conv[l].clone()], rl, a.hw(), zl, false);
        } else {
            zl.fill(T::ZERO);
        }
        self.drive(theta, l, q, stem, h);
        let input = if l == 0 {
            self.stem_out
        } else {
            self.areas[l - 1]
        };
        if any_nonzero(h) {
            self.area_area[l].forward(&theta[self.p_area_area[l].clone()], h, input.hw(), zl, true);
        }
        let bias = &theta[self.p_conv_bias[l].clone()];
        for img in zl.chunks_mut(a.units()) {
            for (v, b) in img.iter_mut().zip(bias) {
                *v += *b;
            }
        }
    }

    /// The logits `[n][classes]` of a state: U GAP([r_{L-1}]+ + [r_{L-2}]+) + c.
    pub fn readout<T: Real>(&self, theta: &[T], r: &[Vec<T>], n: usize) -> Vec<T> {
        let (feat, _) = self.features(r, n);
        self.logits(theta, &feat, n)
    }

    /// The readout's pooled features `[n][c]` and the summed map they come from.
    pub fn features<T: Real>(&self, r: &[Vec<T>], n: usize) -> (Vec<T>, Vec<T>) {
        let l = self.depth();
        let a = self.areas[l - 1];
        let sum: Vec<T> = r[l - 1]
            .iter()
            .zip(&r[l - 2])
            .map(|(x, y)| x.max(T::ZERO) + y.max(T::ZERO))
            .collect();
        let mut feat = vec![T::ZERO; n * a.c];
        global_avg(&sum, a.h * a.w, &mut feat);
        (feat, sum)
    }

    pub(crate) fn logits<T: Real>(&self, theta: &[T], feat: &[T], n: usize) -> Vec<T> {
        let (k, c) = (self.shape.classes, self.areas[self.depth() - 1].c);
        let (u, b) = (&theta[self.p_out_w.clone()], &theta[self.p_out_b.clone()]);
        let mut y = vec![T::ZERO; n * k];
        for i in 0..n {
            let f = &feat[i * c..(i + 1) * c];
            for j in 0..k {
                let mut s = b[j];
                for (w, x) in u[j * c..(j + 1) * c].iter().zip(f) {
                    s += *w * *x;
                }
                y[i * k + j] = s;
            }
        }
        y
    }

    /// The spontaneous state: `steps` steps from zero with no image (s = 0), one image's worth,
    /// the same for every image (computed once per model).
    pub fn spontaneous<T: Real>(
        &self,
        theta: &[T],
        steps: usize,
        alpha: f64,
        act: Activation,
    ) -> Vec<Vec<T>> {
        // no tolerance is ever met: exactly `steps` steps
        self.settle(theta, &self.zero_state(1), alpha, act, -1.0, steps)
            .0
    }

    /// The spontaneous dynamics (no image) of one network from `start` (one image's state) until a
    /// step moves no rate by more than `tol`, or `max_steps`: the state reached, the steps taken
    /// and the last step's largest change. A state that no step moves is a fixed point,
    /// r = sigma(W r + b + A h(r)); the last change over alpha bounds tau |dr/dt| there.
    pub fn settle<T: Real>(
        &self,
        theta: &[T],
        start: &[Vec<T>],
        alpha: f64,
        act: Activation,
        tol: f64,
        max_steps: usize,
    ) -> (Vec<Vec<T>>, usize, f64) {
        let mut r = start.to_vec();
        let zeros = vec![T::ZERO; self.stem_out.units()];
        let mut z = self.zero_state(1);
        let mut scratch = StepScratch::default();
        let mut change = f64::INFINITY;
        // a negative tolerance is never met: then no copy and no comparison
        let watch = tol >= 0.0;
        let mut before = vec![];
        for steps in 0..max_steps {
            if watch {
                before.clone_from(&r);
            }
            self.step(
                theta,
                &mut r,
                (&zeros, &zeros),
                1,
                alpha,
                act,
                &mut z,
                &mut scratch,
            );
            if !watch {
                continue;
            }
            change = r
                .iter()
                .zip(&before)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (*x - *y).to_f64().abs()))
                .fold(0.0, f64::max);
            if change <= tol {
                return (r, steps + 1, change);
            }
        }
        (r, max_steps, change)
    }

    /// The reference's `record`: from rest, `spontaneous` steps without the image, then `stimulus`
    /// steps with it; the rates of each area in `areas` after every step, `[steps][n][c][h][w]`.
    #[allow(clippy::too_many_arguments)]
    pub fn record<T: Real>(
        &self,
        theta: &[T],
        images: &[T],
        n: usize,
        spontaneous: usize,
        stimulus: usize,
        alpha: f64,
        act: Activation,
        areas: &[usize],
    ) -> Vec<Vec<T>> {
        let (s, ks) = self.stem(theta, images, n);
        let zeros = vec![T::ZERO; s.len()];
        let mut r = self.zero_state(n);
        let mut z = self.zero_state(n);
        let mut scratch = StepScratch::default();
        let steps = spontaneous + stimulus;
        let mut out: Vec<Vec<T>> = areas
            .iter()
            .map(|l| Vec::with_capacity(steps * n * self.areas[*l].units()))
            .collect();
        for t in 0..steps {
            let stem = match t < spontaneous {
                true => (&zeros[..], &zeros[..]),
                false => (&s[..], &ks[..]),
            };
            self.step(theta, &mut r, stem, n, alpha, act, &mut z, &mut scratch);
            for (o, l) in out.iter_mut().zip(areas) {
                o.extend_from_slice(&r[*l]);
            }
        }
        out
    }

    /// A one-image state repeated for `n` images.
    pub fn broadcast<T: Real>(&self, one: &[Vec<T>], n: usize) -> Vec<Vec<T>> {
        one.iter().map(|a| a.repeat(n)).collect()
    }

    /// The images' logits after each of `steps` stimulus steps from the spontaneous state `start`
    /// (one image's, from [`Self::spontaneous`]): `[step][n][classes]`, as the reference's
    /// `forward` (which returns the last).
    #[allow(clippy::too_many_arguments)]
    pub fn run<T: Real>(
        &self,
        theta: &[T],
        images: &[T],
        n: usize,
        start: &[Vec<T>],
        steps: usize,
        alpha: f64,
        act: Activation,
    ) -> Vec<Vec<T>> {
        // no noise draws nothing: the stream is never read
        let mut rng = Streams::new(0).stream("unused", 0);
        let quiet = crate::noise::Noise::default();
        self.run_noisy(theta, images, n, start, steps, alpha, act, quiet, &mut rng)
    }
}

/// Buffers one step reuses.
#[derive(Debug, Clone, Default)]
pub struct StepScratch<T> {
    q: Vec<Vec<T>>,
    /// each area's drive
    h: Vec<Vec<T>>,
}

/// `q = [r]+`, area by area, into reused buffers.
pub(crate) fn rectify<T: Real>(r: &[Vec<T>], q: &mut Vec<Vec<T>>) {
    q.resize_with(r.len(), Vec::new);
    q.par_iter_mut().zip(r).for_each(|(qa, ra)| {
        qa.clear();
        qa.extend(ra.iter().map(|v| v.max(T::ZERO)));
    });
}

/// PyTorch's default draw for a conv or linear tensor: U(-b, b), b = 1/sqrt(fan_in), the fan-in
/// of a weight its input size, of the readout's bias the top area's channels (`top`).
pub(crate) fn kaiming_uniform<T: Real>(
    out: &mut [T],
    t: &Tensor,
    top: usize,
    rng: &mut biornn_numerics::RngStream,
) {
    let fan_in: usize = if t.name == "out_fc.bias" {
        top
    } else {
        t.shape[1..].iter().product()
    };
    let bound = 1.0 / (fan_in as f64).sqrt();
    for v in out {
        *v = T::from_f64(rng.uniform_in(-bound, bound));
    }
}

/// Whether any value is not zero: convolutions of all-zero states (an area at rest) are skipped.
pub(crate) fn any_nonzero<T: Real>(v: &[T]) -> bool {
    v.iter().any(|x| *x != T::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The areas of a step run in parallel: the next state equals, bit for bit, the areas run one
    /// after another in a serial loop, at one thread and at three.
    #[test]
    fn a_step_of_areas_in_parallel_equals_the_serial_loop_at_any_thread_count() {
        let net = CordsNet::new(&CordsNetShape {
            depth: 8,
            in_channels: 2,
            image: (16, 16),
            widths: [4, 6, 8, 8],
            classes: 3,
        })
        .unwrap();
        let mut rng = Streams::new(7).stream("test", 0);
        let mut theta: Vec<f32> = net.init(&Streams::new(3));
        for l in 0..net.depth() {
            let range = net
                .layout
                .get(&format!("conv_bias.{l}"))
                .unwrap()
                .range
                .clone();
            for v in &mut theta[range] {
                *v = (0.3 * rng.normal()) as f32;
            }
        }
        // 12 images: the stride-1 convolutions run in groups of 8 images
        let n = 12;
        let images: Vec<f32> = (0..n * 2 * 16 * 16).map(|_| rng.normal() as f32).collect();
        let (s, ks) = net.stem(&theta, &images, n);
        let start: Vec<Vec<f32>> = net
            .zero_state::<f32>(n)
            .into_iter()
            .map(|a| a.iter().map(|_| (0.5 * rng.normal()) as f32).collect())
            .collect();
        // some areas at rest, so that the skipped convolutions are covered too
        let mut start = start;
        start[5].fill(0.0);
        let (alpha, act) = (0.2, Activation::Relu);

        let mut serial = start.clone();
        let mut q = vec![];
        rectify(&serial, &mut q);
        let mut h = vec![];
        for (l, rl) in serial.iter_mut().enumerate() {
            let mut zl = vec![];
            net.pre_activation(&theta, l, (rl, n), &q, (&s, &ks), &mut h, &mut zl);
            for (v, zv) in rl.iter_mut().zip(&zl) {
                *v = (0.8 * *v + 0.2 * act.apply(*zv)).flush_subnormal();
            }
        }
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut r = start.clone();
            let (mut z, mut scratch) = (net.zero_state(n), StepScratch::default());
            pool.install(|| {
                // twice: the second step reuses the scratch buffers
                net.step(
                    &theta,
                    &mut r,
                    (&s, &ks),
                    n,
                    alpha,
                    act,
                    &mut z,
                    &mut scratch,
                );
                let mut again = start.clone();
                net.step(
                    &theta,
                    &mut again,
                    (&s, &ks),
                    n,
                    alpha,
                    act,
                    &mut z,
                    &mut scratch,
                );
                assert_eq!(again, r);
            });
            for (a, b) in r.iter().zip(&serial) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b), "{threads} threads");
            }
        }
    }
}
