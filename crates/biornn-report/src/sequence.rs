//! The report of a network that learns and replays one sequence (ELiSe): the target, the nudged
//! and the free output as heat maps, the free and nudged errors against training cycles, and
//! the error per replay cycle for plain replay and each disruption. It takes plain numbers, so
//! it knows nothing of the rule that trained the network.

use crate::plot::{legend, palette, viridis, Axes, Figure};
use crate::NamedFigure;
use biornn_numerics::npz::write_atomic;
use biornn_numerics::Result;
use biornn_run::RunDir;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Rates `[sample][neuron]` of one cycle, with their sampling interval in ms.
pub struct Raster<'a> {
    pub title: &'a str,
    pub rates: &'a [f64],
    pub neurons: usize,
}

/// Heat maps side by side, neurons as rows, time to the right, rates 0 to 1.
pub fn heatmaps(rasters: &[Raster], sample_ms: f64) -> Figure {
    let (w, h, gap) = (250.0, 150.0, 75.0);
    let mut fig = Figure::new(60.0 + rasters.len() as f64 * (w + gap), h + 80.0);
    for (k, r) in rasters.iter().enumerate() {
        let samples = r.rates.len() / r.neurons.max(1);
        // neuron-major for the image, the top row the last neuron: neuron 0 sits at the bottom
        let mut img = vec![0.0; r.neurons * samples];
        for t in 0..samples {
            for i in 0..r.neurons {
                img[(r.neurons - 1 - i) * samples + t] = r.rates[t * r.neurons + i];
            }
        }
        let x0 = 60.0 + k as f64 * (w + gap);
        let ax = Axes::new(
            (x0, 30.0, w, h),
            (0.0, samples as f64 * sample_ms),
            (0.0, r.neurons as f64),
        );
        fig.image((x0, 30.0, w, h), r.neurons, samples, &img, |v| {
            viridis(v.clamp(0.0, 1.0))
        });
        ax.frame(&mut fig, r.title, "ms", "visible neuron");
    }
    fig
}

/// Curves `(label, xs, ys)` on one axes, log10 of y when `log`.
pub fn curves(
    title: &str,
    xlabel: &str,
    series: &[(String, Vec<f64>, Vec<f64>)],
    log: bool,
) -> Figure {
    let mut fig = Figure::new(620.0, 300.0);
    let f = |y: f64| {
        if log {
            if y > 0.0 {
                y.log10()
            } else {
                f64::NAN
            }
        } else {
            y
        }
    };
    let all_x = series.iter().flat_map(|s| s.1.iter().copied());
    let all_y = series.iter().flat_map(|s| s.2.iter().map(|y| f(*y)));
    let range = |v: &mut dyn Iterator<Item = f64>| {
        v.filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            })
    };
    let (mut xl, mut yl) = (range(&mut { all_x }), range(&mut { all_y }));
    for l in [&mut xl, &mut yl] {
        if !l.0.is_finite() || !l.1.is_finite() || l.0 >= l.1 {
            *l = if l.0.is_finite() {
                (l.0 - 1.0, l.0 + 1.0)
            } else {
                (0.0, 1.0)
            };
        }
    }
    let ax = Axes::new((70.0, 30.0, 380.0, 220.0), xl, yl);
    ax.frame(
        &mut fig,
        title,
        xlabel,
        if log { "log10 MSE" } else { "MSE" },
    );
    let mut entries = vec![];
    for (k, (label, xs, ys)) in series.iter().enumerate() {
        let ys: Vec<f64> = ys.iter().map(|y| f(*y)).collect();
        ax.line(&mut fig, xs, &ys, palette(k), 1.5);
        entries.push((label.clone(), palette(k)));
    }
    legend(&mut fig, 470.0, 40.0, &entries);
    fig
}

/// The page: a heading, a paragraph, the figures inline (SVG) and a table, written as the run's
/// `report.html`.
pub fn write_sequence_report(
    run: &Path,
    intro: &str,
    figs: &[NamedFigure],
    table: &[Vec<String>],
) -> Result<PathBuf> {
    let name = run
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().to_string());
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>biornn report: {name}</title>\
<style>body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }} \
figure svg {{ max-width: 100%; height: auto; }} figcaption {{ color: #555; font-size: 0.9em; }} \
table {{ border-collapse: collapse; font-size: 0.85em; }} td, th {{ border: 1px solid #ddd; padding: 2px 8px; }}</style>\
</head><body data-figures-expected=\"{}\"><h1>biornn report: {name}</h1><p>{}</p>",
        figs.len(),
        crate::escape(intro)
    );
    for f in figs {
        let _ = write!(
            h,
            "<h2 id=\"{}\">{}</h2><figure>{}<figcaption>{}</figcaption></figure>",
            f.name,
            f.title,
            f.figure.to_svg(),
            crate::escape(&f.caption)
        );
    }
    if let Some((head, rows)) = table.split_first() {
        h.push_str("<table><tr>");
        for c in head {
            let _ = write!(h, "<th>{}</th>", crate::escape(c));
        }
        h.push_str("</tr>");
        for r in rows {
            h.push_str("<tr>");
            for c in r {
                let _ = write!(h, "<td>{}</td>", crate::escape(c));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    let path = RunDir::open(run)?.report_path();
    write_atomic(&path, h.as_bytes())?;
    Ok(path)
}
