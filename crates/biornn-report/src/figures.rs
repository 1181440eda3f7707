//! The figures of a run: training curves, per-task performance, example trials, PCA trajectories
//! with fixed points, Jacobian spectra, psychometric curves, task variance clusters, sorted
//! connectivity and lesions.

use crate::plot::{diverging, legend, palette, viridis, Anchor, Axes, Color, Figure};
use biornn_analysis::Analysis;

/// The training log of a run (`metrics.csv`).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub step: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub eval_loss: Vec<f64>,
    /// (task, performance at each evaluation)
    pub perf: Vec<(String, Vec<f64>)>,
}

impl Metrics {
    /// Parse `metrics.csv`; unknown columns are ignored, empty cells are NaN.
    pub fn parse(text: &str) -> Metrics {
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            return Metrics::default();
        };
        let cols: Vec<&str> = header.split(',').collect();
        let mut m = Metrics::default();
        let perf_cols: Vec<(usize, String)> = cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.strip_prefix("perf_").map(|t| (i, t.to_string())))
            .collect();
        m.perf = perf_cols.iter().map(|(_, t)| (t.clone(), vec![])).collect();
        let find = |name: &str| cols.iter().position(|c| *c == name);
        let (ci_step, ci_train, ci_eval) = (find("step"), find("train_loss"), find("eval_loss"));
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != cols.len() {
                continue;
            }
            let val = |i: Option<usize>| {
                i.and_then(|i| cells[i].parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            m.step.push(val(ci_step));
            m.train_loss.push(val(ci_train));
            m.eval_loss.push(val(ci_eval));
            for (k, (i, _)) in perf_cols.iter().enumerate() {
                m.perf[k].1.push(val(Some(*i)));
            }
        }
        m
    }
}

fn finite_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        })
}

/// Loss (log10) and per-task performance against updates.
pub fn training(m: &Metrics) -> Figure {
    let mut fig = Figure::new(820.0, 300.0);
    let xl = finite_range(m.step.iter().copied());
    let logs = |v: &[f64]| {
        v.iter()
            .map(|x| if *x > 0.0 { x.log10() } else { f64::NAN })
            .collect::<Vec<_>>()
    };
    let (tl, el) = (logs(&m.train_loss), logs(&m.eval_loss));
    let yl = finite_range(tl.iter().chain(&el).copied());
    let ax = Axes::new((60.0, 30.0, 300.0, 220.0), xl, yl);
    ax.frame(&mut fig, "Loss", "updates", "log10 loss");
    for (series, color) in [(&tl, palette(0)), (&el, palette(1))] {
        let (xs, ys): (Vec<f64>, Vec<f64>) = m
            .step
            .iter()
            .zip(series.iter())
            .filter(|(_, y)| y.is_finite())
            .map(|(x, y)| (*x, *y))
            .unzip();
        ax.line(&mut fig, &xs, &ys, color, 1.5);
    }
    legend(
        &mut fig,
        ax.x + ax.w - 80.0,
        ax.y + 14.0,
        &[("train".into(), palette(0)), ("eval".into(), palette(1))],
    );
    let ax = Axes::new((440.0, 30.0, 260.0, 220.0), xl, (0.0, 1.0));
    ax.frame(&mut fig, "Performance", "updates", "fraction correct");
    for (k, (_, perf)) in m.perf.iter().enumerate() {
        ax.line(&mut fig, &m.step, perf, palette(k), 1.2);
    }
    let entries: Vec<(String, Color)> = m
        .perf
        .iter()
        .enumerate()
        .map(|(k, (t, _))| (t.clone(), palette(k)))
        .collect();
    legend(&mut fig, 712.0, 40.0, &entries);
    fig
}

