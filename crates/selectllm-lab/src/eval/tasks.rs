//! Per-task results of datasets whose questions name their benchmark (`Question::benchmark`),
//! as RouterDC publishes them: accuracy per task, the macro average over tasks, and on
//! multi-attempt tasks the *sample accuracy* (the expected accuracy of one sampled answer of
//! the members a row calls: for one member, its score; for a vote, each called member answers
//! with one sample, vote simulated under both bounds on the wrong answers, midpoint).
//!
//! Which figure compares with RouterDC's table: on probability tasks (MMLU, CMMLU, ARC, ...)
//! `accuracy`; on multi-attempt tasks (GSM8K, HumanEval, ...) `sample_accuracy`. The macro
//! average takes that figure of each task.

use std::collections::BTreeMap;

use serde::Serialize;

use selectllm_core::dataset::RoutingDataset;
use selectllm_core::vote::{SimBallot, VoteMode, Voter, WrongAnswers};

/// One task's figures in a row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TaskResult {
    /// Share of the task's test questions the row gets right (labels: the task's rule).
    pub accuracy: f64,
    /// Multi-attempt tasks: mean one-sample accuracy of what the row calls (RouterDC's figure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_accuracy: Option<f64>,
}

impl TaskResult {
    /// The figure RouterDC publishes for this task.
    pub fn comparable(&self) -> f64 {
        self.sample_accuracy.unwrap_or(self.accuracy)
    }
}

/// A task of the report: its name, test size and label rule.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    pub name: String,
    pub n_test: usize,
    pub multi_attempt: bool,
    pub label_rule: String,
    /// Which figure compares with RouterDC's published one.
    pub comparable: &'static str,
}

/// The task of every test position.
pub(super) struct TaskIndex {
    pub infos: Vec<TaskInfo>,
    /// Task index per test position (in the order rows push questions).
    of: Vec<usize>,
}

impl TaskIndex {
    /// `None` when the dataset names no benchmark for some test question.
    pub fn new(ds: &RoutingDataset, tests: &[(usize, usize)]) -> Option<TaskIndex> {
        let mut infos: Vec<TaskInfo> = Vec::new();
        let mut of = Vec::with_capacity(tests.len());
        for &(_, q) in tests {
            let name = ds.questions[q].benchmark.as_ref()?;
            let t = match infos.iter().position(|i| &i.name == name) {
                Some(t) => t,
                None => {
                    let b = ds.benchmarks.get(name);
                    let multi = b.is_some_and(|b| b.multi_attempt);
                    infos.push(TaskInfo {
                        name: name.clone(),
                        n_test: 0,
                        multi_attempt: multi,
                        label_rule: b.map_or_else(String::new, |b| b.label_rule.clone()),
                        comparable: if multi { "sample_accuracy" } else { "accuracy" },
                    });
                    infos.len() - 1
                }
            };
            infos[t].n_test += 1;
            of.push(t);
        }
        Some(TaskIndex { infos, of })
    }

    /// A row's per-task results and macro accuracy from its per-question values (correctness
    /// midpoint, one-sample accuracy) in test order; `None` when their count is not the
    /// number of test questions.
    pub fn figures(&self, per_question: &[(f64, f64)]) -> Option<(Tasks, Option<f64>)> {
        if per_question.len() != self.of.len() {
            return None;
        }
        let k = self.infos.len();
        let mut acc = vec![0.0; k];
        let mut sample = vec![0.0; k];
        let mut known = vec![true; k];
        for (&t, &(mid, s)) in self.of.iter().zip(per_question) {
            acc[t] += mid;
            if s.is_nan() {
                known[t] = false;
            } else {
                sample[t] += s;
            }
        }
        let mut tasks = Tasks::new();
        let mut macro_sum = 0.0;
        let mut macro_ok = true;
        for (t, info) in self.infos.iter().enumerate() {
            let n = info.n_test.max(1) as f64;
            let r = TaskResult {
                accuracy: acc[t] / n,
                sample_accuracy: (info.multi_attempt && known[t]).then(|| sample[t] / n),
            };
            macro_ok &= !info.multi_attempt || r.sample_accuracy.is_some();
            macro_sum += r.comparable();
            tasks.insert(info.name.clone(), r);
        }
        Some((tasks, macro_ok.then(|| macro_sum / k.max(1) as f64)))
    }
}

