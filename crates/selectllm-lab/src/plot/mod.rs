//! Plots as SVG and PNG, with no plotting crate and no system fonts: the SVG is written by
//! hand and carries the embedded DejaVu Sans (`font`); the PNG is drawn on a small raster
//! canvas of our own (lines, markers, text in that font, rasterized with `ab_glyph`) and
//! encoded with the `png` crate. Both come from one renderer (`render`) and measure text with
//! the same font, so they show the same thing.
//!
//! ```no_run
//! use selectllm_lab::plot::{accuracy_chart, write, Point};
//! let pts = vec![Point::new("all", 7.0, 0.78, "baseline"), Point::new("maxconf:1", 1.0, 0.72, "maxconf")];
//! let chart = accuracy_chart("GSM8K", "mean calls", pts);
//! write(std::path::Path::new("out/accuracy"), &chart)?; // out/accuracy.svg + out/accuracy.png
//! # Ok::<(), selectllm_lab::plot::PlotError>(())
//! ```

mod font;
mod layout;
mod raster;
mod render;
mod report;
mod svg;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod xml_check;

use std::path::{Path, PathBuf};

use crate::data::{DataError, write_atomic};
pub use report::write_report_plots;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Errors of plotting: writing the files, or encoding the PNG.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(transparent)]
    Write(#[from] DataError),
    #[error("encoding PNG: {0}")]
    Png(#[from] ::png::EncodingError),
}

/// One data point; `y_low`/`y_high` draw an error bar, `label` is written beside the point,
/// `group` decides the series in [`accuracy_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub y_low: Option<f64>,
    pub y_high: Option<f64>,
    pub group: String,
}

impl Point {
    pub fn new(label: impl Into<String>, x: f64, y: f64, group: impl Into<String>) -> Point {
        Point {
            label: label.into(),
            x,
            y,
            y_low: None,
            y_high: None,
            group: group.into(),
        }
    }

    /// With an error bar from `low` to `high`.
    pub fn with_interval(mut self, low: f64, high: f64) -> Point {
        (self.y_low, self.y_high) = (Some(low), Some(high));
        self
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Markers only.
    Scatter,
    /// Points joined in the given order, with small markers.
    Line,
    /// A dashed reference line (grey unless coloured), no markers.
    Dashed,
}

/// A named set of points; series with an empty name are left out of the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    pub kind: SeriesKind,
    /// `None`: the next colour of the palette (grey for [`SeriesKind::Dashed`]).
    pub color: Option<Rgb>,
}

impl Series {
    pub fn new(name: impl Into<String>, kind: SeriesKind, points: Vec<Point>) -> Series {
        Series {
            name: name.into(),
            points,
            kind,
            color: None,
        }
    }
}

/// A chart: title, axis labels, series; axis ranges are fitted to the data unless fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
}

impl Chart {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
        }
    }
}

/// Indices of the points on the Pareto front (maximise y, minimise x), by increasing x. A
/// point is on it when no other point has x <= its x and y >= its y with one strictly
/// better; of identical points only the first counts. Points with a non-finite x or y are
/// ignored.
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].x.is_finite() && points[i].y.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        let (p, q) = (&points[a], &points[b]);
        p.x.total_cmp(&q.x)
            .then(q.y.total_cmp(&p.y))
            .then(a.cmp(&b))
    });
    let mut best = f64::NEG_INFINITY;
    let mut front = Vec::new();
    for i in order {
        if points[i].y > best {
            best = points[i].y;
            front.push(i);
        }
    }
    front
}

/// Accuracy against a cost (calls, latency, price): one scatter series per `group` (in
/// order of first appearance), each point labelled, and the Pareto front as a black line.
pub fn accuracy_chart(title: &str, x_label: &str, points: Vec<Point>) -> Chart {
    let mut chart = Chart::new(title, x_label, "accuracy");
    let front: Vec<Point> = pareto_front(&points)
        .into_iter()
        .map(|i| Point {
            label: String::new(),
            y_low: None,
            y_high: None,
            ..points[i].clone()
        })
        .collect();
    if !front.is_empty() {
        let mut line = Series::new("Pareto front", SeriesKind::Line, front);
        line.color = Some([20, 20, 20]);
        chart.series.push(line);
    }
    for p in points {
        match chart
            .series
            .iter_mut()
            .find(|s| s.kind == SeriesKind::Scatter && s.name == p.group)
        {
            Some(s) => s.points.push(p),
            None => chart
                .series
                .push(Series::new(p.group.clone(), SeriesKind::Scatter, vec![p])),
        }
    }
    chart
}

/// One reliability curve: its name and its bins `(mean confidence, accuracy, count)`.
pub type Curve<'a> = (&'a str, &'a [(f64, f64, usize)]);

/// A reliability diagram: observed accuracy against mean confidence per bin, one line per
/// curve (e.g. `[("before", ..), ("after", ..)]` around calibration; empty bins are skipped),
/// with the diagonal of perfect calibration. Both axes run 0..1.
pub fn reliability_chart(title: &str, curves: &[Curve<'_>]) -> Chart {
    let mut chart = Chart::new(title, "mean predicted probability", "observed accuracy");
    (chart.x_range, chart.y_range) = (Some((0.0, 1.0)), Some((0.0, 1.0)));
    let diagonal = vec![Point::new("", 0.0, 0.0, ""), Point::new("", 1.0, 1.0, "")];
    chart.series.push(Series::new(
        "perfect calibration",
        SeriesKind::Dashed,
        diagonal,
    ));
    for &(name, bins) in curves {
        let pts: Vec<Point> = bins
            .iter()
            .filter(|b| b.2 > 0)
            .map(|&(c, a, _)| Point::new("", c, a, name))
            .collect();
        if !pts.is_empty() {
            chart.series.push(Series::new(name, SeriesKind::Line, pts));
        }
    }
    chart
}

/// The chart as an SVG document (960 x 600 user units, scalable).
pub fn svg(chart: &Chart) -> String {
    svg::render_svg(chart, 960.0, 600.0)
}

/// The chart as a PNG image of `width` x `height` pixels (each at least 200).
pub fn png(chart: &Chart, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    raster::render_png(chart, width.max(200), height.max(200))
}

/// Writes `stem.svg` and `stem.png` (1600 x 1000), each atomically; returns both paths.
pub fn write(stem: &Path, chart: &Chart) -> Result<[PathBuf; 2], PlotError> {
    let with_ext = |ext: &str| {
        let mut s = stem.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (svg_path, png_path) = (with_ext(".svg"), with_ext(".png"));
    write_atomic(&svg_path, svg(chart).as_bytes())?;
    write_atomic(&png_path, &png(chart, 1600, 1000)?)?;
    Ok([svg_path, png_path])
}
