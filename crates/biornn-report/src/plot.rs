//! A small plotting layer: a figure is a list of shapes in pixel coordinates, drawn either as SVG
//! text or rasterised to PNG (tiny-skia). Text is turned into glyph outlines from Noto Sans, which is
//! compiled into the binary, so a figure looks the same everywhere and depends on no system font.

use std::fmt::Write as _;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    pub const BLACK: Color = Color(0, 0, 0);
    pub const GREY: Color = Color(150, 150, 150);
    pub const LIGHT: Color = Color(225, 225, 225);
    pub const WHITE: Color = Color(255, 255, 255);

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Ten distinguishable colours (matplotlib's tab10), for lines and categories.
pub fn palette(i: usize) -> Color {
    const P: [Color; 10] = [
        Color(31, 119, 180),
        Color(255, 127, 14),
        Color(44, 160, 44),
        Color(214, 39, 40),
        Color(148, 103, 189),
        Color(140, 86, 75),
        Color(227, 119, 194),
        Color(127, 127, 127),
        Color(188, 189, 34),
        Color(23, 190, 207),
    ];
    P[i % P.len()]
}

fn lerp_stops(stops: &[(f64, Color)], t: f64) -> Color {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let u = (t - t0) / (t1 - t0);
            let mix = |a: u8, b: u8| (a as f64 + u * (b as f64 - a as f64)).round() as u8;
            return Color(mix(c0.0, c1.0), mix(c0.1, c1.1), mix(c0.2, c1.2));
        }
    }
    stops[stops.len() - 1].1
}

/// Sequential colour map (viridis' control points) for t in [0, 1].
pub fn viridis(t: f64) -> Color {
    lerp_stops(
        &[
            (0.0, Color(68, 1, 84)),
            (0.25, Color(59, 82, 139)),
            (0.5, Color(33, 145, 140)),
            (0.75, Color(94, 201, 98)),
            (1.0, Color(253, 231, 37)),
        ],
        t,
    )
}

/// Diverging colour map, blue - white - red, for t in [-1, 1].
pub fn diverging(t: f64) -> Color {
    lerp_stops(
        &[
            (0.0, Color(33, 102, 172)),
            (0.5, Color(247, 247, 247)),
            (1.0, Color(178, 24, 43)),
        ],
        (t + 1.0) / 2.0,
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone)]
enum Shape {
    Polyline {
        points: Vec<(f64, f64)>,
        color: Color,
        width: f64,
        dashed: bool,
    },
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Color>,
        stroke: Option<Color>,
    },
    Circle {
        x: f64,
        y: f64,
        r: f64,
        fill: Option<Color>,
        stroke: Color,
    },
    /// text already turned into outline segments
    Glyphs { path: Vec<Seg>, color: Color },
    /// a raster of `cols x rows` RGB cells stretched over the rectangle (heatmaps)
    Image {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        cols: usize,
        rows: usize,
        rgb: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    Move(f64, f64),
    Line(f64, f64),
    Quad(f64, f64, f64, f64),
    Cubic(f64, f64, f64, f64, f64, f64),
    Close,
}

/// A figure: shapes on a white canvas of `width x height` pixels.
#[derive(Debug, Clone)]
pub struct Figure {
    pub width: f64,
    pub height: f64,
    shapes: Vec<Shape>,
}

fn font() -> &'static ttf_parser::Face<'static> {
    static FACE: OnceLock<ttf_parser::Face<'static>> = OnceLock::new();
    FACE.get_or_init(|| {
        ttf_parser::Face::parse(ttf_noto_sans::REGULAR, 0).expect("the embedded font parses")
    })
}

struct Outline<'a> {
    segs: &'a mut Vec<Seg>,
    map: &'a dyn Fn(f64, f64) -> (f64, f64),
}

impl ttf_parser::OutlineBuilder for Outline<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (a, b) = (self.map)(x as f64, y as f64);
        self.segs.push(Seg::Move(a, b));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (a, b) = (self.map)(x as f64, y as f64);
        self.segs.push(Seg::Line(a, b));
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (a, b) = (self.map)(x1 as f64, y1 as f64);
        let (c, d) = (self.map)(x as f64, y as f64);
        self.segs.push(Seg::Quad(a, b, c, d));
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (a, b) = (self.map)(x1 as f64, y1 as f64);
        let (c, d) = (self.map)(x2 as f64, y2 as f64);
        let (e, f) = (self.map)(x as f64, y as f64);
        self.segs.push(Seg::Cubic(a, b, c, d, e, f));
    }
    fn close(&mut self) {
        self.segs.push(Seg::Close);
    }
}

