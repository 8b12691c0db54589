//! The kinds of values the CLI's flags take, each parsed by one function (a clap
//! `value_parser`) shared by every command: a bad value is rejected, with the flag's name,
//! before anything is read, allocated or sent.

use std::fmt;
use std::str::FromStr;

use selectllm_core::plan::{Plan, PlanKind};
use selectllm_core::policy::{Budget, Policy};

/// A finite number in [0, 1]: label thresholds, confidence thresholds, top-p.
pub fn probability(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not in [0, 1]"))
    }
}

/// A finite number in (0, 1]: RouterDC label thresholds (a share of correct samples; 0
/// would call every member correct).
pub fn share(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not in (0, 1]"))
    }
}

/// Folds of a cross-validation that may be skipped: 0 (off) or 2..=100.
pub fn folds_or_off(s: &str) -> Result<usize, String> {
    match count::<0, 100>(s)? {
        1 => Err("1 fold cannot validate anything: use 0 (off) or 2..=100".into()),
        v => Ok(v),
    }
}

/// A finite number >= 0: seconds, weight decay, temperature.
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is negative"))
    }
}

/// A finite number > 0: learning rates.
pub fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not above 0"))
    }
}

/// A finite number (NaN and the infinities are not numbers of anything the CLI takes).
fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

/// A whole number in `LO..=HI`: sizes, counts and hyperparameters, bounded so that no value
/// can ask for more memory than a machine has.
pub fn count<const LO: usize, const HI: usize>(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    if (LO..=HI).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not in {LO}..={HI}"))
    }
}

/// [`count`] as a `u32` (what the pool's sampling settings hold).
pub fn count_u32<const LO: usize, const HI: usize>(s: &str) -> Result<u32, String> {
    // HI is checked by `count`; every bound used fits in a u32.
    count::<LO, HI>(s).map(|v| v as u32)
}

/// A selection policy (`maxconf:S`, `threshold:TAU`, `budget:calls=N,...`, ...), with its
/// numbers checked: a threshold in [0, 1], budget limits finite and >= 0.
pub fn policy(s: &str) -> Result<Policy, String> {
    let p = Policy::parse(s)?;
    match &p {
        Policy::Threshold { tau } if !(0.0..=1.0).contains(tau) => {
            Err(format!("policy `{s}`: threshold {tau} is not in [0, 1]"))
        }
        Policy::Budget(b) => check_budget(b).map(|()| p.clone()),
        _ => Ok(p),
    }
}

/// A budget, `calls=N,latency=SEC,cost=USD` (any of them).
/// A plan, or a policy (= `parallel:<policy>`), with the policy checks of [`policy`].
pub fn plan(s: &str) -> Result<Plan, String> {
    let plan = Plan::parse_or_policy(s)?;
    match &plan.kind {
        PlanKind::Parallel(p) | PlanKind::Early(p) => {
            policy(&p.to_string()).map_err(|e| format!("plan `{s}`: {e}"))?;
        }
        PlanKind::Cascade(_) => {}
    }
    Ok(plan)
}

pub fn budget(s: &str) -> Result<Budget, String> {
    match policy(&format!("budget:{s}"))? {
        Policy::Budget(b) => Ok(b),
        other => Err(format!("`{s}` is the policy {other}, not a budget")),
    }
}

fn check_budget(b: &Budget) -> Result<(), String> {
    for (name, v) in [("latency", b.latency), ("cost", b.cost)] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(format!("budget {name} {v} is not a finite number >= 0"));
        }
    }
    if b.calls == Some(0) {
        return Err("budget calls must be at least 1".into());
    }
    Ok(())
}

/// `NAME=SECONDS`: one member's seconds per call.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSeconds {
    pub member: String,
    pub seconds: f64,
}

impl FromStr for MemberSeconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (member, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NAME=SECONDS"))?;
        if member.trim().is_empty() {
            return Err(format!("`{s}`: the member name is empty"));
        }
        let seconds = non_negative(v).map_err(|e| format!("`{s}`: {e}"))?;
        Ok(MemberSeconds {
            member: member.trim().to_string(),
            seconds,
        })
    }
}

impl fmt::Display for MemberSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.member, self.seconds)
    }
}

/// Each `--latency` setting as a member index, or an error naming an unknown member.
pub fn member_latencies(
    settings: &[MemberSeconds],
    members: &[String],
) -> anyhow::Result<Vec<(usize, f64)>> {
    settings
        .iter()
        .map(|l| {
            let i = members.iter().position(|m| *m == l.member).ok_or_else(|| {
                anyhow::anyhow!(
                    "--latency: unknown member `{}` (members: {})",
                    l.member,
                    members.join(", ")
                )
            })?;
            Ok((i, l.seconds))
        })
        .collect()
}

/// `LO-HI` orders of n-grams, `LO <= HI <= 8`.
pub fn ngram_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}`: expected LO-HI, e.g. 2-4"))?;
    let (a, b) = (count::<0, 8>(a)?, count::<0, 8>(b)?);
    if a > b {
        return Err(format!("`{s}`: need LO <= HI"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_reject_what_they_should() {
        assert_eq!(probability("0.25"), Ok(0.25));
        for bad in ["NaN", "inf", "-0.1", "2", "x", ""] {
            assert!(probability(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-3").is_err());
        assert!(positive("0").is_err() && positive("-1").is_err() && positive("NaN").is_err());
        assert_eq!(count::<2, 100>("5"), Ok(5));
        for bad in ["0", "1", "101", "-1", "2.5"] {
            assert!(count::<2, 100>(bad).is_err(), "{bad}");
        }
        assert_eq!(ngram_range("2-4"), Ok((2, 4)));
        assert!(ngram_range("4-2").is_err() && ngram_range("1-9").is_err());
    }

    #[test]
    fn policy_and_budget_check_their_numbers() {
        assert_eq!(policy("maxconf:2"), Ok(Policy::MaxConf { s: 2 }));
        for bad in [
            "threshold:NaN",
            "threshold:2",
            "budget:latency=-1",
            "budget:cost=NaN",
        ] {
            assert!(policy(bad).is_err(), "{bad}");
        }
        let b = budget("calls=3,latency=2.5").expect("budget");
        assert_eq!((b.calls, b.latency, b.cost), (Some(3), Some(2.5), None));
        assert!(budget("calls=0").is_err());
        assert!(budget("speed=1").is_err());
        assert_eq!(
            plan("weightedmaxconf:3").map(|p| p.to_string()),
            Ok("parallel:weightedmaxconf:3".to_string())
        );
        assert!(plan("cascade:a=2,k=2,max=4/latency=20,at=p50").is_ok());
        for bad in [
            "early:threshold:2",
            "early:budget:cost=NaN",
            "cascade:a=3,max=2",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn member_seconds_round_trips() {
        let l: MemberSeconds = "gpt-4=2.5".parse().expect("valid");
        assert_eq!(l.to_string().parse::<MemberSeconds>(), Ok(l.clone()));
        for bad in ["a", "=1", "a=-1", "a=NaN", "a=fast"] {
            assert!(bad.parse::<MemberSeconds>().is_err(), "{bad}");
        }
        let members = vec!["a".to_string(), "gpt-4".to_string()];
        assert_eq!(member_latencies(&[l], &members).unwrap(), vec![(1, 2.5)]);
        let e = member_latencies(&["zz=1".parse().unwrap()], &members).unwrap_err();
        assert!(e.to_string().contains("unknown member `zz`"), "{e}");
    }
}