/// Final performance per task, as bars.
pub fn performance(perf: &[(String, f64)]) -> Figure {
    let w = 120.0 + 34.0 * perf.len() as f64;
    let mut fig = Figure::new(w.max(320.0), 280.0);
    let ax = Axes::new(
        (60.0, 30.0, 34.0 * perf.len() as f64, 170.0),
        (0.0, perf.len() as f64),
        (0.0, 1.0),
    );
    ax.frame_categorical(&mut fig, "Final performance per task", "fraction correct");
    for (i, (task, p)) in perf.iter().enumerate() {
        let (x0, y0) = ax.map(i as f64 + 0.15, p.clamp(0.0, 1.0));
        fig.rect(
            x0,
            y0,
            ax.w / perf.len() as f64 * 0.7,
            ax.py(0.0) - y0,
            Some(palette(i)),
            None,
        );
        fig.text(
            ax.px(i as f64 + 0.5) + 4.0,
            ax.y + ax.h + 8.0,
            task,
            10.0,
            Anchor::End,
            true,
            Color::BLACK,
        );
    }
    fig
}

/// The most example panels drawn (a battery of 82 tasks would make a figure metres tall).
const MAX_EXAMPLES: usize = 12;

/// One panel per task (the first [`MAX_EXAMPLES`]): inputs, targets and outputs over time, as
/// heatmaps, plus the fixation output against its target (for a network that answers with
/// classes: the target class against the network's).
pub fn examples(a: &Analysis) -> Figure {
    let panel_w = 250.0;
    let shown = &a.examples[..a.examples.len().min(MAX_EXAMPLES)];
    let cols = 3usize.min(shown.len().max(1));
    let rows = shown.len().div_ceil(cols);
    let mut fig = Figure::new(
        30.0 + cols as f64 * (panel_w + 40.0),
        20.0 + rows as f64 * 330.0,
    );
    for (k, ex) in shown.iter().enumerate() {
        let (ox, oy) = (
            50.0 + (k % cols) as f64 * (panel_w + 40.0),
            30.0 + (k / cols) as f64 * 330.0,
        );
        let t = ex.steps;
        fig.text(
            ox + panel_w / 2.0,
            oy - 8.0,
            &ex.task,
            12.0,
            Anchor::Middle,
            false,
            Color::BLACK,
        );
        let transpose = |data: &[f32], n: usize| -> Vec<f64> {
            let mut out = vec![0.0; n * t];
            for s in 0..t {
                for c in 0..n {
                    out[c * t + s] = data[s * n + c] as f64;
                }
            }
            out
        };
        let blocks = [
            ("input", transpose(&ex.input, ex.n_in), ex.n_in, 70.0),
            ("target", transpose(&ex.target, ex.n_out), ex.n_out, 50.0),
            ("output", transpose(&ex.output, ex.n_out), ex.n_out, 50.0),
        ];
        let mut y = oy;
        for (name, data, n, h) in blocks {
            let max = data.iter().copied().fold(1e-9f64, f64::max);
            fig.image((ox, y, panel_w, h), n, t, &data, |v| viridis(v / max));
            fig.text(
                ox - 4.0,
                y + h / 2.0 + 3.0,
                name,
                9.0,
                Anchor::End,
                false,
                Color::BLACK,
            );
            y += h + 8.0;
        }
        let xs: Vec<f64> = (0..t).map(|s| s as f64 * ex.dt).collect();
        // classes: the target class against the arg-max class; otherwise the fixation output
        // (unit 0) against its target
        let (label, ymax, want, got) = match &ex.classes {
            Some((target, chosen)) => (
                "class",
                (ex.n_out - 1) as f64,
                target.iter().map(|c| *c as f64).collect::<Vec<_>>(),
                chosen.iter().map(|c| *c as f64).collect::<Vec<_>>(),
            ),
            None => (
                "fix",
                1.0,
                (0..t).map(|s| ex.target[s * ex.n_out] as f64).collect(),
                (0..t).map(|s| ex.output[s * ex.n_out] as f64).collect(),
            ),
        };
        let ax = Axes::new(
            (ox, y + 6.0, panel_w, 60.0),
            (0.0, t as f64 * ex.dt),
            (0.0, ymax),
        );
        ax.frame(&mut fig, "", "time (ms)", "");
        ax.line(&mut fig, &xs, &want, Color::GREY, 2.0);
        ax.line(&mut fig, &xs, &got, palette(3), 1.2);
        fig.text(
            ox - 4.0,
            y + 30.0,
            label,
            9.0,
            Anchor::End,
            false,
            Color::BLACK,
        );
        for (name, on, _) in &ex.epochs {
            let p = ax.px(*on as f64 * ex.dt);
            fig.dashed(vec![(p, oy), (p, y + 66.0)], Color::WHITE, 0.7);
            fig.text(
                p + 2.0,
                oy + 9.0,
                name,
                8.0,
                Anchor::Start,
                false,
                Color::WHITE,
            );
        }
    }
    fig
}

