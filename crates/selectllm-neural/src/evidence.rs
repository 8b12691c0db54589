//! Evidence fitted on the validation questions after the head is trained, in both modes:
//! the nearest-neighbour shift's weight and the relative shrinkage toward the prior.

use crate::classifier::{NeuralClassifier, add_shift};
use crate::config::{NeuralTrainConfig, TrainExample, label_rates, targets};
use crate::error::NeuralError;
use crate::knn::Knn;
use crate::relative::Shrink;

/// Adds nearest-neighbour evidence (when `knn_k > 0`) with its weight fitted on validation.
pub(crate) fn attach_knn(
    cfg: &NeuralTrainConfig,
    clf: &mut NeuralClassifier,
    (train, e_train): (&[TrainExample], &[Vec<f32>]),
    (val, e_val): (&[TrainExample], &[Vec<f32>]),
) -> Result<(), NeuralError> {
    if cfg.knn_k == 0 {
        return Ok(());
    }
    let mut knn = Knn::new(e_train, &targets(cfg, train), cfg.knn_k)?;
    if !val.is_empty() {
        let z = clf.logits_from_embeddings(e_val)?;
        let shifts: Vec<Vec<f32>> = e_val.iter().map(|e| knn.shift(e, None)).collect();
        let labels: Vec<Vec<f32>> = val.iter().map(|x| x.labels.clone()).collect();
        knn.fit_beta(&z, &shifts, &labels);
    } else {
        knn.beta = 1.0;
    }
    clf.knn = Some(knn);
    Ok(())
}

/// Adds the relative shrinkage (when configured and there is validation data).
pub(crate) fn attach_shrink(
    cfg: &NeuralTrainConfig,
    clf: &mut NeuralClassifier,
    train: &[TrainExample],
    (val, e_val): (&[TrainExample], &[Vec<f32>]),
) -> Result<(), NeuralError> {
    if !cfg.relative_shrink || val.is_empty() {
        return Ok(());
    }
    clf.shrink = None;
    let labels: Vec<Vec<f32>> = val.iter().map(|x| x.labels.clone()).collect();
    let prior = label_rates(train, clf.members.len());
    // With kNN evidence, its weight and the shrinkage are chosen together for pair accuracy.
    let betas: Vec<f32> = match &clf.knn {
        Some(_) => (0..=8).map(|i| i as f32 / 4.0).collect(),
        None => vec![0.0],
    };
    // The difficulty-conditional prior, from the kNN index's training questions.
    let conditional = match &clf.knn {
        Some(knn) if cfg.conditional_prior => {
            crate::relative::fit_conditional(&knn.emb, knn.dim, &knn.target_rows(), knn.k)?
        }
        _ => None,
    };
    // One similarity pass over the validation questions: the logits are linear in beta.
    let parts = clf.logit_parts(e_val, clf.knn.is_some(), conditional.as_ref())?;
    let d_val = parts.difficulty;
    let mut best: Option<(f64, f32, Shrink)> = None;
    for beta in betas {
        let mut z = add_shift(parts.head.clone(), &parts.shift, beta);
        for row in &mut z {
            clf.finish(row, &clf.temperatures, None);
        }
        let mut s = Shrink::from_prior(&prior);
        s.conditional = conditional.clone();
        let acc = s.fit(&z, &d_val, &labels);
        if best.as_ref().is_none_or(|b| acc > b.0 + 1e-9) {
            best = Some((acc, beta, s));
        }
    }
    if let Some((_, beta, s)) = best {
        if let Some(k) = clf.knn.as_mut() {
            k.beta = beta;
        }
        clf.shrink = Some(s);
    }
    Ok(())
}
