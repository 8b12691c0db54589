//! Evaluation: train the classifier on each fold, run every policy and baseline on the held-out
//! questions, and measure accuracy, calls, latency and cost, plus the classifier's metrics.

pub mod metrics;
mod plans;
pub mod report;
mod rows;
pub mod tasks;

use std::collections::HashMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use selectllm_core::dataset::{RoutingDataset, Split};
use selectllm_core::plan::Plan;
use selectllm_core::policy::{Budget, PoolInfo};
use selectllm_core::vote::VoteMode;

use crate::train::{TrainError, TrainSet, Trainer};

pub use report::{ClassifierMetrics, Report, Row, RowKind};

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub seed: u64,
    /// Folds for datasets with no training split.
    pub folds: usize,
    /// Share of the training questions held out for validation when the data has none.
    pub val_fraction: f64,
    pub vote: VoteMode,
    /// Largest subset size for the fixed, random and policy rows.
    pub max_s: usize,
    /// Seeds averaged by the random rows.
    pub random_seeds: usize,
    pub threshold_tau: f32,
    pub budget: Budget,
    /// Seconds per call for members whose latency the data does not give.
    pub default_latency: f64,
    /// Per-member latency settings (seconds), overriding the data.
    pub latency: HashMap<String, f64>,
    pub bootstrap: usize,
    /// Plans replayed on answer-level data besides the sweep, shown in the main table.
    pub plans: Vec<Plan>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            seed: 42,
            folds: 5,
            val_fraction: 0.1,
            vote: VoteMode::PerMember,
            max_s: 5,
            random_seeds: 100,
            threshold_tau: 0.5,
            budget: Budget {
                calls: Some(3),
                ..Budget::default()
            },
            default_latency: 1.0,
            latency: HashMap::new(),
            bootstrap: 1000,
            plans: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("classifier: {0}")]
    Classifier(#[from] selectllm_core::ClassifierError),
    #[error("dataset `{0}`: {1}")]
    Data(String, String),
}

/// What every family of rows is computed from: the data and settings, the pool's latencies
/// and costs, the folds, and the classifier's out-of-fold output (each test question's
/// probabilities, each fold's constant member order when the checkpoint fell back to one).
#[derive(Clone, Copy)]
pub(super) struct Inputs<'a> {
    pub ds: &'a RoutingDataset,
    pub cfg: &'a EvalConfig,
    pub pool: &'a PoolInfo,
    pub folds: &'a [Fold],
    pub probs: &'a [Option<Vec<f32>>],
    /// Per question: the member order its classifier ranks by, `None`: by its probabilities.
    pub rankings: &'a [Option<Vec<usize>>],
}

/// One train/validation/test partition.
#[derive(Debug, Clone)]
pub struct Fold {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// The folds of a dataset: its own splits when it has training questions, else k-fold.
pub fn folds(ds: &RoutingDataset, cfg: &EvalConfig) -> Result<(Vec<Fold>, String), EvalError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let train = ds.split_indices(Split::Train);
    let test = ds.split_indices(Split::Test);
    let carve = |mut idx: Vec<usize>, rng: &mut ChaCha8Rng| -> (Vec<usize>, Vec<usize>) {
        idx.shuffle(rng);
        let n_val = ((idx.len() as f64 * cfg.val_fraction).round() as usize)
            .min(idx.len().saturating_sub(1));
        let val = idx.split_off(idx.len() - n_val);
        idx.sort_unstable();
        let mut val = val;
        val.sort_unstable();
        (idx, val)
    };
    if !train.is_empty() && !test.is_empty() {
        let val = ds.split_indices(Split::Val);
        let (train, val) = if val.is_empty() {
            carve(train, &mut rng)
        } else {
            (train, val)
        };
        let desc = format!(
            "train/test split: {} train, {} validation, {} test questions",
            train.len(),
            val.len(),
            test.len()
        );
        return Ok((vec![Fold { train, val, test }], desc));
    }
    let k = cfg.folds;
    if k < 2 {
        return Err(EvalError::Data(
            ds.name.clone(),
            format!("cross-validation needs at least 2 folds, not {k}"),
        ));
    }
    let n = ds.questions.len();
    if n < k * 2 {
        return Err(EvalError::Data(
            ds.name.clone(),
            format!("{n} questions are too few for {k}-fold cross-validation"),
        ));
    }
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(&mut rng);
    let mut out = Vec::with_capacity(k);
    for f in 0..k {
        let test: Vec<usize> = all.iter().copied().skip(f).step_by(k).collect();
        let rest: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != f)
            .map(|(_, &q)| q)
            .collect();
        let (train, val) = carve(rest, &mut rng);
        let mut test = test;
        test.sort_unstable();
        out.push(Fold { train, val, test });
    }
    Ok((
        out,
        format!(
            "{k}-fold cross-validation over {n} questions (seed {}), each fold's training part holding out {:.0}% for validation",
            cfg.seed,
            cfg.val_fraction * 100.0
        ),
    ))
}

/// Member `m`'s measured latency on question `q`; `None` when the data has none or a
/// `--latency` setting overrides the member (the member's latency setting applies then).
pub(crate) fn measured_latency(
    ds: &RoutingDataset,
    cfg: &EvalConfig,
    q: usize,
    m: usize,
) -> Option<f64> {
    ds.outcomes[q][m]
        .latency_s
        .filter(|_| !cfg.latency.contains_key(&ds.members[m].name))
}

