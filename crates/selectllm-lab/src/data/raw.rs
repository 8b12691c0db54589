//! Raw benchmark files: GSM8K jsonl (`{question, answer}`, gold after `####`) and MMLU csv
//! (`question,choice0..choice3,answer` with the answer as an index 0-3).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Question, Split};

use super::{DataError, read_to_string};

/// An MMLU question with its options, for prompting.
#[derive(Debug, Clone, PartialEq)]
pub struct McQuestion {
    pub question: Question,
    /// The bare stem, without the options.
    pub stem: String,
    pub choices: Vec<String>,
    pub subject: String,
}

#[derive(Deserialize)]
struct Gsm8kLine {
    question: String,
    answer: String,
}

/// Reads a GSM8K jsonl file (`train.jsonl` / `test.jsonl`). Ids are `gsm8k-<stem>-<index>`.
pub fn gsm8k(path: &Path, split: Split) -> Result<Vec<Question>, DataError> {
    let text = read_to_string(path)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("gsm8k");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Gsm8kLine =
            serde_json::from_str(line).map_err(|e| DataError::line(path, i + 1, e.to_string()))?;
        let gold_text = l.answer.rsplit("####").next().unwrap_or("");
        let gold = Task::Gsm8k.canonical_gold(gold_text).ok_or_else(|| {
            DataError::line(path, i + 1, "field `answer`: no number after `####`")
        })?;
        out.push(Question {
            id: format!("gsm8k-{stem}-{}", out.len()),
            text: l.question,
            task: Task::Gsm8k,
            gold: Some(gold),
            split,
            benchmark: None,
        });
    }
    if out.is_empty() {
        return Err(DataError::file(path, "no questions"));
    }
    Ok(out)
}

/// The MMLU prompt text of a question: the stem, then `A. ...` lines (RouterDC's layout).
pub fn mmlu_text(stem: &str, choices: &[String]) -> String {
    let mut s = stem.to_string();
    for (i, c) in choices.iter().enumerate() {
        s.push('\n');
        s.push((b'A' + i as u8) as char);
        s.push_str(". ");
        s.push_str(c);
    }
    s
}

/// Reads every `*.csv` of an MMLU folder (`test/` or `dev/`), subjects in name order.
pub fn mmlu_dir(dir: &Path, split: Split) -> Result<Vec<McQuestion>, DataError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::file(dir, "no MMLU .csv files"));
    }
    let mut out = Vec::new();
    for f in files {
        out.extend(mmlu_csv(&f, split, out.len())?);
    }
    Ok(out)
}

/// Reads one MMLU csv with a header `question,choice0,...,answer`.
pub fn mmlu_csv(path: &Path, split: Split, first_id: usize) -> Result<Vec<McQuestion>, DataError> {
    let subject = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .trim_end_matches("_test")
        .trim_end_matches("_dev")
        .trim_end_matches("_val")
        .to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .map_err(|e| DataError::file(path, e.to_string()))?;
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| DataError::line(path, line, e.to_string()))?;
        if rec.len() < 3 {
            return Err(DataError::line(
                path,
                line,
                "expected question, choices, answer",
            ));
        }
        let n = rec.len();
        let stem = rec[0].to_string();
        let choices: Vec<String> = (1..n - 1).map(|j| rec[j].to_string()).collect();
        let ans = rec[n - 1].trim();
        let idx: usize = match ans.parse::<usize>() {
            Ok(v) => v,
            Err(_) if ans.len() == 1 && ans.as_bytes()[0].is_ascii_uppercase() => {
                (ans.as_bytes()[0] - b'A') as usize
            }
            Err(_) => {
                return Err(DataError::line(
                    path,
                    line,
                    format!("field `answer`: `{ans}` is neither an index nor a letter"),
                ));
            }
        };
        if idx >= choices.len() {
            return Err(DataError::line(
                path,
                line,
                format!(
                    "field `answer`: {idx} is out of range for {} choices",
                    choices.len()
                ),
            ));
        }
        let gold = Answer::new(((b'A' + idx as u8) as char).to_string());
        out.push(McQuestion {
            question: Question {
                id: format!("mmlu-{}-{}", split.as_str(), first_id + out.len()),
                text: mmlu_text(&stem, &choices),
                task: Task::Mmlu,
                gold: Some(gold),
                split,
                benchmark: None,
            },
            stem,
            choices,
            subject: subject.clone(),
        });
    }
    Ok(out)
}

/// Joins gold answers from the raw GSM8K / MMLU files by question text, where they exist.
pub(super) fn attach_gold(questions: &mut [Question], data_dir: &Path) {
    for task in [Task::Gsm8k, Task::Mmlu] {
        if questions.iter().any(|q| q.task == task) {
            attach_gold_of(questions, task, data_dir);
        }
    }
}

fn attach_gold_of(questions: &mut [Question], task: Task, data_dir: &Path) {
    let mut gold: HashMap<String, Answer> = HashMap::new();
    match task {
        Task::Gsm8k => {
            for f in ["train.jsonl", "test.jsonl"] {
                if let Ok(qs) = gsm8k(&data_dir.join("gsm8k").join(f), Split::Test) {
                    gold.extend(
                        qs.into_iter()
                            .filter_map(|q| Some((q.text.trim().to_string(), q.gold?))),
                    );
                }
            }
        }
        Task::Mmlu => {
            for sub in ["test", "dev"] {
                if let Ok(qs) = mmlu_dir(&data_dir.join("mmlu").join(sub), Split::Test) {
                    gold.extend(qs.into_iter().filter_map(|q| {
                        Some((q.question.text.trim().to_string(), q.question.gold?))
                    }));
                }
            }
        }
        Task::Generic => {}
    }
    let mut matched = 0usize;
    for q in questions.iter_mut().filter(|q| q.task == task) {
        if let Some(g) = gold.get(q.text.trim()) {
            q.gold = Some(g.clone());
            matched += 1;
        }
    }
    tracing::info!(
        "gold answers joined for {matched} of {} questions",
        questions.len()
    );
}
