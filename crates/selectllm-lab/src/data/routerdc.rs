//! RouterDC-shaped routing files: a JSON list of `{question, scores: {model: float}}`.
//!
//! Used by RouterDC and other public routing sets; any pool size and any task. The label of a
//! member is `score >= threshold` and the score is kept as the success rate.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use selectllm_core::answer::Task;
use selectllm_core::dataset::{Member, Outcome, Question, Split};

use super::{DataError, read_to_string};

#[derive(Deserialize)]
struct Entry {
    question: String,
    scores: BTreeMap<String, f64>,
}

/// Questions and outcomes of one RouterDC-shaped file.
#[derive(Debug, Clone)]
pub struct RouterDcFile {
    /// Member names, sorted (the original code's label order).
    pub members: Vec<Member>,
    pub questions: Vec<Question>,
    pub outcomes: Vec<Vec<Outcome>>,
}

/// Reads one file. Every entry must score the same members; scores must lie in [0, 1].
pub fn read(
    path: &Path,
    task: Task,
    split: Split,
    threshold: f64,
    id_prefix: &str,
) -> Result<RouterDcFile, DataError> {
    let text = read_to_string(path)?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| DataError::Line {
        path: path.to_path_buf(),
        line: e.line(),
        msg: format!("expected a JSON list of {{question, scores}}: {e}"),
    })?;
    if entries.is_empty() {
        return Err(DataError::file(path, "no questions"));
    }
    let names: Vec<String> = entries[0].scores.keys().cloned().collect();
    if names.is_empty() {
        return Err(DataError::file(path, "entry 0: `scores` is empty"));
    }
    let mut out = RouterDcFile {
        members: names.iter().map(Member::named).collect(),
        questions: Vec::with_capacity(entries.len()),
        outcomes: Vec::with_capacity(entries.len()),
    };
    for (i, e) in entries.into_iter().enumerate() {
        if e.scores.len() != names.len() || !e.scores.keys().zip(&names).all(|(a, b)| a == b) {
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !e.scores.contains_key(*n))
                .collect();
            let extra: Vec<&String> = e.scores.keys().filter(|n| !names.contains(n)).collect();
            return Err(DataError::file(
                path,
                format!(
                    "entry {i}: `scores` has other members than entry 0 (missing {missing:?}, extra {extra:?})"
                ),
            ));
        }
        if e.question.trim().is_empty() {
            return Err(DataError::file(
                path,
                format!("entry {i}: `question` is empty"),
            ));
        }
        let mut row = Vec::with_capacity(names.len());
        for (name, &s) in &e.scores {
            if !(0.0..=1.0).contains(&s) || s.is_nan() {
                return Err(DataError::file(
                    path,
                    format!("entry {i}: score {s} of `{name}` is outside [0, 1]"),
                ));
            }
            row.push(Outcome {
                success_rate: s as f32,
                label: s >= threshold,
                ..Outcome::default()
            });
        }
        out.questions.push(Question {
            id: format!("{id_prefix}-{i}"),
            text: e.question,
            task,
            gold: None,
            split,
        });
        out.outcomes.push(row);
    }
    Ok(out)
}
