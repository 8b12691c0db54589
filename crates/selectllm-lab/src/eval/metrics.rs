//! Classifier and accuracy metrics: F1 and bootstrap intervals here; ROC-AUC, pair accuracy,
//! reliability bins and ECE are core's, re-exported.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use selectllm_core::metrics::{
    CalibrationBin, ece, mean_auc, mean_defined, member_aucs, pair_accuracy, reliability, roc_auc,
};

/// F1 scores at threshold 0.5 over a questions x members matrix.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct F1 {
    pub micro: f64,
    pub macro_: f64,
    pub weighted: f64,
}

pub fn f1(probs: &[Vec<f32>], labels: &[Vec<bool>]) -> F1 {
    let m = probs.first().map_or(0, Vec::len);
    let (mut tp_all, mut fp_all, mut fn_all) = (0usize, 0usize, 0usize);
    let mut per = Vec::with_capacity(m);
    for j in 0..m {
        let (mut tp, mut fp, mut fnn, mut support) = (0usize, 0usize, 0usize, 0usize);
        for (p, l) in probs.iter().zip(labels) {
            let pred = p[j] > 0.5;
            support += l[j] as usize;
            match (pred, l[j]) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fnn += 1,
                _ => {}
            }
        }
        tp_all += tp;
        fp_all += fp;
        fn_all += fnn;
        per.push((f1_of(tp, fp, fnn), support));
    }
    let total_support: usize = per.iter().map(|p| p.1).sum();
    F1 {
        micro: f1_of(tp_all, fp_all, fn_all),
        macro_: per.iter().map(|p| p.0).sum::<f64>() / m.max(1) as f64,
        weighted: if total_support == 0 {
            0.0
        } else {
            per.iter().map(|p| p.0 * p.1 as f64).sum::<f64>() / total_support as f64
        },
    }
}

fn f1_of(tp: usize, fp: usize, fnn: usize) -> f64 {
    let d = 2 * tp + fp + fnn;
    if d == 0 {
        0.0
    } else {
        2.0 * tp as f64 / d as f64
    }
}

/// Mean of per-question values with a 95% percentile bootstrap interval (seeded).
pub fn bootstrap_mean(values: &[f64], resamples: usize, seed: u64) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let q = |f: f64| means[((f * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    if resamples == 0 {
        return (mean, mean, mean);
    }
    (mean, q(0.025), q(0.975))
}

/// The `f`-quantile of `values` (nearest rank: the smallest value with at least a share `f`
/// of the values at or below it); 0 when empty.
pub fn quantile(values: &[f64], f: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (f.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.95), 19.0);
        assert_eq!(quantile(&v, 0.5), 10.0);
        assert_eq!(quantile(&v, 1.0), 20.0);
        assert_eq!(quantile(&[3.0], 0.95), 3.0);
        assert_eq!(quantile(&[], 0.95), 0.0);
    }

    #[test]
    fn auc_known_values() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.6], &[true, true]), None);
    }

    #[test]
    fn f1_known_values() {
        let p = vec![vec![0.9, 0.1], vec![0.8, 0.7]];
        let l = vec![vec![true, false], vec![false, true]];
        let f = f1(&p, &l);
        // member 0: tp 1 fp 1 -> 2/3; member 1: tp 1 -> 1
        assert!((f.macro_ - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-9);
        assert!((f.micro - 0.8).abs() < 1e-9);
    }

    #[test]
    fn pair_accuracy_counts_only_split_pairs() {
        let p = vec![vec![0.9, 0.2, 0.5]];
        let l = vec![vec![true, false, false]];
        assert_eq!(pair_accuracy(&p, &l), Some(1.0));
        let l = vec![vec![false, true, true]];
        // pairs (0,1) right=1 lower; (0,2) right=2 lower
        assert_eq!(pair_accuracy(&p, &l), Some(0.0));
        assert_eq!(pair_accuracy(&p, &[vec![true, true, true]]), None);
    }

    #[test]
    fn ece_perfect_and_bootstrap() {
        let p = vec![vec![1.0], vec![0.0]];
        let l = vec![vec![true], vec![false]];
        assert!(ece(&p, &l) < 1e-9);
        let (m, lo, hi) = bootstrap_mean(&[1.0, 0.0, 1.0, 1.0], 200, 7);
        assert_eq!(m, 0.75);
        assert!(lo <= m && m <= hi);
    }
}
