//! Frozen mode: the encoder stays fixed and only the head is trained, on the questions'
//! embeddings (computed once, cached on disk when set).

use candle_core::Tensor;

use crate::checkpoint::FineTunedFiles;
use crate::classifier::NeuralClassifier;
use crate::config::{NeuralMode, NeuralTrainConfig, TrainExample, label_rates, targets};
use crate::encoder::Encoder;
use crate::error::NeuralError;
use crate::evidence::{attach_knn, attach_shrink};
use crate::fit::{FitReport, Group, Model, fit, matrix};
use crate::head::{Head, column_stats};

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

pub(crate) fn train_frozen(
    cfg: &NeuralTrainConfig,
    members: &[String],
    encoder: Encoder,
    (train, e_train): (&[TrainExample], &[Vec<f32>]),
    (val, e_val): (&[TrainExample], &[Vec<f32>]),
    progress: &dyn Fn(&str),
) -> Result<(NeuralClassifier, Option<FineTunedFiles>, FitReport), NeuralError> {
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
    );
    attach_knn(cfg, &mut clf, (train, e_train), (val, e_val))?;
    attach_shrink(cfg, &mut clf, train, (val, e_val))?;
    Ok((clf, None, report))
}
