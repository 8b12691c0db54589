//! One row per pool member (`single:<member>`): that member called alone.

use super::acc::{Acc, Table};
use super::judge::Ctx;
use crate::eval::report::RowKind;

pub(super) fn rows(ctx: &Ctx<'_>, table: &mut Table<'_>) {
    let ds = ctx.ds;
    for m in 0..ds.members.len() {
        let mut acc = Acc::new(format!("single:{}", ds.members[m].name), RowKind::Single);
        for &(_, q) in &ctx.tests {
            let o = &ds.outcomes[q][m];
            let v = o.label as u8 as f64;
            let sample = if ctx.multi[q] {
                o.success_rate as f64
            } else {
                v
            };
            acc.push_with_sample((v, v), (sample, sample), 1.0, ctx.latency_on(q, &[m]));
        }
        table.add(acc);
    }
}
