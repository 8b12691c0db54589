//! Per-question correctness of every row (single members, baselines, policies, oracle).

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use selectllm_core::answer::Answer;
use selectllm_core::dataset::RoutingDataset;
use selectllm_core::policy::{Policy, PoolInfo};
use selectllm_core::vote::{Ballot, SimBallot, VoteMode, Voter, WrongAnswers};

use super::metrics;
use super::report::{ClassifierMetrics, Report, Row, Timing};
use super::tasks::{self, TaskIndex};
use super::{EvalConfig, EvalError, Fold};

/// Whether one vote is right, as bounds (low, high): equal when the vote is real, apart when
/// it is simulated from correctness only.
pub(super) type VoteBounds = (f64, f64);

struct Ctx<'a> {
    ds: &'a RoutingDataset,
    cfg: &'a EvalConfig,
    pool: &'a PoolInfo,
    real: bool,
    gold: Vec<Option<Answer>>,
    /// Whether each question's task is multi-attempt (its one-sample accuracy differs from its label).
    multi: Vec<bool>,
}

impl Ctx<'_> {
    /// Whether the vote of `members` (optionally weighted) on question `q` is right.
    fn correct(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
    ) -> VoteBounds {
        let voter = Voter::new(&self.pool.latency, conf);
        let w = |i: usize| weights.map_or(1.0, |w| w[i]);
        let row = &self.ds.outcomes[q];
        if self.real {
            let ballots: Vec<Ballot<'_>> = members
                .iter()
                .enumerate()
                .map(|(i, &m)| Ballot {
                    member: m,
                    answers: &row[m].answers,
                    weight: w(i),
                })
                .collect();
            let ok = match (voter.vote(&ballots, self.cfg.vote), &self.gold[q]) {
                (Some(a), Some(g)) => a == *g,
                _ => false,
            };
            let v = ok as u8 as f64;
            (v, v)
        } else {
            let ballots: Vec<SimBallot> = members
                .iter()
                .enumerate()
                .map(|(i, &m)| SimBallot {
                    member: m,
                    correct: row[m].label,
                    success_rate: row[m].success_rate,
                    weight: w(i),
                })
                .collect();
            let lo = voter.simulate(&ballots, self.cfg.vote, WrongAnswers::AllAgree) as u8 as f64;
            let hi = voter.simulate(&ballots, self.cfg.vote, WrongAnswers::AllDiffer) as u8 as f64;
            (lo, hi)
        }
    }

    /// One-sample accuracy of calling `members` on question `q` (see `tasks`); on tasks
    /// whose success rate is the label, the vote's correctness `(lo, hi)` itself.
    fn sample(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
        (lo, hi): VoteBounds,
    ) -> f64 {
        if !self.multi[q] {
            return (lo + hi) / 2.0;
        }
        let rates: Vec<f32> = self.ds.outcomes[q].iter().map(|o| o.success_rate).collect();
        let voter = Voter::new(&self.pool.latency, conf);
        tasks::one_sample_vote(&voter, members, &rates, weights, self.cfg.vote)
    }

    /// [`Self::correct`] and [`Self::sample`] together.
    fn judge(
        &self,
        q: usize,
        members: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
    ) -> (VoteBounds, f64) {
        let out = self.correct(q, members, weights, conf);
        (out, self.sample(q, members, weights, conf, out))
    }

    fn latency(&self, members: &[usize]) -> (f64, f64, f64) {
        let sum = members.iter().map(|&m| self.pool.latency[m]).sum();
        let max = members
            .iter()
            .map(|&m| self.pool.latency[m])
            .fold(0.0, f64::max);
        let cost = members.iter().map(|&m| self.pool.cost[m]).sum();
        (sum, max, cost)
    }
}

/// Accumulates one row over the test questions.
pub(super) struct Acc {
    name: String,
    kind: &'static str,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// One-sample accuracy per question (NaN where the row does not know it).
    sample: Vec<f64>,
    calls: f64,
    lat_sum: f64,
    lat_max: Vec<f64>,
    cost: f64,
    pub(super) detail: String,
}

impl Acc {
    pub(super) fn new(name: impl Into<String>, kind: &'static str) -> Self {
        Acc {
            name: name.into(),
            kind,
            lo: Vec::new(),
            hi: Vec::new(),
            sample: Vec::new(),
            calls: 0.0,
            lat_sum: 0.0,
            lat_max: Vec::new(),
            cost: 0.0,
            detail: String::new(),
        }
    }

    /// A question of a row that does not know its one-sample accuracy (plan rows).
    pub(super) fn push(&mut self, out: VoteBounds, calls: f64, lat: (f64, f64, f64)) {
        self.push_with_sample(out, f64::NAN, calls, lat);
    }

