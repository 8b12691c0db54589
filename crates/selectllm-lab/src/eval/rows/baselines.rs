//! The baseline rows, which use no classifier: `all` (every member votes), `best-fixed:s`
//! (the subset of size s best on each fold's training questions), `task-best` (told each
//! question's task, the member best on that task's training questions) and `random:s`
//! (random subsets, averaged over seeds).

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use rayon::prelude::*;
use selectllm_core::vote::{SimBallot, Voter, WrongAnswers};

use super::acc::{Acc, Table};
use super::judge::Ctx;
use crate::eval::Fold;
use crate::eval::report::RowKind;

/// Every member called, their votes counted.
pub(super) fn all(ctx: &Ctx<'_>, table: &mut Table<'_>) {
    let n_m = ctx.ds.members.len();
    let all: Vec<usize> = (0..n_m).collect();
    let mut acc = Acc::new("all", RowKind::Baseline);
    for &(f, q) in &ctx.tests {
        let (out, sample) = ctx.judge(q, &all, None, &ctx.priors[f]);
        acc.push_with_sample(out, sample, n_m as f64, ctx.latency_on(q, &all));
    }
    table.add(acc);
}

/// The best fixed subset of each size up to `max_s`, chosen on each fold's training and
/// validation questions.
pub(super) fn best_fixed(ctx: &Ctx<'_>, table: &mut Table<'_>, max_s: usize, folds: &[Fold]) {
    let ds = ctx.ds;
    let n_m = ds.members.len();
    for s in 1..=max_s {
        let mut acc = Acc::new(format!("best-fixed:{s}"), RowKind::Baseline);
        let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
        for (f, fold) in folds.iter().enumerate() {
            let pick: Vec<usize> = fold.train.iter().chain(&fold.val).copied().collect();
            let best = best_subset(ctx, &pick, n_m, s, &ctx.priors[f]);
            let names: Vec<&str> = best.iter().map(|&m| ds.members[m].name.as_str()).collect();
            *chosen.entry(names.join("+")).or_default() += 1;
            for &(tf, q) in &ctx.tests {
                if tf == f {
                    let (out, sample) = ctx.judge(q, &best, None, &ctx.priors[f]);
                    acc.push_with_sample(out, sample, s as f64, ctx.latency_on(q, &best));
                }
            }
        }
        acc.detail = per_fold(&chosen, folds.len());
        table.add(acc);
    }
}

