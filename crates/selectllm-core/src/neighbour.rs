//! A neighbourhood-conditional member order: each member's success rate among the `k`
//! training questions nearest to a question (cosine over the hashed TF-IDF features of
//! [`crate::lexical`], computed from the question text alone), shrunk toward its overall rate
//! by `prior_count` pseudo-questions. On a dataset mixing tasks the nearest training questions
//! are mostly of the question's own task, so this recovers "the task's best member" without
//! being told the task; on a one-task dataset it is close to the constant order. The stored
//! success rates are the trainer's choice: when the training questions mix tasks, the lab
//! stores each question's task-mean rates rather than its own outcome, so the neighbours vote
//! for a task and the rates are that task's (its own outcome on one question is noise).
//!
//! [`crate::order::Ordered`] ranks a classifier's members per question by a blend of the
//! neighbourhood rates and the classifier's own probabilities (on the log-odds scale,
//! `(1 - lambda) * logit(rate) + lambda * logit(p)`), keeping the probabilities themselves.
//! The features are lexical for every classifier (one index, one file, whatever the head).
//!
//! When the training questions carry two or more tasks, the index also holds each task's
//! centroid ([`crate::centroid`]), and [`Search::TaskCentroid`] answers with the nearest
//! centroid's task rates instead of the nearest questions' (the trainer's check picks).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::centroid::TaskCentroids;
use crate::classifier::logit;
use crate::lexical::{LexicalConfig, SparseVec, featurize_with, fit_idf};

/// File name of a checkpoint's neighbourhood (its training questions and success rates).
pub const NEIGHBOURHOOD_FILE: &str = "neighbourhood.json";

/// Neighbours per question by default.
pub const DEFAULT_K: usize = 100;
/// Pseudo-questions at the overall rate mixed into the neighbours' rate by default.
pub const DEFAULT_PRIOR_COUNT: f32 = 10.0;

/// What a neighbourhood is made of, as stored: the distinct training questions and each
/// member's success rate on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourhoodData {
    pub k: usize,
    pub prior_count: f32,
    pub features: LexicalConfig,
    pub texts: Vec<String>,
    pub success: Vec<Vec<f32>>,
    /// Task names, when the training questions carry two or more tasks (else empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// Each text's task, an index into `tasks` (empty when `tasks` is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_of: Vec<u32>,
    /// How a question finds its rates.
    #[serde(default)]
    pub search: Search,
}

impl NeighbourhoodData {
    /// What is wrong with stored data, if anything, naming the field: every question needs a
    /// row of success rates (finite, one per member, as many in every row); tasks, when
    /// present, need two or more names and one valid index per question; the task-centroid
    /// search needs tasks.
    pub fn problem(&self) -> Option<String> {
        if self.texts.is_empty() || self.texts.len() != self.success.len() {
            return Some(format!(
                "`success` needs one row per question in `texts` ({} questions, {} rows)",
                self.texts.len(),
                self.success.len()
            ));
        }
        let members = self.success[0].len();
        if let Some(i) = self
            .success
            .iter()
            .position(|r| r.len() != members || r.is_empty() || r.iter().any(|v| !v.is_finite()))
        {
            return Some(format!(
                "`success` row {i} is not {members} finite rates like row 0"
            ));
        }
        if self.tasks.is_empty() != self.task_of.is_empty() || self.tasks.len() == 1 {
            return Some("`tasks` (two or more names) and `task_of` go together".to_string());
        }
        if !self.tasks.is_empty() {
            if self.task_of.len() != self.texts.len() {
                return Some(format!(
                    "`task_of` needs one task per question ({} questions, {} tasks given)",
                    self.texts.len(),
                    self.task_of.len()
                ));
            }
            if let Some(i) = self
                .task_of
                .iter()
                .position(|&t| t as usize >= self.tasks.len())
            {
                return Some(format!(
                    "`task_of` entry {i} is not an index into `tasks` ({} names)",
                    self.tasks.len()
                ));
            }
        }
        if self.search == Search::TaskCentroid && self.tasks.is_empty() {
            return Some("`search` = \"task_centroid\" needs `tasks` and `task_of`".to_string());
        }
        None
    }
}

/// How [`Neighbourhood::rates`] finds a question's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Search {
    /// The `k` most similar training questions' rates, shrunk toward the overall rates.
    #[default]
    Nearest,
    /// The rates of the task whose centroid is nearest (needs stored tasks; without them,
    /// the nearest questions).
    TaskCentroid,
}

impl Search {
    /// How reports name it.
    pub fn describe(self, k: usize) -> String {
        match self {
            Search::Nearest => format!("its {k} nearest training questions"),
            Search::TaskCentroid => "the task whose training centroid is nearest".to_string(),
        }
    }
}