/// Width of `text` at `size` pixels.
pub fn text_width(text: &str, size: f64) -> f64 {
    let face = font();
    let scale = size / face.units_per_em() as f64;
    text.chars()
        .map(|c| {
            face.glyph_index(c)
                .and_then(|g| face.glyph_hor_advance(g))
                .unwrap_or(face.units_per_em() / 2) as f64
                * scale
        })
        .sum()
}

impl Figure {
    pub fn new(width: f64, height: f64) -> Figure {
        Figure {
            width,
            height,
            shapes: vec![],
        }
    }

    pub fn polyline(&mut self, points: Vec<(f64, f64)>, color: Color, width: f64) {
        self.shapes.push(Shape::Polyline {
            points,
            color,
            width,
            dashed: false,
        });
    }

    pub fn dashed(&mut self, points: Vec<(f64, f64)>, color: Color, width: f64) {
        self.shapes.push(Shape::Polyline {
            points,
            color,
            width,
            dashed: true,
        });
    }

    pub fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Color>,
        stroke: Option<Color>,
    ) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        });
    }

    pub fn circle(&mut self, x: f64, y: f64, r: f64, fill: Option<Color>, stroke: Color) {
        self.shapes.push(Shape::Circle {
            x,
            y,
            r,
            fill,
            stroke,
        });
    }

    /// A heatmap: `values` row-major `rows x cols`, coloured by `color`.
    pub fn image(
        &mut self,
        rect: (f64, f64, f64, f64),
        rows: usize,
        cols: usize,
        values: &[f64],
        color: impl Fn(f64) -> Color,
    ) {
        let mut rgb = Vec::with_capacity(rows * cols * 3);
        for v in values.iter().take(rows * cols) {
            let c = color(*v);
            rgb.extend([c.0, c.1, c.2]);
        }
        self.shapes.push(Shape::Image {
            x: rect.0,
            y: rect.1,
            w: rect.2,
            h: rect.3,
            cols,
            rows,
            rgb,
        });
    }

    /// Text with its baseline at y; `vertical` turns it to read upwards.
    // a text's position, content and style are all its own: a struct would only rename them
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        x: f64,
        y: f64,
        text: &str,
        size: f64,
        anchor: Anchor,
        vertical: bool,
        color: Color,
    ) {
        let face = font();
        let scale = size / face.units_per_em() as f64;
        let width = text_width(text, size);
        let shift = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -width / 2.0,
            Anchor::End => -width,
        };
        let mut segs = vec![];
        let mut pen = shift;
        for c in text.chars() {
            let Some(g) = face.glyph_index(c) else {
                pen += size / 2.0;
                continue;
            };
            let origin = pen;
            // (u along the baseline, v up) -> screen
            let map = move |gx: f64, gy: f64| {
                let (u, v) = (origin + gx * scale, gy * scale);
                if vertical {
                    (x - v, y - u)
                } else {
                    (x + u, y - v)
                }
            };
            let _ = face.outline_glyph(
                g,
                &mut Outline {
                    segs: &mut segs,
                    map: &map,
                },
            );
            pen += face.glyph_hor_advance(g).unwrap_or(0) as f64 * scale;
        }
        self.shapes.push(Shape::Glyphs { path: segs, color });
    }

    /// The figure as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="white"/>"#,
            w = self.width,
            h = self.height
        );
        for shape in &self.shapes {
            match shape {
                Shape::Polyline {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .map(|(x, y)| format!("{x:.2},{y:.2}"))
                        .collect();
                    let _ = write!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round"{}/>"#,
                        pts.join(" "),
                        color.hex(),
                        if *dashed {
                            r#" stroke-dasharray="4 3""#
                        } else {
                            ""
                        }
                    );
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{}" stroke="{}"/>"#,
                        fill.map_or("none".into(), |c| c.hex()),
                        stroke.map_or("none".into(), |c| c.hex())
                    );
                }
                Shape::Circle {
                    x,
                    y,
                    r,
                    fill,
                    stroke,
                } => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{x:.2}" cy="{y:.2}" r="{r}" fill="{}" stroke="{}"/>"#,
                        fill.map_or("none".into(), |c| c.hex()),
                        stroke.hex()
                    );
                }
                Shape::Glyphs { path, color } => {
                    let mut d = String::new();
                    for seg in path {
                        let _ = match *seg {
                            Seg::Move(x, y) => write!(d, "M{x:.2} {y:.2}"),
                            Seg::Line(x, y) => write!(d, "L{x:.2} {y:.2}"),
                            Seg::Quad(a, b, x, y) => write!(d, "Q{a:.2} {b:.2} {x:.2} {y:.2}"),
                            Seg::Cubic(a, b, c, e, x, y) => {
                                write!(d, "C{a:.2} {b:.2} {c:.2} {e:.2} {x:.2} {y:.2}")
                            }
                            Seg::Close => write!(d, "Z"),
                        };
                    }
                    let _ = write!(s, r#"<path d="{d}" fill="{}"/>"#, color.hex());
                }
                Shape::Image {
                    x,
                    y,
                    w,
                    h,
                    cols,
                    rows,
                    rgb,
                } => {
                    let png = encode_png_rgb(*cols, *rows, rgb);
                    let _ = write!(
                        s,
                        r#"<image x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,{}"/>"#,
                        base64(&png)
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }

    /// The figure rasterised, as PNG bytes (`scale` pixels per figure unit).
    pub fn to_png(&self, scale: f64) -> Vec<u8> {
        use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform};
        let (pw, ph) = (
            (self.width * scale).ceil() as u32,
            (self.height * scale).ceil() as u32,
        );
        let mut pix = Pixmap::new(pw.max(1), ph.max(1)).expect("figure size is positive");
        pix.fill(tiny_skia::Color::WHITE);
        let t = Transform::from_scale(scale as f32, scale as f32);
        let paint_of = |c: Color| {
            let mut p = Paint::default();
            p.set_color_rgba8(c.0, c.1, c.2, 255);
            p.anti_alias = true;
            p
        };
        for shape in &self.shapes {
            match shape {
                Shape::Polyline {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let mut pb = PathBuilder::new();
                    let mut first = true;
                    for &(x, y) in points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
                        if first {
                            pb.move_to(x as f32, y as f32);
                            first = false;
                        } else {
                            pb.line_to(x as f32, y as f32);
                        }
                    }
                    if let Some(path) = pb.finish() {
                        let mut stroke = Stroke {
                            width: *width as f32,
                            line_join: tiny_skia::LineJoin::Round,
                            ..Stroke::default()
                        };
                        if *dashed {
                            stroke.dash = StrokeDash::new(vec![4.0, 3.0], 0.0);
                        }
                        pix.stroke_path(&path, &paint_of(*color), &stroke, t, None);
                    }
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    if let Some(r) = tiny_skia::Rect::from_xywh(
                        *x as f32,
                        *y as f32,
                        w.max(0.01) as f32,
                        h.max(0.01) as f32,
                    ) {
                        let path = PathBuilder::from_rect(r);
                        if let Some(f) = fill {
                            pix.fill_path(&path, &paint_of(*f), FillRule::Winding, t, None);
                        }
                        if let Some(c) = stroke {
                            pix.stroke_path(&path, &paint_of(*c), &Stroke::default(), t, None);
                        }
                    }
                }
                Shape::Circle {
                    x,
                    y,
                    r,
                    fill,
                    stroke,
                } => {
                    if let Some(path) = PathBuilder::from_circle(*x as f32, *y as f32, *r as f32) {
                        if let Some(f) = fill {
                            pix.fill_path(&path, &paint_of(*f), FillRule::Winding, t, None);
                        }
                        pix.stroke_path(&path, &paint_of(*stroke), &Stroke::default(), t, None);
                    }
                }
                Shape::Glyphs { path, color } => {
                    let mut pb = PathBuilder::new();
                    for seg in path {
                        match *seg {
                            Seg::Move(x, y) => pb.move_to(x as f32, y as f32),
                            Seg::Line(x, y) => pb.line_to(x as f32, y as f32),
                            Seg::Quad(a, b, x, y) => {
                                pb.quad_to(a as f32, b as f32, x as f32, y as f32)
                            }
                            Seg::Cubic(a, b, c, d, x, y) => pb.cubic_to(
                                a as f32, b as f32, c as f32, d as f32, x as f32, y as f32,
                            ),
                            Seg::Close => pb.close(),
                        }
                    }
                    if let Some(p) = pb.finish() {
                        pix.fill_path(&p, &paint_of(*color), FillRule::Winding, t, None);
                    }
                }
                Shape::Image {
                    x,
                    y,
                    w,
                    h,
                    cols,
                    rows,
                    rgb,
                } => {
                    // nearest-neighbour cells, drawn as rectangles
                    let (cw, chh) = (w / *cols as f64, h / *rows as f64);
                    for r in 0..*rows {
                        for c in 0..*cols {
                            let k = (r * cols + c) * 3;
                            let col = Color(rgb[k], rgb[k + 1], rgb[k + 2]);
                            if let Some(rect) = tiny_skia::Rect::from_xywh(
                                (x + c as f64 * cw) as f32,
                                (y + r as f64 * chh) as f32,
                                (cw + 0.05) as f32,
                                (chh + 0.05) as f32,
                            ) {
                                let mut p = paint_of(col);
                                p.anti_alias = false;
                                pix.fill_rect(rect, &p, t, None);
                            }
                        }
                    }
                }
            }
        }
        // opaque white background, so the premultiplied pixels are the plain ones
        let rgb: Vec<u8> = pix
            .data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        encode_png_rgb(pw as usize, ph as usize, &rgb)
    }
}

