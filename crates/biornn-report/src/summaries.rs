//! Summaries of many runs of the skip-connection paper's protocols: tables and figures over a
//! directory of run directories (`biornn longterm-summary`, `biornn reversal-summary`).

use crate::plot::{legend, palette, Axes, Figure};
use biornn_numerics::npz::write_atomic;
use biornn_numerics::{Error, Result};
use biornn_run::RunDir;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `writeln!` into a `String`, which cannot fail.
macro_rules! tableln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Quantile of per-network updates to criterion, networks that never got there counting as slower
/// than any that did; `None` when the quantile falls among those.
pub fn quantile_reached(values: &[Option<f64>], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return None;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let x = v[lo] + (v[hi] - v[lo]) * (pos - lo as f64);
    x.is_finite().then_some(x)
}

/// The directories in `p`, sorted.
fn subdirs(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| Error::new(format!("{}: {e}", p.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Write `fig` as PATH.svg and PATH.png; returns the PNG's path.
fn write_figure(fig: &Figure, path: &Path) -> Result<PathBuf> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::new(format!("{}: {e}", parent.display())))?;
    }
    write_atomic(&path.with_extension("svg"), fig.to_svg().as_bytes())?;
    write_atomic(&path.with_extension("png"), &fig.to_png(2.0))?;
    Ok(path.with_extension("png"))
}

/// A column of a run's per-round history against another, as numbers (rows that do not parse,
/// such as a run's first evaluation without a training loss, still count; rows whose two cells
/// do not parse are skipped).
fn history_columns(run: &Path, x: usize, y: usize) -> (Vec<f64>, Vec<f64>) {
    RunDir::open(run)
        .map(|r| r.read_metrics())
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Some((
                c.get(x)?.parse::<f64>().ok()?,
                c.get(y)?.parse::<f64>().ok()?,
            ))
        })
        .unzip()
}

/// Whether a run's summary says it met its criterion: a long-term run's `reached`, the others'
/// `reached_target`.
pub fn met_criterion(summary: &serde_json::Value) -> bool {
    ["reached", "reached_target"]
        .iter()
        .any(|k| summary[k].as_bool() == Some(true))
}

/// A run's `summary.json`, `None` while it has not finished.
fn read_summary(run: &Path) -> Result<Option<serde_json::Value>> {
    let Some(text) = RunDir::open(run)?.read_summary() else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::new(format!("{}: {e}", run.display())))
}

