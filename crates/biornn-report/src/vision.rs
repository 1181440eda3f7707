//! The figures of a convolutional network's analysis (CordsNet): each area's recurrent
//! eigenvalues in the complex plane beside the stability line, and the dominant eigenvector's
//! spatial map. Plain numbers in, so it knows nothing of the network.

use crate::plot::{diverging, legend, palette, Axes, Figure};

/// Eigenvalues `(re, im)` of each area's masked recurrent operator D_l W_l, one series per area,
/// with the line Re = 1 past which an area is unstable.
pub fn spectra(areas: &[(String, Vec<(f64, f64)>)]) -> Figure {
    let mut fig = Figure::new(620.0, 360.0);
    let all = areas.iter().flat_map(|(_, v)| v.iter());
    let (mut re, mut im) = ((f64::INFINITY, f64::NEG_INFINITY), (0.0f64, 0.0f64));
    for (r, i) in all {
        re = (re.0.min(*r), re.1.max(*r));
        im = (im.0.min(*i), im.1.max(*i));
    }
    if !re.0.is_finite() {
        re = (-1.0, 1.0);
    }
    let re = (re.0.min(0.0) - 0.1, re.1.max(1.0) + 0.1);
    let span = im.1.max(-im.0).max(0.1) * 1.1;
    let ax = Axes::new((70.0, 30.0, 380.0, 280.0), re, (-span, span));
    ax.frame(&mut fig, "Eigenvalues of each area's D W", "Re", "Im");
    fig.dashed(vec![ax.map(1.0, -span), ax.map(1.0, span)], palette(7), 1.0);
    let mut entries = vec![];
    for (k, (name, values)) in areas.iter().enumerate() {
        for (r, i) in values {
            let (x, y) = ax.map(*r, *i);
            fig.circle(x, y, 2.2, Some(palette(k)), palette(k));
        }
        entries.push((name.clone(), palette(k)));
    }
    entries.push(("Re = 1: stability edge".into(), palette(7)));
    legend(&mut fig, 470.0, 40.0, &entries);
    fig
}

/// A map `[h][w]` of values (an eigenvector summed over channels), centred at 0.
pub fn spatial_map(title: &str, values: &[f64], h: usize, w: usize) -> Figure {
    let side = 240.0;
    let (fw, fh) = if w >= h {
        (side, side * h as f64 / w.max(1) as f64)
    } else {
        (side * w as f64 / h.max(1) as f64, side)
    };
    let mut fig = Figure::new(fw + 120.0, fh + 80.0);
    let scale = values
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let ax = Axes::new((60.0, 30.0, fw, fh), (0.0, w as f64), (0.0, h as f64));
    // row 0 at the top, as an image
    fig.image((60.0, 30.0, fw, fh), h, w, values, |v| {
        diverging(0.5 + 0.5 * v / scale)
    });
    ax.frame(&mut fig, title, "x", "y");
    fig
}
