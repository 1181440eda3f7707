//! Fixed connectivity masks: which weights exist. A mask is a 0/1 matrix in `(post, pre)` layout.

use biornn_numerics::npz::read_npz;
use biornn_numerics::{Error, Result, RngStream};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MaskSpec {
    /// every connection exists
    Dense,
    /// each connection exists independently with probability `density`
    Random { density: f64 },
    /// every connection but self-connections (recurrent only)
    NoAutapse,
    /// self-connections only, a diagonal matrix (recurrent only)
    AutapseOnly,
    /// units on a ring; i and j connect when their circular index distance is at most `radius`
    /// (recurrent only)
    Ring { radius: usize },
    /// units on a 2-D sheet `width` wide, filled row by row; i and j connect when their Euclidean
    /// distance is at most `radius` (recurrent only)
    Sheet { width: usize, radius: f64 },
    /// areas of the given sizes along the diagonal, dense inside; between areas each connection exists
    /// with probability `between` (recurrent only)
    Blocks {
        sizes: Vec<usize>,
        #[serde(default)]
        between: f64,
    },
    /// read from an .npz file: array `key`, shape `(post, pre)`, nonzero means connected
    File { path: PathBuf, key: String },
}

impl MaskSpec {
    fn square_only(&self) -> bool {
        matches!(
            self,
            MaskSpec::NoAutapse
                | MaskSpec::AutapseOnly
                | MaskSpec::Ring { .. }
                | MaskSpec::Sheet { .. }
                | MaskSpec::Blocks { .. }
        )
    }

