//! The evaluation report: its schema, and its markdown / JSON / CSV renderings.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::metrics::{CalibrationBin, F1};
use super::tasks::{QuestionFigures, TaskInfo, TaskResult, Tasks, published_references};
use crate::data::{DataError, write_atomic};

/// Classifier quality on the test questions.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierMetrics {
    pub name: String,
    /// Mean of the per-member ROC-AUCs that are defined; `None` when no member's ROC-AUC is defined (each always right or always wrong).
    pub mean_auc: Option<f64>,
    pub auc: std::collections::BTreeMap<String, Option<f64>>,
    pub f1_micro: f64,
    pub f1_macro: f64,
    pub f1_weighted: f64,
    pub ece: f64,
    /// Pair accuracy of the classifier (see `metrics::pair_accuracy`).
    pub pair_acc: Option<f64>,
    /// The same for a constant per-member prior (each member's training label rate).
    pub pair_acc_prior: Option<f64>,
    pub reliability: Vec<CalibrationBin>,
    /// ECE of the same classifier before post-hoc calibration (when it has one).
    pub ece_uncalibrated: Option<f64>,
    /// Reliability bins before post-hoc calibration (empty when not calibrated).
    pub reliability_uncalibrated: Vec<CalibrationBin>,
    /// The member-order check of each fold's classifier (`train::order`), in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub member_order: Vec<String>,
}

impl ClassifierMetrics {
    pub(crate) fn from_f1(name: String, f: F1) -> Self {
        ClassifierMetrics {
            name,
            mean_auc: None,
            auc: Default::default(),
            f1_micro: f.micro,
            f1_macro: f.macro_,
            f1_weighted: f.weighted,
            ece: 0.0,
            pair_acc: None,
            pair_acc_prior: None,
            reliability: Vec::new(),
            ece_uncalibrated: None,
            reliability_uncalibrated: Vec::new(),
            member_order: Vec::new(),
        }
    }
}

/// The family of a row (`single`, `baseline`, `policy`, `plan`, `oracle` in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowKind {
    /// One member alone.
    Single,
    /// All members, the best fixed subset, random subsets.
    Baseline,
    /// One of the paper's policies over the classifier's confidences.
    Policy,
    /// An execution plan (early majority, cascade, log-odds weights).
    Plan,
    /// Any member correct: a reference, not achievable.
    Oracle,
}

impl std::fmt::Display for RowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RowKind::Single => "single",
            RowKind::Baseline => "baseline",
            RowKind::Policy => "policy",
            RowKind::Plan => "plan",
            RowKind::Oracle => "oracle",
        })
    }
}

/// One line of the results table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `single:<member>`, `all`, `best-fixed:s`, `task-best`, `random:s`, `maxconf:s`, ...,
    /// `oracle`.
    pub name: String,
    /// What the row is: a single member, a baseline, a policy, a plan or the oracle.
    pub kind: RowKind,
    /// Test accuracy; on simulated votes the midpoint of `accuracy_low` and `accuracy_high`.
    pub accuracy: f64,
    /// 95% bootstrap interval of `accuracy` over questions.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Simulated vote, all wrong answers agree (lower bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_low: Option<f64>,
    /// Simulated vote, wrong answers all differ (upper bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_high: Option<f64>,
    /// Whether `accuracy` comes from a simulated vote.
    pub simulated: bool,
    /// Mean LLM calls per question.
    pub calls: f64,
    /// Mean over questions of the summed latency of the called members (sequential cost), seconds.
    pub latency_sum: f64,
    /// Mean over questions of the slowest called member's latency (parallel fan-out), seconds;
    /// for plan rows, the time at which the answer was decided.
    pub latency_max: f64,
    /// 95th percentile over questions of the same, seconds.
    pub latency_max_p95: f64,
    /// Mean USD per question, when prices and tokens are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// What the row chose (e.g. the members of a fixed subset).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Figures per task, on datasets whose questions name their task (see `eval::tasks`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tasks: Tasks,
    /// Mean over tasks of the RouterDC-comparable figure (accuracy on probability tasks,
    /// sample accuracy on multi-attempt tasks); `accuracy` is the micro average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_accuracy: Option<f64>,
    /// The same under the simulated vote's bounds (wrong answers all agree), when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_accuracy_low: Option<f64>,
    /// ... and wrong answers all differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_accuracy_high: Option<f64>,
    /// Per test question: correctness and one-sample accuracy, as bounds; consumed by the
    /// per-task figures.
    #[serde(skip)]
    pub(crate) per_question: Vec<QuestionFigures>,
}

/// Wall-clock figures of the run that produced the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    pub train_s: f64,
    pub total_s: f64,
}

