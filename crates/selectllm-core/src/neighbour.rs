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
    /// feature -> the training questions that have it
    postings: HashMap<u32, Postings>,
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
        let mut pairs: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        let vectors: Vec<SparseVec> = refs
            .iter()
            .map(|t| featurize_with(&data.features, &idf, t))
            .collect();
        for (i, x) in vectors.iter().enumerate() {
            for (&j, &v) in x.idx.iter().zip(&x.val) {
                pairs.entry(j).or_default().push((i as u32, v));
            }
        }
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
        drop(vectors);
        let n = refs.len();
        let postings = pairs
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
            .collect();
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
        let c = self.centroids.as_ref()?;
        let x = featurize_with(&self.data.features, &self.idf, text);
        Some(c.rates(&x).to_vec())
    }

    /// Whether [`Self::task_rates`] answers (two or more stored tasks).
    pub fn has_tasks(&self) -> bool {
        self.centroids.is_some()
    }

    /// [`Self::rates`] at each neighbour count of `ks` (one similarity pass).
    pub fn rates_at(&self, text: &str, ks: &[usize]) -> Vec<Vec<f32>> {
        let x: SparseVec = featurize_with(&self.data.features, &self.idf, text);
        let n = self.data.texts.len();
        let mut sim = vec![0f32; n];
        for (j, v) in x.idx.iter().zip(&x.val) {
            match self.postings.get(j) {
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
mod tests {
    use super::*;

    #[test]
    fn neighbours_recover_each_topic_s_best_member() {
        // member 0 is best on arithmetic questions, member 1 on history questions
        let mut texts = Vec::new();
        let mut success = Vec::new();
        for i in 0..30 {
            texts.push(format!(
                "how many apples does sam have after buying {i} more"
            ));
            success.push(vec![1.0, if i % 3 == 0 { 1.0 } else { 0.0 }]);
            texts.push(format!(
                "which emperor ruled rome in the year {i} of the empire"
            ));
            success.push(vec![if i % 3 == 0 { 1.0 } else { 0.0 }, 1.0]);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let nb = Neighbourhood::fit(&refs, &success, 20);
        let a = nb.rates("how many apples does kim have after buying 7 more");
        let h = nb.rates("which emperor ruled rome in the year 12");
        assert!(a[0] > a[1], "{a:?}");
        assert!(h[1] > h[0], "{h:?}");
        // the global rates are equal, so the constant order could not tell them apart
        assert_eq!(nb.global[0], nb.global[1]);
        assert_eq!(order_by(&blend(&a, &[0.5, 0.5], 0.0)), vec![0, 1]);
        assert_eq!(order_by(&blend(&h, &[0.5, 0.5], 0.0)), vec![1, 0]);
        // lambda = 1 is the classifier's own order
        assert_eq!(order_by(&blend(&h, &[0.9, 0.1], 1.0)), vec![0, 1]);
    }

    #[test]
    fn dense_columns_give_the_same_rates_to_the_bit() {
        let words = [
            "the", "a", "of", "sum", "river", "king", "seven", "apples", "rome",
        ];
        let texts: Vec<String> = (0..200)
            .map(|i| {
                (0..6)
                    .map(|w| words[(i * (w + 3) + w * w) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
                    + &format!(" question {i}")
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let success: Vec<Vec<f32>> = (0..200)
            .map(|i| vec![(i % 3) as f32 / 2.0, (i % 5 == 0) as u8 as f32])
            .collect();
        let data = Neighbourhood::fit(&refs, &success, 10).data;
        let dense = Neighbourhood::build_with(data.clone(), DENSE_SHARE);
        let sparse = Neighbourhood::build_with(data, f32::INFINITY);
        let n_dense = dense
            .postings
            .values()
            .filter(|p| matches!(p, Postings::Dense(_)))
            .count();
        assert!(n_dense > 10, "the common words are stored dense: {n_dense}");
        for q in [
            "the king of rome",
            "seven apples and a river",
            "sum of the question 7",
        ] {
            assert_eq!(
                dense.rates_at(q, &[1, 10, 50]),
                sparse.rates_at(q, &[1, 10, 50]),
                "{q}"
            );
        }
    }

    #[test]
    fn repeated_texts_are_indexed_once_and_the_data_round_trips() {
        let nb = Neighbourhood::fit(
            &["a b", "a b", "c d"],
            &[vec![1.0], vec![1.0], vec![0.0]],
            5,
        );
        assert_eq!(nb.data.texts, vec!["a b".to_string(), "c d".to_string()]);
        let json = serde_json::to_string(&nb.data).unwrap();
        let back = Neighbourhood::build(serde_json::from_str(&json).unwrap());
        assert_eq!(back.rates("a b"), nb.rates("a b"));
        // several neighbour counts in one pass, each as if asked alone
        let at = nb.rates_at("a b", &[1, 2]);
        assert_eq!(at[0], vec![(1.0 + 10.0 * 0.5) / 11.0]);
        assert_eq!(at[1], vec![(1.0 + 10.0 * 0.5) / 12.0]);
    }

    #[test]
    fn task_centroid_search_answers_with_the_detected_task_s_rates() {
        let mut texts = Vec::new();
        let mut success = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..12 {
            // same topics in both tasks, different formats
            let topic = ["rivers", "kings", "apples"][i % 3];
            texts.push(format!("Question: what about {topic} number {i}?\nAnswer:"));
            success.push(vec![1.0, 0.0]);
            tasks.push(Some("arc"));
            texts.push(format!(
                "Tell me of {topic} {i}\nA. yes\nB. no\nC. maybe\nD. never"
            ));
            success.push(vec![0.0, 1.0]);
            tasks.push(Some("mmlu"));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let nb = Neighbourhood::fit_with_tasks(&refs, &success, &tasks, 5)
            .with_search(Search::TaskCentroid);
        assert!(nb.has_tasks());
        assert_eq!(nb.data.tasks, vec!["arc".to_string(), "mmlu".to_string()]);
        let q = "Tell me of rivers again\nA. one\nB. two\nC. three\nD. four";
        assert_eq!(nb.rates(q), vec![0.0, 1.0]);
        assert_eq!(nb.rates("Question: rivers?\nAnswer:"), vec![1.0, 0.0]);
        // stored and read back, the search and the tasks come with it
        let json = serde_json::to_string(&nb.data).unwrap();
        let back = Neighbourhood::build(serde_json::from_str(&json).unwrap());
        assert_eq!(back.data.search, Search::TaskCentroid);
        assert_eq!(back.rates(q), nb.rates(q));
        // a file written before tasks existed reads as the nearest-questions search
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        for f in ["tasks", "task_of", "search"] {
            old.as_object_mut().unwrap().remove(f);
        }
        let old = Neighbourhood::build(serde_json::from_value(old).unwrap());
        assert_eq!(old.data.search, Search::Nearest);
        assert!(!old.has_tasks() && old.task_rates(q).is_none());
        // a text without a task: no centroids, and the search falls back to the neighbours
        let mut partial = tasks.clone();
        partial[0] = None;
        let nb = Neighbourhood::fit_with_tasks(&refs, &success, &partial, 5)
            .with_search(Search::TaskCentroid);
        assert!(!nb.has_tasks());
        assert_eq!(nb.rates(q), nb.rates_at(q, &[5]).pop().unwrap());
    }
}
