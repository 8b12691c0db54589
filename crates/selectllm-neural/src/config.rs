//! Training inputs and settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::NeuralError;
use crate::loss::{LossKind, Target};

/// One training question: its text and, per pool member (in the `members` order), the 0/1
/// label and the success rate.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainExample {
    pub text: String,
    pub labels: Vec<f32>,
    pub success: Vec<f32>,
}

/// Frozen: the encoder is fixed, embeddings are cached, only the head is trained.
/// FineTune: the encoder and the head are trained end to end (the paper's method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeuralMode {
    Frozen,
    FineTune,
}

impl NeuralMode {
    /// The checkpoint kind: `minilm` or `minilm-finetune`.
    pub fn kind(self) -> &'static str {
        match self {
            NeuralMode::Frozen => "minilm",
            NeuralMode::FineTune => "minilm-finetune",
        }
    }
}

/// Settings of [`crate::train`]. `Default` is the frozen mode with CPU-friendly values;
/// [`NeuralTrainConfig::finetune`] gives the fine-tuning defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeuralTrainConfig {
    pub mode: NeuralMode,
    /// Local encoder folder (config.json, model.safetensors, tokenizer.json).
    pub encoder_dir: PathBuf,
    /// Embedding cache folder (frozen mode); `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Tokens per question (the paper: 128).
    pub max_len: usize,
    /// Maximum epochs (early stopping may end sooner).
    pub epochs: usize,
    /// Learning rate of the head (AdamW).
    pub lr: f64,
    /// Learning rate of the encoder in fine-tuned mode.
    pub encoder_lr: f64,
    pub weight_decay: f64,
    /// Questions per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step (effective batch = batch x grad_accum).
    pub grad_accum: usize,
    /// Hidden units of the head; 0 = linear head.
    pub hidden: usize,
    /// Epochs without validation-loss improvement before stopping.
    pub patience: usize,
    pub seed: u64,
    pub loss: LossKind,
    pub target: Target,
    /// Nearest-neighbour evidence: k training questions by cosine similarity (0 = off).
    pub knn_k: usize,
    /// Fine-tuned mode: how many of the top encoder layers are trained (the rest stay frozen
    /// and their outputs are not differentiated); `usize::MAX` = all.
    pub finetune_layers: usize,
    /// Shrink each question's member offsets toward the prior's, with the strength fitted on
    /// validation for pair accuracy (see [`crate::relative`]).
    pub relative_shrink: bool,
}

impl Default for NeuralTrainConfig {
    fn default() -> Self {
        Self {
            mode: NeuralMode::Frozen,
            encoder_dir: PathBuf::from("../shared/models/all-MiniLM-L6-v2"),
            cache_dir: None,
            max_len: 128,
            epochs: 200,
            lr: 1e-3,
            encoder_lr: 3e-5,
            weight_decay: 0.01,
            batch: 32,
            grad_accum: 1,
            hidden: 256,
            patience: 10,
            seed: 42,
            loss: LossKind::Bce,
            target: Target::Label,
            knn_k: 0,
            finetune_layers: usize::MAX,
            relative_shrink: true,
        }
    }
}

impl NeuralTrainConfig {
    /// Fine-tuning defaults sized for a 2-core CPU (a few epochs, small micro-batches).
    pub fn finetune() -> Self {
        Self {
            mode: NeuralMode::FineTune,
            epochs: 4,
            batch: 16,
            grad_accum: 2,
            patience: 2,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), NeuralError> {
        let bad = |m: &str| Err(NeuralError::Config(m.into()));
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if self.batch == 0 || self.grad_accum == 0 {
            return bad("batch and grad_accum must be at least 1");
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(self.lr) || !positive(self.encoder_lr) {
            return bad("learning rates must be positive");
        }
        Ok(())
    }
}

/// Checks examples against the member list; returns an error naming the first bad example.
pub(crate) fn check_examples(
    members: &[String],
    set: &str,
    xs: &[TrainExample],
) -> Result<(), NeuralError> {
    for (i, x) in xs.iter().enumerate() {
        if x.labels.len() != members.len() || x.success.len() != members.len() {
            return Err(NeuralError::Data(format!(
                "{set} example {i}: {} labels / {} success rates for {} members",
                x.labels.len(),
                x.success.len(),
                members.len()
            )));
        }
        if x.labels
            .iter()
            .chain(&x.success)
            .any(|v| !(0.0..=1.0).contains(v))
        {
            return Err(NeuralError::Data(format!(
                "{set} example {i}: labels and success rates must lie in [0, 1]"
            )));
        }
    }
    Ok(())
}
