//! The training loop shared by both modes: AdamW, micro-batches with gradient accumulation,
//! early stopping on validation loss, best weights kept.

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::NeuralTrainConfig;
use crate::error::NeuralError;
use crate::loss::loss;

/// What the loop needs from a mode: logits for a set of example indices.
pub(crate) trait Model: Sync {
    /// Logits (batch, members) for training examples `idx`, with the graph for backprop.
    fn train_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError>;
    /// Logits for validation examples `idx` (no gradient needed).
    fn val_logits(&self, idx: &[usize]) -> Result<Tensor, NeuralError>;
    /// Keep the current weights as the best so far.
    fn keep_best(&mut self) -> Result<(), NeuralError>;
    /// Token counts of the training examples, when batches cost by their longest member
    /// (padded encoder passes); enables length grouping.
    fn train_lengths(&self) -> Option<Vec<usize>> {
        None
    }
}

/// Micro-batches of `order` with similar lengths: windows of 16 micro-batches are sorted by
/// length and cut, and the micro-batches are then shuffled, so a padded batch wastes little
/// on padding while every epoch still sees a random order (as `group_by_length` elsewhere).
fn length_grouped(
    order: &[usize],
    lens: &[usize],
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(order.len().div_ceil(batch));
    for window in order.chunks(batch * 16) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| std::cmp::Reverse(lens.get(i).copied().unwrap_or(0)));
        out.extend(w.chunks(batch).map(<[usize]>::to_vec));
    }
    out.shuffle(rng);
    out
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
    /// The epoch in which the kept weights were reached (1-based).
    pub best_epoch: usize,
    /// The optimizer step after which the kept weights were evaluated (1-based, over the run).
    pub best_step: usize,
    pub best_val_loss: f64,
    /// (train loss, validation loss) per epoch: the learning curve.
    pub curve: Vec<(f64, f64)>,
    /// (optimizer step, validation loss) of every evaluation, within and at the end of epochs.
    pub checks: Vec<(usize, f64)>,
}

/// Early stopping state: the best validation loss so far and evaluations since it.
struct Best<'a> {
    report: &'a mut FitReport,
    since_best: usize,
}

impl Best<'_> {
    /// Records an evaluation after optimizer step `step` of epoch `epoch`; keeps the weights if
    /// they are the best so far.
    fn check(
        &mut self,
        model: &mut dyn Model,
        (epoch, step): (usize, usize),
        vl: f64,
        always_keep: bool,
    ) -> Result<(), NeuralError> {
        self.report.checks.push((step, vl));
        if vl < self.report.best_val_loss - 1e-6 || always_keep {
            self.report.best_val_loss = vl;
            self.report.best_epoch = epoch;
            self.report.best_step = step;
            self.since_best = 0;
            model.keep_best()?;
        } else {
            self.since_best += 1;
        }
        Ok(())
    }
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
    let idx: Vec<usize> = (0..n).collect();
    // On a rayon worker, like a training step (see `fit`).
    let total = rayon::scope(|_| -> Result<f64, NeuralError> {
        let mut total = 0.0;
        for chunk in idx.chunks(64) {
            let z = model.val_logits(chunk)?.detach();
            let yb = y.narrow(0, chunk[0], chunk.len())?;
            total += loss(cfg.loss, &z, &yb)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        }
        Ok(total)
    })?;
    Ok(total / n.max(1) as f64)
}

