//! An ELiSe run as the driver sees it: one update is one cycle of the pattern (the reference's
//! training loop), the network never reset. The first cycle is nudged (the reference's c = -1),
//! then every `validate_every`-th cycle, the first included, runs free with plasticity on, and its
//! free-run error is what evaluations report beside the last nudged cycle's.

use crate::config::EliseRunConfig;
use crate::network::{DelayLine, Elise};
use crate::pattern::{Pattern, Teacher};
use crate::replay::pearson;
use crate::UrbanczikSenn;
use biornn_core::arrays::{put_f64, put_u64, take_f64, take_u64};
use biornn_core::{Arrays, Evaluation, Learner, Phase, Stateful};
use biornn_numerics::{Error, Result, Streams};
use std::ops::Range;

/// What one cycle scored, on every 2nd step (the reference's sampling): the mean squared error of
/// the visible rates against phi(u*), and the sum over visible neurons of their Pearson
/// correlation with it (perfect: the number of visible neurons).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleScore {
    pub mse: f64,
    pub correlation: f64,
}

/// Running sums for a cycle's score.
struct ScoreSums {
    n: usize,
    samples: f64,
    sq: f64,
    /// per visible neuron: the sum of squared errors
    sq_per: Vec<f64>,
    /// per visible neuron: sum x, y, xx, yy, xy
    moments: Vec<[f64; 5]>,
}

impl ScoreSums {
    fn new(n: usize) -> Self {
        ScoreSums {
            n,
            samples: 0.0,
            sq: 0.0,
            sq_per: vec![0.0; n],
            moments: vec![[0.0; 5]; n],
        }
    }
    fn add(&mut self, out: &[f64], target: impl Iterator<Item = f64>) {
        for (((o, t), m), sq) in out
            .iter()
            .zip(target)
            .zip(&mut self.moments)
            .zip(&mut self.sq_per)
        {
            self.sq += (o - t) * (o - t);
            *sq += (o - t) * (o - t);
            *m = [m[0] + o, m[1] + t, m[2] + o * o, m[3] + t * t, m[4] + o * t];
        }
        self.samples += 1.0;
    }
    fn score(&self) -> CycleScore {
        let k = self.samples.max(1.0);
        let correlation = self.moments.iter().map(|m| pearson(*m, k)).sum();
        CycleScore {
            mse: self.sq / (k * self.n as f64),
            correlation,
        }
    }
    /// The mean squared error of the neurons in `range` alone.
    fn mse_of(&self, range: Range<usize>) -> f64 {
        let k = self.samples.max(1.0);
        self.sq_per[range.clone()].iter().sum::<f64>() / (k * range.len() as f64)
    }
}

#[derive(Clone)]
pub struct EliseLearner {
    pub cfg: EliseRunConfig,
    pub net: Elise,
    pub rule: UrbanczikSenn,
    pub teacher: Teacher,
    /// the visible populations, one per pattern: its name and its neurons
    pub populations: Vec<(String, Range<usize>)>,
    /// with several populations: the last free cycle's MSE of each (else empty)
    pub last_free_by_population: Vec<f64>,
    /// cycles done
    pub cycles: u64,
    /// the last free (validation) and nudged cycles' scores
    pub last_free: Option<CycleScore>,
    pub last_nudged: Option<CycleScore>,
    /// their visible rates every 2nd step, `[sample][neuron]` (exported for plots)
    pub last_free_rates: Vec<f64>,
    pub last_nudged_rates: Vec<f64>,
    rates: Vec<f64>,
    /// the pattern learned, `[neuron][step]` 0/1, kept in checkpoints so that a resume whose
    /// pattern file was edited meanwhile is refused instead of learning another teacher
    pattern_on: Vec<f64>,
    pattern_shape: [usize; 2],
}