/// Per-member latency and where it came from.
pub fn pool_info(ds: &RoutingDataset, cfg: &EvalConfig) -> (PoolInfo, String) {
    let mut measured = 0;
    let mut configured = 0;
    let latency: Vec<f64> = ds
        .members
        .iter()
        .enumerate()
        .map(|(m, mem)| {
            if let Some(&l) = cfg.latency.get(&mem.name) {
                configured += 1;
                return l;
            }
            if let Some(l) = mem.latency_s {
                measured += 1;
                return l;
            }
            // mean of measured outcome latencies when the data has them
            let v: Vec<f64> = ds.outcomes.iter().filter_map(|r| r[m].latency_s).collect();
            if v.is_empty() {
                cfg.default_latency
            } else {
                measured += 1;
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect();
    let n = ds.members.len();
    let source = if measured == n {
        "measured: every row uses each question's recorded latency (a member's mean where a question has none)".to_string()
    } else if configured == n {
        "configured per member (--latency)".to_string()
    } else if measured == 0 && configured == 0 {
        format!(
            "assumed: {} s per call for every member (the data has no latency), so latency counts calls",
            cfg.default_latency
        )
    } else {
        format!(
            "{measured} members measured, {configured} configured, {} assumed at {} s",
            n - measured - configured,
            cfg.default_latency
        )
    };
    let cost: Vec<f64> = ds
        .members
        .iter()
        .enumerate()
        .map(|(m, mem)| {
            let (Some(pi), Some(po)) = (mem.price_in, mem.price_out) else {
                return 0.0;
            };
            let v: Vec<f64> = ds
                .outcomes
                .iter()
                .filter_map(|r| {
                    Some((r[m].prompt_tokens? * pi + r[m].completion_tokens? * po) / 1e6)
                })
                .collect();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect();
    (PoolInfo { latency, cost }, source)
}

/// Trains on each fold, predicts its test questions, and builds the report.
pub fn evaluate(
    ds: &RoutingDataset,
    cfg: &EvalConfig,
    trainer: &dyn Trainer,
    progress: &dyn Fn(&str),
) -> Result<Report, EvalError> {
    ds.validate()
        .map_err(|m| EvalError::Data(ds.name.clone(), m))?;
    let mut configured: Vec<&String> = cfg.latency.keys().collect();
    configured.sort();
    if let Some(unknown) = configured.iter().find(|m| ds.member_index(m).is_none()) {
        return Err(EvalError::Data(
            ds.name.clone(),
            format!(
                "a latency is set for `{unknown}`, which is not a member (members: {})",
                ds.member_names().join(", ")
            ),
        ));
    }
    let t0 = Instant::now();
    let (folds, protocol) = folds(ds, cfg)?;
    let members = ds.member_names();
    let n = ds.questions.len();
    let mut probs: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut uncalibrated: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut fold_of: Vec<usize> = vec![usize::MAX; n];
    // each question's member order, when its fold's classifier ranks by one (`train::order`)
    let mut rankings: Vec<Option<Vec<usize>>> = vec![None; n];
    let mut order_checks = Vec::new();
    for (fi, fold) in folds.iter().enumerate() {
        progress(&format!(
            "{}: training {} on fold {}/{} ({} questions)",
            ds.name,
            trainer.name(),
            fi + 1,
            folds.len(),
            fold.train.len()
        ));
        let train = TrainSet::from_dataset(ds, &fold.train);
        let val = TrainSet::from_dataset(ds, &fold.val);
        let clf = trainer.fit(&members, &train, &val, cfg.seed.wrapping_add(fi as u64))?;
        order_checks.extend(trainer.order_check());
        let texts: Vec<&str> = fold
            .test
            .iter()
            .map(|&q| ds.questions[q].text.as_str())
            .collect();
        for (chunk_q, chunk_t) in fold
            .test
            .chunks(crate::train::PREDICT_CHUNK)
            .zip(texts.chunks(crate::train::PREDICT_CHUNK))
        {
            let (p, raw) = clf.predict_batch_with_uncalibrated(chunk_t)?;
            for (&q, r) in chunk_q.iter().zip(clf.rankings(chunk_t, &p)?) {
                rankings[q] = r;
            }
            for (&q, pq) in chunk_q.iter().zip(p) {
                probs[q] = Some(pq);
                fold_of[q] = fi;
            }
            for (&q, pq) in chunk_q.iter().zip(raw.into_iter().flatten()) {
                uncalibrated[q] = Some(pq);
            }
        }
    }
    let train_s = t0.elapsed().as_secs_f64();
    progress(&format!("{}: evaluating policies and baselines", ds.name));
    let (pool, latency_source) = pool_info(ds, cfg);
    let inputs = Inputs {
        ds,
        cfg,
        pool: &pool,
        folds: &folds,
        probs: &probs,
        rankings: &rankings,
    };
    let mut report = rows::build(&inputs, &trainer.name())?;
    report.classifier.member_order = order_checks.iter().map(|c| c.describe(&members)).collect();
    rows::add_uncalibrated(&mut report.classifier, ds, &folds, &uncalibrated);
    let (plan_rows, sweep, notes) = plans::build(&inputs);
    let at = report
        .rows
        .iter()
        .position(|r| r.kind == RowKind::Oracle)
        .unwrap_or(report.rows.len());
    report.rows.splice(at..at, plan_rows);
    report.sweep = sweep;
    report.notes.extend(notes);
    report.protocol = protocol;
    report.latency_source = latency_source;
    report.timing.train_s = train_s;
    report.timing.total_s = t0.elapsed().as_secs_f64();
    Ok(report)
}
