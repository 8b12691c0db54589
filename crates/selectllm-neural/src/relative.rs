//! Relative-competence shrinkage. A head's logit for member m on question q splits into the
//! question's mean logit (its difficulty) and the member's offset from that mean. Selection
//! only depends on the offsets; learned offsets are noisy, and the constant prior (each
//! member's training label rate) is a strong ordering. So the offsets are shrunk toward the
//! prior's: z'_m = mean(z) + b_m + lambda * (z_m - mean(z) - b_m), with b_m the prior's
//! centred logit and lambda in [0, 1] chosen on validation for pair accuracy. lambda = 0 ranks
//! members exactly like the prior (while keeping the per-question difficulty); lambda = 1 is
//! the head unchanged.
//!
//! The prior's offsets can also depend on the question's difficulty ([`Conditional`]): members
//! do not rank the same on easy and hard questions (on RouterDC MMLU, Meta-Llama-3-8B is 5th
//! of 7 on average but first on the easiest questions, where zephyr-7b-beta, first on
//! average, is 4th). Difficulty is
//! the mean correctness of the question's k nearest training questions over all members, each
//! member's P(correct) a logistic curve in it (two parameters per member, fitted on the
//! training questions with leave-one-out difficulties), and the curve offsets are mixed with
//! the constant ones by a weight chosen by 5-fold cross-validation of pair accuracy on the
//! training questions, and used only when its gain is at least two standard errors.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use selectllm_core::classifier::logit;
use selectllm_core::metrics::pair_hits;

use crate::error::NeuralError;
use crate::knn::difficulty;

/// The fitted shrinkage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shrink {
    pub lambda: f32,
    /// Centred prior logits, one per member.
    pub offsets: Vec<f32>,
    /// Difficulty-dependent prior offsets, when they helped in cross-validation.
    #[serde(default)]
    pub conditional: Option<Conditional>,
}

/// A difficulty-conditional prior: member m's logit of P(correct) on a question of difficulty
/// `d` (mean correctness of its `k` nearest training questions, over all members) is
/// `intercepts[m] + slopes[m] * d`. Its centred offsets replace the constant prior's with
/// weight `gamma`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditional {
    pub intercepts: Vec<f32>,
    pub slopes: Vec<f32>,
    pub gamma: f32,
    pub k: usize,
    /// Cross-validated pair-accuracy gain over the constant prior at `gamma`, and that gain
    /// in standard errors (for the record).
    #[serde(default)]
    pub cv_gain: f32,
    #[serde(default)]
    pub cv_z: f32,
}

impl Conditional {
    /// Centred offsets at difficulty `d`.
    fn offsets(&self, d: f32) -> Vec<f32> {
        centred(
            self.intercepts
                .iter()
                .zip(&self.slopes)
                .map(|(a, s)| a + s * d)
                .collect(),
        )
    }
}

fn centred(mut v: Vec<f32>) -> Vec<f32> {
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    v.iter_mut().for_each(|x| *x -= mean);
    v
}

impl Shrink {
    /// Offsets from per-member label rates; `lambda` 1 (no change) until fitted.
    pub fn from_prior(prior: &[f32]) -> Self {
        Self {
            lambda: 1.0,
            offsets: centred(prior.iter().map(|&p| logit(p)).collect()),
            conditional: None,
        }
    }

    /// The prior's offsets for a question of difficulty `d` (the constant ones when there is
    /// no conditional prior or no difficulty).
    fn target(&self, d: Option<f32>) -> std::borrow::Cow<'_, [f32]> {
        match (&self.conditional, d) {
            (Some(c), Some(d)) if c.gamma > 0.0 => self
                .offsets
                .iter()
                .zip(c.offsets(d))
                .map(|(b, o)| b + c.gamma * (o - b))
                .collect::<Vec<f32>>()
                .into(),
            _ => self.offsets.as_slice().into(),
        }
    }

    /// Applies the shrinkage to one row of logits in place; `d` is the question's difficulty
    /// (see [`Conditional`]), needed only with a conditional prior.
    pub fn apply(&self, z: &mut [f32], d: Option<f32>) {
        let mean = z.iter().sum::<f32>() / z.len().max(1) as f32;
        for (x, b) in z.iter_mut().zip(self.target(d).iter()) {
            *x = mean + b + self.lambda * (*x - mean - b);
        }
    }

    /// Chooses lambda in {0, 0.05, ..., 1} maximising pair accuracy of `logits` (questions of
    /// difficulties `d`) on `labels` (the smallest lambda among equals: the prior is the safer
    /// ordering).
    pub fn fit(&mut self, logits: &[Vec<f32>], d: &[Option<f32>], labels: &[Vec<f32>]) -> f64 {
        let mut best = (f64::MIN, 1.0f32);
        for i in 0..=20 {
            self.lambda = i as f32 / 20.0;
            let z: Vec<Vec<f32>> = logits
                .iter()
                .zip(d)
                .map(|(r, &d)| {
                    let mut r = r.clone();
                    self.apply(&mut r, d);
                    r
                })
                .collect();
            let acc = pair_accuracy(&z, labels);
            if acc > best.0 + 1e-9 {
                best = (acc, self.lambda);
            }
        }
        self.lambda = best.1;
        best.0
    }
}

