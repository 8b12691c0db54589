//! The SelectLLM policy rows: max-confidence (plain, labelled, weighted) for each subset size,
//! the threshold policy and the budgeted policy, on the classifier's probabilities.

use selectllm_core::policy::{Policy, preference};

use super::acc::{Acc, Table};
use super::judge::Ctx;
use crate::eval::report::RowKind;

/// The policies evaluated, in row order, for subset sizes up to `max_s`.
fn policies(ctx: &Ctx<'_>, max_s: usize) -> Vec<Policy> {
    let mut policies: Vec<Policy> = Vec::new();
    for s in 1..=max_s {
        policies.push(Policy::MaxConf { s });
    }
    for s in 1..=max_s {
        policies.push(Policy::LabelledMaxConf { s });
    }
    for s in 1..=max_s {
        policies.push(Policy::WeightedMaxConf { s });
    }
    policies.push(Policy::Threshold {
        tau: ctx.cfg.threshold_tau,
    });
    policies.push(Policy::Budget(ctx.cfg.budget));
    policies
}

/// One row per policy, on `probs` and `rankings` (both per question; rankings passed to
/// `Policy::select_ranked`).
pub(super) fn rows(
    ctx: &Ctx<'_>,
    table: &mut Table<'_>,
    max_s: usize,
    probs: &[Option<Vec<f32>>],
    rankings: &[Option<Vec<usize>>],
) {
    let no_conf: [f32; 0] = [];
    for p in &policies(ctx, max_s) {
        let mut acc = Acc::new(p.to_string(), RowKind::Policy);
        for &(_, q) in &ctx.tests {
            let conf = probs[q].as_deref().unwrap_or(&no_conf);
            let ranking = rankings.get(q).and_then(|r| r.as_deref());
            let sel = p.select_ranked(conf, ctx.pool, ranking);
            // vote ties follow the order the members were selected by
            let prefer = preference(conf, ranking);
            let (out, sample) = ctx.judge(q, &sel.members, sel.weights.as_deref(), &prefer);
            acc.push_with_sample(
                out,
                sample,
                sel.members.len() as f64,
                ctx.latency_on(q, &sel.members),
            );
        }
        table.add(acc);
    }
}
