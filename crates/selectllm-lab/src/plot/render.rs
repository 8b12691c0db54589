//! One renderer for both back ends: it lays a [`Chart`] out (ranges, ticks, margins, legend,
//! label placement) and draws it through the [`Painter`] trait, which the SVG writer and the
//! raster canvas implement. Coordinates are pixels, y pointing down.

use super::layout::{Axis, legend_rows, place_label};
use super::{Chart, Rgb, SeriesKind};

pub(crate) const BACKGROUND: Rgb = [255, 255, 255];
const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [228, 228, 228];
const REFERENCE: Rgb = [150, 150, 150];
/// Tableau-10 colours and two more, assigned to series in order.
const PALETTE: [Rgb; 12] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [0, 0, 128],
    [128, 0, 0],
];

/// Text sizes; each back end maps them to a font size (SVG) or a glyph scale (raster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    Small,
    Normal,
    Title,
}

/// Horizontal anchoring of a text at its position (vertically, text is centred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// Drawing primitives a back end provides.
pub(crate) trait Painter {
    /// Canvas width and height.
    fn size(&self) -> (f64, f64);
    /// Advance width and height of one character.
    fn char_size(&self, size: Size) -> (f64, f64);
    fn rect(&mut self, at: (f64, f64), wh: (f64, f64), fill: Rgb);
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64, dashed: bool);
    fn circle(&mut self, c: (f64, f64), r: f64, fill: Rgb);
    /// `vertical` text reads bottom to top, centred on `at`.
    fn text(
        &mut self,
        at: (f64, f64),
        s: &str,
        size: Size,
        anchor: Anchor,
        color: Rgb,
        vertical: bool,
    );

    fn text_width(&self, s: &str, size: Size) -> f64 {
        self.char_size(size).0 * s.chars().count() as f64
    }
}

fn series_color(kind: SeriesKind, color: Option<Rgb>, index: usize) -> Rgb {
    color.unwrap_or(match kind {
        SeriesKind::Dashed => REFERENCE,
        _ => PALETTE[index % PALETTE.len()],
    })
}

