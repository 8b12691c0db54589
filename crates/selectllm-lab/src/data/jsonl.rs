//! Our routing-dataset JSONL format (what `collect` writes and `train`/`eval` read).
//!
//! Line 1 is a header; every further line is one question with its outcomes keyed by member:
//!
//! ```text
//! {"format":"selectllm-routing","version":1,"name":"local-3","members":[{"name":"a","latency_s":1.2}]}
//! {"id":"gsm8k-test-0","text":"...","task":"gsm8k","gold":"18","split":"test","outcomes":{"a":{"answers":["18"],"success_rate":1.0,"label":true,"latency_s":1.1}}}
//! ```
//!
//! Every member of the header must have an outcome on every line. Checked per line, as the
//! RouterDC reader and `collect` check theirs: ids unique, text non-empty, success rates in
//! [0, 1], latencies, token counts and prices finite and non-negative, and a label that agrees
//! with the majority answer and the gold answer when both are given.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use selectllm_core::dataset::{Member, Outcome, Question, RoutingDataset};
use selectllm_core::label::majority;

use super::{DataError, read_to_string, write_atomic};

pub const FORMAT: &str = "selectllm-routing";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    name: String,
    members: Vec<Member>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(flatten)]
    question: Question,
    outcomes: BTreeMap<String, Outcome>,
}

/// Serialises a dataset to JSONL text.
pub fn to_string(ds: &RoutingDataset) -> String {
    let mut out = String::new();
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        name: ds.name.clone(),
        members: ds.members.clone(),
    };
    out.push_str(&serde_json::to_string(&header).expect("header serialises"));
    out.push('\n');
    for (q, row) in ds.questions.iter().zip(&ds.outcomes) {
        let line = Line {
            question: q.clone(),
            outcomes: ds
                .members
                .iter()
                .zip(row)
                .map(|(m, o)| (m.name.clone(), o.clone()))
                .collect(),
        };
        out.push_str(&serde_json::to_string(&line).expect("line serialises"));
        out.push('\n');
    }
    out
}

/// Writes a dataset atomically.
pub fn write(path: &Path, ds: &RoutingDataset) -> Result<(), DataError> {
    write_atomic(path, to_string(ds).as_bytes())
}

/// Reads a dataset; errors name the file and line.
pub fn read(path: &Path) -> Result<RoutingDataset, DataError> {
    let text = read_to_string(path)?;
    parse(path, &text)
}

/// Parses JSONL text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<RoutingDataset, DataError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (hl, hline) = lines
        .next()
        .ok_or_else(|| DataError::file(path, "empty file: expected a header line"))?;
    let header: Header = serde_json::from_str(hline)
        .map_err(|e| DataError::line(path, hl + 1, format!("bad header: {e}")))?;
    if header.format != FORMAT {
        return Err(DataError::line(
            path,
            hl + 1,
            format!("format is `{}`, expected `{FORMAT}`", header.format),
        ));
    }
    if header.version != VERSION {
        return Err(DataError::line(
            path,
            hl + 1,
            format!(
                "version {} is not supported (expected {VERSION})",
                header.version
            ),
        ));
    }
    let mut names = HashSet::new();
    for m in &header.members {
        if !names.insert(m.name.as_str()) {
            return Err(DataError::line(
                path,
                hl + 1,
                format!("member `{}` appears twice in the header", m.name),
            ));
        }
        for (field, v) in [
            ("latency_s", m.latency_s),
            ("price_in", m.price_in),
            ("price_out", m.price_out),
        ] {
            check_amount(v).map_err(|e| {
                DataError::line(path, hl + 1, format!("member `{}`: {field} {e}", m.name))
            })?;
        }
    }
    let mut ds = RoutingDataset {
        name: header.name,
        members: header.members,
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: Default::default(),
    };
    let mut ids = HashSet::new();
    for (i, l) in lines {
        let line: Line =
            serde_json::from_str(l).map_err(|e| DataError::line(path, i + 1, e.to_string()))?;
        let q = &line.question;
        let at = |msg: String| DataError::line(path, i + 1, format!("question `{}`: {msg}", q.id));
        if q.id.trim().is_empty() {
            return Err(DataError::line(path, i + 1, "the question id is empty"));
        }
        if !ids.insert(q.id.clone()) {
            return Err(at("the id appears twice".into()));
        }
        if q.text.trim().is_empty() {
            return Err(at("the question text is empty".into()));
        }
        for (name, o) in &line.outcomes {
            check_outcome(q, o).map_err(|e| at(format!("member `{name}`: {e}")))?;
        }
        let mut outcomes = line.outcomes;
        let mut row = Vec::with_capacity(ds.members.len());
        for m in &ds.members {
            let o = outcomes.remove(&m.name).ok_or_else(|| {
                DataError::line(path, i + 1, format!("no outcome for member `{}`", m.name))
            })?;
            row.push(o);
        }
        if let Some(extra) = outcomes.keys().next() {
            return Err(DataError::line(
                path,
                i + 1,
                format!("unknown member `{extra}` (not in the header)"),
            ));
        }
        ds.questions.push(line.question);
        ds.outcomes.push(row);
    }
    ds.validate().map_err(|m| DataError::file(path, m))?;
    Ok(ds)
}

/// `None`, or a finite number >= 0.
fn check_amount(v: Option<f64>) -> Result<(), String> {
    match v {
        Some(v) if !(v.is_finite() && v >= 0.0) => Err(format!("{v} is not a finite number >= 0")),
        _ => Ok(()),
    }
}

/// One outcome's values, and its label against its answers and the gold answer.
fn check_outcome(q: &Question, o: &Outcome) -> Result<(), String> {
    if !(0.0..=1.0).contains(&o.success_rate) {
        return Err(format!("success_rate {} is outside [0, 1]", o.success_rate));
    }
    for (field, v) in [
        ("latency_s", o.latency_s),
        ("prompt_tokens", o.prompt_tokens),
        ("completion_tokens", o.completion_tokens),
    ] {
        check_amount(v).map_err(|e| format!("{field} {e}"))?;
    }
    if let (Some(gold), Some(m)) = (&q.gold, majority(&o.answers)) {
        let right = m == gold;
        if o.label != right {
            return Err(format!(
                "label {} contradicts the majority answer `{}` and the gold answer `{}`",
                o.label, m.0, gold.0
            ));
        }
    }
    Ok(())
}
