//! Majority voting over the selected members' answers, with deterministic tie-breaks.
//!
//! Tie-break (spec section 4): among answers with the same total weight, the one backed by the
//! member with the lowest latency wins, then the one with the highest confidence, then the
//! lowest member index.

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
        let mut entries: Vec<(usize, &Answer, f64)> = Vec::new();
        for b in ballots {
            match mode {
                VoteMode::PerMember => {
                    if let Some(a) = majority(b.answers) {
                        entries.push((b.member, a, b.weight as f64));
                    }
                }
                VoteMode::Pooled => {
                    let n = b.answers.len() as f64;
                    for a in b.answers {
                        entries.push((b.member, a, b.weight as f64 / n));
                    }
                }
            }
        }
        self.tally(&entries).cloned()
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
        let eps = 1e-9;
        order.into_iter().max_by(|x, y| {
            let (tx, bx) = totals[x];
            let (ty, by) = totals[y];
            if (tx - ty).abs() > eps * tx.abs().max(ty.abs()).max(1.0) {
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