/// Summarise long-term runs laid out as `DIR/TASK/METHOD` (each a run directory): a markdown
/// table of updates to criterion per task and method, and, with `figure`, a grid of plots of the
/// fraction of networks at criterion (one colour per method across panels) written as PATH.png
/// and PATH.svg. Returns the table and the PNG's path.
pub fn longterm_summary(dir: &Path, figure: Option<&Path>) -> Result<(String, Option<PathBuf>)> {
    let mut out = String::new();
    let mut figure_path = None;
    let read_dir = subdirs;
    let fmt = |x: Option<f64>| x.map_or("not reached".to_string(), |v| format!("{v:.0}"));
    tableln!(out, "| task | method | networks | at 0.99 | updates to 0.99, median [IQR] | trimmed mean 0.99 after | training s |");
    tableln!(out, "|---|---|---|---|---|---|---|");
    let tasks = read_dir(dir)?;
    let mut panels = vec![];
    let mut retired = vec![];
    for task_dir in &tasks {
        let task = task_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut curves = vec![];
        for m_dir in read_dir(task_dir)? {
            let Some(s) = read_summary(&m_dir)? else {
                continue;
            };
            let per: Vec<Option<f64>> = s["network_updates_to_criterion"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            let reached = per.iter().filter(|v| v.is_some()).count();
            let group = if s["reached"].as_bool() == Some(true) {
                format!("{} updates", s["updates"])
            } else {
                format!("not within {} updates", s["updates"])
            };
            // the label tells apart runs of one method with different options (older runs
            // have only the method)
            let label = s["label"].as_str().or(s["method"].as_str()).unwrap_or("?");
            tableln!(
                out,
                "| {task} | {label} | {} | {reached} | {} [{}, {}] | {group} | {:.0} |",
                per.len(),
                fmt(quantile_reached(&per, 0.5)),
                fmt(quantile_reached(&per, 0.25)),
                fmt(quantile_reached(&per, 0.75)),
                s["train_seconds"].as_f64().unwrap_or(f64::NAN)
            );
            retired.extend(retired_networks(&format!("{task} {label}"), &s));
            let (xs, ys) = history_columns(&m_dir, 1, 4);
            curves.push((label.to_string(), xs, ys));
        }
        panels.push((task, curves));
    }
    out.push_str(&retired_note(&retired));
    if let Some(path) = figure {
        // one colour per method across all panels, three panels to a row
        let mut methods: Vec<&str> = panels
            .iter()
            .flat_map(|(_, c)| c.iter().map(|c| c.0.as_str()))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        let colour = |name: &str| palette(methods.iter().position(|m| *m == name).unwrap_or(0));
        const PER_ROW: usize = 3;
        let cols = panels.len().clamp(1, PER_ROW);
        let rows = panels.len().div_ceil(PER_ROW).max(1);
        let mut fig = Figure::new(40.0 + 330.0 * cols as f64, 320.0 * rows as f64);
        for (k, (task, curves)) in panels.iter().enumerate() {
            let xmax = curves
                .iter()
                .flat_map(|c| c.1.iter().copied())
                .fold(1.0f64, f64::max);
            let ax = Axes::new(
                (
                    60.0 + 330.0 * (k % PER_ROW) as f64,
                    30.0 + 320.0 * (k / PER_ROW) as f64,
                    250.0,
                    230.0,
                ),
                (0.0, xmax),
                (0.0, 1.0),
            );
            ax.frame(&mut fig, task, "updates", "fraction of networks at 0.99");
            let mut entries = vec![];
            for (name, xs, ys) in curves {
                ax.line(&mut fig, xs, ys, colour(name), 1.5);
                entries.push((name.clone(), colour(name)));
            }
            legend(&mut fig, ax.x + 6.0, ax.y + 14.0, &entries);
        }
        figure_path = Some(write_figure(&fig, path)?);
    }
    Ok((out, figure_path))
}

/// `SETTING: network 7` for a run whose divergence guard retired networks, from its summary.
fn retired_networks(setting: &str, summary: &serde_json::Value) -> Option<String> {
    let ks: Vec<usize> = summary["retired_networks"]
        .as_array()?
        .iter()
        .filter_map(|k| k.as_u64().map(|k| k as usize))
        .collect();
    match ks.is_empty() {
        true => None,
        false => Some(format!(
            "{setting}: {}",
            biornn_run::driver::name_networks(&ks)
        )),
    }
}

/// The line under a table that names the networks retired by the divergence guard, if any.
fn retired_note(retired: &[String]) -> String {
    match retired.is_empty() {
        true => String::new(),
        false => format!(
            "\nRetired by the divergence guard after diverging too often (frozen at their last \
             good state and counted as they stand): {}.\n",
            retired.join("; ")
        ),
    }
}

/// Summarise rule-reversal runs laid out as `DIR/SETTING`: a markdown table of the accuracy
/// reached per setting and, with `figure`, a plot of accuracy against updates. Returns the table
/// and the PNG's path.
pub fn reversal_summary(dir: &Path, figure: Option<&Path>) -> Result<(String, Option<PathBuf>)> {
    let mut out = String::new();
    let mut figure_path = None;
    tableln!(out, "| setting | networks | updates | accuracy at the end, mean | median [IQR] | mean over the last 10% of rounds | training s |");
    tableln!(out, "|---|---|---|---|---|---|---|");
    let mut curves = vec![];
    let mut retired = vec![];
    for d in subdirs(dir)? {
        let Some(s) = read_summary(&d)? else {
            continue;
        };
        let acc: Vec<Option<f64>> = s["final_perf"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_f64()).collect())
            .unwrap_or_default();
        let vals: Vec<f64> = acc.iter().flatten().copied().collect();
        let q = |x: f64| quantile_reached(&acc, x).unwrap_or(f64::NAN);
        let name = s["setting"].as_str().unwrap_or("?").to_string();
        let (xs, ys) = history_columns(&d, 1, 3);
        // single evaluations are noisy (40 sequences): the mean over the last tenth of the rounds
        let tail = &ys[ys.len() - ys.len().div_ceil(10)..];
        tableln!(
            out,
            "| {name} | {} | {} | {:.3} | {:.3} [{:.3}, {:.3}] | {:.3} | {:.0} |",
            vals.len(),
            s["updates"],
            vals.iter().sum::<f64>() / vals.len().max(1) as f64,
            q(0.5),
            q(0.25),
            q(0.75),
            tail.iter().sum::<f64>() / tail.len().max(1) as f64,
            s["train_seconds"].as_f64().unwrap_or(f64::NAN)
        );
        retired.extend(retired_networks(&name, &s));
        curves.push((name, xs, ys));
    }
    out.push_str(&retired_note(&retired));
    if let Some(path) = figure {
        // single evaluations are noisy and eight settings' raw curves hide one another: each
        // curve is the mean of the last 1/40 of the rounds' evaluations, the legend beside the plot
        let rounds = curves.iter().map(|c| c.2.len()).max().unwrap_or(0);
        let window = (rounds / 40).max(1);
        let mut fig = Figure::new(580.0, 330.0);
        let xmax = curves
            .iter()
            .flat_map(|c| c.1.iter().copied())
            .fold(1.0f64, f64::max);
        let ax = Axes::new((60.0, 30.0, 330.0, 240.0), (0.0, xmax), (0.4, 1.0));
        let title = match window {
            1 => "rule reversal".to_string(),
            w => format!("rule reversal (mean of the last {w} evaluations)"),
        };
        ax.frame(&mut fig, &title, "updates", "mean accuracy (plain network)");
        let mut entries = vec![];
        for (i, (name, xs, ys)) in curves.iter().enumerate() {
            ax.line(&mut fig, xs, &trailing_mean(ys, window), palette(i), 1.2);
            entries.push((name.clone(), palette(i)));
        }
        legend(&mut fig, ax.x + ax.w + 14.0, ax.y + 14.0, &entries);
        figure_path = Some(write_figure(&fig, path)?);
    }
    Ok((out, figure_path))
}

