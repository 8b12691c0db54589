//! Execution plans: which members to call, in which waves, and when the answer is decided.
//!
//! A [`Plan`] is a setting (parsed from and printed as a row name such as
//! `cascade:a=2,k=2,max=4` or `early:weightedmaxconf:3`). For one query, [`Execution`] is its
//! state machine: a driver asks it what to do next ([`Execution::step`]), starts the calls it
//! names, feeds each answer back as it arrives ([`Execution::receive`]), and cancels what the
//! decision lists. The plan holds no clock and does no I/O, so the offline [`replay`] driver
//! (recorded answers and latencies) and a live driver (real backends) make the same decisions
//! from the same arrival order.
//!
//! - `parallel:<policy>`: call the policy's subset at once, vote when all have answered.
//! - `early:<policy>`: the same calls; decided as soon as the members still outstanding cannot
//!   change the (weighted) vote, and the rest are cancelled. Same answer as `parallel`.
//! - `cascade:a=..,k=..,max=..[,tau=..][,margin=..]`: call the `a` most confident members;
//!   stop when one answer has `k` votes, or a weighted lead of `margin`, or (tau) when the most
//!   confident member is at least `tau` confident (then it is called alone); otherwise call the
//!   next most confident member, up to `max` calls; then vote over what was received.
//!
//! Options after `/`: `w=count|linear|logodds` (vote weights) and the ceilings
//! `latency=SEC` (worst-case decision time: the slowest member of the first wave plus each
//! later wave's), judged at `at=p95` (default), `p50` or `mean` of each member's measured
//! latency, and `cost=USD` (all calls the plan may make). The driver fills [`PoolInfo`](crate::policy::PoolInfo)'s
//! latencies with the statistic [`Ceiling::at`] names.

mod exec;
mod replay;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use exec::{Decision, Execution, PlanError, Step};
pub use replay::{Replay, replay};

use crate::policy::Policy;
use crate::vote::Weighting;

/// Which statistic of a member's measured latency a latency ceiling is judged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyStat {
    Mean,
    P50,
    #[default]
    P95,
}

impl LatencyStat {
    /// The statistic of `samples` (seconds); `None` when there are none.
    pub fn of(self, samples: &[f64]) -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        let q = match self {
            LatencyStat::Mean => return Some(samples.iter().sum::<f64>() / samples.len() as f64),
            LatencyStat::P50 => 0.50,
            LatencyStat::P95 => 0.95,
        };
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        // nearest rank
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

impl FromStr for LatencyStat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mean" => Ok(LatencyStat::Mean),
            "p50" => Ok(LatencyStat::P50),
            "p95" => Ok(LatencyStat::P95),
            _ => Err(format!("unknown latency statistic `{s}` (mean, p50, p95)")),
        }
    }
}

impl fmt::Display for LatencyStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LatencyStat::Mean => "mean",
            LatencyStat::P50 => "p50",
            LatencyStat::P95 => "p95",
        })
    }
}

/// A per-query ceiling that bounds any plan; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ceiling {
    /// Worst-case seconds until the plan decides, each member at its latency statistic `at`.
    pub latency: Option<f64>,
    /// The statistic of each member's measured latency the latency ceiling is judged at.
    pub at: LatencyStat,
    /// Expected USD of every call the plan may make.
    pub cost: Option<f64>,
}

impl Ceiling {
    pub fn is_unlimited(&self) -> bool {
        self.latency.is_none() && self.cost.is_none()
    }
}

/// The cascade's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cascade {
    /// Members called in the first wave (the most confident ones).
    pub a: usize,
    /// Stop when one answer has this many votes.
    pub k: Option<usize>,
    /// At most this many calls in all.
    pub max: usize,
    /// Call the most confident member alone when its confidence is at least `tau`.
    pub tau: Option<f32>,
    /// Stop when the leading answer's weight exceeds the runner-up's by at least this.
    pub margin: Option<f64>,
}

/// What a plan calls and when it stops.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanKind {
    Parallel(Policy),
    Early(Policy),
    Cascade(Cascade),
}

/// A plan: its kind, its vote weights and its ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: PlanKind,
    /// `None`: the kind's default (the policy's own weighting; for a cascade, log-odds when it
    /// stops on a margin, else one vote per member).
    pub weighting: Option<Weighting>,
    pub ceiling: Ceiling,
}

impl Plan {
    pub fn new(kind: PlanKind) -> Self {
        Plan {
            kind,
            weighting: None,
            ceiling: Ceiling::default(),
        }
    }

    /// The vote weighting in effect.
    pub fn weighting(&self) -> Weighting {
        self.weighting.unwrap_or(match &self.kind {
            PlanKind::Parallel(p) | PlanKind::Early(p) => {
                if p.weighted() {
                    Weighting::Linear
                } else {
                    Weighting::Count
                }
            }
            PlanKind::Cascade(c) if c.margin.is_some() => Weighting::LogOdds,
            PlanKind::Cascade(_) => Weighting::Count,
        })
    }
}

impl Plan {
    /// A plan (`early:...`, `cascade:...`, `parallel:...`) or a bare policy, which means
    /// `parallel:<policy>` (what a gateway model name or setting may hold).
    pub fn parse_or_policy(s: &str) -> Result<Plan, String> {
        let head = s.split([':', '/']).next().unwrap_or("");
        if ["parallel", "early", "cascade"]
            .iter()
            .any(|k| head.eq_ignore_ascii_case(k))
        {
            return s.parse();
        }
        Policy::parse(s).map(|p| Plan::new(PlanKind::Parallel(p)))
    }

