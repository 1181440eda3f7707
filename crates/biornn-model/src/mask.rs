//! Fixed connectivity masks: which weights exist. A mask is a 0/1 matrix in `(post, pre)` layout.

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
    /// the locality rule of LM-RNNs (Khona et al. 2023; the paper's exact rule is unknown, this is
    /// our parameterisation): units on a ring (no `width`) or on a sheet `width` wide, filled row
    /// by row; i and j connect when their distance is at most `radius` (`rule = "hard"`), or with
    /// probability exp(-d^2 / (2 lambda^2)) (`rule = "gaussian"`). A ring always wraps; a sheet
    /// wraps into a torus with `periodic`. `metric`: "euclidean" or "chebyshev". Self-connections
    /// are always in (d = 0). (recurrent only)
    Local {
        #[serde(default)]
        width: Option<usize>,
        #[serde(default)]
        radius: f64,
        #[serde(default)]
        periodic: bool,
        #[serde(default)]
        metric: Metric,
        #[serde(default)]
        rule: LocalRule,
        #[serde(default)]
        lambda: f64,
    },
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

/// How the distance between two units on a sheet is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    #[default]
    Euclidean,
    Chebyshev,
}

/// Whether a local mask connects within a radius or with a probability falling with distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalRule {
    #[default]
    Hard,
    Gaussian,
}

/// Whether a distance on the grid is within `radius`, allowing a radius typed to a few decimals
/// (1.41421356 for the diagonal, sqrt 2): 1e-6, below the gap between two grid distances near
/// the radius (sqrt(k + 1) - sqrt(k), about 1 / (2 radius)) for any radius under 500,000.
fn within(distance: f64, radius: f64) -> bool {
    distance <= radius + 1e-6
}

/// The distance between units `i` and `j` on a ring of `n` (no width) or a sheet `width` wide.
pub fn unit_distance(
    i: usize,
    j: usize,
    n: usize,
    width: Option<usize>,
    periodic: bool,
    metric: Metric,
) -> f64 {
    let Some(w) = width else {
        let d = i.abs_diff(j);
        return d.min(n - d) as f64;
    };
    let h = n / w;
    let axis = |a: usize, b: usize, size: usize| {
        let d = a.abs_diff(b);
        (if periodic { d.min(size - d) } else { d }) as f64
    };
    let (dx, dy) = (axis(i % w, j % w, w), axis(i / w, j / w, h));
    match metric {
        Metric::Euclidean => (dx * dx + dy * dy).sqrt(),
        Metric::Chebyshev => dx.max(dy),
    }
}

/// The fraction of a mask's entries that are connections.
pub fn density(mask: &[f64]) -> f64 {
    mask.iter().filter(|v| **v != 0.0).count() as f64 / mask.len().max(1) as f64
}