/// PNG from 8-bit RGB pixels, row by row.
pub fn encode_png_rgb(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(height * (1 + width * 3));
    for row in rgb.chunks_exact(width * 3).take(height) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6);
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend(biornn_numerics::npz::crc32(&body).to_be_bytes());
    };
    let mut ihdr = vec![];
    ihdr.extend((width as u32).to_be_bytes());
    ihdr.extend((height as u32).to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    out
}

pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Round tick positions covering [lo, hi], about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return vec![lo];
    }
    // the finest 1-2-5 step that gives at most n + 1 ticks
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor() - 1.0);
    let count = |s: f64| ((hi / s).floor() - (lo / s).ceil()) as usize + 1;
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| count(*s) <= n + 1)
        .unwrap_or(100.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Tick label: as few digits as the spacing needs.
pub fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        // as many mantissa digits as the spacing needs: 1.5e6 between 1e6 and 2e6, not 2e6
        let decimals = (v.abs().log10().floor() - step.abs().log10().floor()).max(0.0) as usize;
        return format!("{v:.decimals$e}");
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil().max(0.0) as usize
    };
    format!("{v:.decimals$}")
}

/// A rectangular plot area with data limits: maps data to pixels and draws its frame.
#[derive(Debug, Clone, Copy)]
pub struct Axes {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub xlim: (f64, f64),
    pub ylim: (f64, f64),
}

