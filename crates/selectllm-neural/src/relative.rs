//! Relative-competence shrinkage. A head's logit for member m on question q splits into the
//! question's mean logit (its difficulty) and the member's offset from that mean. Selection
//! only depends on the offsets; learned offsets are noisy, and the constant prior (each
//! member's training label rate) is a strong ordering. So the offsets are shrunk toward the
//! prior's: z'_m = mean(z) + b_m + lambda * (z_m - mean(z) - b_m), with b_m the prior's
//! centred logit and lambda in [0, 1] chosen on validation for pair accuracy. lambda = 0 ranks
//! members exactly like the prior (while keeping the per-question difficulty); lambda = 1 is
//! the head unchanged.

use serde::{Deserialize, Serialize};

/// The fitted shrinkage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shrink {
    pub lambda: f32,
    /// Centred prior logits, one per member.
    pub offsets: Vec<f32>,
}

/// Logit of a rate, clamped to [1e-4, 1 - 1e-4].
pub(crate) fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

impl Shrink {
    /// Offsets from per-member label rates; `lambda` 1 (no change) until fitted.
    pub fn from_prior(prior: &[f32]) -> Self {
        let l: Vec<f32> = prior.iter().map(|&p| logit(p)).collect();
        let mean = l.iter().sum::<f32>() / l.len().max(1) as f32;
        Self {
            lambda: 1.0,
            offsets: l.iter().map(|x| x - mean).collect(),
        }
    }

    /// Applies the shrinkage to one row of logits in place.
    pub fn apply(&self, z: &mut [f32]) {
        let mean = z.iter().sum::<f32>() / z.len().max(1) as f32;
        for (x, b) in z.iter_mut().zip(&self.offsets) {
            *x = mean + b + self.lambda * (*x - mean - b);
        }
    }

    /// Chooses lambda in {0, 0.05, ..., 1} maximising pair accuracy of `logits` on `labels`
    /// (the smallest lambda among equals: the prior is the safer ordering).
    pub fn fit(&mut self, logits: &[Vec<f32>], labels: &[Vec<f32>]) -> f64 {
        let mut best = (f64::MIN, 1.0f32);
        for i in 0..=20 {
            let lambda = i as f32 / 20.0;
            let s = Shrink {
                lambda,
                offsets: self.offsets.clone(),
            };
            let z: Vec<Vec<f32>> = logits
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    s.apply(&mut r);
                    r
                })
                .collect();
            let acc = pair_accuracy(&z, labels);
            if acc > best.0 + 1e-9 {
                best = (acc, lambda);
            }
        }
        self.lambda = best.1;
        best.0
    }
}

/// [`selectllm_core::metrics::pair_accuracy`] with 0/1 labels; 0.5 when no pair has exactly
/// one member right.
pub fn pair_accuracy(scores: &[Vec<f32>], labels: &[Vec<f32>]) -> f64 {
    selectllm_core::metrics::pair_accuracy(scores, labels).unwrap_or(0.5)
}
