use proptest::prelude::*;

use super::*;
use crate::answer::Answer;
use crate::policy::PoolInfo;
use crate::vote::VoteMode;

fn plan(s: &str) -> Plan {
    s.parse().unwrap()
}

fn run(p: &str, conf: &[f32], answers: &[&str], latency: &[f64]) -> Replay {
    let pool = PoolInfo {
        latency: latency.to_vec(),
        cost: vec![0.01; conf.len()],
    };
    let owned: Vec<Vec<Answer>> = answers
        .iter()
        .map(|a| {
            if a.is_empty() {
                vec![]
            } else {
                vec![Answer::new(*a)]
            }
        })
        .collect();
    let refs: Vec<&[Answer]> = owned.iter().map(|v| v.as_slice()).collect();
    let exec = Execution::new(&plan(p), conf, &pool, None, VoteMode::PerMember);
    replay(exec, &refs, latency, &pool.cost)
}

#[test]
fn names_round_trip() {
    for s in [
        "parallel:maxconf:3",
        "early:weightedmaxconf:3",
        "early:budget:calls=3,latency=2",
        "cascade:a=2,k=2,max=4",
        "cascade:a=1,k=2,max=3,tau=0.9",
        "cascade:a=2,max=5,margin=1.5",
        "cascade:a=2,k=2,max=4/w=logodds,latency=3,cost=0.02",
        "parallel:weightedmaxconf:3/w=logodds",
    ] {
        assert_eq!(plan(s).to_string(), s);
    }
    for bad in [
        "cascade:a=3,k=2,max=2",
        "cascade:a=1,max=3",
        "cascade:a=0,k=1,max=2",
        "cascade:a=1,k=2,max=3,tau=1.5",
        "cascade:a=1,k=2,max=3,speed=2",
        "early:nope:3",
        "serial:maxconf:3",
        "parallel:maxconf:3/latency=-1",
        "parallel:maxconf:3/w=cubic",
        "cascade:a=2,k=two,max=3",
    ] {
        let e = bad.parse::<Plan>().unwrap_err();
        assert!(e.contains(bad), "{e}");
    }
}

#[test]
fn cascade_stops_at_k_agreeing_and_cancels_the_rest() {
    // a=3: the two fastest agree before the third answers
    let r = run(
        "cascade:a=3,k=2,max=5",
        &[0.9, 0.8, 0.7, 0.6, 0.5],
        &["1", "1", "2", "2", "2"],
        &[1.0, 2.0, 5.0, 1.0, 1.0],
    );
    assert_eq!(r.answer, Some(Answer::new("1")));
    assert_eq!(r.called, vec![0, 1, 2]);
    assert_eq!(r.cancelled, vec![2]);
    assert_eq!(r.latency, 2.0);
    // 1 + 2 answered, member 2 busy for 2 s until cancelled
    assert_eq!(r.latency_sum, 5.0);
}

#[test]
fn cascade_adds_the_next_most_confident_until_max() {
    // first two disagree: call the third; it sides with "2"
    let r = run(
        "cascade:a=2,k=2,max=4",
        &[0.9, 0.8, 0.7, 0.6],
        &["1", "2", "2", "1"],
        &[1.0, 1.0, 1.0, 1.0],
    );
    assert_eq!(r.answer, Some(Answer::new("2")));
    assert_eq!(r.called, vec![0, 1, 2]);
    assert_eq!(r.latency, 2.0);
    // never k agreeing: stops at max and votes (tie 1-1-1 goes to the faster, then more confident)
    let r = run(
        "cascade:a=2,k=2,max=3",
        &[0.9, 0.8, 0.7, 0.6],
        &["1", "2", "3", "3"],
        &[1.0, 1.0, 1.0, 1.0],
    );
    assert_eq!(r.called, vec![0, 1, 2]);
    assert_eq!(r.answer, Some(Answer::new("1")));
    assert_eq!(r.latency, 2.0);
}