impl Axes {
    pub fn new(rect: (f64, f64, f64, f64), xlim: (f64, f64), ylim: (f64, f64)) -> Axes {
        let widen = |(a, b): (f64, f64)| {
            if !(a.is_finite() && b.is_finite()) {
                (0.0, 1.0)
            } else if b > a {
                (a, b)
            } else {
                (a - 0.5, a + 0.5)
            }
        };
        Axes {
            x: rect.0,
            y: rect.1,
            w: rect.2,
            h: rect.3,
            xlim: widen(xlim),
            ylim: widen(ylim),
        }
    }

    pub fn px(&self, x: f64) -> f64 {
        self.x + (x - self.xlim.0) / (self.xlim.1 - self.xlim.0) * self.w
    }

    pub fn py(&self, y: f64) -> f64 {
        self.y + self.h - (y - self.ylim.0) / (self.ylim.1 - self.ylim.0) * self.h
    }

    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        (self.px(x), self.py(y))
    }

    /// Frame, ticks, tick labels, axis labels and title.
    pub fn frame(&self, fig: &mut Figure, title: &str, xlabel: &str, ylabel: &str) {
        self.frame_with(fig, title, xlabel, ylabel, true)
    }

    /// As [`Axes::frame`] without x ticks, for categories along x.
    pub fn frame_categorical(&self, fig: &mut Figure, title: &str, ylabel: &str) {
        self.frame_with(fig, title, "", ylabel, false)
    }

    fn frame_with(&self, fig: &mut Figure, title: &str, xlabel: &str, ylabel: &str, x_ticks: bool) {
        fig.rect(self.x, self.y, self.w, self.h, None, Some(Color::GREY));
        let xt = if x_ticks {
            ticks(self.xlim.0, self.xlim.1, 5)
        } else {
            vec![]
        };
        let xs = if xt.len() > 1 { xt[1] - xt[0] } else { 1.0 };
        for v in &xt {
            let p = self.px(*v);
            fig.polyline(
                vec![(p, self.y + self.h), (p, self.y + self.h + 4.0)],
                Color::GREY,
                1.0,
            );
            fig.text(
                p,
                self.y + self.h + 15.0,
                &tick_label(*v, xs),
                10.0,
                Anchor::Middle,
                false,
                Color::BLACK,
            );
        }
        let yt = ticks(self.ylim.0, self.ylim.1, 4);
        let ys = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
        for v in &yt {
            let p = self.py(*v);
            fig.polyline(vec![(self.x - 4.0, p), (self.x, p)], Color::GREY, 1.0);
            fig.text(
                self.x - 6.0,
                p + 3.5,
                &tick_label(*v, ys),
                10.0,
                Anchor::End,
                false,
                Color::BLACK,
            );
        }
        if !title.is_empty() {
            fig.text(
                self.x + self.w / 2.0,
                self.y - 8.0,
                title,
                12.0,
                Anchor::Middle,
                false,
                Color::BLACK,
            );
        }
        if !xlabel.is_empty() {
            fig.text(
                self.x + self.w / 2.0,
                self.y + self.h + 30.0,
                xlabel,
                11.0,
                Anchor::Middle,
                false,
                Color::BLACK,
            );
        }
        if !ylabel.is_empty() {
            fig.text(
                self.x - 38.0,
                self.y + self.h / 2.0,
                ylabel,
                11.0,
                Anchor::Middle,
                true,
                Color::BLACK,
            );
        }
    }

    /// A data line, clipped to the y limits by clamping.
    pub fn line(&self, fig: &mut Figure, xs: &[f64], ys: &[f64], color: Color, width: f64) {
        let pts = xs
            .iter()
            .zip(ys)
            .map(|(x, y)| (self.px(*x), self.py(y.clamp(self.ylim.0, self.ylim.1))))
            .collect();
        fig.polyline(pts, color, width);
    }
}

