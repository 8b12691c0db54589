//! The training loop shared by both modes: AdamW, micro-batches with gradient accumulation,
//! early stopping on validation loss, best weights kept.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::NeuralTrainConfig;
use crate::error::NeuralError;
use crate::loss::loss;

/// What the loop needs from a mode: logits for a set of example indices.
pub(crate) trait Model {
    /// Logits (batch, members) for training examples `idx`, with the graph for backprop.
    fn train_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError>;
    /// Logits for validation examples `idx` (no gradient needed).
    fn val_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError>;
    /// Keep the current weights as the best so far.
    fn keep_best(&mut self) -> Result<(), NeuralError>;
}

/// One parameter group: its variables and learning rate.
pub(crate) struct Group {
    pub vars: Vec<Var>,
    pub lr: f64,
}

/// Figures of a finished training run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FitReport {
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    /// (train loss, validation loss) per epoch: the learning curve.
    pub curve: Vec<(f64, f64)>,
}

fn add_grads(acc: &mut Option<GradStore>, new: GradStore, vars: &[Var]) -> Result<(), NeuralError> {
    match acc {
        None => *acc = Some(new),
        Some(a) => {
            for v in vars {
                if let Some(g) = new.get(v.as_tensor()) {
                    let sum = match a.get(v.as_tensor()) {
                        Some(prev) => (prev + g)?,
                        None => g.clone(),
                    };
                    a.insert(v.as_tensor(), sum);
                }
            }
        }
    }
    Ok(())
}

/// Mean loss over `n` validation examples, in chunks.
fn val_loss(cfg: &NeuralTrainConfig, model: &dyn Model, y: &Tensor) -> Result<f64, NeuralError> {
    let n = y.dim(0)?;
    let mut total = 0.0;
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(64) {
        let z = model.val_logits(chunk)?.detach();
        let yb = y.narrow(0, chunk[0], chunk.len())?;
        total += loss(cfg.loss, &z, &yb)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
    }
    Ok(total / n.max(1) as f64)
}

/// Trains `model` on targets `y_train` (n, members), early-stopping on `y_val`.
pub(crate) fn fit(
    cfg: &NeuralTrainConfig,
    model: &mut dyn Model,
    groups: Vec<Group>,
    y_train: &Tensor,
    y_val: &Tensor,
    progress: &dyn Fn(&str),
) -> Result<FitReport, NeuralError> {
    let n = y_train.dim(0)?;
    let all_vars: Vec<Var> = groups.iter().flat_map(|g| g.vars.clone()).collect();
    let mut opts = groups
        .into_iter()
        .map(|g| {
            AdamW::new(
                g.vars,
                ParamsAdamW {
                    lr: g.lr,
                    weight_decay: cfg.weight_decay,
                    ..Default::default()
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let has_val = y_val.dim(0)? > 0;
    let mut report = FitReport {
        best_val_loss: f64::INFINITY,
        ..Default::default()
    };
    let mut since_best = 0;
    for epoch in 1..=cfg.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let mut train_total = 0.0;
        let steps = order.chunks(cfg.batch).collect::<Vec<_>>();
        for group in steps.chunks(cfg.grad_accum) {
            let mut acc: Option<GradStore> = None;
            for idx in group {
                let z = model.train_logits(idx)?;
                let ids = Tensor::from_vec(
                    idx.iter().map(|&i| i as u32).collect(),
                    idx.len(),
                    y_train.device(),
                )?;
                let yb = y_train.index_select(&ids, 0)?;
                let l = loss(cfg.loss, &z, &yb)?;
                train_total += l.to_scalar::<f32>()? as f64 * idx.len() as f64;
                let grads = (l / group.len() as f64)?.backward()?;
                add_grads(&mut acc, grads, &all_vars)?;
            }
            if let Some(g) = acc {
                for o in &mut opts {
                    o.step(&g)?;
                }
            }
        }
        let train_loss = train_total / n.max(1) as f64;
        let vl = if has_val {
            val_loss(cfg, model, y_val)?
        } else {
            train_loss
        };
        report.curve.push((train_loss, vl));
        report.epochs_run = epoch;
        if vl < report.best_val_loss - 1e-6 || !has_val {
            report.best_val_loss = vl;
            report.best_epoch = epoch;
            since_best = 0;
            model.keep_best()?;
        } else {
            since_best += 1;
        }
        progress(&format!(
            "epoch {epoch}/{}: train loss {train_loss:.4}, val loss {vl:.4}",
            cfg.epochs
        ));
        if has_val && since_best >= cfg.patience {
            break;
        }
    }
    Ok(report)
}
