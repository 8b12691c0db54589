//! The live driver of an execution plan (`selectllm_core::plan`): it starts the calls each
//! step names, feeds every answer back as it arrives, and when the plan has decided, drops the
//! calls still outstanding (which closes their connections); then the reply is built from the
//! winner. The offline driver (`plan::replay`) runs the same [`Execution`] on recorded
//! answers, so both make the same decisions from the same arrival order.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use selectllm_core::plan::{Execution, Step};
use selectllm_core::vote::tied_with;
use selectllm_core::{Answer, Plan};
use selectllm_pool::ChatReply;
use serde_json::{Map, Value};

use crate::call::{Failure, all_failed};
use crate::error::GatewayError;
use crate::gateway::{Decision, Gateway, Reply, Waited, unix_now};
use crate::metrics::Agreement;
use crate::wire::{Explanation, MemberReport, Usage};

/// What became of one candidate's call.
#[derive(Debug)]
enum CallState {
    NotCalled,
    /// Dropped by the plan this long after it started.
    Cancelled(Duration),
    Done(Result<ChatReply, Failure>, Option<Answer>),
}

/// One executed plan: per candidate what its call did, and the plan's decision.
pub(crate) struct Run {
    calls: Vec<CallState>,
    started: Vec<Option<Instant>>,
    answer: Option<Answer>,
    waves: Vec<Vec<usize>>,
    cancelled: Vec<usize>,
    weights: Vec<f32>,
    reason: String,
    /// When the first call started and when the plan decided.
    began: Instant,
    decided_at: Instant,
    /// Time spent waiting for member answers (the plan's awaits, summed).
    waited: Duration,
}

impl Gateway {
    /// Runs `exec` live over the candidates `cand` (the execution's member `j` is pool member
    /// `cand[j]`), each call sent `req` as the client sent it.
    pub(crate) async fn execute(
        &self,
        mut exec: Execution,
        cand: &[usize],
        req: &Map<String, Value>,
    ) -> Run {
        let t0 = Instant::now();
        let mut calls: Vec<CallState> = cand.iter().map(|_| CallState::NotCalled).collect();
        let mut started: Vec<Option<Instant>> = vec![None; cand.len()];
        let mut inflight = FuturesUnordered::new();
        let mut waited = Duration::ZERO;
        let task = &self.cfg.router.task;
        let decision = loop {
            match exec.step() {
                Step::Call(wave) => {
                    for j in wave {
                        started[j] = Some(Instant::now());
                        let i = cand[j];
                        inflight.push(async move { (j, self.call(i, req).await) });
                    }
                }
                Step::Wait => {
                    let asked = Instant::now();
                    let next = inflight.next().await;
                    waited += asked.elapsed();
                    let Some((j, r)) = next else {
                        // the plan waits on nothing: cannot happen with a sound plan
                        break None;
                    };
                    let a = r
                        .as_ref()
                        .ok()
                        .and_then(|c| task.extract(&c.completion.text));
                    let _ = exec.receive(j, a.as_slice());
                    calls[j] = CallState::Done(r, a);
                }
                Step::Done(d) => break Some(d),
            }
        };
        // dropping the outstanding futures closes their connections
        drop(inflight);
        let decided_at = Instant::now();
        let (answer, cancelled, reason) = match decision {
            Some(d) => (d.answer, d.cancel, d.reason),
            None => (None, Vec::new(), "stalled".to_string()),
        };
        for &j in &cancelled {
            let since = started[j].map(|s| decided_at - s).unwrap_or_default();
            calls[j] = CallState::Cancelled(since);
            self.metrics.members[cand[j]]
                .cancelled
                .fetch_add(1, Ordering::Relaxed);
        }
        Run {
            calls,
            started,
            answer,
            waves: exec.waves().to_vec(),
            cancelled,
            weights: exec.weights().to_vec(),
            reason,
            began: t0,
            decided_at,
            waited,
        }
    }

