//! Selection metrics of the experiments; AUC and pair accuracy come from `selectllm_core::metrics`.

pub use selectllm_core::metrics::mean_auc;

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
