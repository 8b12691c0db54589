//! Classifier metrics for the experiments (the lab has the project's own; these mirror the
//! pipeline issue's definitions).

/// ROC-AUC of scores `p` for 0/1 outcomes `y` (ties get average ranks); NaN with one class.
pub fn auc(p: &[f32], y: &[f32]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut ranks = vec![0f64; p.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[idx[k]] = r;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&v| v > 0.5).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let sum: f64 = ranks
        .iter()
        .zip(y)
        .filter(|(_, v)| **v > 0.5)
        .map(|(r, _)| r)
        .sum();
    (sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Mean per-member ROC-AUC.
pub fn mean_auc(p: &[Vec<f32>], y: &[Vec<f32>]) -> f64 {
    let m = y[0].len();
    let v: Vec<f64> = (0..m)
        .map(|j| {
            let pj: Vec<f32> = p.iter().map(|r| r[j]).collect();
            let yj: Vec<f32> = y.iter().map(|r| r[j]).collect();
            auc(&pj, &yj)
        })
        .filter(|a| a.is_finite())
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Accuracy of picking the single most probable member per question (maxconf:1).
pub fn top1_accuracy(p: &[Vec<f32>], y: &[Vec<f32>]) -> f64 {
    let hits: f64 = p
        .iter()
        .zip(y)
        .map(|(pr, yr)| {
            let best = (0..pr.len())
                .max_by(|&a, &b| pr[a].total_cmp(&pr[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            yr[best] as f64
        })
        .sum();
    hits / p.len().max(1) as f64
}

/// Simulated high-bound accuracy ("wrong answers all differ") of an unweighted vote of the
/// 3 most probable members: right when >= 2 of them are right, or when exactly 1 is and it
/// wins the 3-way tie (equal latencies, so the most probable member).
pub fn top3_vote_high(p: &[Vec<f32>], y: &[Vec<f32>]) -> f64 {
    let hits: f64 = p
        .iter()
        .zip(y)
        .map(|(pr, yr)| {
            let mut o: Vec<usize> = (0..pr.len()).collect();
            o.sort_by(|&a, &b| pr[b].total_cmp(&pr[a]).then(a.cmp(&b)));
            let right: Vec<usize> = o[..3.min(o.len())]
                .iter()
                .copied()
                .filter(|&i| yr[i] > 0.5)
                .collect();
            if right.len() >= 2 || (right.len() == 1 && right[0] == o[0]) {
                1.0
            } else {
                0.0
            }
        })
        .sum();
    hits / p.len().max(1) as f64
}
