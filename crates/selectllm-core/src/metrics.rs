//! Ranking metrics of a classifier's per-member probabilities against outcomes: ROC-AUC per
//! member and pair accuracy across members. One definition for the lab, the neural crate and
//! the experiments. Outcomes are `bool` or 0/1 `f32` (right when > 0.5), see [`Outcome`].

/// A member's outcome on a question: right or wrong.
pub trait Outcome: Copy {
    fn is_right(self) -> bool;
}

impl Outcome for bool {
    fn is_right(self) -> bool {
        self
    }
}

impl Outcome for f32 {
    fn is_right(self) -> bool {
        self > 0.5
    }
}

/// ROC-AUC with ties handled by average ranks; `None` when only one class is present.
pub fn roc_auc<L: Outcome>(scores: &[f32], labels: &[L]) -> Option<f64> {
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

/// Mean of the per-member ROC-AUCs that are defined, over a questions x members matrix
/// (0 when none is).
pub fn mean_auc<L: Outcome>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> f64 {
    let n = probs.first().map_or(0, Vec::len);
    let aucs: Vec<f64> = (0..n)
        .filter_map(|m| {
            let s: Vec<f32> = probs.iter().map(|r| r[m]).collect();
            let y: Vec<L> = labels.iter().map(|r| r[m]).collect();
            roc_auc(&s, &y)
        })
        .collect();
    if aucs.is_empty() {
        0.0
    } else {
        aucs.iter().sum::<f64>() / aucs.len() as f64
    }
}

/// Over (question, member pair) with exactly one of the two right: how often the right one has
/// the higher probability (ties count half). `None` when no such pair exists.
pub fn pair_accuracy<L: Outcome>(probs: &[Vec<f32>], labels: &[Vec<L>]) -> Option<f64> {
    let (hits, n) = probs
        .iter()
        .zip(labels)
        .map(|(p, l)| pair_hits(p, l))
        .fold((0.0, 0), |(h, n), (dh, dn)| (h + dh, n + dn));
    (n > 0).then(|| hits / n as f64)
}

/// One question's part of [`pair_accuracy`]: (hits, ties counting half; pairs of members with
/// exactly one of the two right).
pub fn pair_hits<L: Outcome>(p: &[f32], l: &[L]) -> (f64, usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!((mean_auc(&probs, &labels) - 1.0).abs() < 1e-12);
    }
}
