//! The neural classifiers of `selectllm-neural` behind the lab's [`Trainer`] interface (the
//! encoder folder is found by `selectllm_fs::locate::encoder_dir`).

use selectllm_core::Classifier;
use selectllm_neural::{NeuralClassifier, NeuralTrainConfig, TrainExample};

use super::{TrainError, TrainSet, Trainer};

/// Trains a MiniLM classifier (frozen encoder + head, or fine-tuned), then fits per-member
/// temperatures on the validation questions when `calibrate` is set.
#[derive(Debug, Clone)]
pub struct NeuralTrainer {
    pub config: NeuralTrainConfig,
    pub calibrate: bool,
}

fn examples(set: &TrainSet<'_>) -> Vec<TrainExample> {
    set.texts
        .iter()
        .zip(&set.labels)
        .zip(&set.success)
        .map(|((t, l), s)| TrainExample {
            text: t.to_string(),
            labels: l.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect(),
            success: s.clone(),
        })
        .collect()
}

impl NeuralTrainer {
    /// Trains and returns the concrete classifier (for saving).
    pub fn train(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<NeuralClassifier, TrainError> {
        if train.is_empty() {
            return Err(TrainError::Empty);
        }
        let cfg = NeuralTrainConfig {
            seed,
            ..self.config.clone()
        };
        let tr = examples(train);
        let va = examples(val);
        let progress = |m: &str| tracing::info!("{m}");
        let mut clf = selectllm_neural::train(&cfg, members, &tr, &va, &progress)
            .map_err(|e| TrainError::Other(e.to_string()))?
            .classifier;
        if self.calibrate && !va.is_empty() {
            let c = clf
                .calibrate(&va)
                .map_err(|e| TrainError::Other(e.to_string()))?;
            tracing::info!(?c, "calibrated");
        }
        Ok(clf)
    }
}

impl Trainer for NeuralTrainer {
    fn name(&self) -> String {
        let base = self.config.mode.kind().to_string();
        if self.calibrate {
            format!("{base} (calibrated)")
        } else {
            base
        }
    }

    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn Classifier>, TrainError> {
        Ok(Box::new(self.train(members, train, val, seed)?))
    }
}
