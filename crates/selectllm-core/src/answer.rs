//! Final-answer extraction and comparison.
//!
//! An [`Answer`] is a canonical string: for GSM8K the shortest decimal form of the number
//! (`"18"`, `"2.5"`, `"-3"`), for MMLU an upper-case option letter or `"INVALID"`.
//! Two answers are equal exactly when their canonical strings are equal, so numeric
//! equality (`18`, `18.0`, `18.00`) is handled by canonicalisation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The benchmark family a question belongs to; decides how answers are extracted and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Grade-school math: the answer is the last number of the response.
    Gsm8k,
    /// Multiple choice: the answer is an option letter.
    Mmlu,
    /// Anything else: the answer is the trimmed response text.
    Generic,
}

impl Task {
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

/// GSM8K: the number after the last `####`, else inside the last `\boxed{}`, else after the
/// last "answer is", else the last number of the text. A number is an optional sign, digits
/// with optional thousands commas, optional decimals; `$` and `%` around it are ignored.
pub fn extract_gsm8k(response: &str) -> Option<Answer> {
    let candidates: [Option<&str>; 3] = [
        response.rfind("####").map(|i| &response[i + 4..]),
        last_boxed(response),
        rfind_ci(response, "answer is").map(|i| &response[i + 9..]),
    ];
    for tail in candidates.into_iter().flatten() {
        if let Some(a) = numbers(tail).into_iter().next() {
            return Some(a);
        }
    }
    numbers(response).pop()
}

fn last_boxed(s: &str) -> Option<&str> {
    let i = s.rfind("\\boxed{")?;
    let rest = &s[i + 7..];
    let mut depth = 1usize;
    for (j, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..j]);
                }
            }
            _ => {}
        }
    }
    Some(rest)
}

fn rfind_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.to_ascii_lowercase();
    h.rfind(needle)
}

/// All numbers in `s`, in order, canonicalised.
fn numbers(s: &str) -> Vec<Answer> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        // sign: a '-' directly before the digits (possibly after '$'), not part of a word or range like "3-4"
        let mut neg = false;
        let mut k = start;
        if k > 0 && b[k - 1] == b'$' {
            k -= 1;
        }
        if k > 0 && b[k - 1] == b'-' {
            let before = if k >= 2 { Some(b[k - 2]) } else { None };
            neg = before.is_none_or(|c| !c.is_ascii_alphanumeric() && c != b')');
        }
        let mut digits = String::new();
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_digit() {
                digits.push(c as char);
                i += 1;
            } else if c == b','
                && i + 3 < b.len() + 1
                && b.get(i + 1..i + 4)
                    .is_some_and(|w| w.iter().all(u8::is_ascii_digit))
                && b.get(i + 4).is_none_or(|c| !c.is_ascii_digit())
            {
                i += 1; // thousands separator
            } else {
                break;
            }
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            digits.push('.');
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                digits.push(b[i] as char);
                i += 1;
            }
        }
        if let Ok(mut v) = digits.parse::<f64>() {
            if neg {
                v = -v;
            }
            if let Some(c) = canonical_number(v) {
                out.push(Answer(c));
            }
        }
    }
    out
}

/// MMLU: the last `(X)`; else the letter after the last "answer is"/"answer:"; else a line
/// starting with `X.` or `X)`; else a response that is a bare letter. Absent: `INVALID`.
/// Letters A-J are accepted (MMLU uses A-D).
pub fn extract_mmlu(response: &str) -> Answer {
    let is_opt = |c: u8| (b'A'..=b'J').contains(&c);
    let b = response.as_bytes();
    // 1. last "(X)"
    for i in (0..b.len().saturating_sub(2)).rev() {
        if b[i] == b'(' && is_opt(b[i + 1]) && b[i + 2] == b')' {
            return Answer((b[i + 1] as char).to_string());
        }
    }
    // 2. "answer is X" / "answer: X"
    let lower = response.to_ascii_lowercase();
    for key in ["answer is", "answer:"] {
        if let Some(i) = lower.rfind(key) {
            let rest = response[i + key.len()..]
                .trim_start_matches([' ', ':', '*', '"', '\'', '\n', '\t']);
            let rb = rest.as_bytes();
            if !rb.is_empty()
                && is_opt(rb[0])
                && rb.get(1).is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                return Answer((rb[0] as char).to_string());
            }
        }
    }
    // 3. a line starting "X." or "X)" (last such line)
    for line in response.lines().rev() {
        let l = line.trim_start_matches([' ', '*', '\t']).as_bytes();
        if l.len() >= 2 && is_opt(l[0]) && (l[1] == b'.' || l[1] == b')' || l[1] == b':') {
            return Answer((l[0] as char).to_string());
        }
    }
    // 4. a bare letter
    let t = response
        .trim()
        .trim_end_matches(['.', ')'])
        .trim_start_matches('(');
    if t.len() == 1 && is_opt(t.as_bytes()[0]) {
        return Answer(t.to_string());
    }
    Answer(Answer::INVALID.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Option<String> {
        extract_gsm8k(s).map(|a| a.0)
    }

    #[test]
    fn gsm8k_basic() {
        assert_eq!(g("so 9 * 2 = $18\n#### 18").as_deref(), Some("18"));
        assert_eq!(
            g("The answer is 1,234.50 dollars").as_deref(),
            Some("1234.5")
        );
        assert_eq!(g("it falls to -3 degrees").as_deref(), Some("-3"));
        assert_eq!(g("from 3-4 we get 7").as_deref(), Some("7"));
        assert_eq!(g("\\boxed{42} and then 7").as_deref(), Some("42"));
        assert_eq!(g("no number here"), None);
        assert_eq!(g("$18.00").as_deref(), Some("18"));
        assert_eq!(g("it is 50%").as_deref(), Some("50"));
    }

    #[test]
    fn mmlu_basic() {
        assert_eq!(extract_mmlu("I think (B) then (C)").0, "C");
        assert_eq!(extract_mmlu("The answer is D.").0, "D");
        assert_eq!(extract_mmlu("Reasoning...\nB. Physics").0, "B");
        assert_eq!(extract_mmlu(" a ").0, "INVALID");
        assert_eq!(extract_mmlu("A").0, "A");
        assert_eq!(extract_mmlu("nothing").0, "INVALID");
    }
}