impl EliseLearner {
    pub fn new(cfg: &EliseRunConfig) -> Result<Self> {
        cfg.validate()?;
        let patterns = cfg.patterns()?;
        let mut populations = vec![];
        let mut start = 0;
        for p in &patterns {
            populations.push((p.name.clone(), start..start + p.neurons));
            start += p.neurons;
        }
        let pattern = Pattern::stack(&patterns);
        let net = Elise::new(&cfg.shape(pattern.neurons), &Streams::new(cfg.seed))?;
        let teacher = Teacher::new(&pattern, &net.p, cfg.task.step_ms, cfg.task.lambda);
        Ok(EliseLearner {
            cfg: cfg.clone(),
            rule: UrbanczikSenn {
                eta_visible: cfg.rule.eta_visible,
                eta_other: cfg.rule.eta_other,
            },
            net,
            teacher,
            populations,
            last_free_by_population: vec![],
            cycles: 0,
            last_free: None,
            last_nudged: None,
            last_free_rates: vec![],
            last_nudged_rates: vec![],
            rates: vec![],
            pattern_on: pattern.on.iter().map(|b| *b as u8 as f64).collect(),
            pattern_shape: [pattern.neurons, pattern.steps],
        })
    }

    /// Whether cycle number `done` (0-based count of cycles before it) runs free: the reference's
    /// cycle index c = done - 1 is free when c % validate_every == 0.
    pub fn is_free(&self, done: u64) -> bool {
        done >= 1 && (done - 1).is_multiple_of(self.cfg.train.validate_every as u64)
    }

    /// Cycle `index`, nudged or free, plasticity on; its score against the clean pattern. With
    /// noisy targets the teacher's target is the pattern plus noise drawn for this cycle.
    pub fn cycle(&mut self, index: u64, free: bool) -> CycleScore {
        let mut sums = ScoreSums::new(self.net.n_vis);
        let p = self.net.p;
        let t_cfg = &self.cfg.task;
        let noisy = (t_cfg.target_noise_std > 0.0 && !free).then(|| {
            let mut rng = Streams::new(self.cfg.seed).stream("elise_target_noise", index);
            self.teacher.with_noise(
                &p,
                t_cfg.target_noise_std,
                t_cfg.target_noise_tau_ms,
                &mut rng,
            )
        });
        let teacher = noisy.as_ref().unwrap_or(&self.teacher);
        self.rates.clear();
        for t in 0..self.teacher.len {
            self.net.step_neurons((!free).then(|| teacher.at(t)), None);
            self.rule.apply(&mut self.net);
            self.net.step_scaffold();
            if t % 2 == 0 {
                sums.add(self.net.output(), self.teacher.target_rates(&p, t));
                self.rates.extend_from_slice(self.net.output());
            }
        }
        if free && self.populations.len() > 1 {
            self.last_free_by_population = self
                .populations
                .iter()
                .map(|(_, r)| sums.mse_of(r.clone()))
                .collect();
        }
        let kept = if free {
            &mut self.last_free_rates
        } else {
            &mut self.last_nudged_rates
        };
        std::mem::swap(kept, &mut self.rates);
        sums.score()
    }

    /// With several patterns: a metrics column per population, `free_mse_<pattern name>`.
    fn population_keys(&self) -> Vec<String> {
        if self.populations.len() < 2 {
            return vec![];
        }
        self.populations
            .iter()
            .map(|(name, _)| format!("free_mse_{name}"))
            .collect()
    }

    /// The clean target's rates every 2nd step, `[sample][neuron]`.
    pub fn target_rates(&self) -> Vec<f64> {
        let p = self.net.p;
        (0..self.teacher.len)
            .step_by(2)
            .flat_map(|t| self.teacher.target_rates(&p, t).collect::<Vec<_>>())
            .collect()
    }
}

fn put_lines(out: &mut Arrays, key: &str, lines: &[DelayLine]) {
    let mut data = vec![];
    let mut idx = vec![];
    for l in lines {
        let (buf, w, r) = l.parts();
        data.extend_from_slice(buf);
        idx.extend([w as f64, r as f64]);
    }
    put_f64(out, key, &[data.len()], &data);
    put_f64(out, &format!("{key}_index"), &[idx.len()], &idx);
}

fn take_lines(arrays: &Arrays, key: &str, lines: &mut [DelayLine]) -> Result<()> {
    let total: usize = lines.iter().map(|l| l.len()).sum();
    let data = take_f64(arrays, key, &[total])?;
    let idx = take_f64(arrays, &format!("{key}_index"), &[2 * lines.len()])?;
    let mut at = 0;
    for (k, l) in lines.iter_mut().enumerate() {
        let len = l.len();
        *l = DelayLine::from_parts(
            data[at..at + len].to_vec(),
            idx[2 * k] as usize,
            idx[2 * k + 1] as usize,
        )
        .ok_or_else(|| Error::new(format!("{key}_index: an index past its line")))?;
        at += len;
    }
    Ok(())
}

