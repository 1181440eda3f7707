//! Pictures of a run. [`plot`] is a small figure layer (SVG and PNG from the same shapes, text
//! drawn from a font compiled in); [`figures`] draws each analysis; [`write_figures`] saves them as
//! PNG and SVG and [`write_report`] writes one self-contained HTML page with all of them inline.

pub mod figures;
pub mod plot;
pub mod sequence;
pub mod summaries;
pub mod vision;

use biornn_analysis::Analysis;
use biornn_numerics::npz::write_atomic;
use biornn_numerics::{Error, Result};
use biornn_run::RunDir;
use figures::Metrics;
use plot::Figure;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A named figure with the caption the report gives it.
pub struct NamedFigure {
    pub name: &'static str,
    pub title: &'static str,
    pub caption: String,
    pub figure: Figure,
}

/// The training log and final scores of a run directory, read leniently: a run still training has
/// no `summary.json` yet, and then the last evaluation row stands in.
pub struct RunLog {
    pub metrics: Metrics,
    pub perf: Vec<(String, f64)>,
    pub summary: Option<serde_json::Value>,
    pub config: String,
}

impl RunLog {
    pub fn read(run: &Path) -> RunLog {
        let dir = RunDir::open(run).ok();
        let metrics = dir
            .as_ref()
            .map(|d| Metrics::parse(&d.read_metrics()))
            .unwrap_or_default();
        let summary: Option<serde_json::Value> = dir
            .as_ref()
            .and_then(|d| d.read_summary())
            .and_then(|t| serde_json::from_str(&t).ok());
        let perf = match summary
            .as_ref()
            .and_then(|s| s.get("perf"))
            .and_then(|p| p.as_object())
        {
            // in the run's task order, as the metrics columns are
            Some(map) if !metrics.perf.is_empty() => metrics
                .perf
                .iter()
                .filter_map(|(t, _)| map.get(t).and_then(|v| v.as_f64()).map(|p| (t.clone(), p)))
                .collect(),
            _ => metrics
                .perf
                .iter()
                .map(|(t, v)| {
                    (
                        t.clone(),
                        v.iter()
                            .rev()
                            .copied()
                            .find(|x| x.is_finite())
                            .unwrap_or(f64::NAN),
                    )
                })
                .collect(),
        };
        let config = dir.and_then(|d| d.read_config()).unwrap_or_default();
        RunLog {
            metrics,
            perf,
            summary,
            config,
        }
    }
}

/// Every figure the analysis and the log allow, in report order.
pub fn all_figures(a: &Analysis, log: &RunLog) -> Vec<NamedFigure> {
    let mut out = vec![];
    let mut push = |name, title, caption: String, fig: Option<Figure>| {
        if let Some(figure) = fig {
            out.push(NamedFigure {
                name,
                title,
                caption,
                figure,
            });
        }
    };
    if !log.metrics.step.is_empty() {
        push(
            "training",
            "Training",
            "Loss (left) and performance per task (right) at each evaluation.".into(),
            Some(figures::training(&log.metrics)),
        );
    }
    if !log.perf.is_empty() {
        push(
            "performance",
            "Performance per task",
            "Fraction of trials correct per task at the end of training (gyyang's criterion)."
                .into(),
            Some(figures::performance(&log.perf)),
        );
    }
    if !a.examples.is_empty() {
        push("examples", "Example trials", "One noise-free trial per task: inputs (85 channels), targets and outputs (33 units) over time as heatmaps, and the fixation output (red) against its target (grey). White dashes mark epoch onsets.".into(), Some(figures::examples(a)));
    }
    let (fp_count, fp_task) = a.fixed_points.as_ref().map_or((0, String::new()), |f| {
        (f.result.points.len(), f.task.clone())
    });
    push(
        "pca",
        "Population trajectories",
        format!("Trajectories averaged over trials with the same stimulus direction (colour), in the top principal components; fixed points of {fp_task} under the fixation input (large; filled: stable, open: unstable) and slow points (small, grey), {fp_count} in all."),
        figures::pca(a),
    );
    push("spectra", "Fixed points and spectra", "Eigenvalues of the Jacobian of the one-step map (one colour per point: the fixed points and the slowest slow points) with the unit circle, and q = |F(x) - x|^2 / 2 of every start after optimisation.".into(), figures::spectra(a));
    push("psychometric", "Psychometric curves", "Choice of stimulus 1 against the strength difference, with noise, for each stimulus duration; lines are the fitted logistic.".into(), figures::psychometric(a));
    push("clusters", "Task variance and clusters", "Variance of each active unit across trials per task, normalised by its maximum, units grouped by k-means with k chosen by the silhouette score (right).".into(), figures::clusters(a));
    push("connectivity", "Connectivity", "Effective recurrent weights (post x pre), units sorted by cluster and, within a cluster, excitatory first.".into(), figures::connectivity(a));
    push("lesions", "Lesions", "Performance per task after silencing each cluster (and each population under Dale's law): outgoing recurrent and readout weights set to zero.".into(), figures::lesions(a));
    if let Some(au) = &a.autapse {
        let near = au.gain.iter().filter(|g| (**g - 1.0).abs() < 0.1).count();
        push(
            "autapse",
            "How the autapses hold memory",
            format!("An autapse network (diagonal W_rec): each unit's self-weight against its activation's slope, averaged over the {} of {} trials. Units near the curve w f' = 1 have loop gain near 1 and keep a value over a delay (memory time constant tau / |1 - g|); {near} of {} units are within 0.1 of it. Colour: loop gain (blue below 1, red above).", au.epoch, au.task, au.gain.len()),
            Some(figures::autapse(au)),
        );
    }
    out
}

