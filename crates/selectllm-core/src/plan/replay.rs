//! The offline driver: runs an execution against one question's recorded answers and latencies.

use super::{Execution, Step};
use crate::answer::Answer;

/// What a plan did on one question, replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub answer: Option<Answer>,
    /// Calls started (cancelled ones included).
    pub calls: usize,
    /// Seconds from the first call until the answer was decided.
    pub latency: f64,
    /// Seconds the members spent on the query: answered calls in full, cancelled ones until
    /// the decision.
    pub latency_sum: f64,
    /// Expected USD of the calls started (cancelled calls counted in full: an upper bound).
    pub cost: f64,
    /// Members called, in call order.
    pub called: Vec<usize>,
    pub cancelled: Vec<usize>,
    pub reason: String,
}

/// Replays `exec` with member `m` answering `answers[m]` after `latency[m]` seconds from its
/// call; `cost[m]` is its expected cost per call. Simultaneous arrivals come in call order.
pub fn replay(mut exec: Execution, answers: &[&[Answer]], latency: &[f64], cost: &[f64]) -> Replay {
    let mut now = 0.0f64;
    // (finish time, call sequence, member, start time)
    let mut pending: Vec<(f64, usize, usize, f64)> = Vec::new();
    let mut called = Vec::new();
    let mut busy = 0.0;
    loop {
        match exec.step() {
            Step::Call(members) => {
                for m in members {
                    let l = latency.get(m).copied().unwrap_or(0.0).max(0.0);
                    pending.push((now + l, called.len(), m, now));
                    called.push(m);
                }
            }
            Step::Wait => {
                let Some(i) = (0..pending.len()).min_by(|&a, &b| {
                    pending[a]
                        .0
                        .total_cmp(&pending[b].0)
                        .then(pending[a].1.cmp(&pending[b].1))
                }) else {
                    // a plan waiting with nothing outstanding would spin: stop with no answer
                    return finish(None, now, busy, &called, Vec::new(), cost, "stalled".into());
                };
                let (t, _, m, start) = pending.swap_remove(i);
                now = now.max(t);
                busy += t - start;
                let a = answers.get(m).copied().unwrap_or(&[]);
                if exec.receive(m, a).is_err() {
                    return finish(None, now, busy, &called, Vec::new(), cost, "stalled".into());
                }
            }
            Step::Done(d) => {
                for &m in &d.cancel {
                    if let Some(p) = pending.iter().find(|p| p.2 == m) {
                        busy += now - p.3;
                    }
                }
                return finish(d.answer, now, busy, &called, d.cancel, cost, d.reason);
            }
        }
    }
}

fn finish(
    answer: Option<Answer>,
    now: f64,
    busy: f64,
    called: &[usize],
    cancelled: Vec<usize>,
    cost: &[f64],
    reason: String,
) -> Replay {
    Replay {
        answer,
        calls: called.len(),
        latency: now,
        latency_sum: busy,
        cost: called
            .iter()
            .map(|&m| cost.get(m).copied().unwrap_or(0.0))
            .sum(),
        called: called.to_vec(),
        cancelled,
        reason,
    }
}
