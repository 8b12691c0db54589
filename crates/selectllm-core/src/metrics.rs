//! Metrics of a classifier's per-member probabilities against whether each member was right:
//! ROC-AUC per member, pair accuracy across members, and calibration (reliability bins and
//! the expected calibration error). One definition for the lab and the neural crate. A
//! member's correctness is a `bool` or a 0/1 `f32` (right when > 0.5), see [`Correctness`].

use serde::{Deserialize, Serialize};

/// Whether a member was right on a question, as a `bool` or a 0/1 `f32`.
pub trait Correctness: Copy {
    fn is_right(self) -> bool;
}

impl Correctness for bool {
    fn is_right(self) -> bool {
        self
    }
}

impl Correctness for f32 {
    fn is_right(self) -> bool {
        self > 0.5
    }
}

/// ROC-AUC with ties handled by average ranks; `None` when only one class is present.
pub fn roc_auc<L: Correctness>(scores: &[f32], labels: &[L]) -> Option<f64> {
    let n_pos = labels.iter().filter(|l| l.is_right()).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k].is_right() {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let np = n_pos as f64;
    Some((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * n_neg as f64))
}

/// Each member's ROC-AUC over a questions x members matrix (`None` where undefined).
pub fn member_aucs<L: Correctness>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> Vec<Option<f64>> {
    let n = probs.first().map_or(0, Vec::len);
    (0..n)
        .map(|m| {
            let s: Vec<f32> = probs.iter().map(|r| r[m]).collect();
            let y: Vec<L> = labels.iter().map(|r| r[m]).collect();
            roc_auc(&s, &y)
        })
        .collect()
}

/// Mean of the defined values; `None` when none is.
pub fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
}

/// Mean of the per-member ROC-AUCs that are defined, over a questions x members matrix
/// (`None` when none is: every member always right, or always wrong).
pub fn mean_auc<L: Correctness>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> Option<f64> {
    mean_defined(&member_aucs(probs, labels))
}

/// Over (question, member pair) with exactly one of the two right: how often the right one has
/// the higher probability (ties count half). `None` when no such pair exists.
pub fn pair_accuracy<L: Correctness>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> Option<f64> {
    let (hits, n) = probs
        .iter()
        .zip(labels)
        .map(|(p, l)| pair_hits(p, l))
        .fold((0.0, 0), |(h, n), (dh, dn)| (h + dh, n + dn));
    (n > 0).then(|| hits / n as f64)
}

/// One question's part of [`pair_accuracy`]: (hits, ties counting half; pairs of members with
/// exactly one of the two right).
pub fn pair_hits<L: Correctness>(p: &[f32], l: &[L]) -> (f64, usize) {
    let (mut hits, mut n) = (0.0f64, 0usize);
    let m = p.len().min(l.len());
    for a in 0..m {
        for b in a + 1..m {
            if l[a].is_right() == l[b].is_right() {
                continue;
            }
            let (right, wrong) = if l[a].is_right() { (a, b) } else { (b, a) };
            n += 1;
            hits += if p[right] > p[wrong] {
                1.0
            } else if p[right] == p[wrong] {
                0.5
            } else {
                0.0
            };
        }
    }
    (hits, n)
}

/// Bins of the expected calibration error and of the reliability diagrams (equal width
/// over [0, 1]).
pub const CALIBRATION_BINS: usize = 10;

/// One bin of a reliability diagram: mean predicted probability, share right, pairs in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub confidence: f64,
    pub accuracy: f64,
    pub count: usize,
}

/// Reliability bins, `n_bins` of equal width over [0, 1], of every (question, member) pair of
/// a questions x members matrix; only the bins that hold a pair, in order.
pub fn reliability<L: Correctness>(
    probs: &[Vec<f32>],
    labels: &[Vec<L>],
    n_bins: usize,
) -> Vec<CalibrationBin> {
    let n_bins = n_bins.max(1);
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); n_bins];
    for (p, l) in probs.iter().zip(labels) {
        for (&pi, &li) in p.iter().zip(l) {
            let b = ((pi.clamp(0.0, 1.0) as f64 * n_bins as f64) as usize).min(n_bins - 1);
            sums[b].0 += pi as f64;
            sums[b].1 += f64::from(u8::from(li.is_right()));
            sums[b].2 += 1;
        }
    }
    sums.into_iter()
        .filter(|s| s.2 > 0)
        .map(|(c, a, n)| CalibrationBin {
            confidence: c / n as f64,
            accuracy: a / n as f64,
            count: n,
        })
        .collect()
}

/// Expected calibration error: over [`CALIBRATION_BINS`] bins, |accuracy - confidence|
/// weighted by the bin's share of the (question, member) pairs. 0 for no pairs.
pub fn ece<L: Correctness>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> f64 {
    let bins = reliability(probs, labels, CALIBRATION_BINS);
    let n: usize = bins.iter().map(|b| b.count).sum();
    bins.iter()
        .map(|b| b.count as f64 / n.max(1) as f64 * (b.confidence - b.accuracy).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_bins_and_ece() {
        let p = vec![vec![0.05, 0.95], vec![0.15, 0.85]];
        let right = vec![vec![false, true], vec![false, true]];
        let bins = reliability(&p, &right, 10);
        assert_eq!(bins.len(), 4, "only bins that hold a pair: {bins:?}");
        assert_eq!(bins[0].count, 1);
        assert!((ece(&p, &right) - 0.1).abs() < 1e-6);
        let as_f32: Vec<Vec<f32>> = vec![vec![0.0, 1.0], vec![0.0, 1.0]];
        assert_eq!(ece(&p, &as_f32), ece(&p, &right));
        assert_eq!(ece::<bool>(&[], &[]), 0.0);
        // Out-of-range probabilities land in the edge bins rather than out of bounds.
        assert_eq!(
            reliability(&[vec![1.5, -0.5]], &[vec![true, false]], 10).len(),
            2
        );
        assert!(mean_auc(&p, &[vec![true, true], vec![true, true]]).is_none());
    }

    #[test]
    fn auc_and_pair_accuracy_on_small_cases() {
        assert_eq!(roc_auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.1], &[0.0f32, 1.0]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.2, 0.3], &[true, true]), None);
        let probs = vec![vec![0.9, 0.1, 0.5], vec![0.2, 0.8, 0.8]];
        // Q1: member 0 right, 1 and 2 wrong: 2 pairs, both ranked right.
        // Q2: member 1 right, 0 and 2 wrong: (1 vs 0) right, (1 vs 2) tie = 0.5.
        let labels = vec![vec![true, false, false], vec![false, true, false]];
        assert_eq!(pair_accuracy(&probs, &labels), Some(3.5 / 4.0));
        let as_f32: Vec<Vec<f32>> = labels
            .iter()
            .map(|r| r.iter().map(|&b| f32::from(u8::from(b))).collect())
            .collect();
        assert_eq!(pair_accuracy(&probs, &as_f32), Some(3.5 / 4.0));
        assert_eq!(
            pair_accuracy(&probs, &[vec![true; 3], vec![false; 3]]),
            None
        );
        assert!((mean_auc(&probs, &labels).expect("defined") - 1.0).abs() < 1e-12);
    }
}