/// A feature's training questions: (question, value) pairs, or, for a feature that at least
/// [`DENSE_SHARE`] of the questions have, a dense column over all of them (0 where absent),
/// which one vectorized loop adds faster than scattered pairs. The similarities are the same
/// to the bit: a question without the feature adds exactly 0, and each question's terms are
/// added in the same feature order.
#[derive(Debug, Clone)]
enum Postings {
    Sparse(Vec<(u32, f32)>),
    Dense(Vec<f32>),
}

/// Share of the indexed questions from which a feature's postings are stored dense (at a
/// quarter, a dense column takes at most twice the memory of the pairs).
const DENSE_SHARE: f32 = 0.25;

/// The neighbour index built from [`NeighbourhoodData`].
#[derive(Debug, Clone)]
pub struct Neighbourhood {
    pub data: NeighbourhoodData,
    idf: Vec<f32>,
    /// feature -> the training questions that have it; built at once for the nearest-questions
    /// search, on first use when the stored search is by task centroid (a served centroid
    /// checkpoint never needs them)
    postings: OnceLock<HashMap<u32, Postings>>,
    dense_share: f32,
    /// Each member's mean success rate over the indexed questions.
    global: Vec<f32>,
    /// Per task centroids, when the data has two or more tasks.
    centroids: Option<TaskCentroids>,
}

impl Neighbourhood {
    /// An index over `texts` (repeated texts are indexed once) and their per-member success
    /// rates, with the default features, `k` and prior count.
    pub fn fit(texts: &[&str], success: &[Vec<f32>], k: usize) -> Self {
        Self::fit_with_tasks(texts, success, &[], k)
    }

    /// [`Self::fit`] with each text's task (`tasks[i]` for `texts[i]`; a repeated text keeps
    /// its first task). The task centroids are built when every text has a task and there are
    /// two or more; `tasks` may be empty.
    pub fn fit_with_tasks(
        texts: &[&str],
        success: &[Vec<f32>],
        tasks: &[Option<&str>],
        k: usize,
    ) -> Self {
        let mut seen = std::collections::HashSet::new();
        let (mut t, mut s, mut named) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (text, row)) in texts.iter().zip(success).enumerate() {
            if seen.insert(*text) {
                t.push(text.to_string());
                s.push(row.clone());
                named.push(tasks.get(i).copied().flatten());
            }
        }
        let names: std::collections::BTreeSet<&str> = named.iter().flatten().copied().collect();
        let (tasks, task_of) = if names.len() >= 2 && named.iter().all(Option::is_some) {
            let names: Vec<&str> = names.into_iter().collect();
            let of = named
                .iter()
                .flatten()
                .map(|n| names.binary_search(n).unwrap_or(0) as u32)
                .collect();
            (names.iter().map(|n| n.to_string()).collect(), of)
        } else {
            (Vec::new(), Vec::new())
        };
        Self::build(NeighbourhoodData {
            k,
            prior_count: DEFAULT_PRIOR_COUNT,
            features: LexicalConfig::default(),
            texts: t,
            success: s,
            tasks,
            task_of,
            search: Search::Nearest,
        })
    }

    /// The same index answering by `search`.
    pub fn with_search(mut self, search: Search) -> Self {
        self.data.search = search;
        self
    }

    /// Builds the index of stored data.
    pub fn build(data: NeighbourhoodData) -> Self {
        Self::build_with(data, DENSE_SHARE)
    }

    /// [`Self::build`] with dense columns for features that at least `dense_share` of the
    /// questions have.
    fn build_with(data: NeighbourhoodData, dense_share: f32) -> Self {
        let refs: Vec<&str> = data.texts.iter().map(String::as_str).collect();
        let idf = fit_idf(&data.features, &refs);
        let vectors = featurize_all(&data, &idf);
        let centroids = (!data.tasks.is_empty())
            .then(|| {
                TaskCentroids::build(
                    data.features.dim(),
                    data.tasks.len(),
                    &vectors,
                    &data.task_of,
                    &data.success,
                )
            })
            .flatten();
        let postings = OnceLock::new();
        if data.search == Search::Nearest || centroids.is_none() {
            let _ = postings.set(index_postings(&vectors, dense_share));
        }
        drop(vectors);
        let members = data.success.first().map_or(0, Vec::len);
        let n = data.success.len().max(1) as f32;
        let mut global = vec![0f32; members];
        for row in &data.success {
            for (g, s) in global.iter_mut().zip(row) {
                *g += s / n;
            }
        }
        Neighbourhood {
            data,
            idf,
            postings,
            dense_share,
            global,
            centroids,
        }
    }

    pub fn members(&self) -> usize {
        self.global.len()
    }

    /// The rates the stored [`Search`] finds for `text`: by default each member's success
    /// rate among the `k` training questions most similar to it (ties to the earlier
    /// question), shrunk toward its overall rate.
    pub fn rates(&self, text: &str) -> Vec<f32> {
        if self.data.search == Search::TaskCentroid
            && let Some(r) = self.task_rates(text)
        {
            return r;
        }
        self.rates_at(text, &[self.data.k])
            .pop()
            .unwrap_or_default()
    }

    /// The rates of the task whose centroid is nearest to `text`, when the index has tasks.
    pub fn task_rates(&self, text: &str) -> Option<Vec<f32>> {
        self.both_at(text, &[]).1
    }

    /// [`Self::rates_at`] and [`Self::task_rates`] from one featurization of `text` (what the
    /// trainer's order check compares); no neighbour search when `ks` is empty.
    pub fn both_at(&self, text: &str, ks: &[usize]) -> (Vec<Vec<f32>>, Option<Vec<f32>>) {
        let x = featurize_with(&self.data.features, &self.idf, text);
        let near = if ks.is_empty() {
            Vec::new()
        } else {
            self.rates_of(&x, ks)
        };
        let task = self.centroids.as_ref().map(|c| c.rates(&x).to_vec());
        (near, task)
    }

    /// [`Self::rates`] at each neighbour count of `ks` (one similarity pass).
    pub fn rates_at(&self, text: &str, ks: &[usize]) -> Vec<Vec<f32>> {
        self.rates_of(&featurize_with(&self.data.features, &self.idf, text), ks)
    }

    /// [`Self::rates_at`] of a featurized question.
    fn rates_of(&self, x: &SparseVec, ks: &[usize]) -> Vec<Vec<f32>> {
        let n = self.data.texts.len();
        let mut sim = vec![0f32; n];
        let postings = self.postings.get_or_init(|| {
            index_postings(&featurize_all(&self.data, &self.idf), self.dense_share)
        });
        for (j, v) in x.idx.iter().zip(&x.val) {
            match postings.get(j) {
                Some(Postings::Sparse(p)) => {
                    for &(i, w) in p {
                        sim[i as usize] += v * w;
                    }
                }
                Some(Postings::Dense(col)) => {
                    for (s, w) in sim.iter_mut().zip(col) {
                        *s += v * w;
                    }
                }
                None => {}
            }
        }
        let kmax = ks.iter().map(|&k| k.clamp(1, n.max(1))).max().unwrap_or(1);
        let mut idx: Vec<usize> = (0..n).collect();
        let by_sim = |a: &usize, b: &usize| sim[*b].total_cmp(&sim[*a]).then(a.cmp(b));
        if kmax < n {
            idx.select_nth_unstable_by(kmax - 1, by_sim);
            idx.truncate(kmax);
        }
        idx.sort_unstable_by(by_sim);
        let c = self.data.prior_count.max(0.0);
        ks.iter()
            .map(|&k| {
                let near = &idx[..k.clamp(1, n.max(1)).min(idx.len())];
                let mut out: Vec<f32> = self.global.iter().map(|g| g * c).collect();
                for &i in near {
                    for (o, s) in out.iter_mut().zip(&self.data.success[i]) {
                        *o += s;
                    }
                }
                let denom = (near.len() as f32 + c).max(1e-6);
                out.iter_mut().for_each(|o| *o /= denom);
                out
            })
            .collect()
    }
}