/// Condition-averaged trajectories in PC1-PC2 (and PC1-PC3), with fixed points (filled: stable;
/// open: unstable); explained variance on the right.
pub fn pca(a: &Analysis) -> Option<Figure> {
    let p = a.pca.as_ref()?;
    let mut fig = Figure::new(880.0, 320.0);
    // (coordinates, stable, fixed rather than slow)
    let fps: Vec<([f64; 3], bool, bool)> = a
        .fixed_points
        .as_ref()
        .map(|f| {
            f.projected
                .iter()
                .zip(&f.result.points)
                .map(|(c, q)| (*c, q.lin.is_stable(), q.is_fixed(&f.options)))
                .collect()
        })
        .unwrap_or_default();
    for (panel, (i, j)) in [(0usize, 1usize), (0, 2)].into_iter().enumerate() {
        let all = p
            .trajectories
            .iter()
            .flatten()
            .map(|v| (v[i], v[j]))
            .chain(fps.iter().map(|(c, _, _)| (c[i], c[j])));
        let (xs, ys): (Vec<f64>, Vec<f64>) = all.unzip();
        let pad = |(a, b): (f64, f64)| (a - 0.05 * (b - a), b + 0.05 * (b - a));
        let ax = Axes::new(
            (60.0 + panel as f64 * 300.0, 30.0, 230.0, 230.0),
            pad(finite_range(xs.into_iter())),
            pad(finite_range(ys.into_iter())),
        );
        ax.frame(
            &mut fig,
            &format!("{}: PC{} vs PC{}", p.task, i + 1, j + 1),
            &format!("PC{}", i + 1),
            &format!("PC{}", j + 1),
        );
        for (c, traj) in p.trajectories.iter().enumerate() {
            let color = crate::plot::Color::from_angle(p.conditions[c]);
            let px: Vec<f64> = traj.iter().map(|v| v[i]).collect();
            let py: Vec<f64> = traj.iter().map(|v| v[j]).collect();
            ax.line(&mut fig, &px, &py, color, 1.3);
            if let Some(last) = traj.last() {
                let (x, y) = ax.map(last[i], last[j]);
                fig.circle(x, y, 2.5, Some(color), color);
            }
        }
        // slow points small and grey, under the fixed points
        for (c, _, fixed) in &fps {
            if !fixed {
                let (x, y) = ax.map(c[i], c[j]);
                fig.circle(x, y, 1.8, Some(Color::GREY), Color::GREY);
            }
        }
        for (c, stable, fixed) in &fps {
            if *fixed {
                let (x, y) = ax.map(c[i], c[j]);
                fig.circle(
                    x,
                    y,
                    4.5,
                    if *stable {
                        Some(Color::BLACK)
                    } else {
                        Some(Color::WHITE)
                    },
                    Color::BLACK,
                );
            }
        }
    }
    let ratio = p.pca.explained_ratio();
    let k = ratio.len().min(10);
    let ax = Axes::new(
        (680.0, 30.0, 170.0, 230.0),
        (0.5, k as f64 + 0.5),
        (0.0, 1.0),
    );
    ax.frame(&mut fig, "Variance explained", "component", "fraction");
    let mut cum = 0.0;
    let mut cum_pts = vec![];
    for (c, r) in ratio.iter().take(k).enumerate() {
        let (x0, y0) = ax.map(c as f64 + 0.65, *r);
        fig.rect(
            x0,
            y0,
            ax.w / k as f64 * 0.7,
            ax.py(0.0) - y0,
            Some(palette(0)),
            None,
        );
        cum += r;
        cum_pts.push(ax.map(c as f64 + 1.0, cum));
    }
    fig.polyline(cum_pts, palette(1), 1.5);
    Some(fig)
}

