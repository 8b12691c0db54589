//! Layout helpers of the renderer: axis ranges and ticks, legend wrapping, label placement.
//! Boxes are `[x0, y0, x1, y1]` in pixels, y pointing down.

/// An axis: data range and tick positions.
pub(crate) struct Axis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) ticks: Vec<f64>,
    decimals: usize,
}

impl Axis {
    /// Fits the finite `values` (or the `fixed` range) with a small margin and ~8 round ticks.
    pub(crate) fn new(values: impl Iterator<Item = f64>, fixed: Option<(f64, f64)>) -> Axis {
        let (mut lo, mut hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if let Some((a, b)) = fixed.filter(|(a, b)| a.is_finite() && b.is_finite() && a < b) {
            (lo, hi) = (a - (b - a) * 0.03, b + (b - a) * 0.03);
        } else if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        } else if hi - lo < 1e-12 {
            let pad = if lo.abs() > 1e-12 {
                lo.abs() * 0.1
            } else {
                0.5
            };
            (lo, hi) = (lo - pad, hi + pad);
        } else {
            let pad = (hi - lo) * 0.06;
            (lo, hi) = (lo - pad, hi + pad);
        }
        let raw = (hi - lo) / 8.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let decimals = (-(step.log10().floor())).max(0.0) as usize
            + usize::from((step / mag - 2.5).abs() < 1e-9 && step < 10.0);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last).map(|k| k as f64 * step).collect();
        Axis {
            lo,
            hi,
            ticks,
            decimals,
        }
    }

    pub(crate) fn label(&self, v: f64) -> String {
        let v = if v.abs() < 1e-12 { 0.0 } else { v };
        format!("{v:.*}", self.decimals)
    }
}

/// Wraps legend entries `(series index, width)` into rows no wider than `max_w`.
pub(crate) fn legend_rows(entries: &[(usize, f64)], max_w: f64) -> Vec<Vec<(usize, f64)>> {
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut used = 0.0;
    for &(i, ew) in entries {
        match rows.last_mut() {
            Some(row) if used + ew <= max_w => row.push((i, ew)),
            _ => {
                rows.push(vec![(i, ew)]);
                used = 0.0;
            }
        }
        used += ew;
    }
    rows
}

/// Where a label of size `wh` goes beside a marker at `at` (`gap` from its centre): to the
/// right, else the left, nudged up or down by up to six lines, in the first spot inside
/// `frame` that overlaps no box of `placed`; when none is free, the spot inside `frame`
/// with the least overlap (beside the marker if no spot is inside).
pub(crate) fn place_label(
    at: (f64, f64),
    gap: f64,
    wh: (f64, f64),
    frame: [f64; 4],
    placed: &[[f64; 4]],
) -> [f64; 4] {
    let (x, y) = at;
    let (tw, th) = wh;
    let boxed = |right_side: bool, ly: f64| {
        let lx = if right_side { x + gap } else { x - gap - tw };
        [lx, ly - th / 2.0, lx + tw, ly + th / 2.0]
    };
    let overlap = |a: &[f64; 4], b: &[f64; 4]| {
        (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0)
    };
    let mut best: Option<([f64; 4], f64)> = None;
    for k in 0..13 {
        // 0, -1, +1, -2, +2, ... lines
        let dy = if k % 2 == 1 {
            -f64::from(k / 2 + 1)
        } else {
            f64::from(k / 2)
        };
        for right_side in [true, false] {
            let bx = boxed(right_side, y + dy * th * 1.1);
            let inside =
                bx[0] >= frame[0] && bx[2] <= frame[2] && bx[1] >= frame[1] && bx[3] <= frame[3];
            if !inside {
                continue;
            }
            let area: f64 = placed.iter().map(|o| overlap(&bx, o)).sum();
            if area == 0.0 {
                return bx;
            }
            if best.is_none_or(|(_, a)| area < a) {
                best = Some((bx, area));
            }
        }
    }
    best.map_or_else(|| boxed(x + gap + tw <= frame[2], y), |(bx, _)| bx)
}
