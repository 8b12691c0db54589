//! Fine-tuned mode: the encoder's top layers (all by default) and the head trained end to end
//! with AdamW (separate learning rates), gradient accumulation and the best epoch by
//! validation loss kept.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};

use crate::bert::Exec;
use crate::checkpoint::FineTunedFiles;
use crate::classifier::NeuralClassifier;
use crate::config::{NeuralMode, NeuralTrainConfig, TrainExample, label_rates, targets};
use crate::encoder::{Encoder, EncoderFiles, hex};
use crate::error::NeuralError;
use crate::evidence::{attach_knn, attach_shrink};
use crate::fit::{FitReport, Group, Model, fit, matrix};
use crate::head::{Head, column_stats};

struct FineTune {
    encoder: Encoder,
    head: Head,
    /// Trainable encoder tensors by name.
    vars: Vec<(String, Var)>,
    train_ids: Vec<Vec<u32>>,
    val_ids: Vec<Vec<u32>>,
    best: Option<(Head, Vec<Tensor>)>,
}

impl FineTune {
    fn logits(&self, ids: &[Vec<u32>], idx: &[usize], exec: Exec) -> Result<Tensor, NeuralError> {
        let batch: Vec<&[u32]> = idx.iter().map(|&i| ids[i].as_slice()).collect();
        let pooled = self.encoder.pooled(&batch, exec)?;
        Ok(self.head.logits(&pooled)?)
    }
}

impl Model for FineTune {
    fn train_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError> {
        self.logits(&self.train_ids, idx, Exec::Train)
    }
    fn val_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError> {
        self.logits(&self.val_ids, idx, Exec::Infer)
    }
    fn keep_best(&mut self) -> Result<(), NeuralError> {
        let enc = self
            .vars
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<Result<Vec<_>, _>>()?;
        self.best = Some((self.head.snapshot()?, enc));
        Ok(())
    }
    fn train_lengths(&self) -> Option<Vec<usize>> {
        Some(self.train_ids.iter().map(Vec::len).collect())
    }
}

/// Whether tensor `name` is trained when the top `layers` of `total` layers are.
fn trainable(name: &str, layers: Option<usize>, total: usize) -> bool {
    let layers = layers.unwrap_or(total);
    if layers >= total {
        return !name.contains("pooler");
    }
    (total - layers..total).any(|i| name.contains(&format!("encoder.layer.{i}.")))
}

pub(crate) fn train_finetune(
    cfg: &NeuralTrainConfig,
    members: &[String],
    frozen: Encoder,
    (train, e_train): (&[TrainExample], &[Vec<f32>]),
    (val, e_val): (&[TrainExample], &[Vec<f32>]),
    progress: &dyn Fn(&str),
) -> Result<(NeuralClassifier, Option<FineTunedFiles>, FitReport), NeuralError> {
    let m = members.len();
    let dev = frozen.device.clone();
    let dim = frozen.dim();
    let train_ids = frozen.tokenize(&train.iter().map(|x| x.text.as_str()).collect::<Vec<_>>())?;
    let val_ids = frozen.tokenize(&val.iter().map(|x| x.text.as_str()).collect::<Vec<_>>())?;
    let base_hash = frozen.hash().to_string();
    drop(frozen);
    // Reload the weights as variables (the frozen encoder's tensors are shared, read-only).
    let files = EncoderFiles::read(&cfg.encoder_dir, cfg.max_len, &dev)?;
    let total = files.config.num_hidden_layers;
    let mut vars = Vec::new();
    let mut tensors = HashMap::new();
    let mut names: Vec<&String> = files.tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &files.tensors[name];
        if t.dtype() == DType::F32 && trainable(name, cfg.finetune_layers, total) {
            let v = Var::from_tensor(t)?;
            tensors.insert(name.clone(), v.as_tensor().clone());
            vars.push((name.clone(), v));
        } else {
            tensors.insert(name.clone(), t.clone());
        }
    }
    progress(&format!(
        "fine-tuning {} encoder tensors ({} of {total} layers)",
        vars.len(),
        cfg.finetune_layers.unwrap_or(total).min(total)
    ));
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
    let encoder = Encoder::from_parts(
        &cfg.encoder_dir,
        files.config.clone(),
        files.tokenizer.clone(),
        base_hash.clone(),
        vb,
        dev.clone(),
        cfg.max_len,
    )?;
    // One scale for every dimension: a per-dimension standardization would amplify the
    // encoder's drift on low-variance dimensions as it trains.
    let (mean, std) = column_stats(e_train);
    let scale = std.iter().sum::<f32>() / std.len().max(1) as f32;
    let stats = (mean, vec![scale; std.len()]);
    let head = Head::new(
        dim,
        cfg.hidden,
        m,
        stats,
        &label_rates(train, m),
        cfg.seed,
        &dev,
    )?;
    let groups = vec![
        Group {
            vars: head.vars(),
            lr: cfg.lr,
        },
        Group {
            vars: vars.iter().map(|(_, v)| v.clone()).collect(),
            lr: cfg.encoder_lr,
        },
    ];
    let mut model = FineTune {
        encoder,
        head,
        vars,
        train_ids,
        val_ids,
        best: None,
    };
    let y_train = matrix(&targets(cfg, train), m, &dev)?;
    let y_val = matrix(&targets(cfg, val), m, &dev)?;
    let report = fit(cfg, &mut model, groups, &y_train, &y_val, progress)?;
    progress(&format!(
        "best epoch {} of {} (val loss {:.4})",
        report.best_epoch, report.epochs_run, report.best_val_loss
    ));
    let FineTune {
        head, vars, best, ..
    } = model;
    let (head, best_enc) = match best {
        Some((h, enc)) => (h, enc),
        None => (
            head,
            vars.iter()
                .map(|(_, v)| v.as_tensor().copy())
                .collect::<Result<_, _>>()?,
        ),
    };
    // A clean (non-variable) encoder from the best weights.
    let mut final_tensors = files.tensors.clone();
    for ((name, _), t) in vars.iter().zip(best_enc) {
        final_tensors.insert(name.clone(), t.detach());
    }
    let head = Head::from_tensors(head.tensors(), &cfg.encoder_dir)?;
    let vb = VarBuilder::from_tensors(final_tensors.clone(), DType::F32, &dev);
    let mut encoder = Encoder::from_parts(
        &cfg.encoder_dir,
        files.config,
        files.tokenizer,
        base_hash.clone(),
        vb,
        dev,
        cfg.max_len,
    )?;
    let settings = serde_json::to_value(cfg).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(base_hash.as_bytes());
    h.update(settings.to_string().as_bytes());
    encoder.set_hash(hex(&h.finalize()));
    let mut clf = NeuralClassifier::trained(
        NeuralMode::FineTune,
        members,
        (encoder, head),
        &label_rates(train, m),
    );
    let carried = FineTunedFiles {
        config_bytes: files.config_bytes,
        tokenizer_bytes: files.tokenizer_bytes,
        tensors: final_tensors,
    };
    let emb = |c: &NeuralClassifier, xs: &[TrainExample]| {
        c.embed(&xs.iter().map(|x| x.text.as_str()).collect::<Vec<_>>())
    };
    let ev = emb(&clf, val)?;
    if cfg.knn_k > 0 {
        progress("re-encoding the training questions with the fine-tuned encoder for kNN");
        let et = emb(&clf, train)?;
        attach_knn(cfg, &mut clf, (train, &et), (val, &ev))?;
    }
    attach_shrink(cfg, &mut clf, train, (val, &ev))?;
    let _ = e_val;
    Ok((clf, Some(carried), report))
}