/// What a row chose, each choice with the number of folds that made it (when there are
/// several folds).
fn per_fold(chosen: &BTreeMap<String, usize>, folds: usize) -> String {
    chosen
        .iter()
        .map(|(k, v)| {
            if folds > 1 {
                format!("{k} ({v} folds)")
            } else {
                k.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `task-best`: told each test question's task, call the member with the best mean success
/// rate on that task's training (and validation) questions of the fold (accuracy on
/// probability tasks, one-sample accuracy on multi-attempt ones, the figures the per-task
/// table compares, and the rates the neighbourhood order ranks by); ties to the lower latency,
/// then the lower index. What a router that only tells tasks apart can reach. Added only when
/// every question names its task, there are two or more, and each test question's task has
/// training questions in its fold (not on out-of-distribution tests).
pub(super) fn task_best(ctx: &Ctx<'_>, table: &mut Table<'_>, folds: &[Fold]) {
    let ds = ctx.ds;
    let task = |q: usize| ds.questions[q].benchmark.as_deref();
    let named: std::collections::BTreeSet<&str> =
        (0..ds.questions.len()).filter_map(task).collect();
    if named.len() < 2 || (0..ds.questions.len()).any(|q| task(q).is_none()) {
        return;
    }
    let n_m = ds.members.len();
    // per fold: task -> its best member
    let mut best: Vec<BTreeMap<&str, usize>> = Vec::with_capacity(folds.len());
    for fold in folds {
        let mut sums: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for &q in fold.train.iter().chain(&fold.val) {
            let row = sums
                .entry(task(q).unwrap_or_default())
                .or_insert(vec![0.0; n_m]);
            for (s, o) in row.iter_mut().zip(&ds.outcomes[q]) {
                *s += f64::from(o.success_rate);
            }
        }
        let pick = |row: &Vec<f64>| {
            (0..n_m)
                .min_by(|&a, &b| {
                    row[b]
                        .total_cmp(&row[a])
                        .then(ctx.pool.latency[a].total_cmp(&ctx.pool.latency[b]))
                        .then(a.cmp(&b))
                })
                .unwrap_or(0)
        };
        best.push(sums.iter().map(|(t, row)| (*t, pick(row))).collect());
    }
    let mut acc = Acc::new("task-best", RowKind::Baseline);
    for &(f, q) in &ctx.tests {
        let Some(&m) = best.get(f).and_then(|b| b.get(task(q).unwrap_or_default())) else {
            return; // a test task without training questions
        };
        let (out, sample) = ctx.judge(q, &[m], None, &ctx.priors[f]);
        acc.push_with_sample(out, sample, 1.0, ctx.latency_on(q, &[m]));
    }
    let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
    for b in &best {
        for (t, &m) in b {
            *chosen
                .entry(format!("{t}: {}", ds.members[m].name))
                .or_default() += 1;
        }
    }
    acc.detail = per_fold(&chosen, folds.len());
    table.add(acc);
}

/// Random subsets of each size up to `max_s`, averaged over seeds per question. The sizes have
/// their own seeds and run in parallel; the rows are added in size order.
pub(super) fn random(ctx: &Ctx<'_>, table: &mut Table<'_>, max_s: usize) {
    let rows: Vec<Acc> = (1..=max_s)
        .into_par_iter()
        .map(|s| random_row(ctx, s))
        .collect();
    for acc in rows {
        table.add(acc);
    }
}

/// The `random:s` row.
fn random_row(ctx: &Ctx<'_>, s: usize) -> Acc {
    let (ds, cfg) = (ctx.ds, ctx.cfg);
    let n_m = ds.members.len();
    let mut acc = Acc::new(format!("random:{s}"), RowKind::Baseline);
    let mut rngs: Vec<ChaCha8Rng> = (0..cfg.random_seeds.max(1))
        .map(|r| ChaCha8Rng::seed_from_u64(cfg.seed ^ (0x5eed_0000 + r as u64 * 7919 + s as u64)))
        .collect();
    let k = rngs.len() as f64;
    for &(f, q) in &ctx.tests {
        let (mut lo, mut hi, mut ls, mut lm, mut c) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut one_lo, mut one_hi) = (0.0, 0.0);
        for rng in rngs.iter_mut() {
            let mut subset = sample(rng, n_m, s).into_vec();
            subset.sort_unstable();
            let (a, b) = ctx.correct(q, &subset, None, &ctx.priors[f]);
            // the one-sample figure of a vote: exact for s = 1, else one seeded draw of
            // the members' sampled answers per seed (the mean over seeds estimates it)
            let (ol, oh) = if !ctx.multi[q] {
                (a, b)
            } else if s == 1 {
                let r = ds.outcomes[q][subset[0]].success_rate as f64;
                (r, r)
            } else {
                let row = &ds.outcomes[q];
                let ballots: Vec<SimBallot> = subset
                    .iter()
                    .map(|&m| {
                        let right = rng.gen_bool(row[m].success_rate.clamp(0.0, 1.0) as f64);
                        SimBallot {
                            member: m,
                            correct: right,
                            success_rate: right as u8 as f32,
                            weight: 1.0,
                        }
                    })
                    .collect();
                let voter = Voter::new(&ctx.pool.latency, &ctx.priors[f]);
                let l = voter.simulate(&ballots, cfg.vote, WrongAnswers::AllAgree) as u8;
                let h = voter.simulate(&ballots, cfg.vote, WrongAnswers::AllDiffer) as u8;
                (l as f64, h as f64)
            };
            one_lo += ol;
            one_hi += oh;
            let (x, y, z) = ctx.latency_on(q, &subset);
            lo += a;
            hi += b;
            ls += x;
            lm += y;
            c += z;
        }
        acc.push_with_sample(
            (lo / k, hi / k),
            (one_lo / k, one_hi / k),
            s as f64,
            (ls / k, lm / k, c / k),
        );
    }
    acc.detail = format!("mean over {} seeds", rngs.len());
    acc
}

/// Lexicographic combinations of `k` out of `0..n`.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(k);
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            if n - i < k - cur.len() {
                break;
            }
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    rec(0, n, k, &mut cur, &mut out);
    out
}

/// Subsets larger than this many combinations are searched greedily for `best-fixed`.
const MAX_COMBINATIONS: usize = 5000;

/// The subset of size `s` with the best mean vote accuracy (midpoint of the bounds) on `pick`;
/// ties to the lower summed latency, then the lexicographically first.
fn best_subset(ctx: &Ctx<'_>, pick: &[usize], n_m: usize, s: usize, prior: &[f32]) -> Vec<usize> {
    let score = |set: &[usize]| -> f64 {
        pick.iter()
            .map(|&q| {
                let (a, b) = ctx.correct(q, set, None, prior);
                (a + b) / 2.0
            })
            .sum()
    };
    let better = |a: f64, set: &[usize], b: f64, best: &[usize]| {
        a > b + 1e-9 || ((a - b).abs() <= 1e-9 && ctx.latency(set).0 < ctx.latency(best).0 - 1e-12)
    };
    let combos = combinations_count(n_m, s);
    if combos <= MAX_COMBINATIONS {
        let mut best: (f64, Vec<usize>) = (f64::NEG_INFINITY, Vec::new());
        for set in combinations(n_m, s) {
            let sc = score(&set);
            if best.1.is_empty() || better(sc, &set, best.0, &best.1) {
                best = (sc, set);
            }
        }
        best.1
    } else {
        // greedy forward selection
        let mut set: Vec<usize> = Vec::new();
        while set.len() < s {
            let mut best: Option<(f64, usize)> = None;
            for m in (0..n_m).filter(|m| !set.contains(m)) {
                let mut cand = set.clone();
                cand.push(m);
                cand.sort_unstable();
                let sc = score(&cand);
                if best.is_none_or(|(b, _)| sc > b + 1e-9) {
                    best = Some((sc, m));
                }
            }
            let Some((_, m)) = best else { break };
            set.push(m);
            set.sort_unstable();
        }
        set
    }
}

fn combinations_count(n: usize, k: usize) -> usize {
    let mut c: u128 = 1;
    for i in 0..k.min(n) {
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    c as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_lexicographic() {
        assert_eq!(combinations(4, 2).len(), 6);
        assert_eq!(combinations(4, 2)[0], vec![0, 1]);
        assert_eq!(combinations(4, 2)[5], vec![2, 3]);
        assert_eq!(combinations_count(7, 3), 35);
    }
}
