//! Nearest-neighbour evidence: among the k training questions most similar to a question
//! (cosine over embeddings), which members got them right. Added to the head's logits as
//! `beta * (logit(p_knn) - logit(prior))`, with `beta` fitted on validation.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use selectllm_core::classifier::logit;

use crate::error::NeuralError;

/// Sharpness of the similarity weights exp((sim - best) / TAU).
const TAU: f32 = 0.05;
/// Pseudo-count of the member prior mixed into the neighbour rate.
const PRIOR_COUNT: f32 = 1.0;

/// The neighbour index: unit-norm training embeddings and their targets.
#[derive(Debug, Clone)]
pub struct Knn {
    pub(crate) emb: Vec<f32>,
    pub(crate) dim: usize,
    pub(crate) targets: Vec<f32>,
    pub(crate) members: usize,
    pub(crate) prior: Vec<f32>,
    /// Each indexed question's mean target over members (for [`Knn::difficulty`]).
    pub(crate) mean_correct: Vec<f32>,
    pub k: usize,
    pub beta: f32,
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

impl Knn {
    pub fn new(emb: &[Vec<f32>], targets: &[Vec<f32>], k: usize) -> Result<Self, NeuralError> {
        let dim = emb.first().map_or(0, |e| e.len());
        let members = targets.first().map_or(0, |t| t.len());
        if emb.len() != targets.len() || emb.is_empty() {
            return Err(NeuralError::Data(
                "kNN needs one target row per embedding".into(),
            ));
        }
        let n = emb.len() as f32;
        let mut prior = vec![0f32; members];
        for t in targets {
            for (p, x) in prior.iter_mut().zip(t) {
                *p += x / n;
            }
        }
        Ok(Self {
            mean_correct: targets
                .iter()
                .map(|t| t.iter().sum::<f32>() / t.len().max(1) as f32)
                .collect(),
            emb: emb.iter().flat_map(|e| unit(e)).collect(),
            dim,
            targets: targets.iter().flatten().copied().collect(),
            members,
            prior,
            k: k.max(1),
            beta: 0.0,
        })
    }

    pub fn len(&self) -> usize {
        self.emb.len() / self.dim.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per-member rate among the k nearest neighbours of `q`, skipping index `skip`.
    pub fn evidence(&self, q: &[f32], skip: Option<usize>) -> Vec<f32> {
        self.evidence_from(&self.similarities(q), skip)
    }

    /// [`Self::evidence`] of a question whose [`Self::similarities`] are `sims`.
    pub fn evidence_from(&self, sims: &[f32], skip: Option<usize>) -> Vec<f32> {
        let mut sims: Vec<(f32, usize)> = sims
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(i, s)| (s, i))
            .collect();
        let k = self.k.min(sims.len());
        if k == 0 {
            return self.prior.clone();
        }
        sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let top = &sims[..k];
        let best = top.iter().map(|s| s.0).fold(f32::MIN, f32::max);
        let mut num: Vec<f32> = self.prior.iter().map(|p| p * PRIOR_COUNT).collect();
        let mut den = PRIOR_COUNT;
        for &(s, i) in top {
            let w = ((s - best) / TAU).exp();
            den += w;
            for (m, x) in num.iter_mut().enumerate() {
                *x += w * self.targets[i * self.members + m];
            }
        }
        num.into_iter().map(|x| x / den).collect()
    }

    /// Mean correctness over all members of the `k` training questions nearest to `q` (the
    /// question's difficulty, on which the relative shrinkage's conditional prior depends).
    pub fn difficulty(&self, q: &[f32], k: usize) -> f32 {
        self.difficulty_from(&self.similarities(q), k)
    }

    /// [`Self::difficulty`] of a question whose [`Self::similarities`] are `sims`.
    pub fn difficulty_from(&self, sims: &[f32], k: usize) -> f32 {
        difficulty(sims, &self.mean_correct, None, None, k)
    }

    /// Cosine similarity of `q` to each indexed question (compute once per question and pass
    /// to [`Self::shift_from`] and [`Self::difficulty_from`]).
    pub fn similarities(&self, q: &[f32]) -> Vec<f32> {
        crate::kernels::dots(&self.emb, &unit(q))
    }

