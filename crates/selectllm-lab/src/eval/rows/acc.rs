//! The accumulator of one row over the test questions, finished into a report row, and the
//! table of finished rows.

use rayon::prelude::*;

use crate::eval::EvalConfig;
use crate::eval::metrics;
use crate::eval::report::{Row, RowKind};
use crate::eval::tasks::QuestionFigures;

/// Whether one vote is right, as bounds (low, high): equal when the vote is real, apart when
/// it is simulated from correctness only.
pub(super) type VoteBounds = (f64, f64);

/// Accumulates one row over the test questions.
pub(in crate::eval) struct Acc {
    name: String,
    kind: RowKind,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// One-sample accuracy per question, as bounds (NaN where the row does not know it).
    sample: Vec<VoteBounds>,
    calls: f64,
    lat_sum: f64,
    lat_max: Vec<f64>,
    cost: f64,
    pub(in crate::eval) detail: String,
}

impl Acc {
    pub(in crate::eval) fn new(name: impl Into<String>, kind: RowKind) -> Self {
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
    pub(in crate::eval) fn push(&mut self, out: VoteBounds, calls: f64, lat: (f64, f64, f64)) {
        self.push_with_sample(out, (f64::NAN, f64::NAN), calls, lat);
    }

    pub(super) fn push_with_sample(
        &mut self,
        (lo, hi): VoteBounds,
        sample: VoteBounds,
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
    pub(in crate::eval) fn latency_max_mean(&self) -> f64 {
        self.lat_max.iter().sum::<f64>() / self.lat_max.len().max(1) as f64
    }

    pub(in crate::eval) fn finish(
        self,
        cfg: &EvalConfig,
        simulated: bool,
        priced: bool,
        seed: u64,
    ) -> Row {
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
            kind: self.kind,
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
            macro_accuracy_low: None,
            macro_accuracy_high: None,
            per_question: self
                .lo
                .iter()
                .zip(&self.hi)
                .zip(self.sample)
                .map(|((&l, &h), sample)| QuestionFigures {
                    right: (l, h),
                    sample,
                })
                .collect(),
        }
    }
}

/// The rows built so far, each to be finished with the next bootstrap seed.
pub(super) struct Table<'a> {
    pub cfg: &'a EvalConfig,
    pub simulated: bool,
    pub priced: bool,
    /// The last seed used (the next row's is one more).
    pub seed: u64,
    pub rows: Vec<(Acc, u64)>,
}

impl Table<'_> {
    pub fn add(&mut self, acc: Acc) {
        self.seed = self.seed.wrapping_add(1);
        self.rows.push((acc, self.seed));
    }

    /// The finished rows, in the order added. Their bootstrap intervals (the bulk of the work)
    /// run in parallel; each row keeps its own seed, so the figures do not depend on threads.
    pub fn finish(self) -> Vec<Row> {
        let (cfg, simulated, priced) = (self.cfg, self.simulated, self.priced);
        self.rows
            .into_par_iter()
            .map(|(acc, seed)| acc.finish(cfg, simulated, priced, seed))
            .collect()
    }
}
