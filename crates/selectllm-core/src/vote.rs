//! Majority voting over the selected members' answers, with deterministic tie-breaks.
//!
//! Tie-break (the method's rule): among answers with the same total weight, the one backed by the
//! member with the lowest latency wins, then the one with the highest confidence, then the
//! lowest member index. The "confidence" a caller hands the [`Voter`] is the policy's
//! preference: the classifier's probabilities, or a checkpoint's member order when the policy
//! ranked by it (`policy::preference`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::answer::Answer;
use crate::label::majority;

/// What a member's vote is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VoteMode {
    /// Each member votes once with its majority answer (matches the labels).
    #[default]
    PerMember,
    /// Every sample votes, each member's samples sharing the member's weight (the authors' ensemble code).
    Pooled,
}

impl FromStr for VoteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "per-member" | "member" => Ok(VoteMode::PerMember),
            "pooled" | "samples" => Ok(VoteMode::Pooled),
            _ => Err(format!("unknown vote mode `{s}` (per-member, pooled)")),
        }
    }
}

/// How a member's confidence becomes its vote weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// One vote per member (MaxConf, LabelledMaxConf).
    #[default]
    Count,
    /// The confidence itself (the paper's WeightedMaxConf).
    Linear,
    /// ln(p / (1 - p)) + ln(K - 1) for K-option questions: the optimal weighted majority for
    /// independent voters; the ln(K - 1) term is left out on open answers. Clamped through a
    /// softplus, w = ln(1 + (K - 1) p / (1 - p)): equal to the log-odds for confident members,
    /// small but positive and still ordered for members at or below chance (a raw log-odds
    /// weight would be negative there, a member voting against its own answer). p is clamped
    /// to [`LOG_ODDS_CLAMP`, 1 - `LOG_ODDS_CLAMP`] so no weight is infinite.
    LogOdds,
}

/// Confidences are clamped this far from 0 and 1 before taking log-odds (w <= 6.9 + ln(K-1)).
pub const LOG_ODDS_CLAMP: f32 = 1e-3;

impl Weighting {
    /// The vote weight of a member with confidence `p` on a question with `options` answer
    /// options (`None` for open answers).
    pub fn weight(self, p: f32, options: Option<usize>) -> f32 {
        match self {
            Weighting::Count => 1.0,
            Weighting::Linear => p,
            Weighting::LogOdds => {
                let p = if p.is_finite() { p } else { 0.5 };
                let p = f64::from(p.clamp(LOG_ODDS_CLAMP, 1.0 - LOG_ODDS_CLAMP));
                let others = options.filter(|&k| k > 2).map_or(1.0, |k| (k - 1) as f64);
                (1.0 + others * p / (1.0 - p)).ln() as f32
            }
        }
    }
}

impl FromStr for Weighting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "count" | "none" => Ok(Weighting::Count),
            "linear" | "conf" => Ok(Weighting::Linear),
            "logodds" | "log-odds" => Ok(Weighting::LogOdds),
            _ => Err(format!(
                "unknown vote weighting `{s}` (count, linear, logodds)"
            )),
        }
    }
}

impl std::fmt::Display for Weighting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weighting::Count => "count",
            Weighting::Linear => "linear",
            Weighting::LogOdds => "logodds",
        })
    }
}

/// One selected member's contribution.
#[derive(Debug, Clone, Copy)]
pub struct Ballot<'a> {
    pub member: usize,
    /// The member's sample answers (one or more).
    pub answers: &'a [Answer],
    /// 1.0 for an unweighted vote, the confidence for a weighted one.
    pub weight: f32,
}

/// Correctness-only data: how wrong answers are assumed to relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongAnswers {
    /// Every wrong member has its own wrong answer: the upper bound on vote accuracy.
    AllDiffer,
    /// All wrong members give the same wrong answer: the lower bound.
    AllAgree,
}

/// A member's known correctness, for simulated votes.
#[derive(Debug, Clone, Copy)]
pub struct SimBallot {
    pub member: usize,
    pub correct: bool,
    /// Share of correct samples (used by the pooled mode).
    pub success_rate: f32,
    pub weight: f32,
}