    /// The name users wrote for it: a parallel plan without options is its policy's name.
    pub fn short_name(&self) -> String {
        match &self.kind {
            PlanKind::Parallel(p) if self.weighting.is_none() && self.ceiling.is_unlimited() => {
                p.to_string()
            }
            _ => self.to_string(),
        }
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(s: &str) -> Result<Plan, String> {
        let (head, opts) = s.split_once('/').unwrap_or((s, ""));
        let (name, arg) = head.split_once(':').unwrap_or((head, ""));
        let kind = match name.to_ascii_lowercase().as_str() {
            "parallel" => {
                PlanKind::Parallel(Policy::parse(arg).map_err(|e| format!("plan `{s}`: {e}"))?)
            }
            "early" => PlanKind::Early(Policy::parse(arg).map_err(|e| format!("plan `{s}`: {e}"))?),
            "cascade" => PlanKind::Cascade(parse_cascade(s, arg)?),
            _ => {
                return Err(format!(
                    "unknown plan `{s}` (parallel:POLICY, early:POLICY, cascade:a=N,k=N,max=N[,tau=P][,margin=W])"
                ));
            }
        };
        let mut plan = Plan::new(kind);
        let options = pairs(s, opts)?;
        if options.iter().any(|(k, _)| *k == "at") && !options.iter().any(|(k, _)| *k == "latency")
        {
            return Err(format!(
                "plan `{s}`: `at` applies to a `latency` ceiling only"
            ));
        }
        for (k, v) in options {
            let bad = || format!("plan `{s}`: bad value `{v}` for `{k}`");
            match k {
                "w" => plan.weighting = Some(v.parse().map_err(|e| format!("plan `{s}`: {e}"))?),
                "latency" => plan.ceiling.latency = Some(positive(v).ok_or_else(bad)?),
                "at" => plan.ceiling.at = v.parse().map_err(|e| format!("plan `{s}`: {e}"))?,
                "cost" => plan.ceiling.cost = Some(non_negative(v).ok_or_else(bad)?),
                _ => {
                    return Err(format!(
                        "plan `{s}`: unknown option `{k}` (w, latency, at, cost)"
                    ));
                }
            }
        }
        Ok(plan)
    }
}

fn parse_cascade(s: &str, arg: &str) -> Result<Cascade, String> {
    let (mut a, mut k, mut max, mut tau, mut margin) = (None, None, None, None, None);
    for (key, v) in pairs(s, arg)? {
        let bad = || format!("plan `{s}`: bad value `{v}` for `{key}`");
        let count = || v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(bad);
        match key {
            "a" => a = Some(count()?),
            "k" => k = Some(count()?),
            "max" => max = Some(count()?),
            "tau" => {
                let t: f32 = v.parse().map_err(|_| bad())?;
                if !(t > 0.0 && t <= 1.0) {
                    return Err(format!("plan `{s}`: tau must be in (0, 1], got `{v}`"));
                }
                tau = Some(t);
            }
            "margin" => margin = Some(positive(v).ok_or_else(bad)?),
            _ => {
                return Err(format!(
                    "plan `{s}`: unknown cascade key `{key}` (a, k, max, tau, margin)"
                ));
            }
        }
    }
    let a = a.unwrap_or(1);
    let max = max.unwrap_or(a);
    if max < a {
        return Err(format!("plan `{s}`: max ({max}) is below a ({a})"));
    }
    if k.is_none() && tau.is_none() && margin.is_none() && max > a {
        return Err(format!(
            "plan `{s}`: a cascade that calls more than `a` needs a stopping rule (k, margin or tau)"
        ));
    }
    Ok(Cascade {
        a,
        k,
        max,
        tau,
        margin,
    })
}

fn pairs<'a>(s: &str, list: &'a str) -> Result<Vec<(&'a str, &'a str)>, String> {
    list.split(',')
        .filter(|t| !t.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .ok_or_else(|| format!("plan `{s}`: expected key=value, got `{kv}`"))
        })
        .collect()
}

fn positive(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0)
}

fn non_negative(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PlanKind::Parallel(p) => write!(f, "parallel:{p}")?,
            PlanKind::Early(p) => write!(f, "early:{p}")?,
            PlanKind::Cascade(c) => {
                write!(f, "cascade:a={}", c.a)?;
                if let Some(k) = c.k {
                    write!(f, ",k={k}")?;
                }
                write!(f, ",max={}", c.max)?;
                if let Some(t) = c.tau {
                    write!(f, ",tau={t}")?;
                }
                if let Some(m) = c.margin {
                    write!(f, ",margin={m}")?;
                }
            }
        }
        let mut opts = Vec::new();
        if let Some(w) = self.weighting {
            opts.push(format!("w={w}"));
        }
        if let Some(l) = self.ceiling.latency {
            opts.push(format!("latency={l}"));
            if self.ceiling.at != LatencyStat::default() {
                opts.push(format!("at={}", self.ceiling.at));
            }
        }
        if let Some(c) = self.ceiling.cost {
            opts.push(format!("cost={c}"));
        }
        if !opts.is_empty() {
            write!(f, "/{}", opts.join(","))?;
        }
        Ok(())
    }
}
