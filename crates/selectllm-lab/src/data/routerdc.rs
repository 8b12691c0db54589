//! RouterDC-shaped routing files: a JSON list of `{question, scores: {model: float}}`.
//!
//! Used by RouterDC and other public routing sets; any pool size and any task. RouterDC's
//! scores mean two different things (its conversion notebooks and `evaluation()` code), so
//! the label of a member depends on the task's [`ScoreKind`]:
//!
//! - **probability** tasks (MMLU, CMMLU, ARC, C-Eval, MATH prealgebra): the score is the
//!   probability the LLM gave the gold option when its most likely option was the gold one,
//!   else 0. Correct iff `score > 0`; success rate 1 or 0.
//! - **multi-attempt** tasks (GSM8K, HumanEval, MBPP, HumanEval-JS): the score is the share
//!   of 10 samples that were correct. Label `score >= threshold` (the majority answer is
//!   right at 0.5); the success rate is the score.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use selectllm_core::answer::Task;
use selectllm_core::dataset::{BenchmarkInfo, Member, Outcome, Question, Split};

use super::{DataError, read_to_string};

/// What a RouterDC score means, which decides the label rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreKind {
    /// Probability of the gold option when it was the top option, else 0: correct iff > 0.
    Probability,
    /// Share of sampled answers that were correct: correct iff >= the label threshold.
    MultiAttempt,
}

/// RouterDC's probability tasks (by normalised task name).
const PROBABILITY_TASKS: [&str; 6] = [
    "mmlu",
    "cmmlu",
    "arc_challenge",
    "arc_easy",
    "ceval",
    "math_prealgebra",
];
/// RouterDC's multi-attempt tasks (by normalised task name; `javascript` is HumanEval-JS).
const MULTI_ATTEMPT_TASKS: [&str; 5] = ["gsm8k", "humaneval", "mbpp", "javascript", "humaneval_js"];

impl ScoreKind {
    /// The kind of a RouterDC task (a normalised name, see [`task_name`]); `None` when the
    /// task is not one of RouterDC's.
    pub fn of_task(task: &str) -> Option<ScoreKind> {
        if PROBABILITY_TASKS.contains(&task) {
            Some(ScoreKind::Probability)
        } else if MULTI_ATTEMPT_TASKS.contains(&task) {
            Some(ScoreKind::MultiAttempt)
        } else {
            None
        }
    }

    /// Label and success rate of one score.
    pub fn outcome(self, score: f64, threshold: f64) -> (bool, f32) {
        match self {
            ScoreKind::Probability => {
                let right = score > 0.0;
                (right, if right { 1.0 } else { 0.0 })
            }
            ScoreKind::MultiAttempt => (score >= threshold, score as f32),
        }
    }

    /// The label rule in words, for reports.
    pub fn rule(self, threshold: f64) -> String {
        match self {
            ScoreKind::Probability => {
                "correct iff score > 0 (probability task: the score is the probability of the gold option when it was the top option); success rate 1/0".into()
            }
            ScoreKind::MultiAttempt => format!(
                "correct iff score >= {threshold} (multi-attempt task: the score is the share of sampled answers that were correct); success rate = score"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Probability => "probability",
            ScoreKind::MultiAttempt => "multi-attempt",
        }
    }
}

impl fmt::Display for ScoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "probability" | "prob" => Ok(ScoreKind::Probability),
            "multi-attempt" | "multi_attempt" | "multiattempt" => Ok(ScoreKind::MultiAttempt),
            _ => Err(format!(
                "unknown score kind `{s}` (expected probability or multi-attempt)"
            )),
        }
    }
}

/// The task name of a RouterDC file stem: lower case, without `_train`/`_test`/`-train`/`-test`
/// (`MATH_prealgebra` -> `math_prealgebra`, `gsm8k-test` -> `gsm8k`).
pub fn task_name(stem: &str) -> String {
    let s = stem.to_ascii_lowercase();
    for suffix in ["_train", "_test", "-train", "-test"] {
        if let Some(t) = s.strip_suffix(suffix) {
            return t.to_string();
        }
    }
    s
}