const SCORE_KEYS: [&str; 4] = [
    "free_mse",
    "free_correlation",
    "nudged_mse",
    "nudged_correlation",
];

impl Stateful for EliseLearner {
    /// The weights, every potential, trace and delay line, the cycle count and the last scores:
    /// the fixed structure (delays, scaffold, connections) comes back from the seed.
    fn save_state(&self, prefix: &str, out: &mut Arrays) {
        let net = &self.net;
        let n = net.n();
        put_f64(out, &format!("{prefix}w"), &[n, n], &net.w);
        for (name, v) in [
            ("u", &net.u),
            ("v", &net.v),
            ("v_star", &net.v_star),
            ("r", &net.r),
            ("r_v", &net.r_v),
            ("psp", &net.psp),
            ("um", &net.um),
            ("ge_out", &net.ge_out),
            ("gi_out", &net.gi_out),
        ] {
            put_f64(out, &format!("{prefix}{name}"), &[n], v);
        }
        put_lines(out, &format!("{prefix}rate_lines"), &net.rate_lines);
        put_lines(out, &format!("{prefix}ge_lines"), &net.ge_lines);
        put_lines(out, &format!("{prefix}gi_lines"), &net.gi_lines);
        put_u64(out, &format!("{prefix}cycles"), self.cycles);
        put_f64(
            out,
            &format!("{prefix}pattern"),
            &self.pattern_shape,
            &self.pattern_on,
        );
        let s = |x: Option<CycleScore>| x.map_or([f64::NAN; 2], |c| [c.mse, c.correlation]);
        let scores = [s(self.last_free), s(self.last_nudged)].concat();
        put_f64(out, &format!("{prefix}last_scores"), &[4], &scores);
        for (name, r) in [
            ("last_free_rates", &self.last_free_rates),
            ("last_nudged_rates", &self.last_nudged_rates),
        ] {
            put_f64(out, &format!("{prefix}{name}"), &[r.len()], r);
        }
        if self.populations.len() > 1 {
            let v = &self.last_free_by_population;
            put_f64(
                out,
                &format!("{prefix}last_free_by_population"),
                &[v.len()],
                v,
            );
        }
    }

    fn load_state(&mut self, prefix: &str, arrays: &Arrays) -> Result<()> {
        // checkpoints written before the pattern was kept have none to compare; compared first,
        // so that an edited pattern of another size is named as such, not as a weight shape
        let key = format!("{prefix}pattern");
        if let Some(saved) = arrays.get(&key) {
            let shape = saved.shape.clone();
            let same = shape == self.pattern_shape
                && take_f64(arrays, &key, &self.pattern_shape)? == self.pattern_on;
            if !same {
                return Err(biornn_numerics::Error::new(format!(
                    "task.pattern = {:?}: the pattern ({} neurons x {} steps now) is not the one \
                     this run was trained on ({shape:?} in its checkpoint); was its file edited? \
                     Restore it, or start a new run",
                    self.cfg.task.pattern.names(),
                    self.pattern_shape[0],
                    self.pattern_shape[1]
                )));
            }
        }
        let n = self.net.n();
        let net = &mut self.net;
        net.w = take_f64(arrays, &format!("{prefix}w"), &[n, n])?;
        for (name, v) in [
            ("u", &mut net.u),
            ("v", &mut net.v),
            ("v_star", &mut net.v_star),
            ("r", &mut net.r),
            ("r_v", &mut net.r_v),
            ("psp", &mut net.psp),
            ("um", &mut net.um),
            ("ge_out", &mut net.ge_out),
            ("gi_out", &mut net.gi_out),
        ] {
            *v = take_f64(arrays, &format!("{prefix}{name}"), &[n])?;
        }
        take_lines(arrays, &format!("{prefix}rate_lines"), &mut net.rate_lines)?;
        take_lines(arrays, &format!("{prefix}ge_lines"), &mut net.ge_lines)?;
        take_lines(arrays, &format!("{prefix}gi_lines"), &mut net.gi_lines)?;
        self.cycles = take_u64(arrays, &format!("{prefix}cycles"))?;
        let s = take_f64(arrays, &format!("{prefix}last_scores"), &[4])?;
        let score = |a: f64, b: f64| {
            (!a.is_nan()).then_some(CycleScore {
                mse: a,
                correlation: b,
            })
        };
        self.last_free = score(s[0], s[1]);
        self.last_nudged = score(s[2], s[3]);
        let samples = self.teacher.len.div_ceil(2) * self.net.n_vis;
        for (name, r, seen) in [
            (
                "last_free_rates",
                &mut self.last_free_rates,
                self.last_free.is_some(),
            ),
            (
                "last_nudged_rates",
                &mut self.last_nudged_rates,
                self.last_nudged.is_some(),
            ),
        ] {
            *r = take_f64(
                arrays,
                &format!("{prefix}{name}"),
                &[if seen { samples } else { 0 }],
            )?;
        }
        if self.populations.len() > 1 {
            let k = if self.last_free.is_some() {
                self.populations.len()
            } else {
                0
            };
            self.last_free_by_population =
                take_f64(arrays, &format!("{prefix}last_free_by_population"), &[k])?;
        }
        Ok(())
    }
}

