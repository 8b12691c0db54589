//! How one test question is judged for a set of members: the vote's correctness (as bounds
//! when simulated), its one-sample accuracy and its latency and cost.

use selectllm_core::answer::Answer;
use selectllm_core::dataset::RoutingDataset;
use selectllm_core::policy::PoolInfo;
use selectllm_core::vote::{Ballot, SimBallot, Voter, WrongAnswers};

use super::acc::VoteBounds;
use crate::eval::tasks;
use crate::eval::{EvalConfig, measured_latency};

/// What every family of rows reads: the data, the settings, the pool, the test questions and
/// each fold's member priors; and how one question is judged for a set of members.
pub(super) struct Ctx<'a> {
    pub ds: &'a RoutingDataset,
    pub cfg: &'a EvalConfig,
    pub pool: &'a PoolInfo,
    /// Whether votes are real (answer-level data) rather than simulated from correctness.
    pub real: bool,
    pub gold: Vec<Option<Answer>>,
    /// Whether each question's task is multi-attempt (its one-sample accuracy differs from its label).
    pub multi: Vec<bool>,
    /// Test questions in fold order, with the fold each belongs to: `(fold, question)`.
    pub tests: Vec<(usize, usize)>,
    /// Each fold's per-member training accuracy: the confidence of the fixed baselines'
    /// tie-breaks.
    pub priors: Vec<Vec<f32>>,
}

impl Ctx<'_> {
    /// Whether the vote of `members` (optionally weighted) on question `q` is right.
    pub fn correct(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
    ) -> VoteBounds {
        let voter = Voter::new(&self.pool.latency, conf);
        let w = |i: usize| weights.map_or(1.0, |w| w[i]);
        let row = &self.ds.outcomes[q];
        if self.real {
            let ballots: Vec<Ballot<'_>> = members
                .iter()
                .enumerate()
                .map(|(i, &m)| Ballot {
                    member: m,
                    answers: &row[m].answers,
                    weight: w(i),
                })
                .collect();
            let ok = match (voter.vote(&ballots, self.cfg.vote), &self.gold[q]) {
                (Some(a), Some(g)) => a == *g,
                _ => false,
            };
            let v = ok as u8 as f64;
            (v, v)
        } else {
            let ballots: Vec<SimBallot> = members
                .iter()
                .enumerate()
                .map(|(i, &m)| SimBallot {
                    member: m,
                    correct: row[m].label,
                    success_rate: row[m].success_rate,
                    weight: w(i),
                })
                .collect();
            let lo = voter.simulate(&ballots, self.cfg.vote, WrongAnswers::AllAgree) as u8 as f64;
            let hi = voter.simulate(&ballots, self.cfg.vote, WrongAnswers::AllDiffer) as u8 as f64;
            (lo, hi)
        }
    }

    /// One-sample accuracy of calling `members` on question `q` (see `tasks`), as bounds; on
    /// tasks whose success rate is the label, the vote's correctness `out` itself.
    pub fn sample(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
        out: VoteBounds,
    ) -> VoteBounds {
        if !self.multi[q] {
            return out;
        }
        let rates: Vec<f32> = self.ds.outcomes[q].iter().map(|o| o.success_rate).collect();
        let voter = Voter::new(&self.pool.latency, conf);
        tasks::one_sample_vote(&voter, members, &rates, weights, self.cfg.vote)
    }

    /// [`Self::correct`] and [`Self::sample`] together.
    pub fn judge(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
    ) -> (VoteBounds, VoteBounds) {
        let out = self.correct(q, members, weights, conf);
        (out, self.sample(q, members, weights, conf, out))
    }

    /// `(latency sum, latency max, cost)` of calling `members` on question `q`: each member's
    /// measured latency on `q` where the data has one (and no `--latency` setting overrides
    /// the member), else its latency setting; the same latencies the plan rows replay.
    pub fn latency_on(&self, q: usize, members: &[usize]) -> (f64, f64, f64) {
        let l =
            |m: usize| measured_latency(self.ds, self.cfg, q, m).unwrap_or(self.pool.latency[m]);
        let sum = members.iter().map(|&m| l(m)).sum();
        let max = members.iter().map(|&m| l(m)).fold(0.0, f64::max);
        let cost = members.iter().map(|&m| self.pool.cost[m]).sum();
        (sum, max, cost)
    }

    /// `(latency sum, latency max, cost)` of `members` at their latency settings (per call,
    /// not per question): for choosing between subsets.
    pub fn latency(&self, members: &[usize]) -> (f64, f64, f64) {
        let sum = members.iter().map(|&m| self.pool.latency[m]).sum();
        let max = members
            .iter()
            .map(|&m| self.pool.latency[m])
            .fold(0.0, f64::max);
        let cost = members.iter().map(|&m| self.pool.cost[m]).sum();
        (sum, max, cost)
    }
}