    pub fn validate(&self, field: &str, n_rec: usize) -> Result<()> {
        let recurrent = field.ends_with("recurrent");
        if self.square_only() && !recurrent {
            return Err(Error::invalid(
                &format!("{field}.kind"),
                format!("{self:?}"),
                "allowed for input and output masks: dense, random, file",
            ));
        }
        match self {
            MaskSpec::Random { density } if !(0.0..=1.0).contains(density) => Err(Error::invalid(
                &format!("{field}.density"),
                density,
                "allowed: a probability in [0, 1]",
            )),
            MaskSpec::Ring { radius } if *radius >= n_rec => Err(Error::invalid(
                &format!("{field}.radius"),
                radius,
                &format!("allowed: 0 to n_rec - 1 = {}", n_rec - 1),
            )),
            MaskSpec::Sheet { width, radius } => {
                if *width == 0 || !n_rec.is_multiple_of(*width) {
                    return Err(Error::invalid(
                        &format!("{field}.width"),
                        width,
                        &format!("must divide n_rec = {n_rec}"),
                    ));
                }
                if !(radius.is_finite() && *radius >= 0.0) {
                    return Err(Error::invalid(
                        &format!("{field}.radius"),
                        radius,
                        "allowed: radius >= 0",
                    ));
                }
                Ok(())
            }
            MaskSpec::Blocks { sizes, between } => {
                if sizes.iter().sum::<usize>() != n_rec || sizes.contains(&0) {
                    return Err(Error::invalid(
                        &format!("{field}.sizes"),
                        format!("{sizes:?}"),
                        &format!("positive area sizes that add up to n_rec = {n_rec}"),
                    ));
                }
                if !(0.0..=1.0).contains(between) {
                    return Err(Error::invalid(
                        &format!("{field}.between"),
                        between,
                        "allowed: [0, 1]",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Build the `(rows, cols)` row-major 0/1 mask.
    pub fn build(
        &self,
        field: &str,
        rows: usize,
        cols: usize,
        rng: &mut RngStream,
    ) -> Result<Vec<f64>> {
        let mut m = vec![0.0; rows * cols];
        let set = |m: &mut Vec<f64>, f: &mut dyn FnMut(usize, usize) -> bool| {
            for i in 0..rows {
                for j in 0..cols {
                    m[i * cols + j] = f(i, j) as u8 as f64;
                }
            }
        };
        match self {
            MaskSpec::Dense => m.fill(1.0),
            MaskSpec::Random { density } => set(&mut m, &mut |_, _| rng.bernoulli(*density)),
            MaskSpec::NoAutapse => set(&mut m, &mut |i, j| i != j),
            MaskSpec::AutapseOnly => set(&mut m, &mut |i, j| i == j),
            MaskSpec::Ring { radius } => set(&mut m, &mut |i, j| {
                let d = i.abs_diff(j);
                d.min(rows - d) <= *radius
            }),
            MaskSpec::Sheet { width, radius } => set(&mut m, &mut |i, j| {
                let (xi, yi) = ((i % width) as f64, (i / width) as f64);
                let (xj, yj) = ((j % width) as f64, (j / width) as f64);
                ((xi - xj).powi(2) + (yi - yj).powi(2)).sqrt() <= *radius
            }),
            MaskSpec::Blocks { sizes, between } => {
                let mut area = Vec::with_capacity(rows);
                for (a, s) in sizes.iter().enumerate() {
                    area.extend(std::iter::repeat_n(a, *s));
                }
                set(&mut m, &mut |i, j| {
                    area[i] == area[j] || rng.bernoulli(*between)
                })
            }
            MaskSpec::File { path, key } => {
                let arrays = read_npz(path).map_err(|e| e.context(format!("{field}.path")))?;
                let v = biornn_numerics::npz::take_real::<f64>(&arrays, key, &[rows, cols])
                    .map_err(|e| e.context(format!("{field} ({})", path.display())))?;
                for (o, x) in m.iter_mut().zip(v) {
                    *o = (x != 0.0) as u8 as f64;
                }
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biornn_numerics::Streams;

    fn build(spec: MaskSpec, n: usize) -> Vec<f64> {
        spec.build(
            "model.mask.recurrent",
            n,
            n,
            &mut Streams::new(0).stream("mask", 0),
        )
        .unwrap()
    }

    #[test]
    fn ring_connects_neighbours_across_the_wrap() {
        let m = build(MaskSpec::Ring { radius: 1 }, 5);
        let row0: Vec<f64> = m[0..5].to_vec();
        assert_eq!(row0, vec![1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(m.iter().sum::<f64>(), 15.0);
    }

    #[test]
    fn sheet_uses_euclidean_distance() {
        // 2x2 sheet; radius 1 links edge neighbours, not diagonals.
        let m = build(
            MaskSpec::Sheet {
                width: 2,
                radius: 1.0,
            },
            4,
        );
        assert_eq!(&m[0..4], &[1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn autapse_masks() {
        let d = build(MaskSpec::AutapseOnly, 3);
        assert_eq!(d, vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]);
        let n = build(MaskSpec::NoAutapse, 3);
        assert_eq!(n.iter().sum::<f64>(), 6.0);
        assert!((0..3).all(|i| n[i * 3 + i] == 0.0));
    }

    #[test]
    fn blocks_are_dense_inside_and_empty_between() {
        let m = build(
            MaskSpec::Blocks {
                sizes: vec![2, 1],
                between: 0.0,
            },
            3,
        );
        assert_eq!(m, vec![1., 1., 0., 1., 1., 0., 0., 0., 1.]);
    }

    #[test]
    fn random_density_is_close() {
        let m = build(MaskSpec::Random { density: 0.3 }, 100);
        let frac = m.iter().sum::<f64>() / 10_000.0;
        assert!((frac - 0.3).abs() < 0.02);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let e = MaskSpec::Random { density: 1.5 }
            .validate("model.mask.input", 4)
            .unwrap_err();
        assert!(e.message.contains("model.mask.input.density"), "{e}");
        let e = MaskSpec::Ring { radius: 1 }
            .validate("model.mask.input", 4)
            .unwrap_err();
        assert!(e.message.contains("model.mask.input.kind"), "{e}");
        let e = MaskSpec::Blocks {
            sizes: vec![1, 2],
            between: 0.0,
        }
        .validate("model.mask.recurrent", 4)
        .unwrap_err();
        assert!(e.message.contains("n_rec = 4"), "{e}");
    }
}
