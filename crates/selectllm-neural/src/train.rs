//! `train`: frozen mode (cached embeddings + head) and the shared setup of both modes.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::cache::EmbeddingCache;
use crate::classifier::NeuralClassifier;
use crate::config::{NeuralMode, NeuralTrainConfig, TrainExample, check_examples};
use crate::encoder::Encoder;
use crate::error::NeuralError;
use crate::fit::{Group, Model, fit};
use crate::head::{Head, column_stats};
use crate::knn::Knn;
use crate::loss::Target;
use crate::relative::Shrink;

/// Embeddings of `texts`, through the on-disk cache when `cache_dir` is set.
pub fn embed_cached(
    encoder: &Encoder,
    cache_dir: Option<&Path>,
    texts: &[&str],
    progress: &dyn Fn(&str),
) -> Result<Vec<Vec<f32>>, NeuralError> {
    match cache_dir {
        Some(dir) => EmbeddingCache::open(dir, encoder)?.embed(encoder, texts, progress),
        None => {
            let mut out = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(256) {
                out.extend(encoder.embed(chunk)?);
                progress(&format!("encoded {}/{} texts", out.len(), texts.len()));
            }
            Ok(out)
        }
    }
}

pub(crate) fn targets(cfg: &NeuralTrainConfig, xs: &[TrainExample]) -> Vec<Vec<f32>> {
    xs.iter()
        .map(|x| match cfg.target {
            Target::Label => x.labels.clone(),
            Target::Success => x.success.clone(),
        })
        .collect()
}

pub(crate) fn matrix(rows: &[Vec<f32>], cols: usize, dev: &Device) -> Result<Tensor, NeuralError> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), cols), dev)?)
}

/// Logits of rates (clamped away from 0 and 1 as the shrinkage's prior is).
pub(crate) fn rate_logits(rates: &[f32]) -> Vec<f32> {
    rates
        .iter()
        .map(|&r| selectllm_core::classifier::logit(r))
        .collect()
}

/// Mean label per member over the training set.
pub(crate) fn label_rates(train: &[TrainExample], m: usize) -> Vec<f32> {
    let n = train.len().max(1) as f32;
    (0..m)
        .map(|j| train.iter().map(|x| x.labels[j]).sum::<f32>() / n)
        .collect()
}

struct Frozen {
    x_train: Tensor,
    x_val: Tensor,
    head: Head,
    best: Option<Head>,
}

impl Model for Frozen {
    fn train_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError> {
        let ids = Tensor::from_vec(
            idx.iter().map(|&i| i as u32).collect(),
            idx.len(),
            self.x_train.device(),
        )?;
        Ok(self.head.logits(&self.x_train.index_select(&ids, 0)?)?)
    }
    fn val_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError> {
        Ok(self
            .head
            .logits(&self.x_val.narrow(0, idx[0], idx.len())?)?)
    }
    fn keep_best(&mut self) -> Result<(), NeuralError> {
        self.best = Some(self.head.snapshot()?);
        Ok(())
    }
}

/// Trains a classifier for `members` (the order of every label vector). Frozen mode trains
/// the head on cached embeddings; fine-tuned mode trains encoder and head end to end.
/// Early stopping and the kNN weight use `val`; calibration is a separate step
/// ([`NeuralClassifier::calibrate`]).
pub fn train(
    cfg: &NeuralTrainConfig,
    members: &[String],
    train: &[TrainExample],
    val: &[TrainExample],
    progress: &dyn Fn(&str),
) -> Result<NeuralClassifier, NeuralError> {
    cfg.validate()?;
    if members.is_empty() {
        return Err(NeuralError::Data("no pool members".into()));
    }
    if train.is_empty() {
        return Err(NeuralError::Data("no training examples".into()));
    }
    check_examples(members, "training", train)?;
    check_examples(members, "validation", val)?;
    if let Some(i) = train
        .iter()
        .chain(val)
        .position(|x| x.text.trim().is_empty())
    {
        return Err(NeuralError::Data(format!(
            "example {i} has an empty question"
        )));
    }
    if cfg.encoder_dir.as_os_str().is_empty() {
        return Err(NeuralError::Config(
            "encoder_dir is not set: the folder of the encoder (config.json, model.safetensors, tokenizer.json)".into(),
        ));
    }
    progress(&format!("loading encoder {}", cfg.encoder_dir.display()));
    let encoder = Encoder::load(&cfg.encoder_dir, cfg.max_len)?;
    let texts = |xs: &[TrainExample]| xs.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
    let (tt, vt) = (texts(train), texts(val));
    let tr: Vec<&str> = tt.iter().map(String::as_str).collect();
    let va: Vec<&str> = vt.iter().map(String::as_str).collect();
    let cache = cfg.cache_dir.as_deref();
    let e_train = embed_cached(&encoder, cache, &tr, progress)?;
    let e_val = embed_cached(&encoder, cache, &va, progress)?;
    match cfg.mode {
        NeuralMode::Frozen => train_frozen(
            cfg,
            members,
            encoder,
            (train, &e_train),
            (val, &e_val),
            progress,
        ),
        NeuralMode::FineTune => crate::finetune::train_finetune(
            cfg,
            members,
            encoder,
            (train, &e_train),
            (val, &e_val),
            progress,
        ),
    }
}

fn train_frozen(
    cfg: &NeuralTrainConfig,
    members: &[String],
    encoder: Encoder,
    (train, e_train): (&[TrainExample], &[Vec<f32>]),
    (val, e_val): (&[TrainExample], &[Vec<f32>]),
    progress: &dyn Fn(&str),
) -> Result<NeuralClassifier, NeuralError> {
    let m = members.len();
    let dev = encoder.device.clone();
    let dim = encoder.dim();
    let head = Head::new(
        dim,
        cfg.hidden,
        m,
        column_stats(e_train),
        &label_rates(train, m),
        cfg.seed,
        &dev,
    )?;
    let vars = head.vars();
    let mut model = Frozen {
        x_train: matrix(e_train, dim, &dev)?,
        x_val: matrix(e_val, dim, &dev)?,
        head,
        best: None,
    };
    let y_train = matrix(&targets(cfg, train), m, &dev)?;
    let y_val = matrix(&targets(cfg, val), m, &dev)?;
    let report = fit(
        cfg,
        &mut model,
        vec![Group { vars, lr: cfg.lr }],
        &y_train,
        &y_val,
        progress,
    )?;
    progress(&format!(
        "best epoch {} of {} (val loss {:.4})",
        report.best_epoch, report.epochs_run, report.best_val_loss
    ));
    let head = model.best.take().unwrap_or(model.head);
    let mut clf = NeuralClassifier::trained(
        NeuralMode::Frozen,
        members,
        (encoder, head),
        &label_rates(train, m),
        serde_json::to_value(cfg).unwrap_or_default(),
        report,
    );
    clf.cache_dir = cfg.cache_dir.clone();
    attach_knn(cfg, &mut clf, (train, e_train), (val, e_val))?;
    attach_shrink(cfg, &mut clf, train, (val, e_val))?;
    Ok(clf)
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
    let d_val = crate::relative::difficulties(clf.knn.as_ref(), conditional.as_ref(), e_val);
    let mut best: Option<(f64, f32, Shrink)> = None;
    for beta in betas {
        if let Some(k) = clf.knn.as_mut() {
            k.beta = beta;
        }
        let z = clf.logits_from_embeddings(e_val)?;
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
