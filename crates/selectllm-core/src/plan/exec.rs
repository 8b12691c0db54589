//! One query's execution of a plan: a state machine driven by the caller's events.

use std::collections::HashMap;

use super::{Cascade, Ceiling, Plan, PlanKind};
use crate::answer::Answer;
use crate::label::majority;
use crate::policy::{Budget, Policy, PoolInfo, preference, ranked_order};
use crate::vote::{Ballot, VoteMode, Voter, entries};

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Start calls to these members now (one wave), then ask again.
    Call(Vec<usize>),
    /// Nothing new to start: wait for an outstanding answer and [`Execution::receive`] it.
    Wait,
    /// The answer is decided; cancel the listed outstanding calls.
    Done(Decision),
}

/// The plan's outcome for the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None` when no member could be called within the ceiling or none gave an answer.
    pub answer: Option<Answer>,
    /// Calls still outstanding that no longer matter.
    pub cancel: Vec<usize>,
    /// Why the plan stopped.
    pub reason: String,
}

/// A driver fed the execution an event it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("member {0} has no outstanding call")]
    NotOutstanding(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Outstanding,
    Answered,
    Cancelled,
}

/// One query's plan execution. Owns its inputs, so a live driver can hold it across awaits.
#[derive(Debug, Clone)]
pub struct Execution {
    kind: PlanKind,
    conf: Vec<f32>,
    /// Vote ties go by it: the confidences, or the ranking's order (`policy::preference`).
    prefer: Vec<f32>,
    latency: Vec<f64>,
    mode: VoteMode,
    /// Vote weight of each member.
    weight: Vec<f32>,
    /// Members in the order the plan may call them; `queue[..first_wave]` is the first wave.
    queue: Vec<usize>,
    first_wave: usize,
    /// How many of `queue` have been called.
    next: usize,
    state: Vec<State>,
    /// Each answered member's answers, in arrival order.
    received: Vec<(usize, Vec<Answer>)>,
    waves: Vec<Vec<usize>>,
    decision: Option<Decision>,
    why_queue: String,
}

impl Execution {
    /// Starts the plan for one query: `conf` the members' confidences, `pool` their latency
    /// settings and expected costs, `options` the number of answer options (None when open).
    pub fn new(
        plan: &Plan,
        conf: &[f32],
        pool: &PoolInfo,
        options: Option<usize>,
        mode: VoteMode,
    ) -> Self {
        Execution::ranked(plan, conf, pool, None, options, mode)
    }

    /// [`Self::new`] with the members ranked by `ranking` (best first; a classifier's fixed
    /// order, `Classifier::ranking`) instead of by confidence, as `Policy::select_ranked` does:
    /// the confidences still set thresholds, weights and `tau`.
    pub fn ranked(
        plan: &Plan,
        conf: &[f32],
        pool: &PoolInfo,
        ranking: Option<&[usize]>,
        options: Option<usize>,
        mode: VoteMode,
    ) -> Self {
        let n = conf.len();
        let ranking = ranking.filter(|r| r.len() == n);
        let weighting = plan.weighting();
        let weight = conf
            .iter()
            .map(|&p| weighting.weight(p, options).max(0.0))
            .collect();
        let (queue, first_wave, why_queue) = match &plan.kind {
            PlanKind::Parallel(p) | PlanKind::Early(p) => {
                let sel = bounded_policy(p, &plan.ceiling).select_ranked(conf, pool, ranking);
                let (fit, k) = within_ceiling(&sel.members, sel.members.len(), pool, &plan.ceiling);
                (fit, k, sel.reason)
            }
            PlanKind::Cascade(c) => {
                let order = ranked_order(conf, &pool.latency, ranking);
                let alone = c
                    .tau
                    .is_some_and(|t| order.first().is_some_and(|&m| conf[m] >= t));
                let first = if alone { 1 } else { c.a.min(c.max) };
                let (mut fit, in_first) = within_ceiling(&order, first, pool, &plan.ceiling);
                fit.truncate(c.max);
                // when the whole first wave breaks the ceiling, the next member that fits starts
                let first = in_first.max(1).min(fit.len());
                let top = if ranking.is_some() {
                    "the first member in the checkpoint's order"
                } else {
                    "the most confident member"
                };
                let why = if alone {
                    format!("{top} is at least {} confident", c.tau.unwrap_or(1.0))
                } else if ranking.is_some() {
                    format!("starting with the first {first} in the checkpoint's order")
                } else {
                    format!("the {first} most confident members first")
                };
                (fit, first, why)
            }
        };
        Execution {
            kind: plan.kind.clone(),
            conf: conf.to_vec(),
            prefer: preference(conf, ranking),
            latency: pool.latency.clone(),
            mode,
            weight,
            queue,
            first_wave,
            next: 0,
            state: vec![State::Idle; n],
            received: Vec::new(),
            waves: Vec::new(),
            decision: None,
            why_queue,
        }
    }

