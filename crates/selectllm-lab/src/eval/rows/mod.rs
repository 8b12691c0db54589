//! Per-question correctness of every row, one module per family of rows: single members,
//! baselines, policies, the oracle. `build` runs them in that order (each row's bootstrap
//! seed is the next one) and assembles the report.

mod acc;
mod baselines;
mod judge;
mod oracle;
mod policies;
mod singles;

use selectllm_core::answer::Answer;
use selectllm_core::dataset::RoutingDataset;
use selectllm_core::vote::VoteMode;

use super::metrics;
use super::report::{ClassifierMetrics, Report, Timing};
use super::tasks::TaskIndex;
use super::{EvalConfig, EvalError, Fold, Inputs};
use acc::Table;
use judge::Ctx;

pub(super) use acc::Acc;

/// The report of one evaluation: every family of rows (in the order above), their per-task
/// figures, the classifier's metrics on the test questions and the notes.
pub(super) fn build(inputs: &Inputs<'_>, clf_name: &str) -> Result<Report, EvalError> {
    let Inputs {
        ds,
        cfg,
        pool,
        folds,
        probs,
        rankings,
    } = *inputs;
    let n_m = ds.members.len();
    let real = ds.answer_level();
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
    let ctx = Ctx {
        ds,
        cfg,
        pool,
        real,
        gold: gold_answers(ds),
        multi,
        tests,
        priors,
    };
    let simulated = !real;
    let max_s = cfg.max_s.min(n_m).max(1);
    let mut table = Table {
        cfg,
        simulated,
        priced: pool.cost.iter().any(|&c| c > 0.0),
        seed: cfg.seed,
        rows: Vec::new(),
    };
    singles::rows(&ctx, &mut table);
    baselines::all(&ctx, &mut table);
    baselines::best_fixed(&ctx, &mut table, max_s, folds);
    baselines::task_best(&ctx, &mut table, folds);
    baselines::random(&ctx, &mut table, max_s);
    policies::rows(&ctx, &mut table, max_s, probs, rankings);
    oracle::row(&ctx, &mut table);
    let mut rows = table.finish();

    let task_index = TaskIndex::new(ds, &ctx.tests);
    for r in rows.iter_mut() {
        let per_question = std::mem::take(&mut r.per_question);
        if let Some((tasks, figure)) = task_index.as_ref().and_then(|t| t.figures(&per_question)) {
            r.tasks.extend(tasks);
            r.macro_accuracy = figure.map(|m| m.mid);
            r.macro_accuracy_low = figure.and_then(|m| m.bounds).map(|b| b.0);
            r.macro_accuracy_high = figure.and_then(|m| m.bounds).map(|b| b.1);
        }
    }
    let classifier = classifier_metrics(ds, &ctx.priors, &ctx.tests, probs, clf_name);
    Ok(Report {
        dataset: ds.name.clone(),
        members: ds.member_names(),
        n_test: ctx.tests.len(),
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
        notes: notes(cfg, simulated),
        timing: Timing::default(),
    })
}

/// The report's notes on how votes were counted and ties broken.
fn notes(cfg: &EvalConfig, simulated: bool) -> Vec<String> {
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
        "Vote ties go to the lower-latency member, then the higher confidence (policies: the classifier's, or, when the checkpoint ranks members by its own member order, the earlier in that order; fixed baselines `all`, `best-fixed`, `random`: each member's training accuracy), then member order; an unweighted 2-member vote is decided by this tie-break alone. Random rows average {} seeds; CIs are 95% bootstrap intervals over questions ({} resamples).",
        cfg.random_seeds, cfg.bootstrap
    ));
    notes
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