/// Expected correctness (midpoint of the simulated bounds) of a vote in which each member of
/// `members` answers with one sample, right with probability `rates[member]`; exact, over all
/// 2^s right/wrong patterns. One member: its rate.
pub fn one_sample_vote(
    voter: &Voter<'_>,
    members: &[usize],
    rates: &[f32],
    weights: Option<&[f32]>,
    mode: VoteMode,
) -> f64 {
    match members {
        [] => 0.0,
        [m] => rates[*m] as f64,
        _ => {
            let s = members.len();
            let mut total = 0.0;
            let mut ballots: Vec<SimBallot> = members
                .iter()
                .enumerate()
                .map(|(i, &m)| SimBallot {
                    member: m,
                    correct: false,
                    success_rate: 0.0,
                    weight: weights.map_or(1.0, |w| w[i]),
                })
                .collect();
            for pattern in 0u32..(1 << s) {
                let mut p = 1.0f64;
                for (i, b) in ballots.iter_mut().enumerate() {
                    let r = rates[b.member].clamp(0.0, 1.0) as f64;
                    b.correct = pattern & (1 << i) != 0;
                    b.success_rate = if b.correct { 1.0 } else { 0.0 };
                    p *= if b.correct { r } else { 1.0 - r };
                }
                if p == 0.0 {
                    continue;
                }
                let lo = voter.simulate(&ballots, mode, WrongAnswers::AllAgree) as u8 as f64;
                let hi = voter.simulate(&ballots, mode, WrongAnswers::AllDiffer) as u8 as f64;
                total += p * (lo + hi) / 2.0;
            }
            total
        }
    }
}

/// Figures published in the RouterDC paper (Chen et al., NeurIPS 2024, arXiv 2409.19886),
/// copied, never recomputed: `(label, [(task, percent)])`.
pub fn published_references(tasks: &[TaskInfo]) -> Vec<(&'static str, Vec<(&'static str, f64)>)> {
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let mut out = Vec::new();
    for (label, figures) in PUBLISHED {
        if figures.iter().any(|(t, _)| names.contains(t)) {
            out.push((
                *label,
                figures
                    .iter()
                    .filter(|(t, _)| names.contains(t))
                    .copied()
                    .collect(),
            ));
        }
    }
    out
}

/// RouterDC's published test accuracy (%), in-distribution (Table 1). Its CMMLU and
/// out-of-distribution figures are left out: not sourced here (see BENCHMARKS.md).
const PUBLISHED: &[(&str, &[(&str, f64)])] = &[(
    "published: RouterDC (arXiv 2409.19886, Table 1; not recomputed)",
    &[
        ("mmlu", 61.07),
        ("gsm8k", 70.32),
        ("arc_challenge", 58.52),
        ("humaneval", 51.02),
    ],
)];

/// Per-task results keyed by task name (the JSON shape of `Row::tasks`).
pub type Tasks = BTreeMap<String, TaskResult>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_vote_is_exact() {
        let lat = [1.0, 1.0, 1.0];
        let v = Voter::new(&lat, &[]);
        let rates = [0.5f32, 0.5, 0.0];
        assert_eq!(
            one_sample_vote(&v, &[0], &rates, None, VoteMode::PerMember),
            0.5
        );
        // two members each right half the time: both right 1/4; one right 1/2 -> a 1-1 tie
        // broken by member order (member 0 first): right when member 0 is -> +1/4
        let two = one_sample_vote(&v, &[0, 1], &rates, None, VoteMode::PerMember);
        assert!((two - 0.5).abs() < 1e-12, "{two}");
        // with a member that is never right the bounds differ: 0 and 1 right vs 2 wrong
        let three = one_sample_vote(&v, &[0, 1, 2], &[1.0, 0.0, 0.0], None, VoteMode::PerMember);
        // member 0 alone right: low bound (1 and 2 agree) wrong, high bound (all differ) a tie won by member 0
        assert!((three - 0.5).abs() < 1e-12, "{three}");
    }
}