/// The `(member, answer, weight)` entries the ballots put into the tally: one per member
/// (its majority answer, full weight), or one per sample sharing the member's weight (pooled).
pub fn entries<'b>(ballots: &[Ballot<'b>], mode: VoteMode) -> Vec<(usize, &'b Answer, f64)> {
    let mut out = Vec::with_capacity(ballots.len());
    for b in ballots {
        match mode {
            VoteMode::PerMember => {
                if let Some(a) = majority(b.answers) {
                    out.push((b.member, a, b.weight as f64));
                }
            }
            VoteMode::Pooled => {
                let n = b.answers.len() as f64;
                for a in b.answers {
                    out.push((b.member, a, b.weight as f64 / n));
                }
            }
        }
    }
    out
}

/// Whether two vote totals count as a tie (equal within a relative 1e-9).
fn same_weight(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The answers whose total weight in `entries` ties `winner`'s, `winner` included, in the
/// order they first appear; empty when `winner` has no entry. More than one: the vote was
/// decided by [`Voter`]'s tie-break.
pub fn tied_with<'b>(entries: &[(usize, &'b Answer, f64)], winner: &Answer) -> Vec<&'b Answer> {
    let mut totals: Vec<(&Answer, f64)> = Vec::new();
    for &(_, a, w) in entries {
        match totals.iter_mut().find(|(x, _)| *x == a) {
            Some((_, t)) => *t += w,
            None => totals.push((a, w)),
        }
    }
    let Some(top) = totals.iter().find(|(a, _)| *a == winner).map(|x| x.1) else {
        return Vec::new();
    };
    totals
        .into_iter()
        .filter(|&(_, t)| same_weight(t, top))
        .map(|(a, _)| a)
        .collect()
}

/// Holds the tie-break information of a pool for one question.
#[derive(Debug, Clone, Copy)]
pub struct Voter<'a> {
    pub latency: &'a [f64],
    /// Confidences for this question (empty when unknown: the tie-break skips them).
    pub conf: &'a [f32],
}

impl<'a> Voter<'a> {
    pub fn new(latency: &'a [f64], conf: &'a [f32]) -> Self {
        Voter { latency, conf }
    }

    /// Whether member `a` wins a tie against member `b`.
    fn rank(&self, a: usize, b: usize) -> Ordering {
        let lat = |m: usize| self.latency.get(m).copied().unwrap_or(1.0);
        let conf = |m: usize| self.conf.get(m).copied().unwrap_or(0.0);
        lat(a)
            .partial_cmp(&lat(b))
            .unwrap_or(Ordering::Equal)
            .then(conf(b).partial_cmp(&conf(a)).unwrap_or(Ordering::Equal))
            .then(a.cmp(&b))
    }