/// Weights of the conditional offsets tried in cross-validation.
const GAMMAS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
/// Folds of the cross-validation that chooses the weight.
const FOLDS: usize = 5;
/// Standard errors the cross-validated gain must reach for the conditional prior to be used.
const MIN_Z: f64 = 2.0;

/// Fits a [`Conditional`] prior on training questions: `emb` unit-norm embeddings (rows of
/// `dim`), `targets` one row of per-member correctness per question, `k` neighbours. Returns
/// `None` when no weight's cross-validated gain over the constant prior reaches `MIN_Z`
/// standard errors, or there are too few questions (fewer than `FOLDS * (k + 1)`).
pub fn fit_conditional(
    emb: &[f32],
    dim: usize,
    targets: &[Vec<f32>],
    k: usize,
) -> Result<Option<Conditional>, NeuralError> {
    let n = targets.len();
    let members = targets.first().map_or(0, Vec::len);
    if k == 0 || dim == 0 || members < 2 || n < FOLDS * (k + 1) || emb.len() != n * dim {
        return Ok(None);
    }
    let sims = similarities(emb, dim)?;
    let mean_correct: Vec<f32> = targets
        .iter()
        .map(|t| t.iter().sum::<f32>() / members as f32)
        .collect();
    let fold = |i: usize| i % FOLDS;
    // Held-out offsets of every question for every weight, fitted without its fold.
    let mut rows: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(n); GAMMAS.len()];
    let mut labels = Vec::with_capacity(n);
    for f in 0..FOLDS {
        let allowed: Vec<bool> = (0..n).map(|i| fold(i) != f).collect();
        let fitted = fit_curves(&sims, n, &mean_correct, targets, &allowed, k);
        let rates: Vec<f32> = (0..members)
            .map(|m| {
                let (s, c) = (0..n)
                    .filter(|&i| allowed[i])
                    .fold((0.0, 0.0), |(s, c), i| (s + targets[i][m], c + 1.0));
                s / c
            })
            .collect();
        let constant = Shrink::from_prior(&rates).offsets;
        let curves = Conditional {
            gamma: 1.0,
            ..fitted
        };
        for i in (0..n).filter(|&i| !allowed[i]) {
            let d = difficulty(
                &sims[i * n..(i + 1) * n],
                &mean_correct,
                Some(&allowed),
                Some(i),
                k,
            );
            let cond = curves.offsets(d);
            for (g, rows) in GAMMAS.iter().zip(rows.iter_mut()) {
                rows.push(
                    constant
                        .iter()
                        .zip(&cond)
                        .map(|(b, o)| b + g * (o - b))
                        .collect(),
                );
            }
            labels.push(targets[i].clone());
        }
    }
    // The weight with the largest held-out gain over the constant prior, kept only when the
    // gain is at least MIN_Z standard errors (paired over questions): with few questions or
    // members, a gain found in cross-validation is mostly noise.
    let base: Vec<(f64, usize)> = rows[0]
        .iter()
        .zip(&labels)
        .map(|(r, l)| pair_hits(r, l))
        .collect();
    let pairs = base.iter().map(|b| b.1).sum::<usize>() as f64;
    if pairs == 0.0 {
        return Ok(None);
    }
    let mut best: Option<(f32, f64, f64)> = None;
    for (g, rows) in GAMMAS.iter().zip(&rows).skip(1) {
        let diff: Vec<f64> = rows
            .iter()
            .zip(&labels)
            .zip(&base)
            .map(|((r, l), b)| pair_hits(r, l).0 - b.0)
            .collect();
        let gain = diff.iter().sum::<f64>() / pairs;
        let se = diff
            .iter()
            .zip(&base)
            .map(|(d, b)| (d - gain * b.1 as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            / pairs;
        let z = if se > 0.0 { gain / se } else { 0.0 };
        if best.is_none_or(|b| gain > b.1 + 1e-12) {
            best = Some((*g, gain, z));
        }
    }
    let Some((gamma, gain, z)) = best else {
        return Ok(None);
    };
    if !(gain > 0.0 && z >= MIN_Z) {
        return Ok(None);
    }
    let all = vec![true; n];
    Ok(Some(Conditional {
        gamma,
        cv_gain: gain as f32,
        cv_z: z as f32,
        ..fit_curves(&sims, n, &mean_correct, targets, &all, k)
    }))
}

/// Cosine similarities of all pairs of the `n` unit rows of `emb` (row-major `n x n`), as one
/// matrix product.
fn similarities(emb: &[f32], dim: usize) -> Result<Vec<f32>, NeuralError> {
    let x = Tensor::from_slice(emb, (emb.len() / dim, dim), &Device::Cpu)?;
    Ok(x.matmul(&x.t()?)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Per-member logistic curves of correctness in leave-one-out difficulty, on the `allowed`
/// questions (neighbours also among them); `gamma` is left at 0.
fn fit_curves(
    sims: &[f32],
    n: usize,
    mean_correct: &[f32],
    targets: &[Vec<f32>],
    allowed: &[bool],
    k: usize,
) -> Conditional {
    let idx: Vec<usize> = (0..n).filter(|&i| allowed[i]).collect();
    let d: Vec<f32> = idx
        .iter()
        .map(|&i| {
            difficulty(
                &sims[i * n..(i + 1) * n],
                mean_correct,
                Some(allowed),
                Some(i),
                k,
            )
        })
        .collect();
    let (intercepts, slopes) = (0..targets[0].len())
        .map(|m| {
            let y: Vec<f32> = idx.iter().map(|&i| targets[i][m]).collect();
            logistic_line(&d, &y)
        })
        .unzip();
    Conditional {
        intercepts,
        slopes,
        gamma: 0.0,
        k,
        cv_gain: 0.0,
        cv_z: 0.0,
    }
}

/// Maximum-likelihood `(a, s)` of `P(y) = sigmoid(a + s x)` by Newton's method, with a small
/// ridge (1e-3) so separable data stays finite.
pub(crate) fn logistic_line(x: &[f32], y: &[f32]) -> (f32, f32) {
    let (mut a, mut s) = (0.0f64, 0.0f64);
    for _ in 0..50 {
        let (mut ga, mut gs, mut haa, mut has, mut hss) = (0.0, 0.0, 1e-3, 0.0, 1e-3);
        for (&x, &y) in x.iter().zip(y) {
            let (x, y) = (x as f64, y as f64);
            let p = 1.0 / (1.0 + (-(a + s * x)).exp());
            let w = p * (1.0 - p);
            ga += y - p;
            gs += (y - p) * x;
            haa += w;
            has += w * x;
            hss += w * x * x;
        }
        ga -= 1e-3 * a;
        gs -= 1e-3 * s;
        let det = haa * hss - has * has;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hss * ga - has * gs) / det;
        let ds = (haa * gs - has * ga) / det;
        a += da;
        s += ds;
        if da.abs().max(ds.abs()) < 1e-9 {
            break;
        }
    }
    (a as f32, s as f32)
}

/// [`selectllm_core::metrics::pair_accuracy`] with 0/1 labels; 0.5 when no pair has exactly
/// one member right.
pub fn pair_accuracy(scores: &[Vec<f32>], labels: &[Vec<f32>]) -> f64 {
    selectllm_core::metrics::pair_accuracy(scores, labels).unwrap_or(0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn logistic_line_recovers_a_known_curve() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (a, s) = (-1.5f32, 4.0f32);
        let x: Vec<f32> = (0..20_000).map(|_| rng.gen_range(0.0..1.0)).collect();
        let y: Vec<f32> = x
            .iter()
            .map(|&x| {
                let p = 1.0 / (1.0 + (-(a + s * x)).exp());
                f32::from(u8::from(rng.gen_range(0.0..1.0) < p))
            })
            .collect();
        let (fa, fs) = logistic_line(&x, &y);
        assert!((fa - a).abs() < 0.1 && (fs - s).abs() < 0.2, "{fa} {fs}");
        // Separable data stays finite.
        let (fa, fs) = logistic_line(&[0.0, 0.1, 0.9, 1.0], &[0.0, 0.0, 1.0, 1.0]);
        assert!(fa.is_finite() && fs.is_finite());
    }

    /// Questions in two topics (embedding directions), one easy and one hard. Member 0 is right
    /// on every easy question and no hard one, member 1 on 60% of both, member 2 on 90% of the
    /// easy and 5% of the hard ones. Mean rates 0.5, 0.6, 0.475: the constant prior ranks
    /// 1 > 0 > 2 everywhere, while on easy questions 0 is best and on hard ones 1.
    fn two_topics(n: usize, rng: &mut impl Rng) -> (Vec<f32>, Vec<Vec<f32>>) {
        let dim = 8;
        let mut emb = Vec::with_capacity(n * dim);
        let mut targets = Vec::with_capacity(n);
        for i in 0..n {
            let easy = i % 2 == 0;
            let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-0.3..0.3)).collect();
            v[usize::from(!easy)] += 3.0;
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            emb.extend(v.iter().map(|x| x / norm));
            let right = |p: f64, rng: &mut dyn rand::RngCore| -> f32 {
                f32::from(u8::from(rng.gen_bool(p)))
            };
            targets.push(vec![
                f32::from(u8::from(easy)),
                right(0.6, rng),
                right(if easy { 0.9 } else { 0.05 }, rng),
            ]);
        }
        (emb, targets)
    }

    #[test]
    fn a_difficulty_dependent_order_is_found_and_a_constant_one_is_not() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (emb, targets) = two_topics(600, &mut rng);
        let c = fit_conditional(&emb, 8, &targets, 10)
            .expect("fit")
            .expect("conditional prior");
        assert!(c.gamma > 0.0 && c.cv_z >= MIN_Z as f32, "{c:?}");
        // On an easy question member 0 ranks above member 1, on a hard one below it.
        let easy = c.offsets(0.9);
        let hard = c.offsets(0.1);
        assert!(easy[0] > easy[1] && hard[0] < hard[1], "{easy:?} {hard:?}");
        // Applied through the shrinkage at lambda 0 (pure prior), the order follows d.
        let mut s = Shrink::from_prior(&[0.5, 0.6, 0.47]);
        s.lambda = 0.0;
        s.conditional = Some(Conditional { gamma: 1.0, ..c });
        let (mut ze, mut zh) = (vec![0.0f32; 3], vec![0.0f32; 3]);
        s.apply(&mut ze, Some(0.9));
        s.apply(&mut zh, Some(0.1));
        assert!(ze[0] > ze[1] && zh[0] < zh[1], "{ze:?} {zh:?}");
        // Without a difficulty, the constant prior's order.
        let mut z = vec![0.0f32; 3];
        s.apply(&mut z, None);
        assert!(z[1] > z[0] && z[0] > z[2], "{z:?}");

        // Member order independent of difficulty: no conditional prior.
        let flat: Vec<Vec<f32>> = (0..600)
            .map(|_| {
                [0.7, 0.5, 0.3]
                    .iter()
                    .map(|&p| f32::from(u8::from(rng.gen_bool(p))))
                    .collect()
            })
            .collect();
        assert_eq!(fit_conditional(&emb, 8, &flat, 10).expect("fit"), None);
        // Too few questions for the folds.
        assert_eq!(
            fit_conditional(&emb[..8 * 40], 8, &targets[..40], 10).expect("fit"),
            None
        );
    }

    #[test]
    fn old_shrink_records_load_without_a_conditional_prior() {
        let s: Shrink = serde_json::from_str(r#"{"lambda": 0.25, "offsets": [0.5, -0.5]}"#)
            .expect("old format");
        assert_eq!(s.conditional, None);
        let mut z = vec![1.0f32, 1.0];
        s.apply(&mut z, Some(0.3));
        assert!(z[0] > z[1]);
    }
}