impl Learner for EliseLearner {
    fn columns(&self) -> Vec<String> {
        std::iter::once("cycles")
            .chain(SCORE_KEYS)
            .map(String::from)
            .chain(self.population_keys())
            .collect()
    }

    fn update(&mut self, step: u64, _phase: &Phase) -> Result<f64> {
        let free = self.is_free(step);
        let score = self.cycle(step, free);
        if free {
            self.last_free = Some(score);
        } else {
            self.last_nudged = Some(score);
        }
        self.cycles = step + 1;
        Ok(score.mse)
    }

    fn evaluate(&mut self, _step: u64, _train_loss: Option<f64>) -> Result<Evaluation> {
        let s = |x: Option<CycleScore>| x.map_or([f64::NAN; 2], |c| [c.mse, c.correlation]);
        let mut values: Vec<f64> = [s(self.last_free), s(self.last_nudged)].concat();
        let keys: Vec<String> = SCORE_KEYS
            .iter()
            .map(|k| k.to_string())
            .chain(self.population_keys())
            .collect();
        if self.populations.len() > 1 {
            values.extend((0..self.populations.len()).map(|k| {
                self.last_free_by_population
                    .get(k)
                    .copied()
                    .unwrap_or(f64::NAN)
            }));
        }
        let mut cells = vec![self.cycles.to_string()];
        cells.extend(values.iter().map(|v| format!("{v:.6}")));
        Ok(Evaluation {
            cells,
            values: keys.into_iter().zip(values.iter().copied()).collect(),
            headline: format!(
                "free mse {:.4}  nudged mse {:.4}  free correlation {:.2} of {}{}",
                values[0],
                values[2],
                values[1],
                self.net.n_vis,
                self.populations
                    .iter()
                    .zip(&values[4..])
                    .map(|((name, _), v)| format!("  {name} {v:.4}"))
                    .collect::<String>()
            ),
        })
    }

    fn all_finite(&self) -> bool {
        self.net.w.iter().chain(&self.net.u).all(|v| v.is_finite())
    }

    fn export(&self, _step: u64, out: &mut Arrays) {
        let net = &self.net;
        let n = net.n();
        put_f64(out, "W_dend", &[n, n], &net.w);
        let dend: Vec<f64> = net.dend.iter().map(|d| *d as u8 as f64).collect();
        put_f64(out, "dend_connectivity", &[n, n], &dend);
        let mut scaffold = vec![0.0; n * n];
        for (i, partners) in net.scaffold.iter().enumerate() {
            for k in partners {
                scaffold[i * n + k] += 1.0;
            }
        }
        put_f64(out, "scaffold", &[n, n], &scaffold);
        let delays: Vec<f64> = net
            .delays
            .iter()
            .flat_map(|d| d.map(|x| x as f64))
            .collect();
        put_f64(out, "delays_steps", &[n, 3], &delays);
        put_f64(out, "n_visible", &[], &[net.n_vis as f64]);
        // where each pattern's visible population starts (one entry per pattern)
        let starts: Vec<f64> = self
            .populations
            .iter()
            .map(|(_, r)| r.start as f64)
            .collect();
        put_f64(out, "population_starts", &[starts.len()], &starts);
        // the last validation cycle, the nudged cycle before it and the target, every 0.2 ms
        let k = net.n_vis;
        for (name, r) in [
            ("free_rates", &self.last_free_rates),
            ("nudged_rates", &self.last_nudged_rates),
            ("target_rates", &self.target_rates()),
        ] {
            put_f64(out, name, &[r.len() / k, k], r);
        }
    }
}