    /// The winning answer; `None` when no ballot carries an answer.
    pub fn vote(&self, ballots: &[Ballot<'_>], mode: VoteMode) -> Option<Answer> {
        self.tally(&entries(ballots, mode)).cloned()
    }

    /// Weighted tally of `(member, answer, weight)` entries with the tie-break.
    pub fn tally<'b>(&self, entries: &[(usize, &'b Answer, f64)]) -> Option<&'b Answer> {
        // answer -> (total weight, best-ranked supporter)
        let mut totals: HashMap<&Answer, (f64, usize)> = HashMap::new();
        let mut order: Vec<&Answer> = Vec::new();
        for &(m, a, w) in entries {
            match totals.get_mut(a) {
                Some((t, best)) => {
                    *t += w;
                    if self.rank(m, *best) == Ordering::Less {
                        *best = m;
                    }
                }
                None => {
                    totals.insert(a, (w, m));
                    order.push(a);
                }
            }
        }
        order.into_iter().max_by(|x, y| {
            let (tx, bx) = totals[x];
            let (ty, by) = totals[y];
            if !same_weight(tx, ty) {
                tx.partial_cmp(&ty).unwrap_or(Ordering::Equal)
            } else {
                // max_by keeps the greater: the better-ranked supporter must compare greater
                self.rank(by, bx)
            }
        })
    }

    /// Whether the vote would be right on correctness-only data, under an assumption on the
    /// wrong answers. [`WrongAnswers::AllDiffer`] gives the upper bound, `AllAgree` the lower.
    pub fn simulate(&self, ballots: &[SimBallot], mode: VoteMode, wrong: WrongAnswers) -> bool {
        let gold = Answer::new("\u{1}gold");
        let shared_wrong = Answer::new("\u{1}wrong");
        let own_wrong: Vec<Answer> = ballots
            .iter()
            .map(|b| Answer::new(format!("\u{1}wrong{}", b.member)))
            .collect();
        let mut entries: Vec<(usize, &Answer, f64)> = Vec::with_capacity(ballots.len() * 2);
        for (i, b) in ballots.iter().enumerate() {
            let w = b.weight as f64;
            let wrong_answer = match wrong {
                WrongAnswers::AllDiffer => &own_wrong[i],
                WrongAnswers::AllAgree => &shared_wrong,
            };
            match mode {
                VoteMode::PerMember => {
                    entries.push((b.member, if b.correct { &gold } else { wrong_answer }, w));
                }
                VoteMode::Pooled => {
                    let r = b.success_rate.clamp(0.0, 1.0) as f64;
                    if r > 0.0 {
                        entries.push((b.member, &gold, w * r));
                    }
                    if r < 1.0 {
                        entries.push((b.member, wrong_answer, w * (1.0 - r)));
                    }
                }
            }
        }
        self.tally(&entries) == Some(&gold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ans(v: &[&str]) -> Vec<Answer> {
        v.iter().map(|s| Answer::new(*s)).collect()
    }

    #[test]
    fn plain_majority() {
        let lat = [1.0; 3];
        let v = Voter::new(&lat, &[]);
        let (a, b, c) = (ans(&["1"]), ans(&["2"]), ans(&["2"]));
        let ballots = [
            Ballot {
                member: 0,
                answers: &a,
                weight: 1.0,
            },
            Ballot {
                member: 1,
                answers: &b,
                weight: 1.0,
            },
            Ballot {
                member: 2,
                answers: &c,
                weight: 1.0,
            },
        ];
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("2"))
        );
    }

    #[test]
    fn tied_with_names_the_answers_level_with_the_winner() {
        let (x, y, z) = (Answer::new("1"), Answer::new("2"), Answer::new("3"));
        let e = [(0, &x, 0.5), (1, &y, 1.0), (2, &x, 0.5), (3, &z, 0.25)];
        assert_eq!(tied_with(&e, &x), vec![&x, &y]);
        assert_eq!(tied_with(&e, &z), vec![&z]);
        assert!(tied_with(&e, &Answer::new("4")).is_empty());
    }

    #[test]
    fn two_member_tie_goes_to_faster() {
        let lat = [2.0, 1.0];
        let v = Voter::new(&lat, &[0.9, 0.1]);
        let (a, b) = (ans(&["1"]), ans(&["2"]));
        let ballots = [
            Ballot {
                member: 0,
                answers: &a,
                weight: 1.0,
            },
            Ballot {
                member: 1,
                answers: &b,
                weight: 1.0,
            },
        ];
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("2"))
        );
        // same latency: higher confidence
        let lat = [1.0, 1.0];
        let v = Voter::new(&lat, &[0.9, 0.1]);
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("1"))
        );
        // nothing known: member order
        let v = Voter::new(&lat, &[]);
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("1"))
        );
    }

    #[test]
    fn weighted_overrides_count() {
        let lat = [1.0; 3];
        let v = Voter::new(&lat, &[]);
        let (a, b, c) = (ans(&["1"]), ans(&["2"]), ans(&["2"]));
        let ballots = [
            Ballot {
                member: 0,
                answers: &a,
                weight: 0.9,
            },
            Ballot {
                member: 1,
                answers: &b,
                weight: 0.3,
            },
            Ballot {
                member: 2,
                answers: &c,
                weight: 0.4,
            },
        ];
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("1"))
        );
    }

    #[test]
    fn pooled_counts_samples() {
        let lat = [1.0; 2];
        let v = Voter::new(&lat, &[]);
        // member 0's majority is "1" (2 of 3) but pooled, "2" has 1/3 + 1 = 4/3 vs 2/3
        let (a, b) = (ans(&["1", "1", "2"]), ans(&["2"]));
        let ballots = [
            Ballot {
                member: 0,
                answers: &a,
                weight: 1.0,
            },
            Ballot {
                member: 1,
                answers: &b,
                weight: 1.0,
            },
        ];
        assert_eq!(
            v.vote(&ballots, VoteMode::PerMember),
            Some(Answer::new("1"))
        );
        assert_eq!(v.vote(&ballots, VoteMode::Pooled), Some(Answer::new("2")));
    }

    #[test]
    fn log_odds_weights() {
        let w = |p, k| Weighting::LogOdds.weight(p, k);
        // softplus of the log-odds: ln(1 + p / (1 - p)), ~ the log-odds when confident
        assert!((w(0.9, None) - 10f32.ln()).abs() < 1e-5);
        assert!((w(0.99, None) - 99f32.ln()).abs() < 0.02);
        // four options: the odds times 3 (+ ln 3 in log space)
        assert!((w(0.5, Some(4)) - 4f32.ln()).abs() < 1e-5);
        assert!((w(0.9, Some(4)) - 28f32.ln()).abs() < 1e-4);
        // clamped: finite at 0 and 1, positive and ordered below chance, NaN treated as 0.5
        assert!(w(1.0, None).is_finite() && w(1.0, None) < 7.0);
        assert!(w(0.0, None) > 0.0 && w(0.0, None) < 0.01);
        assert!(w(0.1, Some(4)) > w(0.05, Some(4)));
        assert_eq!(w(f32::NAN, None), w(0.5, None));
        assert!(w(0.8, None) > w(0.7, None));
        assert_eq!(Weighting::Linear.weight(0.7, None), 0.7);
        assert_eq!(Weighting::Count.weight(0.7, Some(4)), 1.0);
        for s in ["count", "linear", "logodds"] {
            assert_eq!(s.parse::<Weighting>().unwrap().to_string(), s);
        }
        assert!("cubic".parse::<Weighting>().is_err());
    }

    #[test]
    fn log_odds_lets_one_confident_member_outvote_two_weak_ones() {
        // 0.95 vs two 0.6s: linear weights 0.95 < 1.2, log-odds ln 20 = 3.0 > 2 x ln 2.5 = 1.8
        let lat = [1.0; 3];
        let v = Voter::new(&lat, &[]);
        let (a, b) = (ans(&["1"]), ans(&["2"]));
        let conf = [0.95f32, 0.6, 0.6];
        let answers = [&a, &b, &b];
        for (weighting, expect) in [(Weighting::Linear, "2"), (Weighting::LogOdds, "1")] {
            let ballots: Vec<Ballot<'_>> = (0..3)
                .map(|m| Ballot {
                    member: m,
                    answers: answers[m],
                    weight: weighting.weight(conf[m], None),
                })
                .collect();
            assert_eq!(
                v.vote(&ballots, VoteMode::PerMember),
                Some(Answer::new(expect))
            );
        }
    }

    #[test]
    fn simulated_bounds() {
        let lat = [1.0; 3];
        let v = Voter::new(&lat, &[]);
        let b = |m, correct| SimBallot {
            member: m,
            correct,
            success_rate: if correct { 1.0 } else { 0.0 },
            weight: 1.0,
        };
        // 1 right (member 0, first in tie order) vs 2 wrong
        let ballots = [b(0, true), b(1, false), b(2, false)];
        assert!(v.simulate(&ballots, VoteMode::PerMember, WrongAnswers::AllDiffer));
        assert!(!v.simulate(&ballots, VoteMode::PerMember, WrongAnswers::AllAgree));
        // right member last in tie order: loses the three-way tie
        let ballots = [b(0, false), b(1, false), b(2, true)];
        assert!(!v.simulate(&ballots, VoteMode::PerMember, WrongAnswers::AllDiffer));
    }
}