/// Save every figure as `NAME.svg` and `NAME.png` in `dir`.
pub fn write_figures(figs: &[NamedFigure], dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let mut written = vec![];
    for f in figs {
        for (ext, bytes) in [
            ("svg", f.figure.to_svg().into_bytes()),
            ("png", f.figure.to_png(2.0)),
        ] {
            let path = dir.join(format!("{}.{ext}", f.name));
            write_atomic(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report as one HTML page: every figure inline as SVG, tables of the numbers behind them,
/// no external files or fonts. A script at the end counts the figures that rendered and writes the
/// count into `data-figures-rendered` on the body, which the browser test reads.
pub fn report_html(a: &Analysis, log: &RunLog, figs: &[NamedFigure]) -> String {
    let run_name = a
        .run
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().to_string());
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>biornn report: {name}</title>
<meta name="figures" content="{count}">
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; line-height: 1.4; }}
h1 {{ font-weight: 500; }} h2 {{ font-weight: 500; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }}
figure {{ margin: 1em 0; }} figure svg {{ max-width: 100%; height: auto; }}
figcaption {{ color: #555; font-size: 0.9em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 8px; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
nav a {{ margin-right: 1em; }} pre {{ background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }}
</style></head><body data-figures-expected="{count}">
<h1>biornn report: {name}</h1>
"#,
        name = escape(&run_name),
        count = figs.len()
    );
    let _ = write!(h, "<p>Network at update {}.", a.loaded_step);
    if let Some(s) = &log.summary {
        let get = |k: &str| s.get(k).map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(h, " Trained for {} updates ({} trials) in {} s; minimum performance {}, mean {}, target reached: {}.", get("steps"), get("trials"), s.get("wall_s").and_then(|v| v.as_f64()).map_or(String::new(), |w| format!("{w:.0}")), s.get("min_perf").and_then(|v| v.as_f64()).map_or(String::new(), |v| format!("{v:.3}")), s.get("mean_perf").and_then(|v| v.as_f64()).map_or(String::new(), |v| format!("{v:.3}")), get("reached_target"));
    }
    h.push_str("</p><nav>");
    for f in figs {
        let _ = write!(h, "<a href=\"#{}\">{}</a>", f.name, f.title);
    }
    h.push_str("</nav>\n");
    for f in figs {
        let _ = write!(h, "<h2 id=\"{}\">{}</h2>\n<figure class=\"plot\" data-name=\"{}\">{}<figcaption>{}</figcaption></figure>\n", f.name, f.title, f.name, f.figure.to_svg(), escape(&f.caption));
        match f.name {
            "performance" => {
                h.push_str("<table><tr><th>task</th><th>performance</th></tr>");
                for (t, p) in &log.perf {
                    let _ = write!(h, "<tr><td>{t}</td><td>{p:.3}</td></tr>");
                }
                h.push_str("</table>");
            }
            "spectra" => {
                if let Some(fp) = &a.fixed_points {
                    let _ = write!(h, "<p>{} starts sampled from the trajectories of {} (noise {}), {} iterations; {} distinct points kept, {} far-away outliers dropped.</p>", fp.result.all_q.len(), fp.task, fp.options.noise_scale, fp.result.iterations, fp.result.points.len(), fp.result.n_outliers);
                    h.push_str("<table><tr><th>point</th><th>q</th><th>kind</th><th>stable</th><th>unstable modes</th><th>max |&lambda;|</th><th>slowest &tau; (ms)</th></tr>");
                    let shown = figures::shown_points(fp);
                    for (i, p) in shown.iter().map(|&i| (i, &fp.result.points[i])) {
                        let tau = p
                            .lin
                            .discrete_time_constants()
                            .first()
                            .copied()
                            .unwrap_or(f64::NAN);
                        let _ = write!(h, "<tr><td>{i}</td><td>{:.2e}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{tau:.0}</td></tr>", p.q, if p.is_fixed(&fp.options) { "fixed" } else { "slow" }, p.lin.is_stable(), p.lin.n_unstable(), p.lin.eigenvalues.first().map_or(f64::NAN, |l| l.norm()));
                    }
                    h.push_str("</table>");
                    let fixed = fp
                        .result
                        .points
                        .iter()
                        .filter(|p| p.is_fixed(&fp.options))
                        .count();
                    let _ = write!(h, "<p>{fixed} fixed points (q &le; {:.0e}) and {} slow points; the table lists the fixed points and the slow points of lowest q, up to ten in all. Every point is in <code>analysis/fixed_points.csv</code> and <code>.npz</code>.</p>", fp.options.fixed_q, fp.result.points.len() - fixed);
                }
            }
            "psychometric" => {
                h.push_str("<table><tr><th>task</th><th>duration (ms)</th><th>bias</th><th>scale</th></tr>");
                for c in &a.psychometric {
                    let (b, s) = c.fit.map_or(("-".into(), "-".into()), |f| {
                        (format!("{:.4}", f.bias), format!("{:.4}", f.scale))
                    });
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td>{b}</td><td>{s}</td></tr>",
                        c.rule.name(),
                        c.duration_ms
                    );
                }
                h.push_str("</table>");
            }
            "lesions" => {
                if let Some(l) = &a.lesion {
                    h.push_str("<table><tr><th>lesion</th><th>units</th>");
                    for t in &l.tasks {
                        let _ = write!(h, "<th>{t}</th>");
                    }
                    h.push_str("</tr>");
                    for (name, units, perf) in &l.rows {
                        let _ = write!(h, "<tr><td>{name}</td><td>{units}</td>");
                        for p in perf {
                            let _ = write!(h, "<td>{p:.3}</td>");
                        }
                        h.push_str("</tr>");
                    }
                    h.push_str("</table>");
                }
            }
            _ => {}
        }
    }
    if a.psychometric.is_empty() {
        h.push_str("<p>No psychometric curves: this run has none of the decision tasks dm1, dm2, contextdm1, contextdm2, multidm.</p>");
    }
    let _ = write!(
        h,
        "<h2 id=\"config\">Config</h2><pre>{}</pre>",
        escape(&log.config)
    );
    h.push_str("<h2>Timings</h2><table><tr><th>part</th><th>seconds</th></tr>");
    for (part, s) in &a.timings {
        let _ = write!(h, "<tr><td>{part}</td><td>{s:.2}</td></tr>");
    }
    h.push_str("</table>\n");
    h.push_str(
        r#"<script>
window.addEventListener('load', function () {
  var ok = 0;
  document.querySelectorAll('figure.plot').forEach(function (f) {
    var svg = f.querySelector('svg');
    if (svg) { var b = svg.getBoundingClientRect(); if (b.width > 50 && b.height > 50 && svg.querySelectorAll('path').length > 0) ok++; }
  });
  document.body.setAttribute('data-figures-rendered', String(ok));
});
</script></body></html>
"#,
    );
    h
}

/// Write `report.html` into the run directory.
pub fn write_report(a: &Analysis, log: &RunLog, figs: &[NamedFigure]) -> Result<PathBuf> {
    let path = RunDir::open(&a.run)?.report_path();
    write_atomic(&path, report_html(a, log, figs).as_bytes())?;
    Ok(path)
}
