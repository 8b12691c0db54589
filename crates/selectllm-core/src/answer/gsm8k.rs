//! GSM8K final-number extraction (see [`extract_gsm8k`]).

use std::borrow::Cow;

use super::{Answer, canonical_number};

/// GSM8K: the first number after the last `####` that is followed by one, else in the last
/// `\boxed{}` holding one (`\frac{a}{b}` there reads a/b), else after the last "answer is"
/// (any case) followed by one on its line, else the last number of the text; `None` when
/// there is none.
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
    after_marker(text, text, "####", false)
        .or_else(|| in_boxed(text))
        .or_else(|| after_marker(text, &lower, "answer is", true))
        .or_else(|| last_number(text))
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
/// view of `text`) that has a number after it, on the same line when `same_line`. Linear:
/// each occurrence only scans up to the next one, as markers hold no digits.
fn after_marker(text: &str, hay: &str, marker: &str, same_line: bool) -> Option<Answer> {
    let mut end = text.len();
    for (i, _) in hay.rmatch_indices(marker) {
        let from = i + marker.len();
        if from <= end {
            let mut tail = &text[from..end];
            if same_line {
                tail = tail.split('\n').next().unwrap_or(tail);
            }
            if let Some(a) = first_number(tail) {
                return Some(a);
            }
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
        if let Some(a) = fraction(inner).or_else(|| first_number(inner)) {
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
    let mut nums = Numbers::new(t).filter_map(Num::value);
    let (a, b) = (nums.next()?, nums.next()?);
    (b != 0.0)
        .then(|| canonical_number(a / b))
        .flatten()
        .map(Answer)
}

/// A number found in a text: its bytes (digits, thousands commas, decimal point) and sign.
/// Canonicalised only on demand, so scanning a response costs no allocation per number.
#[derive(Debug, Clone, Copy)]
struct Num<'a> {
    bytes: &'a [u8],
    neg: bool,
}

impl Num<'_> {
    fn value(self) -> Option<f64> {
        let mut digits = String::with_capacity(self.bytes.len());
        digits.extend(
            self.bytes
                .iter()
                .filter(|&&c| c != b',')
                .map(|&c| c as char),
        );
        let v = digits.parse::<f64>().ok()?;
        Some(if self.neg { -v } else { v })
    }

    fn answer(self) -> Option<Answer> {
        self.value().and_then(canonical_number).map(Answer)
    }
}

/// The first number of `s` that has a canonical form.
fn first_number(s: &str) -> Option<Answer> {
    Numbers::new(s).find_map(Num::answer)
}

/// The last number of `s` that has a canonical form.
fn last_number(s: &str) -> Option<Answer> {
    let nums: Vec<Num<'_>> = Numbers::new(s).collect();
    nums.into_iter().rev().find_map(Num::answer)
}

/// The numbers of a text, in order (see [`extract_gsm8k`] for the grammar).
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

impl<'a> Iterator for Numbers<'a> {
    type Item = Num<'a>;

    fn next(&mut self) -> Option<Num<'a>> {
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
            let start = self.i;
            let neg = self.negative_before(start);
            let mut i = start;
            while i < b.len() {
                if b[i].is_ascii_digit() {
                    i += 1;
                } else if b[i] == b','
                    && i > start
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
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            self.i = i;
            return Some(Num {
                bytes: &b[start..i],
                neg,
            });
        }
        None
    }
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