impl Color {
    /// A hue for an angle (stimulus direction), around the colour wheel.
    pub fn from_angle(theta: f64) -> Color {
        let h = (theta / (2.0 * std::f64::consts::PI)).rem_euclid(1.0) * 6.0;
        let x = 1.0 - ((h % 2.0) - 1.0).abs();
        let (r, g, b) = match h as usize {
            0 => (1.0, x, 0.0),
            1 => (x, 1.0, 0.0),
            2 => (0.0, 1.0, x),
            3 => (0.0, x, 1.0),
            4 => (x, 0.0, 1.0),
            _ => (1.0, 0.0, x),
        };
        let s = |v: f64| (40.0 + 175.0 * v) as u8;
        Color(s(r), s(g), s(b))
    }
}

/// Eigenvalues of the Jacobian at every fixed point in the complex plane, with the unit circle,
/// and q of every candidate.
pub fn spectra(a: &Analysis) -> Option<Figure> {
    let f = a.fixed_points.as_ref()?;
    let mut fig = Figure::new(1040.0, 320.0);
    let shown = shown_points(f);
    let eig = |idx: usize| f.result.points[idx].lin.eigenvalues.iter();
    // the whole plane, then a close-up of the slowest modes near 1
    let re = finite_range(
        shown
            .iter()
            .flat_map(|&i| eig(i).map(|l| l.re))
            .chain([1.0]),
    );
    let im = shown
        .iter()
        .flat_map(|&i| eig(i).map(|l| l.im.abs()))
        .fold(0.0f64, f64::max);
    let half = ((re.1 - re.0).max(2.0 * im) * 0.55).max(0.02);
    let centre = (re.0 + re.1) / 2.0;
    let views = [
        (
            (-1.25, 1.25),
            (-1.25, 1.25),
            format!(
                "Jacobian eigenvalues ({} of {} points)",
                shown.len(),
                f.result.points.len()
            ),
        ),
        (
            (centre - half, centre + half),
            (-half, half),
            "close-up".to_string(),
        ),
    ];
    for (v, (xl, yl, title)) in views.iter().enumerate() {
        let ax = Axes::new((60.0 + 330.0 * v as f64, 30.0, 250.0, 250.0), *xl, *yl);
        ax.frame(&mut fig, title, "Re", "Im");
        let circle: Vec<(f64, f64)> = (0..=2000)
            .map(|k| {
                // from -pi to pi, so the arc near 1 is one unbroken piece
                let th = (k as f64 / 2000.0 - 0.5) * 2.0 * std::f64::consts::PI;
                (th.cos(), th.sin())
            })
            .filter(|(x, y)| *x >= xl.0 && *x <= xl.1 && *y >= yl.0 && *y <= yl.1)
            .map(|(x, y)| ax.map(x, y))
            .collect();
        fig.polyline(circle, Color::GREY, 1.0);
        for (k, &idx) in shown.iter().enumerate() {
            for l in eig(idx) {
                if l.re >= xl.0 && l.re <= xl.1 && l.im >= yl.0 && l.im <= yl.1 {
                    let (x, y) = ax.map(l.re, l.im);
                    fig.circle(x, y, 2.2, Some(palette(k)), palette(k));
                }
            }
        }
    }
    // q of every candidate, sorted
    let mut q: Vec<f64> = f
        .result
        .all_q
        .iter()
        .map(|q| q.max(1e-30).log10())
        .collect();
    q.sort_by(f64::total_cmp);
    let qx: Vec<f64> = (0..q.len()).map(|i| i as f64).collect();
    let ax2 = Axes::new(
        (750.0, 30.0, 260.0, 250.0),
        (0.0, q.len().max(1) as f64),
        finite_range(q.iter().copied()),
    );
    ax2.frame(
        &mut fig,
        "q of each start after optimisation",
        "start (sorted)",
        "log10 q",
    );
    ax2.line(&mut fig, &qx, &q, palette(0), 1.5);
    Some(fig)
}

/// The points worth showing one by one: every fixed point and the slow points of lowest q, up to
/// ten in all, in order of q.
pub fn shown_points(f: &biornn_analysis::run::FixedPointAnalysis) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..f.result.points.len()).collect();
    idx.sort_by(|&a, &b| f.result.points[a].q.total_cmp(&f.result.points[b].q));
    let fixed = idx
        .iter()
        .filter(|&&i| f.result.points[i].is_fixed(&f.options))
        .count();
    idx.truncate(fixed.max(10.min(idx.len())));
    idx
}

