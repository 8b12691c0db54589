//! Final-answer extraction and comparison.
//!
//! An [`Answer`] is a canonical string: for GSM8K the shortest decimal form of the number
//! (`"18"`, `"2.5"`, `"-3"`), for MMLU an upper-case option letter or `"INVALID"`.
//! Two answers are equal exactly when their canonical strings are equal, so numeric
//! equality (`18`, `18.0`, `18.00`) is handled by canonicalisation.

use std::borrow::Cow;
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

/// GSM8K: the first number after the last `####` that is followed by one, else in the last
/// `\boxed{}` holding one (`\frac{a}{b}` there reads a/b), else after the last "answer is" (any case) followed by one, else
/// the last number of the text; `None` when the text has no number.
///
/// A number is an optional sign (`-` or U+2212 directly before the digits or before `$`, not
/// after a letter, digit or `)` so `3-4` is a range), digits with optional thousands commas
/// (`1,234,567`), optional decimals (`2.50`, `.5`); `$`, `%` and units around it are ignored.
/// GSM8K calculator annotations (`<<2*9=18>>`) are removed first. Skipping markers with no
/// number after them makes the result stable under appending text without digits or `>`
/// (a property test checks it).
pub fn extract_gsm8k(response: &str) -> Option<Answer> {
    let text = strip_calculator(response);
    let text = text.as_ref();
    let lower = text.to_ascii_lowercase(); // same byte offsets as `text`
    after_marker(text, text, "####")
        .or_else(|| in_boxed(text))
        .or_else(|| after_marker(text, &lower, "answer is"))
        .or_else(|| Numbers::new(text).last())
}

/// Removes GSM8K calculator annotations `<<48/2=24>>` (one line, closed), so that what is
/// read is the visible text: `-$<<480-520=-40>>40` reads `-$40`, `$<<3*2=6>>0.06` reads `$0.06`.
fn strip_calculator(text: &str) -> Cow<'_, str> {
    if !text.contains("<<") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut rest = line;
        while let Some(i) = rest.find("<<") {
            let Some(j) = rest[i + 2..].find(">>") else {
                break;
            };
            out.push_str(&rest[..i]);
            rest = &rest[i + 2 + j + 2..];
        }
        out.push_str(rest);
    }
    Cow::Owned(out)
}

/// The first number after the last occurrence of `marker` (searched in `hay`, a same-length
/// view of `text`) that has a number after it. Linear: each occurrence only scans up to the
/// next one, as markers hold no digits.
fn after_marker(text: &str, hay: &str, marker: &str) -> Option<Answer> {
    let mut end = text.len();
    for (i, _) in hay.rmatch_indices(marker) {
        let from = i + marker.len();
        if from <= end
            && let Some(a) = Numbers::new(&text[from..end]).next()
        {
            return Some(a);
        }
        end = i;
    }
    None
}

/// The first number inside the last `\boxed{...}` that holds one (an unclosed box runs to the end).
fn in_boxed(text: &str) -> Option<Answer> {
    const OPEN: &str = "\\boxed{";
    for (i, _) in text.rmatch_indices(OPEN) {
        let rest = &text[i + OPEN.len()..];
        let mut depth = 1usize;
        let mut close = rest.len();
        for (j, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &rest[..close];
        if let Some(a) = fraction(inner).or_else(|| Numbers::new(inner).next()) {
            return Some(a);
        }
    }
    None
}

/// `\frac{a}{b}` (also `\dfrac`, `\tfrac`) as the number a/b.
fn fraction(inner: &str) -> Option<Answer> {
    let t = inner.trim_start();
    if !["\\frac{", "\\dfrac{", "\\tfrac{"]
        .iter()
        .any(|p| t.starts_with(p))
    {
        return None;
    }
    let mut nums = Numbers::new(t).filter_map(|a| a.0.parse::<f64>().ok());
    let (a, b) = (nums.next()?, nums.next()?);
    (b != 0.0)
        .then(|| canonical_number(a / b))
        .flatten()
        .map(Answer)
}

/// The numbers of a text, in order, canonicalised (see [`extract_gsm8k`] for the grammar).
struct Numbers<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Numbers<'a> {
    fn new(s: &'a str) -> Self {
        Numbers {
            b: s.as_bytes(),
            i: 0,
        }
    }

    /// Whether a sign just before byte `k` (the digits, or a `$` before them) makes the number negative.
    fn negative_before(&self, mut k: usize) -> bool {
        let b = self.b;
        if k > 0 && b[k - 1] == b'$' {
            k -= 1;
        }
        let sign_len = if k > 0 && b[k - 1] == b'-' {
            1
        } else if k >= 3 && &b[k - 3..k] == "\u{2212}".as_bytes() {
            3
        } else {
            return false;
        };
        let before = k.checked_sub(sign_len + 1).map(|j| b[j]);
        before.is_none_or(|c| !c.is_ascii_alphanumeric() && c != b')')
    }
}