    /// Each member's vote weight under the plan's weighting.
    pub fn weights(&self) -> &[f32] {
        &self.weight
    }

    /// The members the first [`Step::Call`] starts (empty when none fits the ceiling).
    pub fn first_wave(&self) -> &[usize] {
        &self.queue[..self.first_wave]
    }

    /// The waves started so far.
    pub fn waves(&self) -> &[Vec<usize>] {
        &self.waves
    }

    /// Why the first wave holds the members it holds.
    pub fn selection_reason(&self) -> &str {
        &self.why_queue
    }

    /// Members whose call is outstanding.
    pub fn outstanding(&self) -> Vec<usize> {
        self.queue[..self.next]
            .iter()
            .copied()
            .filter(|&m| self.state[m] == State::Outstanding)
            .collect()
    }

    /// Feeds the answers of `member`'s call (empty when the call failed or nothing was
    /// extracted: the member abstains).
    pub fn receive(&mut self, member: usize, answers: &[Answer]) -> Result<(), PlanError> {
        if self.state.get(member) != Some(&State::Outstanding) || self.decision.is_some() {
            return Err(PlanError::NotOutstanding(member));
        }
        self.state[member] = State::Answered;
        let kept = match self.mode {
            VoteMode::PerMember => majority(answers).cloned().into_iter().collect(),
            VoteMode::Pooled => answers.to_vec(),
        };
        self.received.push((member, kept));
        Ok(())
    }

    /// What to do next. After [`Step::Done`], every later call returns the same decision.
    pub fn step(&mut self) -> Step {
        if let Some(d) = &self.decision {
            return Step::Done(d.clone());
        }
        if self.queue.is_empty() {
            return self.decide(None, "no member can be called within the ceiling".into());
        }
        if self.next == 0 {
            return self.call(self.first_wave);
        }
        let outstanding_weight: f64 = self
            .outstanding()
            .iter()
            .map(|&m| self.weight[m] as f64)
            .sum();
        let all_in = self.outstanding().is_empty();
        match self.kind.clone() {
            PlanKind::Parallel(_) => {
                if all_in {
                    return self.decide(self.vote(), "every selected member answered".into());
                }
            }
            PlanKind::Early(_) => {
                if all_in {
                    return self.decide(self.vote(), "every selected member answered".into());
                }
                if let Some(a) = self.safe_leader(outstanding_weight) {
                    return self.decide(
                        Some(a),
                        "the outstanding members cannot change the vote".into(),
                    );
                }
            }
            PlanKind::Cascade(c) => {
                if let Some((a, why)) = self.cascade_stop(&c) {
                    return self.decide(Some(a), why);
                }
                if all_in {
                    if self.next < self.queue.len() {
                        return self.call(1);
                    }
                    return self.decide(
                        self.vote(),
                        format!("no stopping rule met after {} calls: vote", self.next),
                    );
                }
            }
        }
        Step::Wait
    }

    fn call(&mut self, n: usize) -> Step {
        let wave: Vec<usize> = self.queue[self.next..self.next + n].to_vec();
        for &m in &wave {
            self.state[m] = State::Outstanding;
        }
        self.next += n;
        self.waves.push(wave.clone());
        Step::Call(wave)
    }

    fn decide(&mut self, answer: Option<Answer>, reason: String) -> Step {
        let cancel = self.outstanding();
        for &m in &cancel {
            self.state[m] = State::Cancelled;
        }
        let d = Decision {
            answer,
            cancel,
            reason,
        };
        self.decision = Some(d.clone());
        Step::Done(d)
    }