/// P(choose stimulus 1) against the strength difference, one panel per task, one colour per
/// stimulus duration, with the fitted logistic.
pub fn psychometric(a: &Analysis) -> Option<Figure> {
    if a.psychometric.is_empty() {
        return None;
    }
    let mut rules = vec![];
    for c in &a.psychometric {
        if !rules.contains(&c.rule) {
            rules.push(c.rule);
        }
    }
    let mut fig = Figure::new(60.0 + 300.0 * rules.len() as f64, 310.0);
    for (k, rule) in rules.iter().enumerate() {
        let curves: Vec<_> = a.psychometric.iter().filter(|c| c.rule == *rule).collect();
        let xl = finite_range(curves.iter().flat_map(|c| c.x.iter().copied()));
        let ax = Axes::new(
            (60.0 + 300.0 * k as f64, 30.0, 220.0, 220.0),
            (xl.0 * 1.05, xl.1 * 1.05),
            (0.0, 1.0),
        );
        ax.frame(&mut fig, rule.name(), "stim 1 - stim 2", "P(choose stim 1)");
        let mut entries = vec![];
        for (d, c) in curves.iter().enumerate() {
            let color = palette(d);
            for (x, p) in c.x.iter().zip(c.p_choice1()) {
                if p.is_finite() {
                    let (px, py) = ax.map(*x, p);
                    fig.circle(px, py, 3.0, Some(color), color);
                }
            }
            let label = match c.fit {
                Some(f) => {
                    let xs: Vec<f64> = (0..=100)
                        .map(|i| xl.0 + (xl.1 - xl.0) * i as f64 / 100.0)
                        .collect();
                    let ys: Vec<f64> = xs.iter().map(|x| f.p(*x)).collect();
                    ax.line(&mut fig, &xs, &ys, color, 1.3);
                    format!(
                        "{} ms: bias {:.3}, scale {:.3}",
                        c.duration_ms, f.bias, f.scale
                    )
                }
                None => format!("{} ms: no fit", c.duration_ms),
            };
            entries.push((label, color));
        }
        legend(&mut fig, ax.x + 4.0, ax.y + 14.0, &entries);
    }
    Some(fig)
}

/// Normalised task variance of the active units sorted by cluster, and the silhouette score for
/// each number of clusters.
pub fn clusters(a: &Analysis) -> Option<Figure> {
    let v = a.variance.as_ref()?;
    let cl = &v.clustering;
    let nt = v.tasks.len();
    let units = cl.active.len();
    let mut order: Vec<usize> = (0..units).collect();
    order.sort_by_key(|&i| (cl.labels[i], cl.active[i]));
    let mut data = vec![0.0; nt * units];
    for (col, &i) in order.iter().enumerate() {
        for t in 0..nt {
            data[t * units + col] = cl.normalised[i * nt + t];
        }
    }
    let mut fig = Figure::new(900.0, 120.0 + 18.0 * nt as f64);
    let (x0, y0, w, h) = (110.0, 40.0, 520.0, 18.0 * nt as f64);
    fig.text(
        x0 + w / 2.0,
        22.0,
        &format!(
            "Normalised task variance, {units} active units in {} clusters",
            cl.k
        ),
        12.0,
        Anchor::Middle,
        false,
        Color::BLACK,
    );
    if units > 0 {
        fig.image((x0, y0, w, h), nt, units, &data, viridis);
    }
    for (t, name) in v.tasks.iter().enumerate() {
        fig.text(
            x0 - 5.0,
            y0 + 18.0 * t as f64 + 13.0,
            name,
            10.0,
            Anchor::End,
            false,
            Color::BLACK,
        );
    }
    // cluster bar under the heatmap
    for (col, &i) in order.iter().enumerate() {
        let cw = w / units.max(1) as f64;
        fig.rect(
            x0 + col as f64 * cw,
            y0 + h + 4.0,
            cw + 0.2,
            8.0,
            Some(palette(cl.labels[i])),
            None,
        );
    }
    fig.text(
        x0 + w / 2.0,
        y0 + h + 26.0,
        "units, sorted by cluster",
        10.0,
        Anchor::Middle,
        false,
        Color::BLACK,
    );
    if !cl.scores.is_empty() {
        let ks: Vec<f64> = cl.scores.iter().map(|s| s.0 as f64).collect();
        let ss: Vec<f64> = cl.scores.iter().map(|s| s.1).collect();
        let ax = Axes::new(
            (700.0, 40.0, 170.0, h.max(100.0)),
            finite_range(ks.iter().copied()),
            finite_range(ss.iter().copied()),
        );
        ax.frame(&mut fig, "Silhouette", "clusters", "");
        ax.line(&mut fig, &ks, &ss, palette(0), 1.5);
        let (x, y) = ax.map(
            cl.k as f64,
            ss[cl.scores.iter().position(|s| s.0 == cl.k).unwrap_or(0)],
        );
        fig.circle(x, y, 4.0, Some(palette(3)), palette(3));
    }
    Some(fig)
}