/// Validation evaluations per epoch: the end of the epoch plus those every `eval_every` steps.
/// Patience is counted in epochs, so in evaluations it is this many times larger.
fn evals_per_epoch(cfg: &NeuralTrainConfig, steps_per_epoch: usize) -> usize {
    match cfg.eval_every {
        0 => 1,
        e => 1 + steps_per_epoch.saturating_sub(1) / e,
    }
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
    let steps_per_epoch = n.div_ceil(cfg.batch).div_ceil(cfg.grad_accum);
    let total_steps = steps_per_epoch * cfg.epochs;
    let base_lrs: Vec<f64> = opts.iter().map(|o| o.learning_rate()).collect();
    let lengths = model.train_lengths().filter(|_| cfg.group_by_length);
    // Patience is set in epochs; counted in evaluations.
    let patience = cfg
        .patience
        .saturating_mul(evals_per_epoch(cfg, steps_per_epoch));
    let mut step = 0;
    let mut best = Best {
        report: &mut report,
        since_best: 0,
    };
    'epochs: for epoch in 1..=cfg.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let mut train_total = 0.0;
        let steps: Vec<Vec<usize>> = match &lengths {
            Some(lens) => length_grouped(&order, lens, cfg.batch, &mut rng),
            None => order.chunks(cfg.batch).map(<[usize]>::to_vec).collect(),
        };
        let started = std::time::Instant::now();
        let mut last_note = started;
        let groups = steps.chunks(cfg.grad_accum).collect::<Vec<_>>();
        for (g, group) in groups.iter().enumerate() {
            if last_note.elapsed().as_secs() >= 30 {
                last_note = std::time::Instant::now();
                progress(&format!(
                    "epoch {epoch}: step {g}/{} ({:.0} s)",
                    groups.len(),
                    started.elapsed().as_secs_f64()
                ));
            }
            let factor = cfg.schedule.factor(step, total_steps);
            for (o, &lr) in opts.iter_mut().zip(&base_lrs) {
                o.set_learning_rate(lr * factor);
            }
            // Forward and backward passes on a rayon worker: the parallel kernels inside them
            // then fork from a worker instead of each being handed over from this thread.
            let model_ref: &dyn Model = model;
            let (acc, group_loss) = rayon::scope(|_| -> Result<_, NeuralError> {
                let mut acc: Option<GradStore> = None;
                let mut total = 0.0;
                for idx in group.iter() {
                    let z = model_ref.train_logits(idx)?;
                    let ids = Tensor::from_vec(
                        idx.iter().map(|&i| i as u32).collect(),
                        idx.len(),
                        y_train.device(),
                    )?;
                    let yb = y_train.index_select(&ids, 0)?;
                    let l = loss(cfg.loss, &z, &yb)?;
                    total += l.to_scalar::<f32>()? as f64 * idx.len() as f64;
                    let grads = (l / group.len() as f64)?.backward()?;
                    add_grads(&mut acc, grads, &all_vars)?;
                }
                Ok((acc, total))
            })?;
            train_total += group_loss;
            if let Some(g) = acc {
                for o in &mut opts {
                    o.step(&g)?;
                }
            }
            step += 1;
            // Evaluations within the epoch (the end of the epoch has its own, below).
            if has_val && cfg.eval_every > 0 && step % cfg.eval_every == 0 && g + 1 < groups.len() {
                let vl = val_loss(cfg, model, y_val)?;
                progress(&format!("epoch {epoch}, step {step}: val loss {vl:.4}"));
                best.check(model, (epoch, step), vl, false)?;
                if best.since_best >= patience {
                    break 'epochs;
                }
            }
        }
        let train_loss = train_total / n.max(1) as f64;
        let vl = if has_val {
            val_loss(cfg, model, y_val)?
        } else {
            train_loss
        };
        best.report.curve.push((train_loss, vl));
        best.report.epochs_run = epoch;
        best.check(model, (epoch, step), vl, !has_val)?;
        progress(&format!(
            "epoch {epoch}/{}: train loss {train_loss:.4}, val loss {vl:.4}",
            cfg.epochs
        ));
        if has_val && best.since_best >= patience {
            break;
        }
    }
    Ok(report)
}

/// Rows of `cols` values as a (rows, cols) tensor on `dev`.
pub(crate) fn matrix(rows: &[Vec<f32>], cols: usize, dev: &Device) -> Result<Tensor, NeuralError> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), cols), dev)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_groups_cover_every_example_once_with_similar_lengths() {
        let n = 203;
        let lens: Vec<usize> = (0..n).map(|i| (i * 37) % 120 + 3).collect();
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        order.shuffle(&mut rng);
        let groups = length_grouped(&order, &lens, 8, &mut rng);
        assert_eq!(groups.len(), n.div_ceil(8));
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        // Padding: tokens padded to each batch's longest, against random batches of the same
        // order (the grouping must at least cut it clearly).
        let padded = |gs: &[Vec<usize>]| -> usize {
            gs.iter()
                .map(|g| g.len() * g.iter().map(|&i| lens[i]).max().unwrap_or(0))
                .sum()
        };
        let random: Vec<Vec<usize>> = order.chunks(8).map(<[usize]>::to_vec).collect();
        assert!(
            padded(&groups) * 10 < padded(&random) * 7,
            "{} vs {}",
            padded(&groups),
            padded(&random)
        );
        // Seeded: the same seed gives the same batches.
        let again = length_grouped(&order, &lens, 8, &mut ChaCha8Rng::seed_from_u64(5));
        let again2 = length_grouped(&order, &lens, 8, &mut ChaCha8Rng::seed_from_u64(5));
        assert_eq!(again, again2);
    }
}
