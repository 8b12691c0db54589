//! Selection policies: confidences in, a small subset of members out.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What the policy knows about the pool besides the confidences.
#[derive(Debug, Clone)]
pub struct PoolInfo {
    /// Seconds per call for each member.
    pub latency: Vec<f64>,
    /// Expected USD per call for each member (0 when unknown).
    pub cost: Vec<f64>,
}

impl PoolInfo {
    pub fn uniform(n: usize) -> Self {
        PoolInfo {
            latency: vec![1.0; n],
            cost: vec![0.0; n],
        }
    }
}

/// Limits for the budgeted policy; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    /// At most this many calls.
    pub calls: Option<usize>,
    /// The slowest selected member's latency (parallel fan-out) at most this, in seconds.
    pub latency: Option<f64>,
    /// Expected cost at most this, in USD.
    pub cost: Option<f64>,
}

/// A selection policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "lowercase")]
pub enum Policy {
    /// The `s` most confident members, unweighted vote.
    MaxConf { s: usize },
    /// The `s` most confident among those predicted correct (p > 0.5); the single most
    /// confident when none is.
    LabelledMaxConf { s: usize },
    /// The `s` most confident members; votes weighted by confidence.
    WeightedMaxConf { s: usize },
    /// Every member with confidence >= `tau` (the most confident one when none is).
    Threshold { tau: f32 },
    /// The subset that maximises the predicted probability that the (unweighted) vote is
    /// right, within the budget. Ties: fewer calls, then lower latency.
    Budget(Budget),
}

impl Policy {
    /// Parses `maxconf:3`, `labelledmaxconf:2`, `weightedmaxconf:3`, `threshold:0.5`,
    /// `budget:calls=3,latency=2.5,cost=0.01`.
    pub fn parse(s: &str) -> Result<Policy, String> {
        let (name, arg) = s.split_once(':').unwrap_or((s, ""));
        let size = || -> Result<usize, String> {
            let v: usize = arg
                .parse()
                .map_err(|_| format!("policy `{s}`: expected a subset size after `:`"))?;
            if v == 0 {
                return Err(format!("policy `{s}`: subset size must be at least 1"));
            }
            Ok(v)
        };
        match name.to_ascii_lowercase().as_str() {
            "maxconf" => Ok(Policy::MaxConf { s: size()? }),
            "labelledmaxconf" | "labeledmaxconf" => Ok(Policy::LabelledMaxConf { s: size()? }),
            "weightedmaxconf" => Ok(Policy::WeightedMaxConf { s: size()? }),
            "threshold" => {
                let tau = if arg.is_empty() {
                    0.5
                } else {
                    arg.parse::<f32>()
                        .map_err(|_| format!("policy `{s}`: expected a number after `:`"))?
                };
                Ok(Policy::Threshold { tau })
            }
            "budget" => {
                let mut b = Budget::default();
                for kv in arg.split(',').filter(|t| !t.is_empty()) {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("policy `{s}`: expected key=value, got `{kv}`"))?;
                    let bad = || format!("policy `{s}`: bad value `{v}` for `{k}`");
                    match k {
                        "calls" => b.calls = Some(v.parse().map_err(|_| bad())?),
                        "latency" => b.latency = Some(v.parse().map_err(|_| bad())?),
                        "cost" => b.cost = Some(v.parse().map_err(|_| bad())?),
                        _ => {
                            return Err(format!(
                                "policy `{s}`: unknown budget key `{k}` (calls, latency, cost)"
                            ));
                        }
                    }
                }
                Ok(Policy::Budget(b))
            }
            _ => Err(format!(
                "unknown policy `{s}` (maxconf:S, labelledmaxconf:S, weightedmaxconf:S, threshold:TAU, budget:calls=N,latency=SEC,cost=USD)"
            )),
        }
    }

    /// Whether the vote of the selected members is weighted by confidence.
    pub fn weighted(&self) -> bool {
        matches!(self, Policy::WeightedMaxConf { .. })
    }

    /// Selects members given their confidences.
    pub fn select(&self, conf: &[f32], pool: &PoolInfo) -> Selection {
        self.select_ranked(conf, pool, None)
    }

    /// [`Self::select`], ranking members by `ranking` (best first) instead of by confidence
    /// when given (a classifier's fixed order, `Classifier::ranking`); the confidences still
    /// decide thresholds, weights and the budgeted search.
    pub fn select_ranked(
        &self,
        conf: &[f32],
        pool: &PoolInfo,
        ranking: Option<&[usize]>,
    ) -> Selection {
        let order = ranked_order(conf, &pool.latency, ranking);
        let (first, by) = if full_ranking(conf, ranking).is_some() {
            (
                "the first in the checkpoint's order",
                "in the checkpoint's order",
            )
        } else {
            ("the most confident one", "by confidence")
        };
        let (members, reason) = match *self {
            Policy::MaxConf { s } | Policy::WeightedMaxConf { s } => {
                let k = s.min(order.len());
                (order[..k].to_vec(), format!("top {k} {by}"))
            }
            Policy::LabelledMaxConf { s } => {
                let positive: Vec<usize> =
                    order.iter().copied().filter(|&m| conf[m] > 0.5).collect();
                if positive.is_empty() {
                    (
                        order[..1.min(order.len())].to_vec(),
                        format!("no member predicted correct: {first}"),
                    )
                } else {
                    let k = s.min(positive.len());
                    (
                        positive[..k].to_vec(),
                        format!("top {k} of {} predicted correct (p > 0.5)", positive.len()),
                    )
                }
            }
            Policy::Threshold { tau } => {
                let above: Vec<usize> = order.iter().copied().filter(|&m| conf[m] >= tau).collect();
                if above.is_empty() {
                    (
                        order[..1.min(order.len())].to_vec(),
                        format!("no member at p >= {tau}: {first}"),
                    )
                } else {
                    let n = above.len();
                    (above, format!("{n} members at p >= {tau}"))
                }
            }
            Policy::Budget(b) => budget_select(conf, pool, &b),
        };
        let weights = self
            .weighted()
            .then(|| members.iter().map(|&m| conf[m]).collect());
        Selection {
            members,
            weights,
            reason,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::MaxConf { s } => write!(f, "maxconf:{s}"),
            Policy::LabelledMaxConf { s } => write!(f, "labelledmaxconf:{s}"),
            Policy::WeightedMaxConf { s } => write!(f, "weightedmaxconf:{s}"),
            Policy::Threshold { tau } => write!(f, "threshold:{tau}"),
            Policy::Budget(b) => {
                let mut parts = Vec::new();
                if let Some(c) = b.calls {
                    parts.push(format!("calls={c}"));
                }
                if let Some(l) = b.latency {
                    parts.push(format!("latency={l}"));
                }
                if let Some(c) = b.cost {
                    parts.push(format!("cost={c}"));
                }
                write!(f, "budget:{}", parts.join(","))
            }
        }
    }
}