/// The recurrent weights with units sorted by cluster (inactive units last) and, within a cluster,
/// excitatory before inhibitory.
pub fn connectivity(a: &Analysis) -> Option<Figure> {
    let v = a.variance.as_ref()?;
    let n = v.excitatory.len();
    let mut label = vec![usize::MAX; n];
    for (u, l) in v.clustering.active.iter().zip(&v.clustering.labels) {
        label[*u] = *l;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&u| (label[u], !v.excitatory[u], u));
    let mut sorted = vec![0.0; n * n];
    for (r, &i) in order.iter().enumerate() {
        for (c, &j) in order.iter().enumerate() {
            sorted[r * n + c] = v.w_rec[i * n + j] as f64;
        }
    }
    let mut abs: Vec<f64> = sorted.iter().map(|w| w.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let lim = abs[(abs.len() * 95 / 100).min(abs.len() - 1)].max(1e-9);
    let mut fig = Figure::new(460.0, 440.0);
    let (x0, y0, s) = (60.0, 40.0, 340.0);
    fig.text(
        x0 + s / 2.0,
        22.0,
        "Recurrent weights, sorted by cluster and E/I",
        12.0,
        Anchor::Middle,
        false,
        Color::BLACK,
    );
    fig.image((x0, y0, s, s), n, n, &sorted, |w| diverging(w / lim));
    let cell = s / n as f64;
    for (k, &u) in order.iter().enumerate() {
        let c = if label[u] == usize::MAX {
            Color::LIGHT
        } else {
            palette(label[u])
        };
        fig.rect(
            x0 - 10.0,
            y0 + k as f64 * cell,
            6.0,
            cell + 0.2,
            Some(c),
            None,
        );
        fig.rect(
            x0 + k as f64 * cell,
            y0 + s + 4.0,
            cell + 0.2,
            6.0,
            Some(if v.excitatory[u] {
                palette(3)
            } else {
                palette(0)
            }),
            None,
        );
    }
    fig.text(
        x0 + s / 2.0,
        y0 + s + 24.0,
        "presynaptic (bar: red E, blue I)",
        10.0,
        Anchor::Middle,
        false,
        Color::BLACK,
    );
    fig.text(
        x0 - 16.0,
        y0 + s / 2.0,
        "postsynaptic (bar: cluster)",
        10.0,
        Anchor::Middle,
        true,
        Color::BLACK,
    );
    // colour scale
    let scale: Vec<f64> = (0..50).map(|i| 1.0 - i as f64 / 24.5).collect();
    fig.image((x0 + s + 14.0, y0, 10.0, s), 50, 1, &scale, diverging);
    fig.text(
        x0 + s + 28.0,
        y0 + 8.0,
        &format!("{lim:.2}"),
        9.0,
        Anchor::Start,
        false,
        Color::BLACK,
    );
    fig.text(
        x0 + s + 28.0,
        y0 + s,
        &format!("{:.2}", -lim),
        9.0,
        Anchor::Start,
        false,
        Color::BLACK,
    );
    Some(fig)
}

/// Performance per task after silencing each unit set.
pub fn lesions(a: &Analysis) -> Option<Figure> {
    let l = a.lesion.as_ref()?;
    let (rows, cols) = (l.rows.len(), l.tasks.len());
    let mut fig = Figure::new(
        180.0 + 44.0 * cols as f64 + 60.0,
        110.0 + 20.0 * rows as f64,
    );
    let (x0, y0) = (150.0, 40.0);
    fig.text(
        x0 + 22.0 * cols as f64,
        22.0,
        "Performance after lesions",
        12.0,
        Anchor::Middle,
        false,
        Color::BLACK,
    );
    let data: Vec<f64> = l.rows.iter().flat_map(|r| r.2.clone()).collect();
    fig.image(
        (x0, y0, 44.0 * cols as f64, 20.0 * rows as f64),
        rows,
        cols,
        &data,
        viridis,
    );
    for (r, (name, units, perf)) in l.rows.iter().enumerate() {
        fig.text(
            x0 - 5.0,
            y0 + 20.0 * r as f64 + 14.0,
            &format!("{name} ({units})"),
            10.0,
            Anchor::End,
            false,
            Color::BLACK,
        );
        for (c, p) in perf.iter().enumerate() {
            let color = if *p > 0.6 { Color::BLACK } else { Color::WHITE };
            fig.text(
                x0 + 44.0 * c as f64 + 22.0,
                y0 + 20.0 * r as f64 + 14.0,
                &format!("{p:.2}"),
                9.0,
                Anchor::Middle,
                false,
                color,
            );
        }
    }
    for (c, t) in l.tasks.iter().enumerate() {
        fig.text(
            x0 + 44.0 * c as f64 + 26.0,
            y0 + 20.0 * rows as f64 + 6.0,
            t,
            10.0,
            Anchor::End,
            true,
            Color::BLACK,
        );
    }
    Some(fig)
}

/// An autapse network's units: self-weight against the activation's slope, with the curve of loop
/// gain 1 (left), and the histogram of loop gains (right).
pub fn autapse(au: &biornn_analysis::autapse::AutapseResult) -> Figure {
    let mut fig = Figure::new(760.0, 320.0);
    let wmax = au
        .self_weight
        .iter()
        .map(|w| w.abs())
        .fold(1.2f64, f64::max)
        .min(10.0);
    let smax = au.slope.iter().copied().fold(1.2f64, f64::max).min(10.0);
    let ax = Axes::new((60.0, 30.0, 290.0, 240.0), (-wmax, wmax), (0.0, smax));
    ax.frame(&mut fig, "units", "self-weight w_ii", "slope f'(x)");
    // w f' = 1
    let xs: Vec<f64> = (1..=100)
        .map(|k| 1.0 / smax + (wmax - 1.0 / smax) * k as f64 / 100.0)
        .collect();
    let ys: Vec<f64> = xs.iter().map(|x| 1.0 / x).collect();
    ax.line(&mut fig, &xs, &ys, Color::GREY, 1.5);
    for ((w, s), g) in au.self_weight.iter().zip(&au.slope).zip(&au.gain) {
        let (px, py) = ax.map(w.clamp(-wmax, wmax), s.clamp(0.0, smax));
        let c = diverging((g - 1.0).clamp(-1.0, 1.0));
        fig.circle(px, py, 3.0, Some(c), c);
    }
    // histogram of gains in [-1, 3]
    let bins = 40;
    let (lo, hi) = (-1.0, 3.0);
    let mut counts = vec![0usize; bins];
    for g in &au.gain {
        let k = (((g - lo) / (hi - lo)) * bins as f64).floor();
        counts[(k.max(0.0) as usize).min(bins - 1)] += 1;
    }
    let cmax = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let hx = Axes::new((440.0, 30.0, 290.0, 240.0), (lo, hi), (0.0, cmax));
    hx.frame(&mut fig, "loop gain", "g = w_ii f'(x)", "units");
    let bw = (hi - lo) / bins as f64;
    for (k, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let (x0, y0) = hx.map(lo + k as f64 * bw, *c as f64);
        let (x1, y1) = hx.map(lo + (k + 1) as f64 * bw, 0.0);
        fig.rect(x0, y0, x1 - x0, y1 - y0, Some(palette(0)), None);
    }
    hx.line(&mut fig, &[1.0, 1.0], &[0.0, cmax], Color::GREY, 1.0);
    fig
}
