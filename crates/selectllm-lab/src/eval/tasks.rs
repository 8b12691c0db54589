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

/// One test question's figures in a row: whether it is right, and its one-sample accuracy
/// (NaN where the row does not know it), each as bounds `(low, high)` (apart when the vote
/// is simulated: wrong answers all agree, all differ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuestionFigures {
    pub right: (f64, f64),
    pub sample: (f64, f64),
}

/// A row's macro average over tasks: the midpoint figure, and its bounds when they differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Macro {
    pub mid: f64,
    pub bounds: Option<(f64, f64)>,
}

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

    /// A row's per-task results (midpoints of the bounds) and macro average from its
    /// per-question figures in test order; `None` when their count is not the number of test
    /// questions.
    pub fn figures(&self, per_question: &[QuestionFigures]) -> Option<(Tasks, Option<Macro>)> {
        if per_question.len() != self.of.len() {
            return None;
        }
        let k = self.infos.len();
        // per task: sums of (right low, right high, sample low, sample high)
        let mut sums = vec![[0.0f64; 4]; k];
        let mut known = vec![true; k];
        for (&t, f) in self.of.iter().zip(per_question) {
            sums[t][0] += f.right.0;
            sums[t][1] += f.right.1;
            if f.sample.0.is_nan() || f.sample.1.is_nan() {
                known[t] = false;
            } else {
                sums[t][2] += f.sample.0;
                sums[t][3] += f.sample.1;
            }
        }
        let mut tasks = Tasks::new();
        // the comparable figure's (low, high) per task
        let mut comparable = Vec::with_capacity(k);
        for (t, info) in self.infos.iter().enumerate() {
            let n = info.n_test.max(1) as f64;
            let [rl, rh, sl, sh] = sums[t].map(|v| v / n);
            let sampled = info.multi_attempt && known[t];
            tasks.insert(
                info.name.clone(),
                TaskResult {
                    accuracy: (rl + rh) / 2.0,
                    sample_accuracy: sampled.then_some((sl + sh) / 2.0),
                },
            );
            if info.multi_attempt && !sampled {
                comparable.clear();
                break;
            }
            comparable.push(if sampled { (sl, sh) } else { (rl, rh) });
        }
        let figure = (comparable.len() == k && k > 0).then(|| {
            let (lo, hi) = comparable
                .iter()
                .fold((0.0, 0.0), |(a, b), (l, h)| (a + l, b + h));
            let (lo, hi) = (lo / k as f64, hi / k as f64);
            Macro {
                mid: (lo + hi) / 2.0,
                bounds: (hi - lo > 1e-12).then_some((lo, hi)),
            }
        });
        Some((tasks, figure))
    }
}

/// Expected correctness, under each simulated bound `(low, high)`, of a vote in which each
/// member of `members` answers with one sample, right with probability `rates[member]`; exact,
/// over all 2^s right/wrong patterns. One member: its rate.
pub fn one_sample_vote(
    voter: &Voter<'_>,
    members: &[usize],
    rates: &[f32],
    weights: Option<&[f32]>,
    mode: VoteMode,
) -> (f64, f64) {
    match members {
        [] => (0.0, 0.0),
        [m] => (rates[*m] as f64, rates[*m] as f64),
        _ => {
            let s = members.len();
            let (mut low, mut high) = (0.0, 0.0);
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
                low += p * lo;
                high += p * hi;
            }
            (low, high)
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
            (0.5, 0.5)
        );
        // two members each right half the time: both right 1/4; one right 1/2 -> a 1-1 tie
        // broken by member order (member 0 first): right when member 0 is -> +1/4
        let (lo, hi) = one_sample_vote(&v, &[0, 1], &rates, None, VoteMode::PerMember);
        assert!(
            (lo - 0.5).abs() < 1e-12 && (hi - 0.5).abs() < 1e-12,
            "{lo} {hi}"
        );
        // member 0 alone right: low bound (1 and 2 agree) wrong, high bound (all differ) a
        // tie won by member 0
        let three = one_sample_vote(&v, &[0, 1, 2], &[1.0, 0.0, 0.0], None, VoteMode::PerMember);
        assert_eq!(three, (0.0, 1.0));
    }

    #[test]
    fn the_macro_average_carries_the_bounds_of_simulated_votes() {
        let info = |name: &str, multi| TaskInfo {
            name: name.into(),
            n_test: 2,
            multi_attempt: multi,
            label_rule: String::new(),
            comparable: if multi { "sample_accuracy" } else { "accuracy" },
        };
        let index = TaskIndex {
            infos: vec![info("mmlu", false), info("gsm8k", true)],
            of: vec![0, 0, 1, 1],
        };
        let q = |right, sample| QuestionFigures { right, sample };
        let exact = [
            q((1.0, 1.0), (1.0, 1.0)),
            q((0.0, 0.0), (0.0, 0.0)),
            q((1.0, 1.0), (0.75, 0.75)),
            q((0.0, 0.0), (0.25, 0.25)),
        ];
        let (tasks, m) = index.figures(&exact).unwrap();
        assert_eq!(tasks["gsm8k"].sample_accuracy, Some(0.5));
        assert_eq!(
            m,
            Some(Macro {
                mid: 0.5,
                bounds: None
            })
        );
        // simulated: mmlu's comparable figure is accuracy, gsm8k's the sample accuracy
        let sim = [
            q((0.0, 1.0), (0.0, 1.0)),
            q((0.0, 0.0), (0.0, 0.0)),
            q((1.0, 1.0), (0.5, 1.0)),
            q((0.0, 0.0), (0.0, 0.5)),
        ];
        let (tasks, m) = index.figures(&sim).unwrap();
        assert_eq!(tasks["mmlu"].accuracy, 0.25);
        let m = m.unwrap();
        assert_eq!(m.bounds, Some((0.125, 0.625)));
        assert!((m.mid - 0.375).abs() < 1e-12);
        // a multi-attempt task whose sample accuracy is unknown: no macro average
        let mut unknown = exact;
        unknown[3].sample = (f64::NAN, f64::NAN);
        assert_eq!(index.figures(&unknown).unwrap().1, None);
        assert!(index.figures(&exact[..3]).is_none());
    }
}