/// The chosen members, in confidence order, with vote weights when the policy weights votes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub members: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f32>>,
    pub reason: String,
}

/// Per member, how much a policy prefers it, higher first: the confidences, or, given a
/// ranking of every member (a checkpoint's member order), its place in it (`n` for the first,
/// 1 for the last). Vote ties, and the choice of the answer's member among those that agree,
/// go by it, so that they follow the order the members were selected by.
pub fn preference(conf: &[f32], ranking: Option<&[usize]>) -> Vec<f32> {
    match full_ranking(conf, ranking) {
        Some(r) => {
            let mut p = vec![0.0; conf.len()];
            for (pos, &m) in r.iter().enumerate() {
                if let Some(x) = p.get_mut(m) {
                    *x = (r.len() - pos) as f32;
                }
            }
            p
        }
        _ => conf.to_vec(),
    }
}

/// The order a policy ranks members by, best first: `ranking` when it ranks every member (a
/// checkpoint's member order, `Classifier::ranking`), else [`confidence_order`].
pub fn ranked_order(conf: &[f32], latency: &[f64], ranking: Option<&[usize]>) -> Vec<usize> {
    match full_ranking(conf, ranking) {
        Some(r) => r.to_vec(),
        None => confidence_order(conf, latency),
    }
}

/// `ranking` when it ranks as many members as `conf` has (else it is not used).
fn full_ranking<'a>(conf: &[f32], ranking: Option<&'a [usize]>) -> Option<&'a [usize]> {
    ranking.filter(|r| r.len() == conf.len())
}

/// Members sorted by confidence (descending); ties to the lower latency, then the lower index.
pub fn confidence_order(conf: &[f32], latency: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..conf.len()).collect();
    order.sort_by(|&a, &b| {
        conf[b]
            .partial_cmp(&conf[a])
            .unwrap_or(Ordering::Equal)
            .then(
                latency
                    .get(a)
                    .partial_cmp(&latency.get(b))
                    .unwrap_or(Ordering::Equal),
            )
            .then(a.cmp(&b))
    });
    order
}

