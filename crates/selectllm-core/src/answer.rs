//! Final-answer extraction and comparison.
//!
//! An [`Answer`] is a canonical string: for GSM8K the shortest decimal form of the number
//! (`"18"`, `"2.5"`, `"-3"`), for MMLU an upper-case option letter or `"INVALID"`.
//! Two answers are equal exactly when their canonical strings are equal, so numeric
//! equality (`18`, `18.0`, `18.00`) is handled by canonicalisation.
//!
//! Extraction: [`extract_gsm8k`] (in `answer/gsm8k.rs`) and [`extract_mmlu`] (`answer/mmlu.rs`);
//! tests in `tests/extract_*.rs` and `tests/real_agreement.rs`, bench in `benches/extract.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};

mod gsm8k;
mod mmlu;

pub use gsm8k::extract_gsm8k;
pub use mmlu::extract_mmlu;

/// The benchmark family a question belongs to; decides how answers are extracted and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Grade-school math: the final number of the response (see [`extract_gsm8k`]).
    Gsm8k,
    /// Multiple choice: the answer is an option letter.
    Mmlu,
    /// Anything else: the answer is the trimmed response text.
    Generic,
}

impl Task {
    /// How many answer options a question of this task has (for the log-odds prior of
    /// weighted votes): four for MMLU-style multiple choice, `None` for open answers.
    pub fn options(self) -> Option<usize> {
        match self {
            Task::Mmlu => Some(4),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Task::Gsm8k => "gsm8k",
            Task::Mmlu => "mmlu",
            Task::Generic => "generic",
        }
    }

    /// Extracts the final answer from a response. `None` means "no answer"; for MMLU an
    /// absent letter is the answer `INVALID` (it still counts, as in the original code).
    pub fn extract(self, response: &str) -> Option<Answer> {
        match self {
            Task::Gsm8k => extract_gsm8k(response),
            Task::Mmlu => Some(extract_mmlu(response)),
            Task::Generic => {
                let t = response.trim();
                (!t.is_empty()).then(|| Answer(t.to_string()))
            }
        }
    }

    /// Canonicalises a gold answer given as text (`"18"`, `"1,000"`, `"C"`, `"2"` as an MMLU index is not accepted here).
    pub fn canonical_gold(self, gold: &str) -> Option<Answer> {
        match self {
            Task::Gsm8k => {
                let g = gold.rsplit("####").next().unwrap_or(gold);
                extract_gsm8k(g)
            }
            Task::Mmlu => {
                let t = gold.trim().to_ascii_uppercase();
                (t.len() == 1 && t.as_bytes()[0].is_ascii_uppercase()).then_some(Answer(t))
            }
            Task::Generic => Task::Generic.extract(gold),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gsm8k" | "math" => Ok(Task::Gsm8k),
            "mmlu" | "mc" | "multiple-choice" => Ok(Task::Mmlu),
            "generic" | "text" => Ok(Task::Generic),
            other => Err(format!(
                "unknown task `{other}` (expected gsm8k, mmlu or generic)"
            )),
        }
    }
}

/// A canonical final answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Answer(pub String);

impl Answer {
    pub const INVALID: &'static str = "INVALID";

    pub fn new(s: impl Into<String>) -> Self {
        Answer(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_invalid(&self) -> bool {
        self.0 == Self::INVALID
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Canonical text of a number: shortest round-trip decimal, no trailing `.0`, no `-0`.
pub fn canonical_number(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let x = if x == 0.0 { 0.0 } else { x };
    Some(format!("{x}"))
}
