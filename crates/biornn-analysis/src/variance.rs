//! Task variance and unit clusters (Yang et al. 2019, Figs 2 and 3; gyyang/multitask
//! `analysis/variance.py` and `analysis/clustering.py`).
//!
//! A unit's variance for a task is the variance of its rate across trials at each step after the
//! first fixation epoch, averaged over those steps, with no noise. Units whose variance summed over
//! tasks is at most 1e-3 are inactive and left out; each active unit's variances are divided by their
//! maximum over tasks. K-means on these normalised profiles, for k from 2 to 29 (or fewer units),
//! keeps the k with the highest silhouette score. Clusters are numbered by the task they prefer
//! (the argmax of their summed normalised variance), as in the original.

use biornn_numerics::RngStream;

/// Summed task variance at or below which a unit counts as inactive.
pub const ACTIVE_THRESHOLD: f64 = 1e-3;

/// Per-unit variance across trials, averaged over steps `from..to` of a `[T, B, n]` rate array.
pub fn variance_across_trials(
    rates: &[f64],
    steps: usize,
    batch: usize,
    n: usize,
    from: usize,
    to: usize,
) -> Vec<f64> {
    assert_eq!(rates.len(), steps * batch * n);
    let to = to.min(steps);
    let mut out = vec![0.0; n];
    if from >= to || batch < 2 {
        return out;
    }
    for t in from..to {
        for i in 0..n {
            let mean = (0..batch)
                .map(|b| rates[(t * batch + b) * n + i])
                .sum::<f64>()
                / batch as f64;
            let var = (0..batch)
                .map(|b| (rates[(t * batch + b) * n + i] - mean).powi(2))
                .sum::<f64>()
                / batch as f64;
            out[i] += var / (to - from) as f64;
        }
    }
    out
}