/// Largest pool for which the budget policy enumerates every subset.
const EXHAUSTIVE_POOL: usize = 12;

fn budget_select(conf: &[f32], pool: &PoolInfo, b: &Budget) -> (Vec<usize>, String) {
    let n = conf.len();
    let order = confidence_order(conf, &pool.latency);
    let fits = |set: &[usize]| {
        b.calls.is_none_or(|c| set.len() <= c)
            && b.latency.is_none_or(|l| {
                set.iter().map(|&m| pool.latency[m]).fold(0.0, f64::max) <= l + 1e-12
            })
            && b.cost
                .is_none_or(|c| set.iter().map(|&m| pool.cost[m]).sum::<f64>() <= c + 1e-12)
    };
    // Candidate subsets: all of them for small pools; otherwise prefixes of the confidence order.
    let candidates: Vec<Vec<usize>> = if n <= EXHAUSTIVE_POOL {
        (1u32..(1u32 << n))
            .map(|mask| {
                order
                    .iter()
                    .copied()
                    .filter(|&m| mask & (1 << m) != 0)
                    .collect()
            })
            .collect()
    } else {
        (1..=n).map(|k| order[..k].to_vec()).collect()
    };
    let mut best: Option<(f64, Vec<usize>)> = None;
    for set in candidates.into_iter().filter(|s| fits(s)) {
        let p = vote_success_probability(&set, conf, &pool.latency);
        let better = match &best {
            None => true,
            Some((bp, bs)) => {
                p > bp + 1e-12
                    || ((p - bp).abs() <= 1e-12
                        && (set.len() < bs.len()
                            || (set.len() == bs.len() && max_lat(&set, pool) < max_lat(bs, pool))))
            }
        };
        if better {
            best = Some((p, set));
        }
    }
    match best {
        Some((p, set)) => {
            let k = set.len();
            (
                set,
                format!("best predicted vote accuracy {p:.3} with {k} calls within budget"),
            )
        }
        None => {
            // Nothing fits (e.g. every member alone breaks the latency cap): cheapest single member.
            let m = (0..n)
                .min_by(|&a, &b| {
                    pool.latency[a]
                        .partial_cmp(&pool.latency[b])
                        .unwrap_or(Ordering::Equal)
                        .then(a.cmp(&b))
                })
                .unwrap_or(0);
            (
                vec![m],
                "no subset fits the budget: the fastest member".to_string(),
            )
        }
    }
}

fn max_lat(set: &[usize], pool: &PoolInfo) -> f64 {
    set.iter().map(|&m| pool.latency[m]).fold(0.0, f64::max)
}

/// P(an unweighted vote of `set` is right), members independent with P(correct) = conf, and
/// wrong answers all different (so the right answer wins with the most votes, ties to the
/// faster member).
///
/// The right answer wins when at least two members are right (each wrong answer has one vote),
/// or when exactly one is and it is the member that wins ties (lower latency, higher
/// confidence, lower index). So P = c_first + (1 - c_first) * P(at least two of the others
/// are right), with the distribution of the number of right votes among the others computed by
/// a dynamic programme truncated at two: exact, O(k), no enumeration.
pub fn vote_success_probability(set: &[usize], conf: &[f32], latency: &[f64]) -> f64 {
    let Some(first) = set
        .iter()
        .copied()
        .min_by(|&a, &b| tie_rank(a, b, conf, latency))
    else {
        return 0.0;
    };
    let c = |m: usize| conf[m].clamp(0.0, 1.0) as f64;
    // p[j] = P(exactly j of the members seen so far are right), j = 0, 1
    let (mut p0, mut p1) = (1.0f64, 0.0f64);
    let mut seen_first = false;
    for &m in set {
        if m == first && !seen_first {
            seen_first = true;
            continue;
        }
        let x = c(m);
        p1 = p1 * (1.0 - x) + p0 * x;
        p0 *= 1.0 - x;
    }
    let at_least_two = (1.0 - p0 - p1).max(0.0);
    let cf = c(first);
    cf + (1.0 - cf) * at_least_two
}

/// Vote tie-break order of two members: lower latency, then higher confidence, then lower index.
fn tie_rank(a: usize, b: usize, conf: &[f32], latency: &[f64]) -> Ordering {
    latency[a]
        .partial_cmp(&latency[b])
        .unwrap_or(Ordering::Equal)
        .then(conf[b].partial_cmp(&conf[a]).unwrap_or(Ordering::Equal))
        .then(a.cmp(&b))
}

#[cfg(test)]
mod tests;