    fn ballots(&self) -> Vec<Ballot<'_>> {
        self.received
            .iter()
            .map(|(m, a)| Ballot {
                member: *m,
                answers: a,
                weight: self.weight[*m],
            })
            .collect()
    }

    /// The vote over every answer received (the same vote `parallel` takes).
    fn vote(&self) -> Option<Answer> {
        Voter::new(&self.latency, &self.prefer).vote(&self.ballots(), self.mode)
    }

    /// Each answer's total weight so far, in first-seen order.
    fn totals(&self) -> Vec<(Answer, f64, usize)> {
        let ballots = self.ballots();
        let mut idx: HashMap<&Answer, usize> = HashMap::new();
        let mut out: Vec<(Answer, f64, usize)> = Vec::new();
        for (_, a, w) in entries(&ballots, self.mode) {
            match idx.get(a) {
                Some(&i) => {
                    out[i].1 += w;
                    out[i].2 += 1;
                }
                None => {
                    idx.insert(a, out.len());
                    out.push((a.clone(), w, 1));
                }
            }
        }
        out
    }

    /// The current leader when no way the outstanding weight could fall makes another answer
    /// win or tie: leader > runner-up + outstanding, by more than the vote's tie tolerance.
    fn safe_leader(&self, outstanding: f64) -> Option<Answer> {
        let leader = Voter::new(&self.latency, &self.prefer).vote(&self.ballots(), self.mode)?;
        let (lead, runner_up) = lead_over(&self.totals(), &leader)?;
        (lead - runner_up - outstanding > 1e-6 * lead.max(1.0)).then_some(leader)
    }

    fn cascade_stop(&self, c: &Cascade) -> Option<(Answer, String)> {
        if let (Some(t), Some(&top)) = (c.tau, self.queue.first())
            && self.conf[top] >= t
            && let Some((_, a)) = self.received.iter().find(|(m, _)| *m == top)
            && let Some(ans) = majority(a)
        {
            return Some((
                ans.clone(),
                format!("the top member is at least {t} confident"),
            ));
        }
        let totals = self.totals();
        if let Some(k) = c.k {
            // per-member votes count once each (pooled samples count as their member's)
            let counts = self.member_counts();
            if let Some((a, n)) = counts
                .into_iter()
                .filter(|(_, n)| *n >= k)
                .max_by_key(|x| x.1)
            {
                return Some((a, format!("{n} members agree (k = {k})")));
            }
        }
        if let Some(margin) = c.margin {
            let leader = self.vote()?;
            let (lead, runner_up) = lead_over(&totals, &leader)?;
            if lead - runner_up >= margin {
                return Some((
                    leader,
                    format!("weighted lead {:.2} >= {margin}", lead - runner_up),
                ));
            }
        }
        None
    }

    /// How many members' majority answers agree on each answer, in first-seen order.
    fn member_counts(&self) -> Vec<(Answer, usize)> {
        let mut out: Vec<(Answer, usize)> = Vec::new();
        for (_, a) in &self.received {
            if let Some(v) = majority(a) {
                match out.iter_mut().find(|x| &x.0 == v) {
                    Some(x) => x.1 += 1,
                    None => out.push((v.clone(), 1)),
                }
            }
        }
        out
    }
}

/// The policy with the ceiling folded into its budget (a budgeted policy searches its subsets
/// within the ceiling; other policies are cut to it afterwards).
/// The weight of `leader` among vote `totals` and the largest weight of any other answer.
fn lead_over(totals: &[(Answer, f64, usize)], leader: &Answer) -> Option<(f64, f64)> {
    let lead = totals.iter().find(|t| &t.0 == leader)?.1;
    let runner_up = totals
        .iter()
        .filter(|t| &t.0 != leader)
        .map(|t| t.1)
        .fold(0.0, f64::max);
    Some((lead, runner_up))
}

fn bounded_policy(p: &Policy, ceiling: &Ceiling) -> Policy {
    match p {
        Policy::Budget(b) if !ceiling.is_unlimited() => {
            let min = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Policy::Budget(Budget {
                calls: b.calls,
                latency: min(b.latency, ceiling.latency),
                cost: min(b.cost, ceiling.cost),
            })
        }
        _ => p.clone(),
    }
}

/// The members of `order` that fit the ceiling, in order: `order[..first]` is one parallel wave
/// (its slowest member counts), every later member a wave of its own (its latency adds up).
/// A member that would break the ceiling is skipped; later ones may still fit.
/// Returns them and how many of them belong to the first wave.
fn within_ceiling(
    order: &[usize],
    first: usize,
    pool: &PoolInfo,
    c: &Ceiling,
) -> (Vec<usize>, usize) {
    let (mut wave_max, mut later, mut cost) = (0.0f64, 0.0f64, 0.0f64);
    let mut out = Vec::with_capacity(order.len());
    let mut in_first = 0;
    for (i, &m) in order.iter().enumerate() {
        let l = pool.latency.get(m).copied().unwrap_or(0.0);
        let cm = pool.cost.get(m).copied().unwrap_or(0.0);
        let first_wave = i < first;
        let (wm, lt) = if first_wave {
            (wave_max.max(l), later)
        } else {
            (wave_max, later + l)
        };
        let fits = c.latency.is_none_or(|x| wm + lt <= x + 1e-12)
            && c.cost.is_none_or(|x| cost + cm <= x + 1e-12);
        if fits {
            wave_max = wm;
            later = lt;
            cost += cm;
            out.push(m);
            in_first += first_wave as usize;
        }
    }
    (out, in_first)
}