#[test]
fn cascade_tau_calls_a_confident_top_member_alone() {
    let conf = [0.95, 0.8, 0.7];
    let r = run(
        "cascade:a=2,k=2,max=3,tau=0.9",
        &conf,
        &["1", "2", "2"],
        &[1.0; 3],
    );
    assert_eq!(
        (r.called.clone(), r.answer),
        (vec![0], Some(Answer::new("1")))
    );
    // below tau: the ordinary cascade
    let r = run(
        "cascade:a=2,k=2,max=3,tau=0.99",
        &conf,
        &["1", "2", "2"],
        &[1.0; 3],
    );
    assert_eq!(r.called, vec![0, 1, 2]);
    assert_eq!(r.answer, Some(Answer::new("2")));
    // a confident top member that abstains: the cascade goes on
    let r = run(
        "cascade:a=1,k=1,max=3,tau=0.9",
        &conf,
        &["", "2", "2"],
        &[1.0; 3],
    );
    assert_eq!(r.called, vec![0, 1]);
    assert_eq!(r.answer, Some(Answer::new("2")));
}

#[test]
fn cascade_margin_uses_log_odds_weights() {
    // log-odds weights: 0.95 -> 3.0; 0.6 -> 0.9. One confident member leads by > 2 alone.
    let r = run(
        "cascade:a=1,max=3,margin=2",
        &[0.95, 0.6, 0.6],
        &["1", "2", "2"],
        &[1.0; 3],
    );
    assert_eq!((r.calls, r.answer), (1, Some(Answer::new("1"))));
    // a weak top member does not: the others are called (up to max) and outvote it
    let r = run(
        "cascade:a=1,max=3,margin=2",
        &[0.7, 0.65, 0.65],
        &["1", "2", "2"],
        &[1.0; 3],
    );
    assert_eq!(r.answer, Some(Answer::new("2")));
    assert_eq!((r.calls, r.latency), (3, 3.0));
}

#[test]
fn early_majority_decides_before_the_slow_member() {
    let conf = [0.9, 0.8, 0.7];
    let lat = [1.0, 2.0, 9.0];
    let par = run("parallel:maxconf:3", &conf, &["4", "4", "5"], &lat);
    let early = run("early:maxconf:3", &conf, &["4", "4", "5"], &lat);
    assert_eq!(par.answer, early.answer);
    assert_eq!((par.latency, early.latency), (9.0, 2.0));
    assert_eq!(early.cancelled, vec![2]);
    assert_eq!(early.calls, 3);
    // a 2-2 split cannot be decided early
    let lat4 = [1.0, 1.0, 1.0, 9.0];
    let r = run(
        "early:maxconf:4",
        &[0.9, 0.8, 0.7, 0.6],
        &["4", "5", "5", "4"],
        &lat4,
    );
    assert_eq!(r.latency, 9.0);
}

#[test]
fn ceilings_bound_every_plan() {
    let conf = [0.9, 0.8, 0.7, 0.6];
    let lat = [5.0, 1.0, 1.0, 1.0];
    // the slow top member breaks a 2 s ceiling: the cascade starts with the next two
    let r = run(
        "cascade:a=2,k=2,max=4/latency=2",
        &conf,
        &["1", "2", "2", "2"],
        &lat,
    );
    assert_eq!(r.called, vec![1, 2]);
    // a cascade's later waves add up: 1 + 1 + 1 > 2.5, so the third wave is never planned
    let r = run(
        "cascade:a=1,k=3,max=4/latency=2.5",
        &[0.9; 4],
        &["1", "2", "3", "4"],
        &[1.0; 4],
    );
    assert_eq!(r.calls, 2);
    assert!(r.latency <= 2.5);
    // parallel: cut to what fits; cost: 0.01 per call
    let r = run(
        "parallel:maxconf:4/latency=2,cost=0.02",
        &conf,
        &["1"; 4],
        &lat,
    );
    assert_eq!(r.called, vec![1, 2]);
    // the budget policy searches within the ceiling
    let r = run("parallel:budget:calls=3/latency=2", &conf, &["1"; 4], &lat);
    assert!(!r.called.contains(&0) && !r.called.is_empty());
    // nothing fits: no call, no answer
    let r = run("early:maxconf:2/latency=0.5", &conf, &["1"; 4], &lat);
    assert_eq!((r.calls, r.answer), (0, None));
}