/// Each value's mean with the `window - 1` values before it (fewer at the start).
fn trailing_mean(ys: &[f64], window: usize) -> Vec<f64> {
    let mut sum = 0.0;
    (0..ys.len())
        .map(|i| {
            sum += ys[i];
            if i >= window {
                sum -= ys[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

/// One run's evaluations of a metrics column: `(step, value)` for the rows where both parse.
fn column_by_name(run: &Path, column: &str) -> Result<Vec<(f64, f64)>> {
    let text = RunDir::open(run)?.read_metrics();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let Some(k) = header.iter().position(|h| *h == column) else {
        return Err(Error::invalid(
            "--value",
            column,
            &format!(
                "allowed: a column of {}/metrics.csv ({})",
                run.display(),
                header.join(", ")
            ),
        ));
    };
    Ok(lines
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Some((c.first()?.parse().ok()?, c.get(k)?.parse().ok()?))
        })
        .collect())
}

/// A run's recurrent density from its directory, `None` where it cannot be told.
pub type RunDensity = dyn Fn(&Path) -> Option<f64>;

/// What [`curves_summary`] compares and draws.
pub struct CurvesOptions<'a> {
    /// the metrics.csv column compared
    pub value: &'a str,
    /// the value counted as reached
    pub level: f64,
    /// the updates at which the value is also reported
    pub budgets: &'a [usize],
    /// draw the curves against trials seen (the metrics' `trials` column) instead of updates
    pub against_trials: bool,
    /// write the plot here (PATH.png and PATH.svg), and with densities a second one of the value
    /// at each budget against density (PATH_density.png and .svg)
    pub figure: Option<&'a Path>,
    /// a run's recurrent density (the fraction of W_rec its mask lets be nonzero), where the
    /// caller can tell it from the run's config (the report crate does not build networks); shown
    /// where the runs differ in it
    pub density: Option<&'a RunDensity>,
}

/// Summarise settings laid out as `DIR/SETTING/RUN` (or `DIR/SETTING` when a setting is a run):
/// per setting, the runs, how many reached `level` of the metrics column `value`, the updates
/// they needed (median and IQR, runs that did not count as slower) and the trials (where the
/// metrics count them), and `value` at each budget (mean over runs of the last evaluation at or
/// before it, with the number of runs counted: those that got that far, and those that stopped
/// earlier at their criterion, whose last value stands); with densities a column of them; with
/// `figure`, `value` against updates (or trials), one colour per setting, and against density.
/// Returns the table and the first PNG's path.
pub fn curves_summary(dir: &Path, opt: &CurvesOptions) -> Result<(String, Option<PathBuf>)> {
    let (value, level, budgets) = (opt.value, opt.level, opt.budgets);
    let fmt = |x: Option<f64>| x.map_or("not reached".to_string(), |v| format!("{v:.0}"));
    let quartiles = |v: &[Option<f64>]| {
        format!(
            "{} [{}, {}]",
            fmt(quantile_reached(v, 0.5)),
            fmt(quantile_reached(v, 0.25)),
            fmt(quantile_reached(v, 0.75))
        )
    };
    let mean = |v: &[f64]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            format!("{:.3}", v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    let mut settings = vec![];
    for setting_dir in subdirs(dir)? {
        let name = setting_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let runs: Vec<PathBuf> =
            if RunDir::open(&setting_dir).is_ok_and(|r| r.read_config().is_some()) {
                vec![setting_dir.clone()]
            } else {
                subdirs(&setting_dir)?
                    .into_iter()
                    .filter(|d| RunDir::open(d).is_ok_and(|r| r.read_config().is_some()))
                    .collect()
            };
        if !runs.is_empty() {
            settings.push((name, runs));
        }
    }
    let all_runs = settings.iter().flat_map(|s| s.1.iter());
    // trials seen at each evaluation, where every run's metrics count them
    let trials: Option<Vec<Vec<(f64, f64)>>> = all_runs
        .clone()
        .map(|r| column_by_name(r, "trials").ok())
        .collect();
    if opt.against_trials && trials.is_none() {
        let run = all_runs
            .clone()
            .find(|r| column_by_name(r, "trials").is_err())
            .map_or(String::new(), |r| r.display().to_string());
        return Err(Error::invalid(
            "--x",
            "trials",
            &format!("allowed: updates ({run}/metrics.csv has no trials column)"),
        ));
    }
    // each run's density (a random mask's differs from seed to seed); a setting's is the mean of
    // its runs', shown only where the settings differ in it (a column of 100% says nothing)
    let densities: Option<Vec<f64>> = opt
        .density
        .and_then(|f| all_runs.clone().map(|r| f(r)).collect::<Option<Vec<f64>>>());
    let setting_density = |k: usize| {
        let d = densities.as_ref()?;
        let first: usize = settings[..k].iter().map(|s| s.1.len()).sum();
        let runs = &d[first..first + settings[k].1.len()];
        Some(runs.iter().sum::<f64>() / runs.len() as f64)
    };
    let show_density = (0..settings.len())
        .filter_map(setting_density)
        .collect::<Vec<f64>>()
        .windows(2)
        .any(|w| w[0] != w[1]);
    let mut out = String::new();
    let budget_heads: String = budgets
        .iter()
        .map(|b| format!(" {value} at {b} |"))
        .collect();
    let (density_head, density_rule) = match show_density {
        true => (" density |", "---|"),
        false => ("", ""),
    };
    let (trials_head, trials_rule) = match trials {
        Some(_) => (format!(" trials to {level}, median [IQR] |"), "---|"),
        None => (String::new(), ""),
    };
    tableln!(
        out,
        "| setting |{density_head} runs | at {level} | updates to {level}, median [IQR] |{trials_head}{budget_heads} last {value}, mean | updates |"
    );
    tableln!(
        out,
        "|---|{density_rule}---|---|---|{trials_rule}{}---|---|",
        "---|".repeat(budgets.len())
    );
    let mut curves = vec![];
    // per setting: density and the value at each budget, run by run (the density plot)
    let mut by_density: Vec<(String, f64, Vec<Vec<f64>>)> = vec![];
    let mut run_index = 0;
    for (k, (setting, runs)) in settings.iter().enumerate() {
        let mut reached = vec![];
        let mut trials_reached = vec![];
        let mut at_budget = vec![vec![]; budgets.len()];
        let (mut last, mut steps) = (vec![], vec![]);
        let density = setting_density(k).filter(|_| show_density);
        for run in runs {
            let rows = column_by_name(run, value)?;
            let hit = rows.iter().find(|r| r.1 >= level).map(|r| r.0);
            reached.push(hit);
            let run_trials = trials.as_ref().map(|t| &t[run_index]);
            if let Some(t) = run_trials {
                trials_reached.push(hit.and_then(|s| t.iter().find(|r| r.0 == s).map(|r| r.1)));
            }
            run_index += 1;
            // a budget counts for runs that got that far, and for runs that stopped before it
            // because they reached their criterion (their last value stands)
            let got_to = rows.last().map_or(0.0, |r| r.0);
            let stopped_at_criterion = read_summary(run)?.is_some_and(|s| met_criterion(&s));
            for (k, b) in budgets.iter().enumerate() {
                if got_to < *b as f64 && !stopped_at_criterion {
                    continue;
                }
                if let Some(r) = rows.iter().rev().find(|r| r.0 <= *b as f64) {
                    at_budget[k].push(r.1);
                }
            }
            if let Some(r) = rows.last() {
                last.push(r.1);
                steps.push(r.0);
            }
            let xs: Vec<f64> = match run_trials {
                Some(t) if opt.against_trials => rows
                    .iter()
                    .map(|r| t.iter().find(|q| q.0 == r.0).map_or(f64::NAN, |q| q.1))
                    .collect(),
                _ => rows.iter().map(|r| r.0).collect(),
            };
            let ys: Vec<f64> = rows.iter().map(|r| r.1).collect();
            curves.push((setting.clone(), xs, ys));
        }
        let budget_cells: String = at_budget
            .iter()
            .map(|v| format!(" {} ({}) |", mean(v), v.len()))
            .collect();
        let density_cell = match density {
            Some(d) => format!(" {:.2}% |", 100.0 * d),
            None => String::new(),
        };
        let trials_cell = match trials {
            Some(_) => format!(" {} |", quartiles(&trials_reached)),
            None => String::new(),
        };
        let max_steps = steps.iter().copied().fold(0.0f64, f64::max);
        tableln!(
            out,
            "| {setting} |{density_cell} {} | {} | {} |{trials_cell}{budget_cells} {} | {max_steps:.0} |",
            runs.len(),
            reached.iter().filter(|r| r.is_some()).count(),
            quartiles(&reached),
            mean(&last),
        );
        if let Some(d) = density {
            by_density.push((setting.clone(), d, at_budget));
        }
    }
    let Some(path) = opt.figure else {
        return Ok((out, None));
    };
    let mut names: Vec<&str> = curves.iter().map(|c| c.0.as_str()).collect();
    names.dedup();
    let colour = |name: &str| palette(names.iter().position(|m| *m == name).unwrap_or(0));
    let xmax = curves
        .iter()
        .flat_map(|c| c.1.iter().copied().filter(|x| x.is_finite()))
        .fold(1.0f64, f64::max);
    let mut fig = Figure::new(460.0, 340.0);
    let ax = Axes::new((60.0, 30.0, 370.0, 250.0), (0.0, xmax), (0.0, 1.0));
    let xlabel = if opt.against_trials {
        "trials"
    } else {
        "updates"
    };
    ax.frame(&mut fig, value, xlabel, value);
    for (name, xs, ys) in &curves {
        ax.line(&mut fig, xs, ys, colour(name), 1.2);
    }
    let entries: Vec<(String, _)> = names.iter().map(|n| (n.to_string(), colour(n))).collect();
    legend(&mut fig, ax.x + 6.0, ax.y + 14.0, &entries);
    let first = write_figure(&fig, path)?;
    if !by_density.is_empty() && !budgets.is_empty() {
        // beside the first figure whatever extension the path was given with (`write_figure`
        // replaces it)
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        density_figure(
            &mut by_density,
            value,
            budgets,
            &path.with_file_name(format!("{stem}_density")),
        )?;
    }
    Ok((out, Some(first)))
}

/// `value` at each budget against recurrent density (log axis): every run a dot, the mean over a
/// setting's runs joined across settings, one colour per budget.
fn density_figure(
    settings: &mut [(String, f64, Vec<Vec<f64>>)],
    value: &str,
    budgets: &[usize],
    path: &Path,
) -> Result<PathBuf> {
    settings.sort_by(|a, b| a.1.total_cmp(&b.1));
    let log = |d: f64| d.max(1e-6).log10();
    let lo = settings.iter().map(|s| log(s.1)).fold(0.0f64, f64::min);
    let mut fig = Figure::new(460.0, 340.0);
    let ax = Axes::new((60.0, 30.0, 370.0, 250.0), (lo - 0.2, 0.2), (0.0, 1.0));
    ax.frame(
        &mut fig,
        &format!("{value} against density"),
        "recurrent density (log10)",
        value,
    );
    let mut entries = vec![];
    for (k, b) in budgets.iter().enumerate() {
        let colour = palette(k);
        let (mut xs, mut ys) = (vec![], vec![]);
        for (_, d, at) in settings.iter() {
            let v = &at[k];
            for y in v {
                let (px, py) = ax.map(log(*d), *y);
                fig.circle(px, py, 2.0, Some(colour), colour);
            }
            if !v.is_empty() {
                xs.push(log(*d));
                ys.push(v.iter().sum::<f64>() / v.len() as f64);
            }
        }
        ax.line(&mut fig, &xs, &ys, colour, 1.2);
        entries.push((format!("at {b} updates"), colour));
    }
    legend(&mut fig, ax.x + 6.0, ax.y + 14.0, &entries);
    write_figure(&fig, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailing_mean_averages_each_value_with_those_before_it() {
        let ys = [1.0, 3.0, 5.0, 7.0, 0.0];
        assert_eq!(trailing_mean(&ys, 1), ys.to_vec());
        assert_eq!(trailing_mean(&ys, 2), vec![1.0, 2.0, 4.0, 6.0, 3.5]);
        assert_eq!(trailing_mean(&ys, 3), vec![1.0, 2.0, 3.0, 5.0, 4.0]);
        // a window longer than the curve: the mean of everything so far
        assert_eq!(trailing_mean(&ys[..2], 5), vec![1.0, 2.0]);
        assert_eq!(trailing_mean(&[], 3), Vec::<f64>::new());
    }
}