    /// The training targets, one row per indexed question.
    pub(crate) fn target_rows(&self) -> Vec<Vec<f32>> {
        self.targets
            .chunks_exact(self.members.max(1))
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// The logit shift per member for embedding `q`: how much better than its prior each
    /// member did on the neighbours, centred over members (so it only moves members relative
    /// to each other, not the question's difficulty).
    pub fn shift(&self, q: &[f32], skip: Option<usize>) -> Vec<f32> {
        self.shift_from(&self.similarities(q), skip)
    }

    /// [`Self::shift`] of a question whose [`Self::similarities`] are `sims`.
    pub fn shift_from(&self, sims: &[f32], skip: Option<usize>) -> Vec<f32> {
        let d: Vec<f32> = self
            .evidence_from(sims, skip)
            .iter()
            .zip(&self.prior)
            .map(|(&e, &p)| logit(e) - logit(p))
            .collect();
        let mean = d.iter().sum::<f32>() / d.len().max(1) as f32;
        d.iter().map(|x| x - mean).collect()
    }

    /// Chooses `beta` in [0, 3] minimising validation BCE of `logits + beta * shift`.
    pub fn fit_beta(&mut self, logits: &[Vec<f32>], shifts: &[Vec<f32>], labels: &[Vec<f32>]) {
        let bce = |beta: f32| -> f64 {
            let mut s = 0.0;
            for ((z, d), y) in logits.iter().zip(shifts).zip(labels) {
                for ((z, d), y) in z.iter().zip(d).zip(y) {
                    let p = selectllm_core::classifier::sigmoid(z + beta * d)
                        .clamp(1e-6, 1.0 - 1e-6) as f64;
                    s -= *y as f64 * p.ln() + (1.0 - *y as f64) * (1.0 - p).ln();
                }
            }
            s
        };
        self.beta = (0..=30)
            .map(|i| i as f32 / 10.0)
            .min_by(|a, b| bce(*a).total_cmp(&bce(*b)))
            .unwrap_or(0.0);
    }

    pub fn tensors(&self, dev: &Device) -> Result<HashMap<String, Tensor>, NeuralError> {
        let mut m = HashMap::new();
        m.insert(
            "emb".into(),
            Tensor::from_vec(self.emb.clone(), (self.len(), self.dim), dev)?,
        );
        m.insert(
            "targets".into(),
            Tensor::from_vec(self.targets.clone(), (self.len(), self.members), dev)?,
        );
        Ok(m)
    }

    pub fn from_tensors(
        m: &HashMap<String, Tensor>,
        k: usize,
        beta: f32,
    ) -> Result<Self, NeuralError> {
        let get = |n: &str| {
            m.get(n)
                .ok_or_else(|| NeuralError::Data(format!("knn.safetensors lacks {n}")))
        };
        let emb = get("emb")?.to_vec2::<f32>()?;
        let targets = get("targets")?.to_vec2::<f32>()?;
        let mut knn = Self::new(&emb, &targets, k)?;
        knn.beta = beta;
        Ok(knn)
    }
}

/// Mean of `mean_correct` (each training question's mean correctness over members) over the
/// `k` questions most similar to a question, among the `allowed` ones (all when `None`) and
/// skipping `skip`; `sims` is the question's similarity to each training question. 0.5 when
/// there is no candidate.
pub(crate) fn difficulty(
    sims: &[f32],
    mean_correct: &[f32],
    allowed: Option<&[bool]>,
    skip: Option<usize>,
    k: usize,
) -> f32 {
    let mut cand: Vec<(f32, usize)> = sims
        .iter()
        .enumerate()
        .filter(|&(j, _)| allowed.is_none_or(|a| a[j]) && Some(j) != skip)
        .map(|(j, &s)| (s, j))
        .collect();
    let k = k.min(cand.len());
    if k == 0 {
        return 0.5;
    }
    cand.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    cand[..k].iter().map(|&(_, j)| mean_correct[j]).sum::<f32>() / k as f32
}
