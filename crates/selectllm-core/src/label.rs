//! Per-member majority answers and correctness labels, exactly as the original code.

use std::collections::HashMap;

use crate::answer::{Answer, Task};

/// The most frequent answer; on ties, the one seen first. `None` for no answers.
pub fn majority(answers: &[Answer]) -> Option<&Answer> {
    let mut counts: HashMap<&Answer, (usize, usize)> = HashMap::new();
    for (i, a) in answers.iter().enumerate() {
        counts.entry(a).or_insert((0, i)).0 += 1;
    }
    counts
        .into_iter()
        .max_by(|(_, (ca, fa)), (_, (cb, fb))| ca.cmp(cb).then(fb.cmp(fa)))
        .map(|(a, _)| a)
}

/// Label and success rate of one member on one question from its raw sample answers.
///
/// GSM8K drops unparseable samples (`None`) before taking the mode; MMLU never has `None`
/// (absent letters are `INVALID`, which counts as an answer). Success rate is over all samples.
pub fn label_samples(task: Task, samples: &[Option<Answer>], gold: &Answer) -> LabelledSamples {
    let n = samples.len();
    let kept: Vec<Answer> = match task {
        Task::Gsm8k => samples.iter().flatten().cloned().collect(),
        _ => samples
            .iter()
            .map(|a| a.clone().unwrap_or_else(|| Answer::new(Answer::INVALID)))
            .collect(),
    };
    let correct = kept.iter().filter(|a| *a == gold).count();
    let label = majority(&kept).is_some_and(|m| m == gold);
    LabelledSamples {
        success_rate: if n == 0 {
            0.0
        } else {
            correct as f32 / n as f32
        },
        label,
        answers: kept,
    }
}

/// Result of [`label_samples`].
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSamples {
    pub answers: Vec<Answer>,
    pub success_rate: f32,
    pub label: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Answer {
        Answer::new(s)
    }

    #[test]
    fn majority_first_seen_tie() {
        let v = [a("2"), a("3"), a("3"), a("2")];
        assert_eq!(majority(&v), Some(&a("2")));
        let v = [a("2"), a("3"), a("3")];
        assert_eq!(majority(&v), Some(&a("3")));
        assert_eq!(majority(&[]), None);
    }

    #[test]
    fn labels_drop_unparseable_gsm8k() {
        let s = [None, None, None, Some(a("5")), Some(a("5")), Some(a("4"))];
        let l = label_samples(Task::Gsm8k, &s, &a("5"));
        assert!(l.label);
        assert!((l.success_rate - 2.0 / 6.0).abs() < 1e-6);
        let s = [None, None, Some(a("B"))];
        let l = label_samples(Task::Mmlu, &s, &a("B"));
        assert!(!l.label, "INVALID x2 beats B");
    }
}
