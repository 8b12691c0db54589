//! MMLU option-letter extraction (see [`extract_mmlu`]).

use super::Answer;

/// MMLU: the letter after the last "answer is" / "answer:" (any case) that is followed by
/// one (`The answer is (B)`, `Answer: **C**`, `the answer is option D`); else the last `(X)`; else the last line
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
            const SKIP: [char; 9] = [' ', ':', '*', '"', '\'', '(', '[', '\n', '\t'];
            let mut rest = response[i + key.len()..].trim_start_matches(SKIP);
            // "the answer is option B" / "choice (C)"
            for word in ["option", "choice"] {
                if rest
                    .get(..word.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(word))
                {
                    rest = rest[word.len()..].trim_start_matches(SKIP);
                }
            }
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
