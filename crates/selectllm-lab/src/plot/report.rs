//! The plots of an evaluation report: accuracy against mean calls (always), against latency
//! (when the members' latencies are not all the same, i.e. latency is more than a call
//! count) and against cost (when known), plus the classifier's reliability diagram.

use std::path::Path;

use super::{Curve, PlotError, Point, accuracy_chart, reliability_chart, write};
use crate::data::DataError;
use crate::eval::{Report, Row};

/// The chart group of a row: the part of its name before `:` (`maxconf:3` -> `maxconf`),
/// or the whole name (`all`, `oracle`, `threshold`, `budget`).
fn group(row: &Row) -> &str {
    row.name.split(':').next().unwrap_or(&row.name)
}

/// Points of `report` with `x` from `cost`. Single members are labelled with the member name
/// (without an `org/` prefix),
/// other rows only when on the Pareto front (their group is in the legend). Error bars: the
/// 95% bootstrap interval, widened to the simulated-vote bounds when the vote is simulated.
pub(crate) fn report_points(report: &Report, cost: impl Fn(&Row) -> Option<f64>) -> Vec<Point> {
    let mut pts: Vec<Point> = report
        .rows
        .iter()
        .filter_map(|r| {
            let x = cost(r).filter(|x| x.is_finite())?;
            let low = r.accuracy_low.map_or(r.ci_low, |l| l.min(r.ci_low));
            let high = r.accuracy_high.map_or(r.ci_high, |h| h.max(r.ci_high));
            // a member's short name: `org/model` -> `model`
            let label = r
                .name
                .strip_prefix("single:")
                .map_or("", |m| m.rsplit('/').next().unwrap_or(m));
            Some(Point::new(label, x, r.accuracy, group(r)).with_interval(low, high))
        })
        .collect();
    let names: Vec<&str> = report
        .rows
        .iter()
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
        accuracy_chart(
            &title("calls"),
            "mean LLM calls per question",
            report_points(report, |r| Some(r.calls)),
        ),
    )];
    if report
        .rows
        .iter()
        .any(|r| (r.latency_sum - r.calls).abs() > 1e-9)
    {
        let pts = report_points(report, |r| Some(r.latency_sum));
        charts.push((
            "accuracy-latency",
            accuracy_chart(
                &title("latency"),
                "mean summed latency per question (s)",
                pts,
            ),
        ));
    }
    if report.rows.iter().any(|r| r.cost.is_some()) {
        let pts = report_points(report, |r| r.cost);
        charts.push((
            "accuracy-cost",
            accuracy_chart(&title("cost"), "mean cost per question (USD)", pts),
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
