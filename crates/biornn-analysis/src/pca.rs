//! Principal components of (condition-averaged) trajectories, by a thin SVD of the centred data.

use faer::Mat;

#[derive(Debug, Clone)]
pub struct Pca {
    pub dim: usize,
    /// mean of each variable, subtracted before projecting
    pub mean: Vec<f64>,
    /// principal axes, row k = component k (unit length, sign fixed so its largest entry is positive)
    pub components: Vec<Vec<f64>>,
    /// variance along each component (sample variance, divided by rows - 1)
    pub variance: Vec<f64>,
    /// total variance of the data
    pub total_variance: f64,
}

impl Pca {
    /// Fit on `rows` samples of `dim` variables, row-major; keep `k` components.
    pub fn fit(data: &[f64], dim: usize, k: usize) -> Pca {
        let rows = data.len() / dim;
        assert!(rows >= 2 && dim > 0, "PCA needs at least two samples");
        let mut mean = vec![0.0; dim];
        for r in data.chunks_exact(dim) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v / rows as f64;
            }
        }
        let x = Mat::<f64>::from_fn(rows, dim, |i, j| data[i * dim + j] - mean[j]);
        let total_variance = (0..dim)
            .map(|j| (0..rows).map(|i| x[(i, j)] * x[(i, j)]).sum::<f64>())
            .sum::<f64>()
            / (rows - 1) as f64;
        let k = k.min(dim).min(rows);
        let (components, variance) = match x.thin_svd() {
            Ok(svd) => {
                let (s, v) = (svd.S().column_vector(), svd.V());
                let comps = (0..k)
                    .map(|c| {
                        let mut axis: Vec<f64> = (0..dim).map(|j| v[(j, c)]).collect();
                        let big = axis.iter().copied().fold(0.0f64, |a, b| {
                            if b.abs() > a.abs() {
                                b
                            } else {
                                a
                            }
                        });
                        if big < 0.0 {
                            axis.iter_mut().for_each(|a| *a = -*a);
                        }
                        axis
                    })
                    .collect();
                let var = (0..k).map(|c| s[c] * s[c] / (rows - 1) as f64).collect();
                (comps, var)
            }
            Err(_) => (vec![vec![f64::NAN; dim]; k], vec![f64::NAN; k]),
        };
        Pca {
            dim,
            mean,
            components,
            variance,
            total_variance,
        }
    }

    pub fn explained_ratio(&self) -> Vec<f64> {
        self.variance
            .iter()
            .map(|v| v / self.total_variance)
            .collect()
    }

    /// Coordinates of one state along the kept components.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        self.components
            .iter()
            .map(|c| {
                c.iter()
                    .zip(x)
                    .zip(&self.mean)
                    .map(|((a, x), m)| a * (x - m))
                    .sum()
            })
            .collect()
    }
}
