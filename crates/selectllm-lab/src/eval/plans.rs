//! Plan rows: early majority and cascades replayed on each test question's recorded answers
//! and latencies, and the log-odds vote weights beside the paper's linear ones.

use rayon::prelude::*;
use selectllm_core::answer::Answer;
use selectllm_core::dataset::RoutingDataset;
use selectllm_core::plan::{Cascade, Execution, Plan, PlanKind, Replay, replay};
use selectllm_core::policy::{Policy, PoolInfo};
use selectllm_core::vote::Weighting;

use super::report::{Row, RowKind};
use super::rows::{Acc, gold_answers};
use super::{EvalConfig, Inputs, measured_latency};

/// Plans shown in the main table; the rest of the sweep goes to `report.json` / CSV only.
const MAIN: &[&str] = &[
    "early:maxconf:3",
    "early:weightedmaxconf:3",
    "parallel:weightedmaxconf:3/w=logodds",
    "cascade:a=2,k=2,max=3",
    "cascade:a=2,k=2,max=3,tau=0.9",
    "cascade:a=1,max=3,margin=2",
];

/// The plans of the sweep for a pool of `n` members, policies up to size `max_s`.
fn sweep(n: usize, max_s: usize, cfg: &EvalConfig) -> Vec<Plan> {
    let mut policies: Vec<Policy> = Vec::new();
    for s in 1..=max_s {
        policies.push(Policy::MaxConf { s });
        policies.push(Policy::LabelledMaxConf { s });
        policies.push(Policy::WeightedMaxConf { s });
    }
    policies.push(Policy::Threshold {
        tau: cfg.threshold_tau,
    });
    policies.push(Policy::Budget(cfg.budget));
    let mut plans: Vec<Plan> = Vec::new();
    for p in &policies {
        // the parallel plan under the same per-question latencies, for the early rows' reduction
        plans.push(Plan::new(PlanKind::Parallel(p.clone())));
        plans.push(Plan::new(PlanKind::Early(p.clone())));
    }
    for s in 2..=max_s {
        let mut p = Plan::new(PlanKind::Parallel(Policy::WeightedMaxConf { s }));
        p.weighting = Some(Weighting::LogOdds);
        plans.push(p);
    }
    let cascade = |a, k, max, tau, margin| {
        Plan::new(PlanKind::Cascade(Cascade {
            a,
            k,
            max,
            tau,
            margin,
        }))
    };
    for a in 1..=3.min(n) {
        for max in [1, 2, 3, 4, 5, n] {
            if max < a || max > n {
                continue;
            }
            if max == a {
                // one wave, no stopping rule: the a most confident members
                plans.push(cascade(a, None, max, None, None));
            }
            for k in [2, 3] {
                for tau in [None, Some(0.5), Some(0.7), Some(0.9)] {
                    plans.push(cascade(a, Some(k), max, tau, None));
                }
            }
            for margin in [1.0, 2.0, 3.0] {
                plans.push(cascade(a, None, max, None, Some(margin)));
            }
        }
    }
    // the plans asked for (`eval --plan`)
    plans.extend(cfg.plans.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    plans.retain(|p| seen.insert(p.to_string()));
    plans
}

/// The pool as a plan with a latency ceiling sees it: each member's latency at the ceiling's
/// statistic (`at=p95|p50|mean`) of its measured latencies, else its latency setting.
fn pool_at(plan: &Plan, ds: &RoutingDataset, pool: &PoolInfo, cfg: &EvalConfig) -> PoolInfo {
    if plan.ceiling.latency.is_none() {
        return pool.clone();
    }
    let latency = (0..ds.members.len())
        .map(|m| {
            let measured: Vec<f64> = ds.outcomes.iter().filter_map(|o| o[m].latency_s).collect();
            match cfg.latency.contains_key(&ds.members[m].name) {
                true => pool.latency[m],
                false => plan.ceiling.at.of(&measured).unwrap_or(pool.latency[m]),
            }
        })
        .collect();
    PoolInfo {
        latency,
        cost: pool.cost.clone(),
    }
}

/// The plan rows of an answer-level dataset: `(main table rows, sweep rows, notes)`.
pub(super) fn build(inputs: &Inputs<'_>) -> (Vec<Row>, Vec<Row>, Vec<String>) {
    let Inputs {
        ds,
        cfg,
        pool,
        folds,
        probs,
        rankings,
    } = *inputs;
    if !ds.answer_level() {
        return (
            Vec::new(),
            Vec::new(),
            vec!["Plan rows (early majority, cascades, log-odds weights) are left out: the data has correctness only, so the agreement a cascade waits for and the moment a vote is decided are unknown.".into()],
        );
    }
    let n = ds.members.len();
    let gold = gold_answers(ds);
    let priced = pool.cost.iter().any(|&c| c > 0.0);
    // (fold, question)
    let tests: Vec<(usize, usize)> = folds
        .iter()
        .enumerate()
        .flat_map(|(f, fold)| fold.test.iter().map(move |&q| (f, q)))
        .collect();
    // each outcome's measured latency where the data has it (and no --latency overrides the
    // member), else the member's latency setting
    let mut measured = 0usize;
    let latency: Vec<Vec<f64>> = tests
        .iter()
        .map(|&(_, q)| {
            (0..n)
                .map(|m| match measured_latency(ds, cfg, q, m) {
                    Some(l) => {
                        measured += 1;
                        l
                    }
                    None => pool.latency[m],
                })
                .collect()
        })
        .collect();
    let total = tests.len() * n;
    let plans = sweep(n, cfg.max_s.min(n).max(1), cfg);
    // each plan replays on its own (its row's seed is its index), in parallel; rows in order
    let mut rows: Vec<(Plan, Row)> = plans
        .into_par_iter()
        .enumerate()
        .map(|(i, plan)| {
            let name = plan.to_string();
            let pool = &pool_at(&plan, ds, pool, cfg);
            let mut acc = Acc::new(name.clone(), RowKind::Plan);
            for (t, &(_, q)) in tests.iter().enumerate() {
                let Some(conf) = probs[q].as_deref() else {
                    continue;
                };
                let ranking = rankings.get(q).and_then(|r| r.as_deref());
                let r = run(&plan, ds, q, (conf, ranking), pool, &latency[t], cfg);
                let ok = match (&r.answer, &gold[q]) {
                    (Some(a), Some(g)) => (a == g) as u8 as f64,
                    _ => 0.0,
                };
                acc.push((ok, ok), r.calls as f64, (r.latency_sum, r.latency, r.cost));
            }
            let seed = cfg.seed.wrapping_add(0x91a7 + i as u64);
            let row = acc.finish(cfg, false, priced, seed);
            (plan, row)
        })
        .collect();
    // early rows: state the reduction against the parallel plan under the same latencies
    for i in 0..rows.len() {
        if let PlanKind::Early(p) = &rows[i].0.kind {
            let par = format!("parallel:{p}");
            if let Some((_, pr)) = rows.iter().find(|(pl, _)| pl.to_string() == par) {
                let (lm, p95) = (pr.latency_max, pr.latency_max_p95);
                let r = &rows[i].1;
                let detail = format!(
                    "decided {:.1}% sooner on average than waiting for all (latency max {:.2} s -> {:.2} s, p95 {:.2} -> {:.2}); same answers as `{p}` by construction",
                    100.0 * (1.0 - r.latency_max / lm.max(1e-12)),
                    lm,
                    r.latency_max,
                    p95,
                    r.latency_max_p95
                );
                rows[i].1.detail = detail;
            }
        }
    }
    let (main, rest): (Vec<_>, Vec<_>) = rows.into_iter().map(|(_, r)| r).partition(|r| {
        MAIN.contains(&r.name.as_str()) || cfg.plans.iter().any(|p| p.to_string() == r.name)
    });
    let source = if measured == total {
        "each outcome's measured latency".to_string()
    } else if measured == 0 {
        "the members' latency settings (the data has no per-question latency)".to_string()
    } else {
        format!(
            "measured latency for {measured} of {total} outcomes, the member's latency setting for the rest"
        )
    };
    let notes = vec![format!(
        "Plan rows are replayed question by question on {source}; `latency max` is the time at which the answer was decided, `latency sum` the seconds members worked (cancelled calls until the decision), cost counts cancelled calls in full. `early:P` calls what P selects and stops once the outstanding members cannot change the vote (same answers as P). `cascade:a=..,k=..,max=..` calls the a most confident members, stops at k agreeing answers (tau: a member at least that confident is called alone; margin: a log-odds weighted lead), else adds the next most confident up to max. `/w=logodds` weighs votes by the log-odds ln(p/(1-p)) (+ ln 3 on 4-option questions), through a softplus so weights stay positive. The full sweep ({} more rows) is in report.json / report.csv.",
        rest.len()
    )];
    (main, rest, notes)
}

/// Replays `plan` on question `q` with the given per-member latencies.
fn run(
    plan: &Plan,
    ds: &RoutingDataset,
    q: usize,
    (conf, ranking): (&[f32], Option<&[usize]>),
    pool: &PoolInfo,
    latency: &[f64],
    cfg: &EvalConfig,
) -> Replay {
    let answers: Vec<&[Answer]> = ds.outcomes[q]
        .iter()
        .map(|o| o.answers.as_slice())
        .collect();
    let options = ds.questions[q].task.options();
    let exec = Execution::ranked(plan, conf, pool, ranking, options, cfg.vote);
    replay(exec, &answers, latency, &pool.cost)
}
