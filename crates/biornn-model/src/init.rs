//! Initial weights. Everything is drawn in f64 from the run's "init" stream, then converted.

use crate::config::{ModelConfig, RecInit};
use biornn_numerics::{Error, Result, RngStream};
use faer::Mat;

/// A Haar-distributed random orthogonal n x n matrix, row-major: QR of a Gaussian matrix with the signs
/// of R's diagonal folded into Q (Mezzadri 2007).
pub fn haar_orthogonal(n: usize, rng: &mut RngStream) -> Vec<f64> {
    let g = Mat::<f64>::from_fn(n, n, |_, _| rng.normal());
    let qr = g.qr();
    let q = qr.compute_Q();
    let r = qr.R();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let s = if r[(j, j)] < 0.0 { -1.0 } else { 1.0 };
            out[i * n + j] = q[(i, j)] * s;
        }
    }
    out
}

/// The largest eigenvalue modulus of a row-major square matrix.
pub fn spectral_radius(w: &[f64], n: usize) -> Result<f64> {
    let m = Mat::<f64>::from_fn(n, n, |i, j| w[i * n + j]);
    let ev = m
        .eigenvalues()
        .map_err(|e| Error::new(format!("eigenvalue computation failed: {e:?}")))?;
    Ok(ev
        .iter()
        .map(|z| (z.re * z.re + z.im * z.im).sqrt())
        .fold(0.0, f64::max))
}

/// The recurrent weights before masks: gain times the chosen matrix; under Dale's law the magnitudes
/// get the presynaptic signs, and inhibitory columns are scaled by n_E/n_I so that the expected input
/// to a unit is balanced.
pub fn recurrent(cfg: &ModelConfig, sign: &[f64], rng: &mut RngStream) -> Vec<f64> {
    let n = cfg.n_rec;
    let g = cfg.gain();
    let mut w = match cfg.init.w_rec {
        RecInit::Diag => {
            let mut w = vec![0.0; n * n];
            for i in 0..n {
                w[i * n + i] = g;
            }
            w
        }
        RecInit::Randortho => haar_orthogonal(n, rng).into_iter().map(|v| g * v).collect(),
        RecInit::Randgauss => {
            let s = g / (n as f64).sqrt();
            (0..n * n).map(|_| s * rng.normal()).collect()
        }
        RecInit::Temporalskip => (0..n * n).map(|_| rng.normal() / n as f64).collect(),
    };
    if cfg.dale.enabled {
        let n_e = sign.iter().filter(|s| **s > 0.0).count();
        let n_i = n - n_e;
        let balance = if n_i > 0 && cfg.init.w_rec != RecInit::Diag {
            n_e as f64 / n_i as f64
        } else {
            1.0
        };
        for i in 0..n {
            for j in 0..n {
                let v = w[i * n + j].abs();
                w[i * n + j] = if sign[j] > 0.0 { v } else { -v * balance };
            }
        }
    }
    w
}

/// Each row of a masked n x n matrix times sqrt(n / k), k the row's connections (nonzero mask
/// entries): a random init's row keeps the summed variance it had before the mask thinned it.
/// Rows with no connection stay zero.
pub fn rescale_masked_rows(w: &mut [f64], mask: &[f64], n: usize) {
    for (row, mask_row) in w.chunks_exact_mut(n).zip(mask.chunks_exact(n)) {
        let k = mask_row.iter().filter(|m| **m != 0.0).count();
        if k > 0 {
            let scale = (n as f64 / k as f64).sqrt();
            row.iter_mut().for_each(|x| *x *= scale);
        }
    }
}

/// gyyang/multitask: N(0,1)/sqrt(n_in), times `w_in_scale`.
pub fn input(cfg: &ModelConfig, n_in: usize, rng: &mut RngStream) -> Vec<f64> {
    let s = cfg.init.w_in_scale / (n_in as f64).sqrt();
    (0..cfg.n_rec * n_in)
        .map(|_| {
            let v = s * rng.normal();
            if cfg.dale.enabled && cfg.dale.nonneg_input {
                v.abs()
            } else {
                v
            }
        })
        .collect()
}

/// Glorot-uniform readout, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
pub fn output(cfg: &ModelConfig, n_out: usize, sign: &[f64], rng: &mut RngStream) -> Vec<f64> {
    let n = cfg.n_rec;
    let a = (6.0 / (n + n_out) as f64).sqrt();
    let mut w: Vec<f64> = (0..n_out * n).map(|_| rng.uniform_in(-a, a)).collect();
    if cfg.dale.enabled {
        for o in 0..n_out {
            for j in 0..n {
                w[o * n + j] = w[o * n + j].abs() * sign[j];
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use biornn_numerics::Streams;

    #[test]
    fn haar_matrix_is_orthogonal() {
        let n = 20;
        let q = haar_orthogonal(n, &mut Streams::new(5).stream("init", 0));
        for i in 0..n {
            for k in 0..n {
                let dot: f64 = (0..n).map(|j| q[i * n + j] * q[k * n + j]).sum();
                let want = if i == k { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12);
            }
        }
        assert!((spectral_radius(&q, n).unwrap() - 1.0).abs() < 1e-10);
    }

    #[test]
    fn spectral_radius_of_known_matrix() {
        // rotation by 90 degrees scaled by 2: eigenvalues +-2i
        let w = [0.0, -2.0, 2.0, 0.0];
        assert!((spectral_radius(&w, 2).unwrap() - 2.0).abs() < 1e-12);
    }
}