/// The stored questions' feature vectors, in order.
fn featurize_all(data: &NeighbourhoodData, idf: &[f32]) -> Vec<SparseVec> {
    (data.texts.iter())
        .map(|t| featurize_with(&data.features, idf, t))
        .collect()
}

/// Each feature's training questions (`vectors[i]` is question `i`), stored dense when at
/// least `dense_share` of the questions have it.
fn index_postings(vectors: &[SparseVec], dense_share: f32) -> HashMap<u32, Postings> {
    let mut pairs: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
    for (i, x) in vectors.iter().enumerate() {
        for (&j, &v) in x.idx.iter().zip(&x.val) {
            pairs.entry(j).or_default().push((i as u32, v));
        }
    }
    let n = vectors.len();
    pairs
        .into_iter()
        .map(|(j, p)| {
            if p.len() as f32 >= dense_share * n as f32 {
                let mut col = vec![0f32; n];
                for (i, v) in p {
                    col[i as usize] += v;
                }
                (j, Postings::Dense(col))
            } else {
                (j, Postings::Sparse(p))
            }
        })
        .collect()
}

/// Scores whose descending order is the blended member order of one question.
pub fn blend(rates: &[f32], probs: &[f32], lambda: f32) -> Vec<f32> {
    rates
        .iter()
        .zip(probs)
        .map(|(&r, &p)| (1.0 - lambda) * logit(r) + lambda * logit(p))
        .collect()
}

/// Members by descending score, ties to the lower index.
pub fn order_by(score: &[f32]) -> Vec<usize> {
    crate::classifier::constant_order(score)
}

#[cfg(test)]
mod tests;