/// The result of k-means.
#[derive(Debug, Clone)]
pub struct KMeans {
    pub k: usize,
    pub labels: Vec<usize>,
    /// row-major `k x dim`
    pub centroids: Vec<f64>,
    pub inertia: f64,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// K-means (Lloyd) on `data` (rows of `dim`), k-means++ seeding, best of `n_init` starts.
pub fn kmeans(data: &[f64], dim: usize, k: usize, n_init: usize, rng: &mut RngStream) -> KMeans {
    let rows = data.len() / dim;
    assert!(
        k >= 1 && k <= rows,
        "k must be between 1 and the number of rows"
    );
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut best: Option<KMeans> = None;
    for _ in 0..n_init.max(1) {
        // k-means++ seeding
        let mut centroids: Vec<f64> = row(rng.below(rows)).to_vec();
        let mut d2: Vec<f64> = (0..rows)
            .map(|i| sq_dist(row(i), &centroids[..dim]))
            .collect();
        while centroids.len() < k * dim {
            let total: f64 = d2.iter().sum();
            let pick = if total > 0.0 {
                rng.weighted_index(&d2)
            } else {
                rng.below(rows)
            };
            let c = row(pick).to_vec();
            for (i, d) in d2.iter_mut().enumerate() {
                *d = d.min(sq_dist(row(i), &c));
            }
            centroids.extend(c);
        }
        let mut labels = vec![0usize; rows];
        for _ in 0..300 {
            let mut changed = false;
            for (i, l) in labels.iter_mut().enumerate() {
                let nearest = (0..k)
                    .min_by(|&a, &b| {
                        sq_dist(row(i), &centroids[a * dim..(a + 1) * dim])
                            .total_cmp(&sq_dist(row(i), &centroids[b * dim..(b + 1) * dim]))
                    })
                    .unwrap();
                if *l != nearest {
                    *l = nearest;
                    changed = true;
                }
            }
            let mut sums = vec![0.0; k * dim];
            let mut counts = vec![0usize; k];
            for (i, &l) in labels.iter().enumerate() {
                counts[l] += 1;
                for (s, v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row(i)) {
                    *s += v;
                }
            }
            for c in 0..k {
                if counts[c] > 0 {
                    for j in 0..dim {
                        centroids[c * dim + j] = sums[c * dim + j] / counts[c] as f64;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let inertia = (0..rows)
            .map(|i| sq_dist(row(i), &centroids[labels[i] * dim..(labels[i] + 1) * dim]))
            .sum();
        if best.as_ref().is_none_or(|b| inertia < b.inertia) {
            best = Some(KMeans {
                k,
                labels,
                centroids,
                inertia,
            });
        }
    }
    best.unwrap()
}

/// Mean silhouette score (Euclidean), 0 for a point alone in its cluster, as scikit-learn.
pub fn silhouette(data: &[f64], dim: usize, labels: &[usize], k: usize) -> f64 {
    let rows = labels.len();
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l] += 1;
    }
    let mut total = 0.0;
    for i in 0..rows {
        let mut sums = vec![0.0; k];
        for j in 0..rows {
            if j != i {
                sums[labels[j]] += sq_dist(row(i), row(j)).sqrt();
            }
        }
        let own = labels[i];
        if counts[own] <= 1 {
            continue;
        }
        let a = sums[own] / (counts[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / rows as f64
}

#[derive(Debug, Clone)]
pub struct Clustering {
    /// indices of the active units
    pub active: Vec<usize>,
    /// normalised task variance of the active units, row-major `active x tasks`
    pub normalised: Vec<f64>,
    /// cluster of each active unit, numbered by preferred task
    pub labels: Vec<usize>,
    pub k: usize,
    /// (k, silhouette) for every k tried
    pub scores: Vec<(usize, f64)>,
}

/// Normalise, cluster and pick k by silhouette. `variance` is row-major `units x tasks`.
pub fn cluster_units(variance: &[f64], n_tasks: usize, rng: &mut RngStream) -> Clustering {
    let units = variance.len() / n_tasks;
    let active: Vec<usize> = (0..units)
        .filter(|&u| {
            variance[u * n_tasks..(u + 1) * n_tasks].iter().sum::<f64>() > ACTIVE_THRESHOLD
        })
        .collect();
    let mut normalised = Vec::with_capacity(active.len() * n_tasks);
    for &u in &active {
        let r = &variance[u * n_tasks..(u + 1) * n_tasks];
        let max = r.iter().copied().fold(0.0f64, f64::max);
        normalised.extend(r.iter().map(|v| v / max));
    }
    let mut scores = vec![];
    let mut best: Option<(f64, KMeans)> = None;
    for k in 2..30.min(active.len()) {
        let km = kmeans(&normalised, n_tasks, k, 20, rng);
        let s = silhouette(&normalised, n_tasks, &km.labels, k);
        scores.push((k, s));
        if best.as_ref().is_none_or(|(b, _)| s > *b) {
            best = Some((s, km));
        }
    }
    let (k, raw) = match best {
        Some((_, km)) => (km.k, km.labels),
        None => (1, vec![0; active.len()]),
    };
    // renumber clusters by the task they prefer
    let pref: Vec<usize> = (0..k)
        .map(|c| {
            let mut sums = vec![0.0; n_tasks];
            for (i, &l) in raw.iter().enumerate() {
                if l == c {
                    for t in 0..n_tasks {
                        sums[t] += normalised[i * n_tasks + t];
                    }
                }
            }
            (0..n_tasks)
                .max_by(|&a, &b| sums[a].total_cmp(&sums[b]))
                .unwrap_or(0)
        })
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&c| (pref[c], c));
    let mut new_label = vec![0; k];
    for (new, &old) in order.iter().enumerate() {
        new_label[old] = new;
    }
    let labels = raw.iter().map(|&l| new_label[l]).collect();
    Clustering {
        active,
        normalised,
        labels,
        k,
        scores,
    }
}