/// A legend of coloured entries, top-left at (x, y).
pub fn legend(fig: &mut Figure, x: f64, y: f64, entries: &[(String, Color)]) {
    for (i, (name, color)) in entries.iter().enumerate() {
        let yy = y + 14.0 * i as f64;
        fig.polyline(vec![(x, yy - 4.0), (x + 14.0, yy - 4.0)], *color, 2.0);
        fig.text(x + 18.0, yy, name, 10.0, Anchor::Start, false, Color::BLACK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_not_too_many() {
        assert_eq!(ticks(-4.1, 4.58, 4), vec![-4.0, -2.0, 0.0, 2.0, 4.0]);
        assert_eq!(ticks(0.0, 1.0, 4), vec![0.0, 0.5, 1.0]);
        assert_eq!(
            ticks(0.0, 2600.0, 5),
            vec![0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0]
        );
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
        assert_eq!(tick_label(1.5e6, 5e5), "1.5e6");
        assert_eq!(tick_label(5e5, 5e5), "5e5");
        assert_eq!(tick_label(2e6, 1e6), "2e6");
    }

    #[test]
    fn png_and_base64_encode_correctly() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        let png = encode_png_rgb(2, 1, &[255, 0, 0, 0, 0, 255]);
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 2);
        // the pixel data comes back out of the zlib stream
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&png[41..41 + idat_len]).unwrap();
        assert_eq!(raw, vec![0, 255, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn text_becomes_outlines_in_both_renderers() {
        let mut fig = Figure::new(100.0, 40.0);
        fig.text(10.0, 30.0, "Hi", 20.0, Anchor::Start, false, Color::BLACK);
        let svg = fig.to_svg();
        assert!(
            svg.contains("<path d=\"M") && !svg.contains("<text"),
            "{svg}"
        );
        assert!(text_width("Hi", 20.0) > 10.0);
        // the raster has dark pixels where the glyphs are
        let png = fig.to_png(1.0);
        assert!(png.len() > 60);
    }
}