#[test]
fn receive_rejects_members_not_called() {
    let pool = PoolInfo::uniform(3);
    let mut e = Execution::new(
        &plan("cascade:a=1,k=1,max=2"),
        &[0.9, 0.5, 0.4],
        &pool,
        None,
        VoteMode::PerMember,
    );
    assert_eq!(e.step(), Step::Call(vec![0]));
    assert_eq!(e.step(), Step::Wait);
    assert_eq!(e.receive(1, &[]), Err(PlanError::NotOutstanding(1)));
    e.receive(0, &[Answer::new("7")]).unwrap();
    assert_eq!(e.receive(0, &[]), Err(PlanError::NotOutstanding(0)));
    let Step::Done(d) = e.step() else {
        panic!("not done")
    };
    assert_eq!(d.answer, Some(Answer::new("7")));
    assert_eq!(e.step(), Step::Done(d));
    assert_eq!(e.waves(), &[vec![0]]);
}

fn policy_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..6).prop_map(|s| format!("maxconf:{s}")),
        (1usize..6).prop_map(|s| format!("weightedmaxconf:{s}")),
        (1usize..6).prop_map(|s| format!("weightedmaxconf:{s}/w=logodds")),
        (1usize..6).prop_map(|s| format!("labelledmaxconf:{s}")),
        (0.2f32..0.8).prop_map(|t| format!("threshold:{t}")),
        (1usize..5).prop_map(|c| format!("budget:calls={c}")),
    ]
}

proptest! {
    /// Early majority gives the parallel plan's answer with the same calls, never later.
    #[test]
    fn early_majority_equals_parallel(
        policy in policy_strategy(),
        conf in proptest::collection::vec(0.0f32..=1.0, 6),
        answers in proptest::collection::vec(0usize..4, 6),
        latency in proptest::collection::vec(0.1f64..5.0, 6),
        coarse in proptest::bool::ANY,
        options in proptest::option::of(2usize..6),
        pooled in proptest::bool::ANY,
    ) {
        // coarse latencies make simultaneous arrivals and tie-breaks by latency likely
        let latency: Vec<f64> = latency.iter().map(|l| if coarse { l.round().max(1.0) } else { *l }).collect();
        let pool = PoolInfo { latency: latency.clone(), cost: vec![0.0; 6] };
        // answer 0 stands for "no answer" (the member abstains); pooled: two samples each
        let owned: Vec<Vec<Answer>> = answers.iter().enumerate().map(|(m, &a)| match (a, pooled) {
            (0, _) => vec![],
            (a, false) => vec![Answer::new(a.to_string())],
            (a, true) => vec![Answer::new(a.to_string()), Answer::new(((a + m) % 3 + 1).to_string())],
        }).collect();
        let refs: Vec<&[Answer]> = owned.iter().map(|v| v.as_slice()).collect();
        let mode = if pooled { VoteMode::Pooled } else { VoteMode::PerMember };
        let par_plan: Plan = format!("parallel:{policy}").parse().unwrap();
        let early_plan: Plan = format!("early:{policy}").parse().unwrap();
        let par = replay(Execution::new(&par_plan, &conf, &pool, options, mode), &refs, &latency, &pool.cost);
        let early = replay(Execution::new(&early_plan, &conf, &pool, options, mode), &refs, &latency, &pool.cost);
        prop_assert_eq!(&par.answer, &early.answer);
        prop_assert_eq!(&par.called, &early.called);
        prop_assert!(early.latency <= par.latency);
        prop_assert!(early.latency_sum <= par.latency_sum + 1e-9);
    }
}

