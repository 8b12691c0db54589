//! Integration tests of the lab: one binary, shared helpers.

mod bad_input;
mod checkpoint;
mod datasets;
mod eval;
mod order;

use std::path::PathBuf;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Member, Outcome, Question, RoutingDataset, Split};

/// The public data folder (`../shared/data` beside the repository, or `$SELECTLLM_DATA`).
pub fn data_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cand = std::env::var_os("SELECTLLM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("../../../shared/data"));
    assert!(
        cand.join("routerdc").is_dir(),
        "the public data folder is missing: expected {} (set SELECTLLM_DATA)",
        cand.display()
    );
    cand
}

/// A small deterministic answer-level dataset: `n` questions, 3 members whose skill depends on
/// a keyword in the question, so a classifier can learn who is right.
pub fn synthetic(n: usize, with_answers: bool) -> RoutingDataset {
    let members = vec![
        Member::named("alpha"),
        Member::named("beta"),
        Member::named("gamma"),
    ];
    let mut questions = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..n {
        let topic = ["geometry", "fractions", "money"][i % 3];
        let gold = Answer::new((i % 7).to_string());
        questions.push(Question {
            id: format!("q{i}"),
            text: format!("A {topic} question number {i} about {topic} things"),
            task: Task::Gsm8k,
            gold: Some(gold.clone()),
            split: if i % 4 == 0 {
                Split::Test
            } else {
                Split::Train
            },
            benchmark: None,
        });
        let row = (0..3)
            .map(|m| {
                // member m is right on topic m, and on every fifth question regardless
                let right = i % 3 == m || i % 5 == 0;
                let ans = if right {
                    gold.clone()
                } else {
                    Answer::new(format!("{}", 100 + m + i % 2))
                };
                Outcome {
                    answers: if with_answers { vec![ans] } else { vec![] },
                    success_rate: if right { 1.0 } else { 0.0 },
                    label: right,
                    ..Outcome::default()
                }
            })
            .collect();
        outcomes.push(row);
    }
    RoutingDataset {
        name: "synthetic".into(),
        members,
        questions,
        outcomes,
        benchmarks: Default::default(),
    }
}
