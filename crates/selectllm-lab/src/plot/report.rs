//! The plots of an evaluation report: accuracy against mean calls (always), against latency
//! (when the members' latencies are not all the same, i.e. latency is more than a call
//! count) and against cost (when known), plus the classifier's reliability diagram.

use std::path::Path;

use super::{
    Chart, Curve, PlotError, Point, Series, SeriesKind, accuracy_chart, reliability_chart, write,
};
use crate::data::DataError;
use crate::eval::{Report, Row, RowKind};

/// The chart group of a row: the part of its name before `:` (`maxconf:3` -> `maxconf`),
/// or the whole name (`all`, `oracle`, `threshold`, `budget`).
fn group(row: &Row) -> &str {
    row.name.split(':').next().unwrap_or(&row.name)
}

/// The rows a user can run: every row and the plans' sweep, without the oracle (it needs every
/// member's answer and knowledge of which is right).
fn achievable(report: &Report) -> impl Iterator<Item = &Row> {
    report
        .rows
        .iter()
        .chain(&report.sweep)
        .filter(|r| r.kind != RowKind::Oracle)
}

/// Points of `report`'s achievable rows with `x` from `cost`. Single members are labelled
/// with the member name (without an `org/` prefix), the All-LLMs vote as such,
/// other rows only when on the Pareto front (their group is in the legend). Error bars: the
/// 95% bootstrap interval, widened to the simulated-vote bounds when the vote is simulated.
pub(crate) fn report_points(report: &Report, cost: impl Fn(&Row) -> Option<f64>) -> Vec<Point> {
    let mut pts: Vec<Point> = achievable(report)
        .filter_map(|r| {
            let x = cost(r).filter(|x| x.is_finite())?;
            let low = r.accuracy_low.map_or(r.ci_low, |l| l.min(r.ci_low));
            let high = r.accuracy_high.map_or(r.ci_high, |h| h.max(r.ci_high));
            // a member's short name: `org/model` -> `model`
            let label = match r.name.strip_prefix("single:") {
                Some(m) => m.rsplit('/').next().unwrap_or(m),
                None if r.name == "all" => "all (vote)",
                None => "",
            };
            Some(Point::new(label, x, r.accuracy, group(r)).with_interval(low, high))
        })
        .collect();
    let names: Vec<&str> = achievable(report)
        .filter(|r| cost(r).is_some_and(f64::is_finite))
        .map(|r| r.name.as_str())
        .collect();
    for i in super::pareto_front(&pts) {
        if pts[i].label.is_empty() {
            pts[i].label = names[i].to_string();
        }
    }
    pts
}

/// The oracle's accuracy as a dashed horizontal reference line across the chart's points.
fn with_oracle(mut chart: Chart, report: &Report) -> Chart {
    let Some(o) = report.rows.iter().find(|r| r.kind == RowKind::Oracle) else {
        return chart;
    };
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if lo.is_finite() && hi.is_finite() {
        let line = vec![
            Point::new("", lo, o.accuracy, ""),
            Point::new("", hi, o.accuracy, ""),
        ];
        chart.series.push(Series::new(
            format!(
                "oracle {:.1}% (reference, not achievable)",
                100.0 * o.accuracy
            ),
            SeriesKind::Dashed,
            line,
        ));
    }
    chart
}

/// Writes `accuracy-calls.{svg,png}` into `dir`, and `accuracy-latency`, `accuracy-cost` and
/// `reliability` when the report has what they need.
pub fn write_report_plots(dir: &Path, report: &Report) -> Result<(), DataError> {
    let vote = if report.rows.iter().any(|r| r.simulated) {
        "simulated vote: midpoint of the bounds"
    } else {
        "real vote"
    };
    let title = |what: &str| format!("{}: accuracy vs {what} ({vote})", report.dataset);
    let mut charts = vec![(
        "accuracy-calls",
        with_oracle(
            accuracy_chart(
                &title("calls"),
                "mean LLM calls per question",
                report_points(report, |r| Some(r.calls)),
            ),
            report,
        ),
    )];
    // latency is more than a call count: members' latencies differ, or plans decide early
    let rows = || report.rows.iter().chain(&report.sweep);
    let first_max = rows().next().map_or(0.0, |r| r.latency_max_p95);
    let timed = rows().any(|r| {
        (r.latency_sum - r.calls).abs() > 1e-9 || (r.latency_max_p95 - first_max).abs() > 1e-9
    });
    if timed {
        let pts = report_points(report, |r| Some(r.latency_max_p95));
        charts.push((
            "accuracy-latency-p95",
            with_oracle(
                accuracy_chart(
                    &title("p95 latency"),
                    "p95 time to the answer (s); plan rows: per-question latencies, other rows: member means",
                    pts,
                ),
                report,
            ),
        ));
    }
    if report
        .rows
        .iter()
        .any(|r| (r.latency_sum - r.calls).abs() > 1e-9)
    {
        let pts = report_points(report, |r| Some(r.latency_sum));
        charts.push((
            "accuracy-latency",
            with_oracle(
                accuracy_chart(
                    &title("latency"),
                    "mean summed latency per question (s)",
                    pts,
                ),
                report,
            ),
        ));
    }
    if report.rows.iter().any(|r| r.cost.is_some()) {
        let pts = report_points(report, |r| r.cost);
        charts.push((
            "accuracy-cost",
            with_oracle(
                accuracy_chart(&title("cost"), "mean cost per question (USD)", pts),
                report,
            ),
        ));
    }
    let points = |bins: &[crate::eval::metrics::CalibrationBin]| -> Vec<(f64, f64, usize)> {
        bins.iter()
            .map(|b| (b.confidence, b.accuracy, b.count))
            .collect()
    };
    let c = &report.classifier;
    let (after, before) = (points(&c.reliability), points(&c.reliability_uncalibrated));
    if !after.is_empty() {
        let after_name = format!("{}, ECE {:.3}", c.name, c.ece);
        let before_name = format!(
            "before calibration, ECE {:.3}",
            c.ece_uncalibrated.unwrap_or(f64::NAN)
        );
        let mut curves: Vec<Curve<'_>> = Vec::new();
        if !before.is_empty() {
            curves.push((before_name.as_str(), &before));
        }
        curves.push((after_name.as_str(), &after));
        let t = format!("{}: reliability of the classifier (test)", report.dataset);
        charts.push(("reliability", reliability_chart(&t, &curves)));
    }
    for (stem, chart) in charts {
        let stem = dir.join(stem);
        write(&stem, &chart).map_err(|e| match e {
            PlotError::Write(d) => d,
            PlotError::Png(p) => DataError::file(&stem, format!("encoding PNG: {p}")),
        })?;
    }
    Ok(())
}
