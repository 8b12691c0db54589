//! Our routing-dataset JSONL format (what `collect` writes and `train`/`eval` read).
//!
//! Line 1 is a header; every further line is one question with its outcomes keyed by member:
//!
//! ```text
//! {"format":"selectllm-routing","version":1,"name":"local-3","members":[{"name":"a","latency_s":1.2}]}
//! {"id":"gsm8k-test-0","text":"...","task":"gsm8k","gold":"18","split":"test","outcomes":{"a":{"answers":["18"],"success_rate":1.0,"label":true,"latency_s":1.1}}}
//! ```
//!
//! Every member of the header must have an outcome on every line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use selectllm_core::dataset::{Member, Outcome, Question, RoutingDataset};

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
    let mut ds = RoutingDataset {
        name: header.name,
        members: header.members,
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: Default::default(),
    };
    for (i, l) in lines {
        let line: Line =
            serde_json::from_str(l).map_err(|e| DataError::line(path, i + 1, e.to_string()))?;
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
