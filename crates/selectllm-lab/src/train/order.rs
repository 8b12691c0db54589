//! Never worse than knowing nothing: before trusting a classifier's member order, check by
//! cross-validation on the training questions that it beats the constant order (members by
//! training accuracy). When it cannot be shown to, the classifier keeps its probabilities and
//! policies rank members by the constant order ([`selectllm_core::order::Ordered`]).
//!
//! The same check runs for the neighbourhood-conditional order ([`selectllm_core::neighbour`]:
//! each member's success rate among the question's nearest training questions, blended with
//! the classifier's probabilities at a few weights) and, when the training questions carry two
//! or more tasks, for the nearest task centroid's rates ([`selectllm_core::centroid`]): the
//! order used is the simplest of the candidates within one standard error of the best, when it
//! beats the constant order by `min_z` standard errors, else the constant order. On training
//! questions that mix tasks, the neighbourhood's targets are the task-mean success rates
//! ([`TrainSet::task_success`]): routerdc-mixed lexical maxconf:1 macro 57.34 -> 57.97, and
//! 58.59 with the task centroid.
//!
//! One wrapper for every trainer (lexical and neural alike): [`OrderChecked`].

use rayon::prelude::*;
use selectllm_core::checkpoint::{NeighbourCheck, OrderCheck};
use selectllm_core::classifier::{Classifier, constant_order};
use selectllm_core::metrics::pair_hits;
use selectllm_core::neighbour::{DEFAULT_K, Neighbourhood, Search, blend};

use super::{TrainError, TrainSet, Trainer};

/// Standard errors the cross-validated gain must reach (one-sided 95%).
pub const MIN_Z: f64 = 1.645;

/// Settings of the check.
#[derive(Debug, Clone, Copy)]
pub struct OrderCheckConfig {
    /// Folds of the cross-validation (0: no check, the learned order is used).
    pub folds: usize,
    pub min_z: f64,
    /// Neighbours per question of the neighbourhood order (0: not tried).
    pub neighbours: usize,
}

/// Blend weights of the learned order tried with the neighbourhood rates.
pub const LAMBDAS: [f32; 4] = [0.0, 0.25, 0.5, 0.75];
/// Standard errors the best of the 20 neighbourhood candidates must gain over the constant
/// order: one-sided 95% with a Bonferroni correction for the 20 tried (z at 0.05 / 20). Without
/// it, a single-task dataset's best candidate passed by chance (routerdc-gsm8k: +2.1 SE, then
/// 0.2 points below the constant order on the test questions).
pub const NEIGHBOUR_MIN_Z: f64 = 2.807;
/// Neighbour counts tried, as multiples of the configured one (a neighbourhood that is too
/// small is noisy; one that is too large mixes tasks).
pub const K_FACTORS: [f32; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];
/// Index of the configured neighbour count in [`K_FACTORS`].
const CONFIGURED_K: usize = 1;
const _: () = assert!(K_FACTORS[CONFIGURED_K] == 1.0);
// NEIGHBOUR_MIN_Z is for this many candidates
const _: () = assert!(K_FACTORS.len() * LAMBDAS.len() == 20);
/// [`NEIGHBOUR_MIN_Z`] when the nearest task centroid is tried too (24 candidates: z at
/// 0.05 / 24).
pub const NEIGHBOUR_MIN_Z_WITH_TASKS: f64 = 2.865;

impl Default for OrderCheckConfig {
    fn default() -> Self {
        OrderCheckConfig {
            folds: 3,
            min_z: MIN_Z,
            neighbours: DEFAULT_K,
        }
    }
}

/// Each member's label rate over `set`.
pub fn label_rates(set: &TrainSet<'_>, n_members: usize) -> Vec<f32> {
    let n = set.len().max(1) as f32;
    (0..n_members)
        .map(|m| set.labels.iter().filter(|l| l[m]).count() as f32 / n)
        .collect()
}

