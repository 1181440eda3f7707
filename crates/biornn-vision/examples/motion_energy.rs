//! Is the direction of random-dot motion in the multi-area network's features? A motion-energy
//! (Reichardt) detector reads it from the features of a trained front end, without training: for
//! each trial, the opponent correlation
//!   E = sum over the sample epoch, channels, rows and horizontally neighbouring cells of
//!       f(x, t) f(x + 1, t + lag) - f(x + 1, t) f(x, t + lag)
//! (each feature less its mean over the epoch), positive for rightward motion. Prints, per
//! coherence and lag, the share of trials whose sign of E is the dots' direction (chance 0.5).
//!
//!   cargo run --release -p biornn-vision --example motion_energy -- FRONT_MODEL.npz [GRID] [TRIALS] [DATA]
//!
//! GRID (default 7) is `[front_end] feature_grid`: with 1 (the global averages) no neighbours are
//! left, and the detector has nothing to read. DATA is the IDX directory the task loads (its images
//! are not shown in this task; default Fashion-MNIST's Debian place).

use biornn_numerics::Error;
use biornn_vision::multiarea::{MultiAreaLearner, MultiAreaRunConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> biornn_numerics::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(front) = args.first() else {
        eprintln!("usage: motion_energy FRONT_MODEL.npz [GRID] [TRIALS] [DATA]");
        std::process::exit(2);
    };
    let count = |i: usize, name: &str, default: usize| match args.get(i) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| Error::invalid(name, v, "allowed: a positive count")),
    };
    let (grid, trials) = (count(1, "GRID", 7)?, count(2, "TRIALS", 64)?);
    let data = args.get(3);
    let lags = [1, 2, 4, 8];
    println!(
        "| coherence | {} |",
        lags.map(|l| format!("lag {l} ({} ms)", 2 * l)).join(" | ")
    );
    println!("|---|{}", "---|".repeat(lags.len()));
    for coherence in [0.05, 0.1, 0.2, 0.4, 0.8, 1.0] {
        let mut cfg = MultiAreaRunConfig::default();
        cfg.front_end.model = front.into();
        cfg.front_end.feature_grid = grid;
        cfg.task.kind = "dots".into();
        cfg.task.coherences = vec![coherence];
        if let Some(data) = data {
            cfg.task.path = data.into();
        }
        (cfg.task.train_images, cfg.task.test_images) = (10, 10);
        let l = MultiAreaLearner::new(&cfg)?;
        let b = l.batch(&l.train_images, "motion_energy", 0, trials);
        let [fix, sample, _, _] = cfg.epochs();
        let ni = l.net.n_in;
        let channels = (ni - 1) / (grid * grid);
        // f[trial][t][feature], the sample epoch, each feature less its mean over it
        let f = |i: usize, t: usize, k: usize| b.input[((fix + t) * trials + i) * ni + 1 + k];
        let mut shares = vec![];
        for lag in lags {
            let mut right = 0;
            for i in 0..trials {
                let mean: Vec<f64> = (0..ni - 1)
                    .map(|k| (0..sample).map(|t| f(i, t, k) as f64).sum::<f64>() / sample as f64)
                    .collect();
                let g = |t: usize, k: usize| f(i, t, k) as f64 - mean[k];
                let mut energy = 0.0;
                for t in 0..sample - lag {
                    for c in 0..channels {
                        for y in 0..grid {
                            for x in 0..grid - 1 {
                                let (a, b) =
                                    ((c * grid + y) * grid + x, (c * grid + y) * grid + x + 1);
                                energy += g(t, a) * g(t + lag, b) - g(t, b) * g(t + lag, a);
                            }
                        }
                    }
                }
                if (energy > 0.0) == b.matches[i] {
                    right += 1;
                }
            }
            shares.push(format!("{:.3}", right as f64 / trials as f64));
        }
        println!("| {coherence} | {} |", shares.join(" | "));
    }
    Ok(())
}
