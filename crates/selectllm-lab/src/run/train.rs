//! `selectllm train` as a library call: the questions a checkpoint trains and validates on,
//! the member-order check, training, the manifest and the checkpoint folder.

use std::io::Write;
use std::path::PathBuf;

use selectllm_core::checkpoint::{CheckpointKind, Manifest};
use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_core::dataset::RoutingDataset;
use selectllm_neural::NeuralError;

use crate::eval::{EvalConfig, EvalError, folds, metrics};
use crate::train::checkpoint::{CheckpointError, save_lexical};
use crate::train::lexical::{self, LexicalTrainConfig};
use crate::train::neural::NeuralTrainer;
use crate::train::order::{self, OrderCheckConfig};
use crate::train::{TrainError, TrainSet, Trainer};
use selectllm_core::neighbour::NEIGHBOURHOOD_FILE;

/// The classifier a checkpoint holds, with its settings.
#[derive(Debug, Clone)]
pub enum CheckpointClassifier {
    Lexical(LexicalTrainConfig),
    /// MiniLM, frozen or fine-tuned (the trainer's mode).
    Neural(NeuralTrainer),
}

impl CheckpointClassifier {
    /// The classifier's name (`lexical`, `minilm`, `minilm-finetune`).
    pub fn name(&self) -> &'static str {
        match self {
            CheckpointClassifier::Lexical(_) => "lexical",
            CheckpointClassifier::Neural(t) => t.config.mode.kind(),
        }
    }
}

/// What to train and where to write it.
pub struct TrainRun<'a> {
    pub classifier: CheckpointClassifier,
    /// The member-order check: the trainer whose learned order is checked, and the check's
    /// settings (`None`: no check).
    pub order_check: Option<(&'a dyn Trainer, OrderCheckConfig)>,
    /// The checkpoint folder.
    pub out: PathBuf,
    pub seed: u64,
    /// The manifest's `created_by` (the program and its version).
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainRunError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
    #[error(transparent)]
    Neural(#[from] NeuralError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Trains on the first fold's training questions (for test-only data, its training and test
/// questions: everything but validation), validates on its validation questions, checks the
/// member order when asked and writes the checkpoint to `cfg.out`. Writes the order check's
/// verdict and a summary line to `out`, and what it is doing to `progress`. Returns the
/// manifest written.
pub fn run(
    ds: &RoutingDataset,
    cfg: &TrainRun<'_>,
    out: &mut dyn Write,
    progress: &dyn Fn(&str),
) -> Result<Manifest, TrainRunError> {
    let split = EvalConfig {
        seed: cfg.seed,
        ..EvalConfig::default()
    };
    let (fs, protocol) = folds(ds, &split)?;
    let fold = &fs[0];
    let train_idx: Vec<usize> = if fs.len() > 1 {
        fold.train.iter().chain(&fold.test).copied().collect()
    } else {
        fold.train.clone()
    };
    let train = TrainSet::from_dataset(ds, &train_idx);
    let val = TrainSet::from_dataset(ds, &fold.val);
    let members = ds.member_names();
    progress(&format!(
        "training {} on {} questions of {}",
        cfg.classifier.name(),
        train.len(),
        ds.name
    ));
    let mut manifest = Manifest {
        kind: CheckpointKind::Lexical,
        members: members.clone(),
        dataset: ds.name.clone(),
        data_hash: train.hash(),
        seed: cfg.seed,
        hyperparameters: serde_json::json!({}),
        metrics: serde_json::json!({}),
        created_by: cfg.created_by.clone(),
        member_order: None,
    };
    if let Some((trainer, check)) = &cfg.order_check {
        progress("checking the learned member order by cross-validation");
        let c = order::check(*trainer, &members, &train, check, cfg.seed)?;
        writeln!(out, "{}", c.describe(&members))?;
        manifest.member_order = Some(c);
    }
    match &cfg.classifier {
        CheckpointClassifier::Neural(trainer) => {
            let mode = trainer.config.mode;
            let ckpt = trainer.train(&members, &train, &val, cfg.seed)?;
            let probs = Classifier::predict_batch(&ckpt.classifier, &val.texts)?;
            let val_auc = metrics::mean_auc(&probs, &val.labels);
            manifest.kind = mode.checkpoint_kind();
            // `save` records the settings it was trained with (without the folders of this
            // machine) and the encoder by id and hash.
            manifest.metrics = serde_json::json!({
                "protocol": protocol,
                "train_questions": train.len(),
                "val_questions": val.len(),
                "val_mean_auc": val_auc,
                "calibrated": trainer.calibrate,
            });
            ckpt.save(&cfg.out, &manifest)?;
            writeln!(
                out,
                "wrote {} ({} checkpoint, {} members, {} training questions, validation mean ROC-AUC {})",
                cfg.out.display(),
                mode.kind(),
                members.len(),
                train.len(),
                auc_text(val_auc)
            )?;
        }
        CheckpointClassifier::Lexical(lcfg) => {
            let (model, report) = lexical::train(lcfg, &members, &train, &val, cfg.seed);
            // bagged heads re-split training and validation questions, so the averaged model
            // has seen every validation question: its AUC there would not be held out
            let val_auc = if report.bags > 1 {
                None
            } else {
                let probs = Classifier::predict_batch(&model, &val.texts)?;
                metrics::mean_auc(&probs, &val.labels)
            };
            let auc = match val_auc {
                None if report.bags > 1 => format!(
                    "not measured (its {} bagged heads each train on part of the validation questions; their mean held-out loss {:.4})",
                    report.bags, report.best_val_loss
                ),
                other => auc_text(other),
            };
            manifest.kind = CheckpointKind::Lexical;
            manifest.hyperparameters = serde_json::to_value(lcfg)?;
            manifest.metrics = serde_json::json!({
                "protocol": protocol,
                "train_questions": train.len(),
                "val_questions": val.len(),
                "val_mean_auc": val_auc,
                "val_loss": report.best_val_loss,
                "steps": report.steps,
                "best_epochs": report.best_epochs,
                "bags": report.bags,
            });
            save_lexical(&cfg.out, &model, &manifest)?;
            writeln!(
                out,
                "wrote {} ({} members, {} training questions, validation mean ROC-AUC {}, {:.1} epochs, {} steps)",
                cfg.out.display(),
                members.len(),
                train.len(),
                auc,
                report.best_epochs,
                report.steps
            )?;
        }
    }
    // the neighbourhood order, when the check chose it, beside the weights
    if let Some(nb) = manifest
        .member_order
        .as_ref()
        .and_then(|c| order::neighbourhood_for(c, &train, &val))
    {
        let json = serde_json::to_vec(&nb.data)?;
        crate::data::write_atomic(&cfg.out.join(NEIGHBOURHOOD_FILE), &json)
            .map_err(CheckpointError::from)?;
        let tasks = if nb.data.tasks.is_empty() {
            String::new()
        } else {
            format!(", tasks {}", nb.data.tasks.join(" "))
        };
        writeln!(
            out,
            "wrote {} ({} training questions{tasks}; rates by {})",
            NEIGHBOURHOOD_FILE,
            nb.data.texts.len(),
            nb.data.search.describe(nb.data.k)
        )?;
    }
    Ok(manifest)
}

/// A mean ROC-AUC for people: three decimals, or n/a when no member's is defined.
fn auc_text(auc: Option<f64>) -> String {
    auc.map_or(
        "n/a (every member always right or always wrong)".into(),
        |v| format!("{v:.3}"),
    )
}
