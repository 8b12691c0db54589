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

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

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
}

impl Neighbourhood {
    /// An index over `texts` (repeated texts are indexed once) and their per-member success
    /// rates, with the default features, `k` and prior count.
    pub fn fit(texts: &[&str], success: &[Vec<f32>], k: usize) -> Self {
        let mut seen = std::collections::HashSet::new();
        let (mut t, mut s) = (Vec::new(), Vec::new());
        for (text, row) in texts.iter().zip(success) {
            if seen.insert(*text) {
                t.push(text.to_string());
                s.push(row.clone());
            }
        }
        Self::build(NeighbourhoodData {
            k,
            prior_count: DEFAULT_PRIOR_COUNT,
            features: LexicalConfig::default(),
            texts: t,
            success: s,
        })
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
        for (i, t) in refs.iter().enumerate() {
            let x = featurize_with(&data.features, &idf, t);
            for (&j, &v) in x.idx.iter().zip(&x.val) {
                pairs.entry(j).or_default().push((i as u32, v));
            }
        }
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
        }
    }

    pub fn members(&self) -> usize {
        self.global.len()
    }

    /// Each member's success rate among the `k` training questions most similar to `text`
    /// (ties to the earlier question), shrunk toward its overall rate.
    pub fn rates(&self, text: &str) -> Vec<f32> {
        self.rates_at(text, &[self.data.k])
            .pop()
            .unwrap_or_default()
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
}
