//! The oracle row: right when any member is; it needs every member's answer.

use super::acc::{Acc, Table};
use super::judge::Ctx;
use crate::eval::report::RowKind;

pub(super) fn row(ctx: &Ctx<'_>, table: &mut Table<'_>) {
    let ds = ctx.ds;
    let n_m = ds.members.len();
    let all: Vec<usize> = (0..n_m).collect();
    let mut acc = Acc::new("oracle", RowKind::Oracle);
    for &(_, q) in &ctx.tests {
        let v = ds.outcomes[q].iter().any(|o| o.label) as u8 as f64;
        // one sample: the member with the best score, known in hindsight
        let best = ds.outcomes[q]
            .iter()
            .map(|o| o.success_rate as f64)
            .fold(0.0, f64::max);
        let sample = if ctx.multi[q] { best } else { v };
        acc.push_with_sample(
            (v, v),
            (sample, sample),
            n_m as f64,
            ctx.latency_on(q, &all),
        );
    }
    table.add(acc);
}