impl MaskSpec {
    fn square_only(&self) -> bool {
        matches!(
            self,
            MaskSpec::NoAutapse
                | MaskSpec::AutapseOnly
                | MaskSpec::Ring { .. }
                | MaskSpec::Sheet { .. }
                | MaskSpec::Local { .. }
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
            MaskSpec::Local {
                width,
                radius,
                rule,
                lambda,
                ..
            } => {
                if let Some(w) = width {
                    if *w == 0 || !n_rec.is_multiple_of(*w) {
                        return Err(Error::invalid(
                            &format!("{field}.width"),
                            w,
                            &format!("must divide n_rec = {n_rec} (leave it out for a ring)"),
                        ));
                    }
                }
                match rule {
                    LocalRule::Hard if !(radius.is_finite() && *radius >= 0.0) => {
                        Err(Error::invalid(
                            &format!("{field}.radius"),
                            radius,
                            "allowed: a distance >= 0 (in units; 0 keeps self-connections only)",
                        ))
                    }
                    LocalRule::Gaussian if !(lambda.is_finite() && *lambda > 0.0) => {
                        Err(Error::invalid(
                            &format!("{field}.lambda"),
                            lambda,
                            "allowed: a length > 0 (rule = \"gaussian\" connects with probability exp(-d^2 / (2 lambda^2)))",
                        ))
                    }
                    _ => Ok(()),
                }
            }
            MaskSpec::Blocks { sizes, between } => {
                let total = sizes.iter().try_fold(0usize, |t, s| t.checked_add(*s));
                if total != Some(n_rec) || sizes.contains(&0) {
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
                within(((xi - xj).powi(2) + (yi - yj).powi(2)).sqrt(), *radius)
            }),
            MaskSpec::Local {
                width,
                radius,
                periodic,
                metric,
                rule,
                lambda,
            } => set(&mut m, &mut |i, j| {
                let d = unit_distance(i, j, rows, *width, *periodic, *metric);
                match rule {
                    LocalRule::Hard => within(d, *radius),
                    // the diagonal is always in, and costs no draw
                    LocalRule::Gaussian => {
                        i == j || rng.bernoulli((-d * d / (2.0 * lambda * lambda)).exp())
                    }
                }
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
                let arrays = biornn_numerics::tensors::read_arrays(path)
                    .map_err(|e| e.context(format!("{field}.path")))?;
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

    fn local(width: Option<usize>, radius: f64, periodic: bool, metric: Metric) -> MaskSpec {
        MaskSpec::Local {
            width,
            radius,
            periodic,
            metric,
            rule: LocalRule::Hard,
            lambda: 0.0,
        }
    }

    /// A large radius keeps its tolerance below the gap to the next grid distance: on a sheet
    /// 709 wide, radius 708 takes (708, 0) and leaves out (708, 1), 708.0007 away.
    #[test]
    fn a_large_radius_does_not_take_the_next_distance() {
        let n = 2 * 709;
        let m = build(
            MaskSpec::Sheet {
                width: 709,
                radius: 708.0,
            },
            n,
        );
        // rows are post, columns pre; unit 0 sits at (0, 0)
        assert_eq!((m[708], m[709 + 708]), (1.0, 0.0));
    }

    /// A number as a user types it into a config.
    fn typed(text: &str) -> f64 {
        text.parse().unwrap()
    }

    /// The densities of the reference notes on Mod-Cog (section 4.3), worked out there by hand.
    #[test]
    fn local_masks_have_the_densities_worked_out_by_hand() {
        let ring = build(local(None, 5.0, false, Metric::Euclidean), 256);
        assert_eq!(density(&ring), 11.0 / 256.0);
        for (radius, metric, neighbours) in [
            (2f64.sqrt(), Metric::Euclidean, 9.0),
            // typed in a config to eight decimals, the diagonal stays in; a clearly shorter
            // radius leaves it out
            (typed("1.41421356"), Metric::Euclidean, 9.0),
            (typed("1.4142"), Metric::Euclidean, 5.0),
            (2.0, Metric::Euclidean, 13.0),
            (1.0, Metric::Chebyshev, 9.0),
            (2.0, Metric::Chebyshev, 25.0),
        ] {
            let torus = build(local(Some(16), radius, true, metric), 256);
            assert_eq!(density(&torus), neighbours / 256.0, "{radius} {metric:?}");
            // every unit of a torus has the same number of neighbours
            assert!(
                (0..256).all(|i| torus[i * 256..(i + 1) * 256].iter().sum::<f64>() == neighbours)
            );
        }
        // without wrapping, a corner unit of a 4x4 sheet reaches only its own quarter
        let sheet = build(local(Some(4), 1.0, false, Metric::Chebyshev), 16);
        assert_eq!(sheet[..16].iter().sum::<f64>(), 4.0);
        assert_eq!(sheet[5 * 16..6 * 16].iter().sum::<f64>(), 9.0);
        // radius 0 is the autapse network
        assert_eq!(
            build(local(None, 0.0, false, Metric::Euclidean), 5),
            build(MaskSpec::AutapseOnly, 5)
        );
    }

    #[test]
    fn gaussian_local_masks_fall_off_with_distance() {
        let spec = MaskSpec::Local {
            width: None,
            radius: 0.0,
            periodic: false,
            metric: Metric::Euclidean,
            rule: LocalRule::Gaussian,
            lambda: 3.0,
        };
        let m = build(spec.clone(), 400);
        let at = |d: usize| (0..400).map(|i| m[i * 400 + (i + d) % 400]).sum::<f64>() / 400.0;
        assert_eq!(at(0), 1.0);
        // P(d) = exp(-d^2 / 18): 0.95 at 1, 0.61 at 3, 0.011 at 9
        assert!(
            (at(1) - 0.946).abs() < 0.05 && (at(3) - 0.607).abs() < 0.08,
            "{} {}",
            at(1),
            at(3)
        );
        assert!(at(9) < 0.04 && at(20) == 0.0);
        let bad = MaskSpec::Local {
            width: Some(3),
            radius: 1.0,
            periodic: true,
            metric: Metric::Euclidean,
            rule: LocalRule::Gaussian,
            lambda: 0.0,
        };
        let e = bad.validate("model.mask.recurrent", 400).unwrap_err();
        assert!(e.message.contains("model.mask.recurrent.width"), "{e}");
        let e = bad.validate("model.mask.recurrent", 9).unwrap_err();
        assert!(e.message.contains("model.mask.recurrent.lambda"), "{e}");
        let e = spec.validate("model.mask.input", 400).unwrap_err();
        assert!(e.message.contains("model.mask.input.kind"), "{e}");
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
        // sizes whose sum wraps around to n_rec are refused, not built
        let huge = i64::MAX as usize;
        let e = MaskSpec::Blocks {
            sizes: vec![huge, huge, 130],
            between: 0.0,
        }
        .validate("model.mask.recurrent", 128)
        .unwrap_err();
        assert!(e.message.contains("n_rec = 128"), "{e}");
    }
}
