//! The neural classifiers of `selectllm-neural` behind the lab's [`Trainer`] interface (the
//! encoder folder is found by `selectllm_fs::locate::encoder_dir`).

use selectllm_core::Classifier;
use selectllm_neural::{
    CachedClassifier, NeuralCheckpoint, NeuralMode, NeuralTrainConfig, TrainExample,
};

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
    /// Trains and returns the classifier with its training record (for saving).
    pub fn train(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<NeuralCheckpoint, TrainError> {
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
        let mut ckpt = selectllm_neural::train(&cfg, members, &tr, &va, &progress)
            .map_err(|e| TrainError::Other(e.to_string()))?
            .checkpoint;
        if self.calibrate && !va.is_empty() {
            let c = ckpt
                .classifier
                .calibrate(&va, self.cache_dir())
                .map_err(|e| TrainError::Other(e.to_string()))?;
            tracing::info!(?c, "calibrated");
        }
        Ok(ckpt)
    }

    /// The embedding cache of frozen-encoder runs (a fine-tuned encoder's embeddings are
    /// used once and not cached).
    fn cache_dir(&self) -> Option<&std::path::Path> {
        match self.config.mode {
            NeuralMode::Frozen => self.config.cache_dir.as_deref(),
            NeuralMode::FineTune => None,
        }
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
        let inner = self.train(members, train, val, seed)?.classifier;
        Ok(match self.cache_dir() {
            Some(dir) => Box::new(CachedClassifier {
                inner,
                dir: dir.to_path_buf(),
            }),
            None => Box::new(inner),
        })
    }
}