impl Iterator for Numbers<'_> {
    type Item = Answer;

    fn next(&mut self) -> Option<Answer> {
        let b = self.b;
        while self.i < b.len() {
            let c = b[self.i];
            // a leading-dot decimal such as ".5" or "$.50": the dot must not follow a digit
            let dot_start = c == b'.'
                && b.get(self.i + 1).is_some_and(u8::is_ascii_digit)
                && (self.i == 0
                    || !(b[self.i - 1].is_ascii_alphanumeric() || b[self.i - 1] == b'.'));
            if !c.is_ascii_digit() && !dot_start {
                self.i += 1;
                continue;
            }
            let neg = self.negative_before(self.i);
            let mut digits = String::new();
            let mut i = self.i;
            while i < b.len() {
                if b[i].is_ascii_digit() {
                    digits.push(b[i] as char);
                    i += 1;
                } else if b[i] == b','
                    && !digits.is_empty()
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
            self.i = i;
            let value = digits.parse::<f64>().ok().map(|v| if neg { -v } else { v });
            if let Some(c) = value.and_then(canonical_number) {
                return Some(Answer(c));
            }
        }
        None
    }
}

/// MMLU: the letter after the last "answer is" / "answer:" (any case) that is followed by
/// one (`The answer is (B)`, `Answer: **C**`); else the last `(X)`; else the last line
/// starting `X.`, `X)` or `X:`; else a response that is a bare letter (`B`, `(B)`, `B.`).
/// Absent: `INVALID`. Letters A-J are accepted (MMLU uses A-D; MMLU-Pro up to J).
pub fn extract_mmlu(response: &str) -> Answer {
    let is_opt = |c: u8| (b'A'..=b'J').contains(&c);
    let letter = |c: u8| Answer((c as char).to_string());
    let b = response.as_bytes();
    // a letter standing alone: not followed by a letter or digit
    let alone = |rest: &[u8]| rest.first().is_none_or(|c| !c.is_ascii_alphanumeric());
    // 1. "answer is X" / "answer: X"
    let lower = response.to_ascii_lowercase();
    let mut keyed: Option<(usize, u8)> = None;
    for key in ["answer is", "answer:"] {
        for (i, _) in lower.rmatch_indices(key) {
            let rest = response[i + key.len()..]
                .trim_start_matches([' ', ':', '*', '"', '\'', '(', '[', '\n', '\t']);
            let rb = rest.as_bytes();
            if !rb.is_empty() && is_opt(rb[0]) && alone(&rb[1..]) {
                if keyed.is_none_or(|(j, _)| i > j) {
                    keyed = Some((i, rb[0]));
                }
                break;
            }
        }
    }
    if let Some((_, c)) = keyed {
        return letter(c);
    }
    // 2. last "(X)"
    if let Some(w) = b
        .windows(3)
        .rev()
        .find(|w| w[0] == b'(' && is_opt(w[1]) && w[2] == b')')
    {
        return letter(w[1]);
    }
    // 3. a line starting "X." / "X)" / "X:" (last such line)
    for line in response.lines().rev() {
        let l = line.trim_start_matches([' ', '*', '\t']).as_bytes();
        if l.len() >= 2 && is_opt(l[0]) && matches!(l[1], b'.' | b')' | b':') {
            return letter(l[0]);
        }
    }
    // 4. a bare letter
    let t = response
        .trim()
        .trim_matches('*')
        .trim_end_matches(['.', ')'])
        .trim_start_matches('(');
    if t.len() == 1 && is_opt(t.as_bytes()[0]) {
        return letter(t.as_bytes()[0]);
    }
    Answer(Answer::INVALID.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_without_a_number_are_skipped() {
        let g = |s: &str| extract_gsm8k(s).map(|a| a.0);
        assert_eq!(g("#### 18\n#### none").as_deref(), Some("18"));
        assert_eq!(g("\\boxed{7} then \\boxed{x}").as_deref(), Some("7"));
        assert_eq!(
            g("answer is 4. The answer is below: 9").as_deref(),
            Some("9")
        );
    }
}