    fn push_with_sample(
        &mut self,
        (lo, hi): VoteBounds,
        sample: f64,
        calls: f64,
        (ls, lm, c): (f64, f64, f64),
    ) {
        self.sample.push(sample);
        self.lo.push(lo);
        self.hi.push(hi);
        self.calls += calls;
        self.lat_sum += ls;
        self.lat_max.push(lm);
        self.cost += c;
    }

    /// Mean of the per-question latency max so far.
    pub(super) fn latency_max_mean(&self) -> f64 {
        self.lat_max.iter().sum::<f64>() / self.lat_max.len().max(1) as f64
    }

    pub(super) fn finish(self, cfg: &EvalConfig, simulated: bool, priced: bool, seed: u64) -> Row {
        let n = self.lo.len().max(1) as f64;
        let mid: Vec<f64> = self
            .lo
            .iter()
            .zip(&self.hi)
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        let (acc, ci_low, ci_high) = metrics::bootstrap_mean(&mid, cfg.bootstrap, seed);
        let exact = self.lo == self.hi;
        let (lat_max, lat_p95) = (
            self.latency_max_mean(),
            metrics::quantile(&self.lat_max, 0.95),
        );
        let sim = simulated && !exact;
        Row {
            name: self.name,
            kind: self.kind.to_string(),
            accuracy: acc,
            ci_low,
            ci_high,
            accuracy_low: sim.then(|| self.lo.iter().sum::<f64>() / n),
            accuracy_high: sim.then(|| self.hi.iter().sum::<f64>() / n),
            simulated: sim,
            calls: self.calls / n,
            latency_sum: self.lat_sum / n,
            latency_max: lat_max,
            latency_max_p95: lat_p95,
            cost: priced.then_some(self.cost / n),
            detail: self.detail,
            tasks: Default::default(),
            macro_accuracy: None,
            per_question: mid.into_iter().zip(self.sample).collect(),
        }
    }
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

pub(super) fn build(
    ds: &RoutingDataset,
    cfg: &EvalConfig,
    folds: &[Fold],
    probs: &[Option<Vec<f32>>],
    rankings: &[Option<Vec<usize>>],
    pool: &PoolInfo,
    clf_name: &str,
) -> Result<Report, EvalError> {
    let n_m = ds.members.len();
    let real = ds.answer_level();
    let gold = gold_answers(ds);
    let multi = ds
        .questions
        .iter()
        .map(|q| {
            q.benchmark
                .as_ref()
                .and_then(|b| ds.benchmarks.get(b))
                .is_some_and(|b| b.multi_attempt)
        })
        .collect();
    let ctx = Ctx {
        ds,
        cfg,
        pool,
        real,
        gold,
        multi,
    };
    let priced = pool.cost.iter().any(|&c| c > 0.0);
    let simulated = !real;
    let max_s = cfg.max_s.min(n_m).max(1);
    let all: Vec<usize> = (0..n_m).collect();
    let no_conf: [f32; 0] = [];
    let mut rows: Vec<Row> = Vec::new();
    let mut seed = cfg.seed;
    let mut next_seed = || {
        seed = seed.wrapping_add(1);
        seed
    };

    // each fold's per-member training accuracy: the confidence of the fixed baselines' tie-breaks
    let priors: Vec<Vec<f32>> = folds
        .iter()
        .map(|fold| {
            let train: Vec<usize> = fold.train.iter().chain(&fold.val).copied().collect();
            (0..n_m)
                .map(|m| {
                    train.iter().filter(|&&q| ds.outcomes[q][m].label).count() as f32
                        / train.len().max(1) as f32
                })
                .collect()
        })
        .collect();

    // test questions in fold order, with the fold they belong to
    let tests: Vec<(usize, usize)> = folds
        .iter()
        .enumerate()
        .flat_map(|(f, fold)| fold.test.iter().map(move |&q| (f, q)))
        .collect();

    // single members
    for m in 0..n_m {
        let mut acc = Acc::new(format!("single:{}", ds.members[m].name), "single");
        for &(_, q) in &tests {
            let o = &ds.outcomes[q][m];
            let v = o.label as u8 as f64;
            let sample = if ctx.multi[q] {
                o.success_rate as f64
            } else {
                v
            };
            acc.push_with_sample((v, v), sample, 1.0, ctx.latency(&[m]));
        }
        rows.push(acc.finish(cfg, simulated, priced, next_seed()));
    }

    // all members
    let mut acc = Acc::new("all", "baseline");
    for &(f, q) in &tests {
        let (out, sample) = ctx.judge(q, &all, None, &priors[f]);
        acc.push_with_sample(out, sample, n_m as f64, ctx.latency(&all));
    }
    rows.push(acc.finish(cfg, simulated, priced, next_seed()));

    // best fixed subset of each size, chosen on each fold's training + validation questions
    for s in 1..=max_s {
        let mut acc = Acc::new(format!("best-fixed:{s}"), "baseline");
        let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
        for (f, fold) in folds.iter().enumerate() {
            let pick: Vec<usize> = fold.train.iter().chain(&fold.val).copied().collect();
            let best = best_fixed(&ctx, &pick, n_m, s, &priors[f]);
            let names: Vec<&str> = best.iter().map(|&m| ds.members[m].name.as_str()).collect();
            *chosen.entry(names.join("+")).or_default() += 1;
            for &(tf, q) in &tests {
                if tf == f {
                    let (out, sample) = ctx.judge(q, &best, None, &priors[f]);
                    acc.push_with_sample(out, sample, s as f64, ctx.latency(&best));
                }
            }
        }
        acc.detail = chosen
            .iter()
            .map(|(k, v)| {
                if folds.len() > 1 {
                    format!("{k} ({v} folds)")
                } else {
                    k.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(acc.finish(cfg, simulated, priced, next_seed()));
    }

    // random subsets, averaged over seeds per question
    for s in 1..=max_s {
        let mut acc = Acc::new(format!("random:{s}"), "baseline");
        let mut rngs: Vec<ChaCha8Rng> = (0..cfg.random_seeds.max(1))
            .map(|r| {
                ChaCha8Rng::seed_from_u64(cfg.seed ^ (0x5eed_0000 + r as u64 * 7919 + s as u64))
            })
            .collect();
        let k = rngs.len() as f64;
        for &(f, q) in &tests {
            let (mut lo, mut hi, mut ls, mut lm, mut c) = (0.0, 0.0, 0.0, 0.0, 0.0);
            let mut one = 0.0;
            for rng in rngs.iter_mut() {
                let mut subset = sample(rng, n_m, s).into_vec();
                subset.sort_unstable();
                let (a, b) = ctx.correct(q, &subset, None, &priors[f]);
                // the one-sample figure of a vote: exact for s = 1, else one seeded draw of
                // the members' sampled answers per seed (the mean over seeds estimates it)
                one += if !ctx.multi[q] {
                    (a + b) / 2.0
                } else if s == 1 {
                    ds.outcomes[q][subset[0]].success_rate as f64
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
                    let voter = Voter::new(&pool.latency, &priors[f]);
                    let l = voter.simulate(&ballots, cfg.vote, WrongAnswers::AllAgree) as u8;
                    let h = voter.simulate(&ballots, cfg.vote, WrongAnswers::AllDiffer) as u8;
                    (l + h) as f64 / 2.0
                };
                let (x, y, z) = ctx.latency(&subset);
                lo += a;
                hi += b;
                ls += x;
                lm += y;
                c += z;
            }
            acc.push_with_sample((lo / k, hi / k), one / k, s as f64, (ls / k, lm / k, c / k));
        }
        acc.detail = format!("mean over {} seeds", rngs.len());
        rows.push(acc.finish(cfg, simulated, priced, next_seed()));
    }

    // SelectLLM policies
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
        tau: cfg.threshold_tau,
    });
    policies.push(Policy::Budget(cfg.budget));
    for p in &policies {
        let mut acc = Acc::new(p.to_string(), "policy");
        for &(f, q) in &tests {
            let conf = probs[q].as_deref().unwrap_or(&no_conf);
            let ranking = rankings.get(f).and_then(|r| r.as_deref());
            let sel = p.select_ranked(conf, pool, ranking);
            let (out, sample) = ctx.judge(q, &sel.members, sel.weights.as_deref(), conf);
            acc.push_with_sample(
                out,
                sample,
                sel.members.len() as f64,
                ctx.latency(&sel.members),
            );
        }
        rows.push(acc.finish(cfg, simulated, priced, next_seed()));
    }

    // oracle: right when any member is; it needs every member's answer
    let mut acc = Acc::new("oracle", "oracle");
    for &(_, q) in &tests {
        let v = ds.outcomes[q].iter().any(|o| o.label) as u8 as f64;
        // one sample: the member with the best score, known in hindsight
        let best = ds.outcomes[q]
            .iter()
            .map(|o| o.success_rate as f64)
            .fold(0.0, f64::max);
        let sample = if ctx.multi[q] { best } else { v };
        acc.push_with_sample((v, v), sample, n_m as f64, ctx.latency(&all));
    }
    rows.push(acc.finish(cfg, simulated, priced, next_seed()));

    let task_index = TaskIndex::new(ds, &tests);
    for r in rows.iter_mut() {
        let per_question = std::mem::take(&mut r.per_question);
        if let Some((tasks, macro_accuracy)) =
            task_index.as_ref().and_then(|t| t.figures(&per_question))
        {
            r.tasks.extend(tasks);
            r.macro_accuracy = macro_accuracy;
        }
    }
    let classifier = classifier_metrics(ds, &priors, &tests, probs, clf_name);
    let mut notes = Vec::new();
    if simulated {
        notes.push(
            "SIMULATED VOTE: the data has correctness only, no answers. Each vote row gives two bounds: low = all wrong members agree on one wrong answer, high = wrong answers all differ; `accuracy` is their midpoint. Single members, s=1 policies and the oracle need no vote and are exact."
                .into(),
        );
    } else {
        notes.push(
            "Real vote over the members' extracted answers, compared with the gold answer.".into(),
        );
    }
    notes.push(format!(
        "Vote ties go to the lower-latency member, then the higher confidence (policies: the classifier's; fixed baselines `all`, `best-fixed`, `random`: each member's training accuracy), then member order; an unweighted 2-member vote is decided by this tie-break alone. Random rows average {} seeds; CIs are 95% bootstrap intervals over questions ({} resamples).",
        cfg.random_seeds, cfg.bootstrap
    ));
    Ok(Report {
        dataset: ds.name.clone(),
        members: ds.member_names(),
        n_test: tests.len(),
        protocol: String::new(),
        vote: if real {
            "real (answer-level data)".into()
        } else {
            "simulated (correctness-only data)".into()
        },
        vote_mode: match cfg.vote {
            VoteMode::PerMember => "one vote per member (its majority answer)".into(),
            VoteMode::Pooled => "pooled samples".into(),
        },
        latency_source: String::new(),
        classifier,
        rows,
        tasks: task_index.map(|t| t.infos).unwrap_or_default(),
        sweep: Vec::new(),
        notes,
        timing: Timing::default(),
    })
}

/// Each question's gold answer; with no gold, the answer of a member labelled correct.
pub(super) fn gold_answers(ds: &RoutingDataset) -> Vec<Option<Answer>> {
    (0..ds.questions.len())
        .map(|q| {
            ds.questions[q].gold.clone().or_else(|| {
                ds.outcomes[q]
                    .iter()
                    .find(|o| o.label)
                    .and_then(|o| o.majority().cloned())
            })
        })
        .collect()
}

/// The subset of size `s` with the best mean vote accuracy (midpoint of the bounds) on `pick`;
/// ties to the lower summed latency, then the lexicographically first.
fn best_fixed(ctx: &Ctx<'_>, pick: &[usize], n_m: usize, s: usize, prior: &[f32]) -> Vec<usize> {
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

/// Adds the ECE and reliability bins of the uncalibrated probabilities (the classifier's
/// output before its post-hoc calibration) when the classifier gave them for every test question.
pub(super) fn add_uncalibrated(
    c: &mut ClassifierMetrics,
    ds: &RoutingDataset,
    folds: &[Fold],
    uncalibrated: &[Option<Vec<f32>>],
) {
    let mut p = Vec::new();
    let mut l = Vec::new();
    for q in folds.iter().flat_map(|f| f.test.iter().copied()) {
        match &uncalibrated[q] {
            Some(pq) => {
                p.push(pq.clone());
                l.push(ds.labels(q));
            }
            None => return,
        }
    }
    if p.is_empty() {
        return;
    }
    c.ece_uncalibrated = Some(metrics::ece(&p, &l));
    c.reliability_uncalibrated = metrics::reliability(&p, &l, 10);
}

fn classifier_metrics(
    ds: &RoutingDataset,
    priors: &[Vec<f32>],
    tests: &[(usize, usize)],
    probs: &[Option<Vec<f32>>],
    name: &str,
) -> ClassifierMetrics {
    let mut p: Vec<Vec<f32>> = Vec::with_capacity(tests.len());
    let mut l: Vec<Vec<bool>> = Vec::with_capacity(tests.len());
    let mut prior: Vec<Vec<f32>> = Vec::with_capacity(tests.len());
    for &(f, q) in tests {
        if let Some(pq) = &probs[q] {
            p.push(pq.clone());
            l.push(ds.labels(q));
            prior.push(priors[f].clone());
        }
    }
    let mut c = ClassifierMetrics::from_f1(name.to_string(), metrics::f1(&p, &l));
    let aucs = metrics::member_aucs(&p, &l);
    c.mean_auc = metrics::mean_defined(&aucs);
    c.auc = ds
        .members
        .iter()
        .map(|m| m.name.clone())
        .zip(aucs)
        .collect();
    c.ece = metrics::ece(&p, &l);
    c.pair_acc = metrics::pair_accuracy(&p, &l);
    c.pair_acc_prior = metrics::pair_accuracy(&prior, &l);
    c.reliability = metrics::reliability(&p, &l, 10);
    c
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