    /// The reply to a request whose plan ran: the winner's full response (the member the
    /// policy prefers among those that gave the winning answer; with no extractable answer,
    /// the preferred member that answered), usage summed over every call, and the
    /// explanation. `preference` per pool member, higher first: the confidences, or the
    /// checkpoint's member order when it ranked the members.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reply(
        &self,
        run: Run,
        plan: Option<&Plan>,
        cand: &[usize],
        preference: &[f32],
        model: &str,
        mut decision: Decision,
        mut expl: Explanation,
    ) -> Result<Reply, GatewayError> {
        let p = |j: usize| preference.get(cand[j]).copied().unwrap_or(0.0);
        let mut usage = Usage::default();
        let mut called: Vec<usize> = Vec::new();
        let mut failures: Vec<Result<(), Failure>> = Vec::new();
        let mut answered: Vec<(usize, Option<&Answer>)> = Vec::new();
        let names = |js: &[usize]| -> Vec<String> {
            js.iter()
                .map(|&j| self.cfg.members[cand[j]].name.clone())
                .collect()
        };
        for (j, state) in run.calls.iter().enumerate() {
            if matches!(state, CallState::NotCalled) {
                continue;
            }
            let name = &self.cfg.members[cand[j]].name;
            let rep = report_of(&mut expl.members, name);
            rep.selected = true;
            match state {
                CallState::Cancelled(after) => {
                    rep.cancelled = true;
                    rep.latency_s = Some(after.as_secs_f64());
                }
                CallState::Done(Ok(reply), a) => {
                    let c = &reply.completion;
                    usage.add(c.prompt_tokens, c.completion_tokens);
                    if let Some(usd) = c.cost {
                        self.metrics.members[cand[j]].cost(usd);
                    }
                    rep.answer = a.as_ref().map(|a| a.0.clone());
                    rep.weight = a.as_ref().map(|_| run.weights[j]);
                    rep.latency_s = Some(c.latency_s);
                    rep.prompt_tokens = c.prompt_tokens;
                    rep.completion_tokens = c.completion_tokens;
                    rep.cost = c.cost;
                    rep.attempts = Some(c.attempts);
                    answered.push((j, a.as_ref()));
                    called.push(cand[j]);
                    failures.push(Ok(()));
                }
                CallState::Done(Err(f), _) => {
                    rep.error = Some(f.msg.clone());
                    called.push(cand[j]);
                    failures.push(Err(f.clone()));
                }
                CallState::NotCalled => {}
            }
        }
        if answered.is_empty() {
            return Err(all_failed(&self.cfg, &called, &failures));
        }
        let preferred = |it: &mut dyn Iterator<Item = usize>| {
            it.fold(None::<usize>, |best, j| match best {
                Some(b) if p(b) >= p(j) => Some(b),
                _ => Some(j),
            })
        };
        let (winner, agreement) = match &run.answer {
            Some(w) => {
                let mut backers = answered
                    .iter()
                    .filter(|(_, a)| *a == Some(w))
                    .map(|(j, _)| *j);
                let unanimous = answered.iter().all(|(_, a)| *a == Some(w));
                let agreement = if unanimous {
                    Agreement::Unanimous
                } else {
                    Agreement::Split
                };
                (preferred(&mut backers), agreement)
            }
            None => (
                preferred(&mut answered.iter().map(|(j, _)| *j)),
                Agreement::NoAnswer,
            ),
        };
        let winner = winner.ok_or_else(|| GatewayError::Internal("no winner".into()))?;
        if run.waves.iter().map(Vec::len).sum::<usize>() > 1 {
            self.metrics.vote(agreement);
        }
        let CallState::Done(Ok(reply), _) = &run.calls[winner] else {
            return Err(GatewayError::Internal("the winner has no answer".into()));
        };
        let wname = self.cfg.members[cand[winner]].name.clone();
        decision.winner = Some(wname.clone());
        let all_called: Vec<usize> = run.waves.iter().flatten().copied().collect();
        decision.selected = names(&all_called);
        expl.selected = decision.selected.clone();
        expl.winner = Some(wname);
        expl.answer = run.answer.as_ref().map(|a| a.0.clone());
        expl.unanimous = matches!(agreement, Agreement::Unanimous);
        expl.tie_break = run
            .answer
            .as_ref()
            .and_then(|w| tie_note(&answered, &run.weights, w));
        if let Some(plan) = plan {
            expl.plan = Some(plan.to_string());
            expl.waves = run.waves.iter().map(|w| names(w)).collect();
            expl.cancelled = names(&run.cancelled);
            expl.stop_reason = Some(run.reason.clone());
            expl.decided_after_s = Some((run.decided_at - run.began).as_secs_f64());
            expl.latency_saved_s = self.latency_saved(&run, cand);
        }
        let mut body = match &reply.body {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        body.insert("id".into(), Value::String(self.next_id()));
        body.insert("object".into(), "chat.completion".into());
        body.entry("created").or_insert_with(|| unix_now().into());
        body.insert("model".into(), Value::String(model.to_string()));
        body.insert(
            "usage".into(),
            serde_json::to_value(usage).unwrap_or_default(),
        );
        body.insert(
            "selectllm".into(),
            serde_json::to_value(&expl).unwrap_or_default(),
        );
        Ok(Reply::Complete {
            body: Value::Object(body),
            decision,
            waited: Waited {
                classifier: Duration::ZERO,
                members: run.waited,
            },
        })
    }

    /// An estimate of the seconds the plan saved by cancelling: for each cancelled call, when
    /// it would have finished at its member's mean observed latency, past the decision.
    /// `None` when nothing was cancelled or no cancelled member has been observed yet.
    fn latency_saved(&self, run: &Run, cand: &[usize]) -> Option<f64> {
        run.cancelled
            .iter()
            .filter_map(|&j| {
                let mean = self.metrics.members[cand[j]].latency.mean()?;
                let start = run.started[j]?;
                let finish = start + Duration::from_secs_f64(mean);
                Some(
                    finish
                        .saturating_duration_since(run.decided_at)
                        .as_secs_f64(),
                )
            })
            .reduce(f64::max)
    }
}

/// The report line of member `name`, added when the explanation has none yet.
fn report_of<'a>(reports: &'a mut Vec<MemberReport>, name: &str) -> &'a mut MemberReport {
    match reports.iter().position(|r| r.name == name) {
        Some(k) => &mut reports[k],
        None => {
            reports.push(MemberReport {
                name: name.to_string(),
                ..MemberReport::default()
            });
            let last = reports.len() - 1;
            &mut reports[last]
        }
    }
}

/// When the winning answer's total vote weight ties another answer's (`vote::tied_with`),
/// which answers tied and the rule that chose among them (`vote::Voter`'s order).
fn tie_note(
    answered: &[(usize, Option<&Answer>)],
    weights: &[f32],
    winner: &Answer,
) -> Option<String> {
    let entries: Vec<(usize, &Answer, f64)> = answered
        .iter()
        .filter_map(|&(j, a)| Some((j, a?, f64::from(weights.get(j).copied().unwrap_or(0.0)))))
        .collect();
    let tied = tied_with(&entries, winner);
    let top: f64 = entries
        .iter()
        .filter(|(_, a, _)| *a == winner)
        .map(|e| e.2)
        .sum();
    (tied.len() > 1).then(|| {
        let names: Vec<&str> = tied.iter().map(|a| a.0.as_str()).collect();
        format!(
            "answers {} tied at vote weight {top:.3}; a tie goes to the answer of the member with \
             the lower mean latency, then the one the policy ranks first",
            names.join(", ")
        )
    })
}
