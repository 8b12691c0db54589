//! Store -> routing dataset: per (question, member) the extracted answers of its first `n`
//! good samples, the label and success rate from `label_samples`, and the measured mean
//! latency and tokens; per member the mean latency over everything exported.

use std::collections::HashMap;
use std::path::Path;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Member, Outcome, RoutingDataset};
use selectllm_core::label::label_samples;

use super::CollectError;
use super::store::{SampleRow, Store};

/// What to export.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportOptions {
    pub name: String,
    /// Only questions of this task.
    pub task: Option<Task>,
    /// Samples per (question, member); default: the most any pair has.
    pub samples: Option<u32>,
    /// Only these members (default: every member with a good row).
    pub members: Option<Vec<String>>,
}

/// The exported dataset and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub dataset: RoutingDataset,
    pub samples: u32,
    /// Questions where some member has fewer than `samples` good rows.
    pub incomplete: usize,
    /// Questions without a gold answer (cannot be labelled).
    pub no_gold: usize,
}

/// Builds the dataset of the store at `db`; writes it as JSONL to `out` when given.
pub fn export(
    db: &Path,
    out: Option<&Path>,
    opts: &ExportOptions,
) -> Result<ExportSummary, CollectError> {
    let store = Store::open_existing(db)?;
    let questions: Vec<_> = store
        .questions()?
        .into_iter()
        .filter(|q| opts.task.is_none_or(|t| q.task == t))
        .collect();
    let mut good: HashMap<(&str, &str), Vec<&SampleRow>> = HashMap::new();
    let rows = store.samples()?;
    for r in rows.iter().filter(|r| r.error.is_none()) {
        good.entry((r.question_id.as_str(), r.member.as_str()))
            .or_default()
            .push(r);
    }
    let stored = store.members()?;
    let names: Vec<String> = match &opts.members {
        Some(ms) => {
            for m in ms {
                if !stored.iter().any(|s| &s.name == m) {
                    return Err(CollectError::Invalid(format!(
                        "unknown member `{m}` (not in {})",
                        db.display()
                    )));
                }
            }
            ms.clone()
        }
        None => stored
            .iter()
            .filter(|m| {
                questions
                    .iter()
                    .any(|q| good.contains_key(&(q.id.as_str(), m.name.as_str())))
            })
            .map(|m| m.name.clone())
            .collect(),
    };
    if names.is_empty() {
        return Err(CollectError::Invalid(format!(
            "{}: no member has a recorded answer{}",
            db.display(),
            opts.task.map_or(String::new(), |t| format!(" on {t}"))
        )));
    }
    let n = opts.samples.unwrap_or_else(|| {
        good.values()
            .map(|v| v.len() as u32)
            .max()
            .unwrap_or(1)
            .max(1)
    });
    let mut ds = RoutingDataset {
        name: opts.name.clone(),
        members: Vec::new(),
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: Default::default(),
    };
    let (mut incomplete, mut no_gold) = (0, 0);
    let mut lat = vec![(0.0f64, 0usize); names.len()];
    for q in questions {
        let Some(gold) = q.gold.clone() else {
            no_gold += 1;
            continue;
        };
        let mut row = Vec::with_capacity(names.len());
        for m in &names {
            let Some(rs) = good.get(&(q.id.as_str(), m.as_str())) else {
                break;
            };
            if rs.len() < n as usize {
                break;
            }
            row.push(outcome(q.task, &rs[..n as usize], &gold));
        }
        if row.len() < names.len() {
            incomplete += 1;
            continue;
        }
        for (i, o) in row.iter().enumerate() {
            if let Some(l) = o.latency_s {
                lat[i].0 += l;
                lat[i].1 += 1;
            }
        }
        ds.questions.push(q);
        ds.outcomes.push(row);
    }
    for (name, (sum, k)) in names.iter().zip(lat) {
        let s = stored.iter().find(|s| &s.name == name);
        ds.members.push(Member {
            name: name.clone(),
            latency_s: (k > 0).then(|| sum / k as f64),
            price_in: s.and_then(|s| s.price_in),
            price_out: s.and_then(|s| s.price_out),
        });
    }
    if ds.questions.is_empty() {
        return Err(CollectError::Invalid(format!(
            "{}: no question has {n} good sample(s) from every member ({incomplete} incomplete, {no_gold} without gold)",
            db.display()
        )));
    }
    ds.validate().map_err(CollectError::Invalid)?;
    if let Some(out) = out {
        crate::data::jsonl::write(out, &ds)?;
    }
    Ok(ExportSummary {
        dataset: ds,
        samples: n,
        incomplete,
        no_gold,
    })
}

fn outcome(task: Task, rows: &[&SampleRow], gold: &Answer) -> Outcome {
    let answers: Vec<Option<Answer>> = rows
        .iter()
        .map(|r| r.answer.clone().map(Answer::new))
        .collect();
    let l = label_samples(task, &answers, gold);
    let mean = |f: &dyn Fn(&SampleRow) -> Option<f64>| {
        let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Outcome {
        answers: l.answers,
        success_rate: l.success_rate,
        label: l.label,
        latency_s: mean(&|r| r.latency_s),
        prompt_tokens: mean(&|r| r.prompt_tokens.map(|v| v as f64)),
        completion_tokens: mean(&|r| r.completion_tokens.map(|v| v as f64)),
    }
}