/// Everything `selectllm eval` reports for one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub members: Vec<String>,
    pub n_test: usize,
    pub protocol: String,
    /// `real (answer-level data)` or `simulated (correctness-only data)`.
    pub vote: String,
    pub vote_mode: String,
    pub latency_source: String,
    pub classifier: ClassifierMetrics,
    pub rows: Vec<Row>,
    /// The tasks of the test questions, with their label rules (empty: not named by the data).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInfo>,
    /// Further rows of the plans' parameter sweep (in the JSON and CSV, not the table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<Row>,
    pub notes: Vec<String>,
    pub timing: Timing,
}

impl Report {
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The markdown table and its notes.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## {} ({} test questions, {} members)\n",
            self.dataset,
            self.n_test,
            self.members.len()
        );
        let _ = writeln!(s, "- protocol: {}", self.protocol);
        let _ = writeln!(s, "- vote: {}, {}", self.vote, self.vote_mode);
        let _ = writeln!(s, "- latency: {}", self.latency_source);
        let c = &self.classifier;
        let _ = writeln!(
            s,
            "- classifier `{}`: mean ROC-AUC {}, F1 micro/macro/weighted {:.3}/{:.3}/{:.3}, ECE {:.3}{}, pair accuracy {} (constant prior {})\n",
            c.name,
            fmt_opt(c.mean_auc),
            c.f1_micro,
            c.f1_macro,
            c.f1_weighted,
            c.ece,
            c.ece_uncalibrated
                .map(|e| format!(" ({e:.3} before calibration)"))
                .unwrap_or_default(),
            fmt_opt(c.pair_acc),
            fmt_opt(c.pair_acc_prior)
        );
        if !c.member_order.is_empty() {
            let mut seen: Vec<&String> = Vec::new();
            for m in &c.member_order {
                if !seen.contains(&m) {
                    seen.push(m);
                }
            }
            s.pop();
            for m in seen {
                let _ = writeln!(s, "- {m}");
            }
            let _ = writeln!(s);
        }
        let sim = self.rows.iter().any(|r| r.simulated);
        let with_cost = self.rows.iter().any(|r| r.cost.is_some());
        let _ = write!(s, "| row | accuracy % | 95% CI |");
        if sim {
            let _ = write!(s, " simulated low–high % |");
        }
        let _ = write!(s, " calls | latency sum s | latency max s | max p95 s |");
        if with_cost {
            let _ = write!(s, " cost $ |");
        }
        let _ = writeln!(s);
        let cols = 7 + sim as usize + with_cost as usize;
        let _ = writeln!(s, "|{}", "---|".repeat(cols));
        for r in &self.rows {
            let _ = write!(
                s,
                "| {} | {:.1} | {:.1}–{:.1} |",
                r.name,
                100.0 * r.accuracy,
                100.0 * r.ci_low,
                100.0 * r.ci_high
            );
            if sim {
                match (r.accuracy_low, r.accuracy_high) {
                    (Some(l), Some(h)) => {
                        let _ = write!(s, " {:.1}–{:.1} |", 100.0 * l, 100.0 * h);
                    }
                    _ => {
                        let _ = write!(s, " exact |");
                    }
                }
            }
            let _ = write!(
                s,
                " {:.2} | {:.2} | {:.2} | {:.2} |",
                r.calls, r.latency_sum, r.latency_max, r.latency_max_p95
            );
            if with_cost {
                let _ = write!(s, " {} |", r.cost.map_or("-".into(), |c| format!("{c:.5}")));
            }
            let _ = writeln!(s);
        }
        s.push_str(&task_markdown(&self.tasks, &self.rows));
        if !self.notes.is_empty() {
            let _ = writeln!(s);
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    /// The rows as CSV.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "dataset,row,kind,accuracy,ci_low,ci_high,accuracy_low,accuracy_high,simulated,calls,latency_sum,latency_max,latency_max_p95,cost,detail\n",
        );
        let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
        for r in self.rows.iter().chain(&self.sweep) {
            let _ = writeln!(
                s,
                "{},\"{}\",{},{:.6},{:.6},{:.6},{},{},{},{:.4},{:.4},{:.4},{:.4},{},\"{}\"",
                self.dataset,
                r.name.replace('"', "\"\""),
                r.kind,
                r.accuracy,
                r.ci_low,
                r.ci_high,
                o(r.accuracy_low),
                o(r.accuracy_high),
                r.simulated,
                r.calls,
                r.latency_sum,
                r.latency_max,
                r.latency_max_p95,
                o(r.cost),
                r.detail.replace('"', "\"\"")
            );
        }
        s
    }

    /// Writes `report.json`, `report.csv` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        let json =
            serde_json::to_string_pretty(self).map_err(|e| DataError::Other(e.to_string()))?;
        write_atomic(&dir.join("report.json"), json.as_bytes())?;
        write_atomic(&dir.join("report.csv"), self.csv().as_bytes())?;
        write_atomic(&dir.join("report.md"), self.markdown().as_bytes())?;
        Ok(())
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