#[test]
fn a_bare_policy_is_a_parallel_plan_and_keeps_its_short_name() {
    let p = Plan::parse_or_policy("weightedmaxconf:3").unwrap();
    assert_eq!(p.to_string(), "parallel:weightedmaxconf:3");
    assert_eq!(p.short_name(), "weightedmaxconf:3");
    let c = Plan::parse_or_policy("cascade:a=2,k=2,max=3").unwrap();
    assert_eq!(c.short_name(), "cascade:a=2,k=2,max=3");
    let e = Plan::parse_or_policy("EARLY:maxconf:3/w=logodds").unwrap();
    assert_eq!(e.to_string(), "early:maxconf:3/w=logodds");
    assert!(Plan::parse_or_policy("nonsense:1").is_err());
    assert!(Plan::parse_or_policy("cascade:a=0").is_err());
}

#[test]
fn a_fixed_ranking_orders_the_cascade_and_the_policy() {
    let pool = PoolInfo::uniform(3);
    let conf = [0.9, 0.5, 0.4];
    let rank = [2, 1, 0];
    let mut c = Execution::ranked(
        &plan("cascade:a=1,k=1,max=2"),
        &conf,
        &pool,
        Some(&rank),
        None,
        VoteMode::PerMember,
    );
    assert_eq!(c.step(), Step::Call(vec![2]));
    assert_eq!(
        c.selection_reason(),
        "starting with the first 1 in the checkpoint's order"
    );
    let mut p = Execution::ranked(
        &plan("early:maxconf:2"),
        &conf,
        &pool,
        Some(&rank),
        None,
        VoteMode::PerMember,
    );
    assert_eq!(p.step(), Step::Call(vec![2, 1]));
    // a ranking of the wrong length is ignored
    let mut q = Execution::ranked(
        &plan("early:maxconf:2"),
        &conf,
        &pool,
        Some(&[1]),
        None,
        VoteMode::PerMember,
    );
    assert_eq!(q.step(), Step::Call(vec![0, 1]));
}

#[test]
fn a_tied_vote_goes_to_the_member_first_in_the_ranking() {
    let pool = PoolInfo::uniform(2);
    let conf = [0.9, 0.1];
    let tie = |ranking: Option<&[usize]>| {
        let mut e = Execution::ranked(
            &plan("parallel:maxconf:2"),
            &conf,
            &pool,
            ranking,
            None,
            VoteMode::PerMember,
        );
        let Step::Call(called) = e.step() else {
            panic!("no call")
        };
        assert_eq!(called.len(), 2);
        e.receive(0, &[Answer::new("3")]).unwrap();
        e.receive(1, &[Answer::new("7")]).unwrap();
        let Step::Done(d) = e.step() else {
            panic!("not done")
        };
        d.answer
    };
    // by confidence, member 0; the checkpoint's order puts member 1 first
    assert_eq!(tie(None), Some(Answer::new("3")));
    assert_eq!(tie(Some(&[1, 0])), Some(Answer::new("7")));
}

#[test]
fn latency_ceilings_name_their_statistic() {
    let p: Plan = "cascade:a=1,k=2,max=3/latency=2,at=p50".parse().unwrap();
    assert_eq!(p.ceiling.at, LatencyStat::P50);
    assert_eq!(p.to_string(), "cascade:a=1,k=2,max=3/latency=2,at=p50");
    let d: Plan = "early:maxconf:3/latency=2".parse().unwrap();
    assert_eq!(d.ceiling.at, LatencyStat::P95);
    assert_eq!(d.to_string(), "early:maxconf:3/latency=2");
    assert!("early:maxconf:3/at=p50".parse::<Plan>().is_err());
    assert!("early:maxconf:3/latency=2,at=p99".parse::<Plan>().is_err());
    let v = [4.0, 1.0, 3.0, 2.0, 100.0];
    assert_eq!(LatencyStat::Mean.of(&v), Some(22.0));
    assert_eq!(LatencyStat::P50.of(&v), Some(3.0));
    assert_eq!(LatencyStat::P95.of(&v), Some(100.0));
    assert_eq!(LatencyStat::P95.of(&[]), None);
}