/// Runs the cross-validation: `folds` fits of `trainer` on the other folds' questions, each
/// predicting its held-out fold; compares pair hits with the constant order of the same
/// training part. Questions are assigned to folds by index (`i % folds`); distinct texts only
/// are held out (a repeated question's copies stay in one fold).
pub fn check(
    trainer: &dyn Trainer,
    members: &[String],
    train: &TrainSet<'_>,
    cfg: &OrderCheckConfig,
    seed: u64,
) -> Result<OrderCheck, TrainError> {
    let k = cfg.folds.max(2);
    // fold by distinct text, so repeated questions never sit on both sides
    let mut ordinal_of_text: std::collections::HashMap<&str, usize> = Default::default();
    let ordinal: Vec<usize> = train
        .texts
        .iter()
        .map(|t| {
            let next = ordinal_of_text.len();
            *ordinal_of_text.entry(t).or_insert(next)
        })
        .collect();
    let fold: Vec<usize> = ordinal.iter().map(|o| o % k).collect();
    // a tenth of each fit part's distinct questions validates that fit
    let val: Vec<bool> = ordinal.iter().map(|o| (o / k) % 10 == 9).collect();
    let mut diffs: Vec<f64> = Vec::new();
    let (mut learned, mut constant, mut pairs) = (0.0, 0.0, 0usize);
    // candidates (neighbour count, blend weight): pair hits, per-question gains over constant
    let ks: Vec<usize> = if cfg.neighbours > 0 {
        K_FACTORS
            .iter()
            .map(|f| ((cfg.neighbours as f32 * f).round() as usize).max(1))
            .collect()
    } else {
        Vec::new()
    };
    // the nearest-centroid task prior too, when the questions carry two or more tasks
    let searches: Vec<Option<usize>> = (0..ks.len())
        .map(Some)
        .chain((!ks.is_empty() && has_tasks(train)).then_some(None))
        .collect();
    let cands: Vec<Cand> = searches
        .iter()
        .flat_map(|&ki| {
            let k = ki.map_or(cfg.neighbours, |ki| ks[ki]);
            LAMBDAS.iter().map(move |&lambda| Cand { ki, k, lambda })
        })
        .collect();
    let min_z_nb = neighbour_min_z(cands.len());
    // each fold's held-out questions, scored; the folds train in parallel and are summed in
    // order below, so the sums do not depend on threads
    let scored = (0..k)
        .into_par_iter()
        .map(|f| -> Result<Vec<Held>, TrainError> {
            let part = |pick: &dyn Fn(usize) -> bool| -> TrainSet<'_> {
                let idx: Vec<usize> = (0..train.len()).filter(|&i| pick(i)).collect();
                train.subset(&idx)
            };
            let fit_part = part(&|i| fold[i] != f && !val[i]);
            let fit_val = part(&|i| fold[i] != f && val[i]);
            let held = part(&|i| fold[i] == f);
            if fit_part.is_empty() || held.is_empty() {
                return Ok(Vec::new());
            }
            let clf = trainer.fit(members, &fit_part, &fit_val, seed.wrapping_add(f as u64))?;
            let rates = label_rates(&fit_part, members.len());
            let nb = (!cands.is_empty())
                .then(|| neighbourhood_of(&fit_part.chain(&fit_val), cfg.neighbours));
            let mut probs = Vec::with_capacity(held.len());
            for chunk in held.texts.chunks(super::PREDICT_CHUNK) {
                probs.extend(
                    clf.predict_batch(chunk)
                        .map_err(|e| TrainError::Other(e.to_string()))?,
                );
            }
            let mut out = Vec::with_capacity(held.len());
            for (i, ((p, l), text)) in probs.iter().zip(&held.labels).zip(&held.texts).enumerate() {
                let (learned, n) = pair_hits(p, l);
                let (constant, _) = pair_hits(&rates, l);
                if n == 0 {
                    continue;
                }
                let success = &held.success[i];
                let cand = nb.as_ref().map_or_else(Vec::new, |nb| {
                    let (r, task) = nb.both_at(text, &ks);
                    cands
                        .iter()
                        .map(|c| {
                            let rates = match (c.ki, &task) {
                                (Some(ki), _) => &r[ki],
                                (None, Some(t)) => t,
                                // no task in this fold's fit part: the configured k stands in
                                (None, None) => &r[CONFIGURED_K],
                            };
                            let score = blend(rates, p, c.lambda);
                            let first = selectllm_core::neighbour::order_by(&score)[0];
                            (pair_hits(&score, l).0, f64::from(success[first]))
                        })
                        .collect()
                });
                out.push(Held {
                    learned,
                    constant,
                    pairs: n,
                    first_learned: f64::from(success[constant_order(p)[0]]),
                    first_constant: f64::from(success[constant_order(&rates)[0]]),
                    cand,
                });
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut nb_hits = vec![0.0f64; cands.len()];
    // success rate of each candidate's first member (what one call gets), for the record
    let mut nb_top1 = vec![0.0f64; cands.len()];
    let mut top1_n = 0usize;
    let (mut top1_learned, mut top1_constant) = (0.0f64, 0.0f64);
    let mut nb_diffs: Vec<Vec<f64>> = vec![Vec::new(); cands.len()];
    for h in scored.iter().flatten() {
        learned += h.learned;
        constant += h.constant;
        pairs += h.pairs;
        diffs.push(h.learned - h.constant);
        top1_n += 1;
        top1_learned += h.first_learned;
        top1_constant += h.first_constant;
        for (ci, &(hits, first)) in h.cand.iter().enumerate() {
            nb_hits[ci] += hits;
            nb_top1[ci] += first;
            nb_diffs[ci].push(hits - h.constant);
        }
    }
    let z = z_score(&diffs);
    let learned_pa = learned / pairs.max(1) as f64;
    let learned_ok = z >= cfg.min_z;
    tracing::info!(
        learned = top1_learned / top1_n.max(1) as f64,
        constant = top1_constant / top1_n.max(1) as f64,
        "first member's success rate on held-out questions"
    );
    for (ci, c) in cands.iter().enumerate() {
        let pa = nb_hits[ci] / pairs.max(1) as f64;
        let z = z_score(&nb_diffs[ci]);
        let top1 = nb_top1[ci] / top1_n.max(1) as f64;
        let search = format!("{:?}", c.search());
        tracing::info!(
            search,
            k = c.k,
            lambda = c.lambda,
            pa,
            z,
            top1,
            "neighbourhood order candidate"
        );
    }
    // the simplest candidate within one standard error of the best by pair accuracy (picking
    // by the first member's success instead chose k=400, lambda=0 on routerdc-mixed and lost
    // 0.6 macro points on its test questions); used when it beats the constant order by min_z
    // and the learned order (when that one passes too)
    let neighbourhood = simplest_near_best(&cands, &nb_hits, &nb_diffs).map(|ci| {
        let pa = nb_hits[ci] / pairs.max(1) as f64;
        let z = z_score(&nb_diffs[ci]);
        NeighbourCheck {
            k: cands[ci].k,
            search: cands[ci].search(),
            lambda: cands[ci].lambda,
            first_success: nb_top1[ci] / top1_n.max(1) as f64,
            pair_accuracy: pa,
            z,
            used: z >= cfg.min_z.max(min_z_nb) && (!learned_ok || pa > learned_pa),
        }
    });
    let rates = label_rates(train, members.len());
    Ok(OrderCheck {
        folds: k,
        learned_pair_accuracy: learned_pa,
        constant_pair_accuracy: constant / pairs.max(1) as f64,
        z,
        min_z: cfg.min_z,
        fallback: !learned_ok || neighbourhood.as_ref().is_some_and(|n| n.used),
        constant_order: constant_order(&rates),
        neighbourhood,
    })
}

/// One held-out question of the check: pair hits of the learned and constant orders (and
/// the pairs counted), the success of each one's first member, and per neighbourhood
/// candidate its pair hits and first member's success.
struct Held {
    learned: f64,
    constant: f64,
    pairs: usize,
    first_learned: f64,
    first_constant: f64,
    cand: Vec<(f64, f64)>,
}

/// One neighbourhood candidate of the check: the nearest `k` questions (`ki` indexes the
/// neighbour counts tried) or, with `ki` None, the nearest task centroid; blended at `lambda`.
#[derive(Debug, Clone, Copy)]
struct Cand {
    ki: Option<usize>,
    k: usize,
    lambda: f32,
}

impl Cand {
    fn search(&self) -> Search {
        if self.ki.is_some() {
            Search::Nearest
        } else {
            Search::TaskCentroid
        }
    }
}

/// The candidate the check keeps: among those whose pair hits are within one standard error
/// (of the per-question difference) of the best candidate's, the simplest: the lowest blend
/// weight of the learned order, then the task centroid before the nearest questions (no count
/// to tune), then the earlier. The differences between close candidates are noise: on
/// routerdc-mixed the task centroid's pair accuracy at lambda 0 and 0.25 differed by 0.0008.
fn simplest_near_best(cands: &[Cand], hits: &[f64], diffs: &[Vec<f64>]) -> Option<usize> {
    let best = (0..cands.len()).max_by(|&a, &b| hits[a].total_cmp(&hits[b]).then(b.cmp(&a)))?;
    (0..cands.len())
        .filter(|&ci| {
            let d: Vec<f64> = diffs[ci]
                .iter()
                .zip(&diffs[best])
                .map(|(a, b)| a - b)
                .collect();
            ci == best || z_score(&d) > -1.0
        })
        .min_by(|&a, &b| {
            let key = |c: &Cand| (c.lambda, c.ki.is_some());
            let (ka, kb) = (key(&cands[a]), key(&cands[b]));
            ka.0.total_cmp(&kb.0).then(ka.1.cmp(&kb.1)).then(a.cmp(&b))
        })
}

/// Whether every question of `set` has a task and there are two or more.
fn has_tasks(set: &TrainSet<'_>) -> bool {
    let names: std::collections::BTreeSet<&str> = set.tasks.iter().flatten().copied().collect();
    names.len() >= 2 && set.tasks.iter().all(Option::is_some)
}

/// Standard errors the best of `n` neighbourhood candidates must gain over the constant order:
/// one-sided 95% with a Bonferroni correction for the `n` tried.
fn neighbour_min_z(n: usize) -> f64 {
    if n > K_FACTORS.len() * LAMBDAS.len() {
        NEIGHBOUR_MIN_Z_WITH_TASKS
    } else {
        NEIGHBOUR_MIN_Z
    }
}

/// The mean of per-question gains in standard errors; with no spread the sign decides.
fn z_score(diffs: &[f64]) -> f64 {
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n.max(1.0);
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let se = (var / n.max(1.0)).sqrt();
    if se > 0.0 {
        mean / se
    } else if mean > 0.0 {
        1e9
    } else if mean < 0.0 {
        -1e9
    } else {
        0.0
    }
}

/// The neighbourhood a checked classifier ranks by, fitted on all its training questions
/// (and `val`), when the check chose it.
pub fn neighbourhood_for(
    check: &OrderCheck,
    train: &TrainSet<'_>,
    val: &TrainSet<'_>,
) -> Option<Neighbourhood> {
    let n = check.neighbourhood.as_ref().filter(|n| n.used)?;
    Some(neighbourhood_of(&train.chain(val), n.k).with_search(n.search))
}

/// The neighbourhood of a set's questions with `k` neighbours (targets: [`TrainSet::task_success`];
/// with the questions' tasks, for the task centroids).
fn neighbourhood_of(set: &TrainSet<'_>, k: usize) -> Neighbourhood {
    Neighbourhood::fit_with_tasks(&set.texts, &set.task_success(), &set.tasks, k)
}

/// A trainer whose classifiers fall back to the constant member order when cross-validation
/// on the training questions cannot show their own order is better. The last check is kept
/// for the report.
pub struct OrderChecked {
    pub inner: Box<dyn Trainer>,
    pub config: OrderCheckConfig,
    last: std::sync::Mutex<Option<OrderCheck>>,
}

impl OrderChecked {
    pub fn new(inner: Box<dyn Trainer>, config: OrderCheckConfig) -> Self {
        OrderChecked {
            inner,
            config,
            last: Default::default(),
        }
    }

    /// The check of the last `fit`.
    pub fn last_check(&self) -> Option<OrderCheck> {
        self.last.lock().ok().and_then(|g| g.clone())
    }
}

impl Trainer for OrderChecked {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn Classifier>, TrainError> {
        let clf = self.inner.fit(members, train, val, seed)?;
        if self.config.folds == 0 {
            return Ok(clf);
        }
        let c = check(self.inner.as_ref(), members, train, &self.config, seed)?;
        tracing::info!(?c, "member order check");
        let out = c.apply(clf, neighbourhood_for(&c, train, val));
        if let Ok(mut g) = self.last.lock() {
            *g = Some(c);
        }
        Ok(out)
    }

    fn order_check(&self) -> Option<OrderCheck> {
        self.last_check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simplest_candidate_within_one_standard_error_of_the_best_is_kept() {
        let cand = |ki, lambda| Cand { ki, k: 10, lambda };
        let cands = [cand(Some(0), 0.25), cand(None, 0.25), cand(Some(0), 0.0)];
        // per-question gains over the constant order: the first is best; the second ties it
        // within noise; the third is far behind on every question
        let best: Vec<f64> = (0..40).map(|i| f64::from(i % 3 == 0)).collect();
        let close: Vec<f64> = best
            .iter()
            .enumerate()
            .map(|(i, b)| match i {
                3 | 6 => 0.0,
                4 => 1.0,
                _ => *b,
            })
            .collect();
        let far: Vec<f64> = best.iter().map(|b| b - 1.0).collect();
        let diffs = vec![best, close, far];
        let hits: Vec<f64> = diffs.iter().map(|d| d.iter().sum()).collect();
        // the centroid at the same weight is simpler than the nearest questions
        assert_eq!(simplest_near_best(&cands, &hits, &diffs), Some(1));
        // lambda 0 is simpler still, but too far behind
        assert_eq!(
            simplest_near_best(&cands[..1], &hits[..1], &diffs[..1]),
            Some(0)
        );
        assert_eq!(simplest_near_best(&[], &[], &[]), None);
    }
}
