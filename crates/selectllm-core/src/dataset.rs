//! The routing dataset: questions, pool members, and one outcome per (question, member).

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, Task};

/// Which part of the data a question belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One LLM of the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// Seconds per call; `None` when unknown (evaluation then uses a configured default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
    /// USD per million input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_in: Option<f64>,
    /// USD per million output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_out: Option<f64>,
}

impl Member {
    pub fn named(name: impl Into<String>) -> Self {
        Member {
            name: name.into(),
            latency_s: None,
            price_in: None,
            price_out: None,
        }
    }
}

/// A benchmark question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub task: Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<Answer>,
    pub split: Split,
    /// The benchmark the question comes from (`gsm8k`, `mmlu`, `cmmlu`, ...) when a dataset
    /// mixes several; per-task results group by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
}

/// What one member did on one question.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Extracted answers of the samples, in sampling order (empty when only correctness is known).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Answer>,
    /// Share of samples that were correct (or a provider's score in [0, 1]).
    pub success_rate: f32,
    /// Whether the member's majority answer is correct.
    pub label: bool,
    /// Mean seconds per call, measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<f64>,
}

impl Outcome {
    /// The member's majority answer, when answers are known (first-seen on ties).
    pub fn majority(&self) -> Option<&Answer> {
        crate::label::majority(&self.answers)
    }
}

/// How the outcomes of one benchmark were labelled, as the reader that made them says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkInfo {
    /// The label rule in words (e.g. `score > 0 (probability task)`).
    pub label_rule: String,
    /// Whether `success_rate` is the share of several sampled answers that were correct, so
    /// the mean success rate of a chosen member (its one-sample accuracy) is a figure of its own.
    pub multi_attempt: bool,
}

/// Questions x members, with one outcome for every pair.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingDataset {
    pub name: String,
    pub members: Vec<Member>,
    pub questions: Vec<Question>,
    /// `outcomes[q][m]` for question `q` and member `m`.
    pub outcomes: Vec<Vec<Outcome>>,
    /// Label rule of each benchmark named by `Question::benchmark` (empty when the reader
    /// has nothing to say beyond the outcomes).
    pub benchmarks: std::collections::BTreeMap<String, BenchmarkInfo>,
}

impl RoutingDataset {
    /// Whether outcomes carry extracted answers (a real vote is possible). A member with no
    /// answer on a question (nothing extractable) abstains from that question's vote.
    pub fn answer_level(&self) -> bool {
        self.outcomes
            .iter()
            .any(|row| row.iter().any(|o| !o.answers.is_empty()))
    }

    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    /// Indices of the questions in `split`.
    pub fn split_indices(&self, split: Split) -> Vec<usize> {
        (0..self.questions.len())
            .filter(|&i| self.questions[i].split == split)
            .collect()
    }

    /// Labels of question `q`, one per member.
    pub fn labels(&self, q: usize) -> Vec<bool> {
        self.outcomes[q].iter().map(|o| o.label).collect()
    }

    /// The benchmarks of the questions, in first-seen order (empty when none is named).
    pub fn benchmark_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in self.questions.iter().filter_map(|q| q.benchmark.as_ref()) {
            if !out.contains(b) {
                out.push(b.clone());
            }
        }
        out
    }

    /// Checks the shape invariants; returns a message naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.members.is_empty() {
            return Err(format!("dataset `{}` has no members", self.name));
        }
        if self.questions.is_empty() {
            return Err(format!("dataset `{}` has no questions", self.name));
        }
        if self.outcomes.len() != self.questions.len() {
            return Err(format!(
                "dataset `{}`: {} questions but {} outcome rows",
                self.name,
                self.questions.len(),
                self.outcomes.len()
            ));
        }
        for (q, row) in self.outcomes.iter().enumerate() {
            if row.len() != self.members.len() {
                return Err(format!(
                    "dataset `{}`: question `{}` has {} outcomes for {} members",
                    self.name,
                    self.questions[q].id,
                    row.len(),
                    self.members.len()
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.members {
            if !seen.insert(m.name.as_str()) {
                return Err(format!(
                    "dataset `{}`: member `{}` appears twice",
                    self.name, m.name
                ));
            }
        }
        Ok(())
    }
}