/// The answer extractor of a task name (GSM8K numbers, MMLU letters, or raw text).
pub fn extractor_of(task: &str) -> Task {
    let n = task.to_ascii_lowercase();
    if n.contains("gsm8k") || n.contains("math") {
        Task::Gsm8k
    } else if n.contains("mmlu") || n.contains("arc") || n.contains("ceval") {
        Task::Mmlu
    } else {
        Task::Generic
    }
}

/// How to label one file: its task, that task's score kind, the multi-attempt threshold.
#[derive(Debug, Clone)]
pub struct Labelling {
    /// Normalised task name, carried by every question as its benchmark.
    pub task: String,
    pub kind: ScoreKind,
    pub threshold: f64,
    /// Whether `kind` was set explicitly (or known for the task) rather than assumed.
    pub assumed: bool,
}

impl Labelling {
    /// The labelling of `task`: `kind` when given (an override), else the task's known kind,
    /// else multi-attempt with the threshold (stated as assumed in the rule).
    pub fn for_task(task: &str, kind: Option<ScoreKind>, threshold: f64) -> Labelling {
        let known = ScoreKind::of_task(task);
        Labelling {
            task: task.to_string(),
            kind: kind.or(known).unwrap_or(ScoreKind::MultiAttempt),
            threshold,
            assumed: kind.is_none() && known.is_none(),
        }
    }

    /// What the report says about this task's labels.
    pub fn info(&self) -> BenchmarkInfo {
        let mut rule = self.kind.rule(self.threshold);
        if self.assumed {
            rule.push_str(" [assumed: not a known RouterDC task; set the score kind to change it]");
        }
        BenchmarkInfo {
            label_rule: rule,
            multi_attempt: self.kind == ScoreKind::MultiAttempt,
        }
    }
}

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
    labelling: &Labelling,
    split: Split,
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
    let task = extractor_of(&labelling.task);
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
            let (label, success_rate) = labelling.kind.outcome(s, labelling.threshold);
            row.push(Outcome {
                success_rate,
                label,
                ..Outcome::default()
            });
        }
        out.questions.push(Question {
            id: format!("{id_prefix}-{i}"),
            text: e.question,
            task,
            gold: None,
            split,
            benchmark: Some(labelling.task.clone()),
        });
        out.outcomes.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_rules() {
        assert_eq!(task_name("MATH_prealgebra"), "math_prealgebra");
        assert_eq!(task_name("gsm8k-test"), "gsm8k");
        assert_eq!(task_name("arc_challenge_train"), "arc_challenge");
        assert_eq!(ScoreKind::of_task("mmlu"), Some(ScoreKind::Probability));
        assert_eq!(ScoreKind::of_task("mbpp"), Some(ScoreKind::MultiAttempt));
        assert_eq!(ScoreKind::of_task("other"), None);
        assert_eq!(ScoreKind::Probability.outcome(0.3, 0.5), (true, 1.0));
        assert_eq!(ScoreKind::Probability.outcome(0.0, 0.5), (false, 0.0));
        assert_eq!(ScoreKind::MultiAttempt.outcome(0.3, 0.5), (false, 0.3));
        assert_eq!(ScoreKind::MultiAttempt.outcome(0.5, 0.5), (true, 0.5));
        assert_eq!("multi-attempt".parse(), Ok(ScoreKind::MultiAttempt));
        assert!("nope".parse::<ScoreKind>().is_err());
        let l = Labelling::for_task("other", None, 0.5);
        assert!(l.assumed && l.info().label_rule.contains("assumed"));
        let l = Labelling::for_task("other", Some(ScoreKind::Probability), 0.5);
        assert!(!l.assumed && !l.info().multi_attempt);
        assert_eq!(extractor_of("math_prealgebra"), Task::Gsm8k);
        assert_eq!(extractor_of("cmmlu"), Task::Mmlu);
        assert_eq!(extractor_of("humaneval"), Task::Generic);
    }
}