/// The per-task table of a report (empty when the data names no task): one row per result
/// row, the published reference rows and the per-task references from the data.
fn task_markdown(infos: &[TaskInfo], rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if infos.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\n### Per task\n");
    for t in infos {
        let _ = writeln!(
            s,
            "- `{}` ({} test questions): labels {}; compare `{}` with RouterDC's figure",
            t.name,
            t.n_test,
            if t.label_rule.is_empty() {
                "as the data gives them"
            } else {
                &t.label_rule
            },
            if t.multi_attempt { "sample %" } else { "acc %" }
        );
    }
    let _ = writeln!(
        s,
        "- `macro %`: mean over tasks of the RouterDC-comparable figure (acc % on probability tasks, sample % on multi-attempt ones), for simulated votes the midpoint of `macro low–high %` (wrong answers all agree / all differ); `micro %`: accuracy over all test questions (labels).\n"
    );
    let _ = write!(s, "| row | calls |");
    let mut cols = 2;
    for t in infos {
        if t.multi_attempt {
            let _ = write!(s, " {} acc % | {} sample % |", t.name, t.name);
            cols += 2;
        } else {
            let _ = write!(s, " {} acc % |", t.name);
            cols += 1;
        }
    }
    let _ = writeln!(s, " macro % | macro low–high % | micro % |");
    let _ = writeln!(s, "|{}", "---|".repeat(cols + 3));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.2}", 100.0 * x));
    for r in rows {
        let _ = write!(s, "| {} | {:.2} |", r.name, r.calls);
        for t in infos {
            let tr = r.tasks.get(&t.name);
            let _ = write!(s, " {} |", pct(tr.map(|x| x.accuracy)));
            if t.multi_attempt {
                let _ = write!(s, " {} |", pct(tr.and_then(|x| x.sample_accuracy)));
            }
        }
        let bounds = match (
            r.macro_accuracy,
            r.macro_accuracy_low,
            r.macro_accuracy_high,
        ) {
            (None, ..) => "-".to_string(),
            (Some(_), Some(l), Some(h)) => format!("{:.2}–{:.2}", 100.0 * l, 100.0 * h),
            (Some(_), ..) => "exact".to_string(),
        };
        let _ = writeln!(
            s,
            " {} | {bounds} | {:.2} |",
            pct(r.macro_accuracy),
            100.0 * r.accuracy
        );
    }
    let reference_line = |s: &mut String, label: &str, fig: &dyn Fn(&TaskInfo) -> Option<f64>| {
        let _ = write!(s, "| *{label}* | 1 |");
        let mut sum = 0.0;
        let mut all = true;
        for t in infos {
            let v = fig(t);
            match v {
                Some(x) => sum += x,
                None => all = false,
            }
            let cell = v.map_or("-".to_string(), |x| format!("{x:.2}"));
            if t.multi_attempt {
                let _ = write!(s, " - | {cell} |");
            } else {
                let _ = write!(s, " {cell} |");
            }
        }
        let avg = if all {
            format!("{:.2}", sum / infos.len() as f64)
        } else {
            "-".to_string()
        };
        let _ = writeln!(s, " {avg} | - | - |");
    };
    for (label, figures) in published_references(infos) {
        reference_line(&mut s, label, &|t| {
            figures.iter().find(|(n, _)| *n == t.name).map(|(_, v)| *v)
        });
    }
    for (label, figures) in reference_figures(infos, rows) {
        reference_line(&mut s, &label, &|t| {
            let i = infos.iter().position(|x| x.name == t.name)?;
            figures
                .get(i)
                .copied()
                .filter(|v| v.is_finite())
                .map(|v| 100.0 * v)
        });
    }
    s
}

/// The per-task summary lines a report prints under its table: which figure compares with
/// which published one, and the per-task references computed from the data.
fn reference_figures(infos: &[TaskInfo], rows: &[Row]) -> Vec<(String, Vec<f64>)> {
    let best_single: Vec<f64> = infos
        .iter()
        .map(|t| {
            rows.iter()
                .filter(|r| r.kind == RowKind::Single)
                .filter_map(|r| r.tasks.get(&t.name).map(TaskResult::comparable))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let mut out = vec![(
        "data: best single member per task (chosen on the test questions)".to_string(),
        best_single,
    )];
    if let Some(o) = rows.iter().find(|r| r.kind == RowKind::Oracle) {
        out.push((
            "data: oracle per task (any member right; multi-attempt: best member's score)"
                .to_string(),
            infos
                .iter()
                .map(|t| {
                    o.tasks
                        .get(&t.name)
                        .map_or(f64::NAN, TaskResult::comparable)
                })
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::RowKind;

    #[test]
    fn row_kinds_read_the_same_in_json_csv_and_text() {
        for k in [
            RowKind::Single,
            RowKind::Baseline,
            RowKind::Policy,
            RowKind::Plan,
            RowKind::Oracle,
        ] {
            let json = serde_json::to_value(k).expect("serializes");
            assert_eq!(json, serde_json::Value::String(k.to_string()));
        }
        assert_eq!(RowKind::Oracle.to_string(), "oracle");
    }
}