/// Draws `chart` on `p`.
pub(crate) fn render(chart: &Chart, p: &mut dyn Painter) {
    let (w, h) = p.size();
    let (cw, ch) = p.char_size(Size::Normal);
    let (_, th) = p.char_size(Size::Title);
    let (sw, sh) = p.char_size(Size::Small);
    let pts = || chart.series.iter().flat_map(|s| s.points.iter());
    let xa = Axis::new(pts().map(|q| q.x), chart.x_range);
    let ya = Axis::new(
        pts().flat_map(|q| [Some(q.y), q.y_low, q.y_high]).flatten(),
        chart.y_range,
    );
    p.rect((0.0, 0.0), (w, h), BACKGROUND);

    // legend rows (below the x-axis label), wrapped to the canvas width
    let pad = ch;
    let entries: Vec<(usize, f64)> = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.is_empty())
        .map(|(i, s)| (i, 2.5 * cw + p.text_width(&s.name, Size::Normal) + 1.5 * cw))
        .collect();
    let rows = legend_rows(&entries, w - 2.0 * pad);

    let ytick_w = ya
        .ticks
        .iter()
        .map(|v| p.text_width(&ya.label(*v), Size::Normal))
        .fold(0.0, f64::max);
    let left = pad + ch + 0.8 * cw + ytick_w + 0.8 * cw;
    let right = w - 2.0 * pad;
    let top = th * 2.5;
    let legend_h = rows.len() as f64 * ch * 1.6;
    let bottom = h - (4.0 * ch + legend_h + 0.6 * ch);
    let px = |x: f64| left + (x - xa.lo) / (xa.hi - xa.lo) * (right - left);
    let py = |y: f64| bottom - (y - ya.lo) / (ya.hi - ya.lo) * (bottom - top);

    // grid, ticks, frame
    for &v in &xa.ticks {
        let x = px(v);
        p.line((x, top), (x, bottom), GRID, 1.0, false);
        p.line((x, bottom), (x, bottom + 0.4 * ch), INK, 1.0, false);
        p.text(
            (x, bottom + 1.3 * ch),
            &xa.label(v),
            Size::Normal,
            Anchor::Middle,
            INK,
            false,
        );
    }
    for &v in &ya.ticks {
        let y = py(v);
        p.line((left, y), (right, y), GRID, 1.0, false);
        p.line((left - 0.4 * cw, y), (left, y), INK, 1.0, false);
        p.text(
            (left - 0.8 * cw, y),
            &ya.label(v),
            Size::Normal,
            Anchor::End,
            INK,
            false,
        );
    }
    for (a, b) in [
        ((left, top), (right, top)),
        ((right, top), (right, bottom)),
        ((right, bottom), (left, bottom)),
        ((left, bottom), (left, top)),
    ] {
        p.line(a, b, INK, 1.5, false);
    }
    let (title, size) = fit(p, &chart.title, w - 2.0 * pad);
    p.text(
        (w / 2.0, th * 1.2),
        &title,
        size,
        Anchor::Middle,
        INK,
        false,
    );
    let xl_y = bottom + 3.0 * ch;
    p.text(
        ((left + right) / 2.0, xl_y),
        &chart.x_label,
        Size::Normal,
        Anchor::Middle,
        INK,
        false,
    );
    p.text(
        (pad + ch / 2.0, (top + bottom) / 2.0),
        &chart.y_label,
        Size::Normal,
        Anchor::Middle,
        INK,
        true,
    );

    // series: lines first, then error bars and markers
    let r = (ch * 0.4).max(3.0);
    for (i, s) in chart.series.iter().enumerate() {
        let color = series_color(s.kind, s.color, i);
        if matches!(s.kind, SeriesKind::Line | SeriesKind::Dashed) {
            let dashed = s.kind == SeriesKind::Dashed;
            for pair in s.points.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                if [a.x, a.y, b.x, b.y].iter().all(|v| v.is_finite()) {
                    p.line((px(a.x), py(a.y)), (px(b.x), py(b.y)), color, 2.0, dashed);
                }
            }
        }
    }
    let mut placed: Vec<[f64; 4]> = Vec::new();
    // scatter markers already drawn, to dodge one that would hide another
    let mut centers: Vec<(f64, f64)> = Vec::new();
    for (i, s) in chart.series.iter().enumerate() {
        let color = series_color(s.kind, s.color, i);
        for q in s
            .points
            .iter()
            .filter(|q| q.x.is_finite() && q.y.is_finite())
        {
            let (mut x, y) = (px(q.x), py(q.y));
            if s.kind == SeriesKind::Scatter {
                let shift = dodge(&centers, (x, y), r);
                centers.push((x, y));
                x += shift;
            }
            if let (Some(lo), Some(hi)) = (q.y_low, q.y_high) {
                let (a, b) = (py(lo), py(hi));
                p.line((x, a), (x, b), color, 1.0, false);
                p.line((x - r * 0.8, a), (x + r * 0.8, a), color, 1.0, false);
                p.line((x - r * 0.8, b), (x + r * 0.8, b), color, 1.0, false);
            }
            match s.kind {
                SeriesKind::Scatter => {
                    p.circle((x, y), r + 1.0, BACKGROUND);
                    p.circle((x, y), r, color);
                }
                SeriesKind::Line => p.circle((x, y), r * 0.6, color),
                SeriesKind::Dashed => {}
            }
            placed.push([x - r, y - r, x + r, y + r]);
        }
    }
    // labels beside points: right, else left, nudged up/down to avoid overlaps
    for s in &chart.series {
        for q in s.points.iter().filter(|q| !q.label.is_empty()) {
            if !(q.x.is_finite() && q.y.is_finite()) {
                continue;
            }
            let (x, y) = (px(q.x), py(q.y));
            let tw = p.text_width(&q.label, Size::Small);
            let frame = [left, top, right, bottom];
            let bx = place_label((x, y), r + 0.5 * sw, (tw, sh), frame, &placed);
            let ly = (bx[1] + bx[3]) / 2.0;
            if (ly - y).abs() > sh * 0.9 {
                // moved away from its marker: a thin leader line from the marker to the label
                let lx = if bx[0] > x {
                    bx[0] - 0.2 * sw
                } else {
                    bx[2] + 0.2 * sw
                };
                p.line((x, y), (lx, ly), REFERENCE, 1.0, false);
            }
            p.text(
                (bx[0], (bx[1] + bx[3]) / 2.0),
                &q.label,
                Size::Small,
                Anchor::Start,
                INK,
                false,
            );
            placed.push(bx);
        }
    }

    // legend
    for (k, row) in rows.iter().enumerate() {
        let total: f64 = row.iter().map(|(_, ew)| ew).sum();
        let mut x = (w - total) / 2.0;
        let y = xl_y + 2.0 * ch + k as f64 * ch * 1.6;
        for &(i, ew) in row {
            let s = &chart.series[i];
            let color = series_color(s.kind, s.color, i);
            match s.kind {
                SeriesKind::Scatter => p.circle((x + cw, y), r, color),
                kind => p.line(
                    (x, y),
                    (x + 2.0 * cw, y),
                    color,
                    2.0,
                    kind == SeriesKind::Dashed,
                ),
            }
            p.text(
                (x + 2.5 * cw, y),
                &s.name,
                Size::Normal,
                Anchor::Start,
                INK,
                false,
            );
            x += ew;
        }
    }
}

/// The title at [`Size::Title`] if it fits in `max_w`, else at [`Size::Normal`], cut with
/// `...` if it still does not fit.
fn fit(p: &dyn Painter, title: &str, max_w: f64) -> (String, Size) {
    if p.text_width(title, Size::Title) <= max_w {
        return (title.to_string(), Size::Title);
    }
    let cw = p.char_size(Size::Normal).0;
    let max_chars = (max_w / cw).floor().max(3.0) as usize;
    if title.chars().count() <= max_chars {
        return (title.to_string(), Size::Normal);
    }
    let cut: String = title.chars().take(max_chars - 3).collect();
    (cut + "...", Size::Normal)
}

/// Horizontal shift for a scatter marker at `at` (its undodged place) so it does not hide the
/// markers already drawn there (`drawn`: their undodged places), as rows with identical
/// figures would (two policies that pick the same members): the second moves 1.2 radii right,
/// the third 1.2 radii left, any more stay in the middle. Its error bar moves with it; the axis
/// value is unchanged.
pub(super) fn dodge(drawn: &[(f64, f64)], at: (f64, f64), r: f64) -> f64 {
    let same = drawn
        .iter()
        .filter(|c| (c.0 - at.0).abs() < 0.5 * r && (c.1 - at.1).abs() < 0.5 * r)
        .count();
    match same {
        1 => 1.2 * r,
        2 => -1.2 * r,
        // no further: a pile of identical rows (plan rows on small data) would spread into a
        // band that misstates the axis value; past three they stay stacked in the middle
        _ => 0.0,
    }
}
