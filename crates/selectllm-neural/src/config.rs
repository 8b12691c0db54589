//! Training inputs and settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use selectllm_core::checkpoint::CheckpointKind;

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
    pub fn checkpoint_kind(self) -> CheckpointKind {
        match self {
            NeuralMode::Frozen => CheckpointKind::Minilm,
            NeuralMode::FineTune => CheckpointKind::MinilmFinetune,
        }
    }

    /// The checkpoint kind's name, also the classifier's name in reports.
    pub fn kind(self) -> &'static str {
        self.checkpoint_kind().as_str()
    }
}

/// Settings of [`crate::train`](mod@crate::train). `Default` is the frozen mode with CPU-friendly values;
/// [`NeuralTrainConfig::finetune`] gives the fine-tuning defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeuralTrainConfig {
    pub mode: NeuralMode,
    /// Local encoder folder (config.json, model.safetensors, tokenizer.json). No default:
    /// empty until the caller sets it.
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
    /// and their outputs are not differentiated); `None` = all. Written `"all"` or a number;
    /// read also as `null` or missing (all), and older checkpoints' `usize::MAX` (all).
    #[serde(default, with = "layers")]
    pub finetune_layers: Option<usize>,
    /// Shrink each question's member offsets toward the prior's, with the strength fitted on
    /// validation for pair accuracy (see [`crate::relative`]).
    pub relative_shrink: bool,
    /// Let the prior's member order depend on the question's difficulty (kNN mean correctness),
    /// when 5-fold cross-validation on the training questions says it helps (see
    /// [`crate::relative::Conditional`]); needs `knn_k > 0` and `relative_shrink`.
    #[serde(default = "yes")]
    pub conditional_prior: bool,
    /// Learning-rate schedule over the whole run (the paper: linear decay to 0).
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Also evaluate on validation every this many optimizer steps, keeping the best weights
    /// (the paper: every 100 steps); 0 = at the end of each epoch only.
    #[serde(default)]
    pub eval_every: usize,
    /// Fine-tuned mode: micro-batches of questions of similar token counts (shuffled), so
    /// padded batches waste less time on padding.
    #[serde(default)]
    pub group_by_length: bool,
}

/// How the learning rates move over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The configured rates throughout.
    #[default]
    Constant,
    /// From the configured rates down to 0 at the last step of the last epoch.
    Linear,
}

impl LrSchedule {
    /// The factor on the base learning rate before optimizer step `step` of `total` (0-based).
    pub fn factor(self, step: usize, total: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Linear => 1.0 - step as f64 / total.max(1) as f64,
        }
    }
}

impl std::str::FromStr for LrSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "constant" => Ok(LrSchedule::Constant),
            "linear" => Ok(LrSchedule::Linear),
            _ => Err(format!(
                "unknown schedule {s:?} (expected constant or linear)"
            )),
        }
    }
}

fn yes() -> bool {
    true
}

/// `finetune_layers` on disk: `"all"` or a count.
mod layers {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_str("all"),
            Some(n) => s.serialize_u64(*n as u64),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Count(u64),
        Word(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Word(w)) if w == "all" => Ok(None),
            Some(Raw::Word(w)) => Err(D::Error::custom(format!(
                "finetune_layers {w:?}: expected \"all\" or a number of layers"
            ))),
            // older checkpoints wrote usize::MAX for all layers
            Some(Raw::Count(n)) => Ok(usize::try_from(n).ok().filter(|&n| n != usize::MAX)),
        }
    }
}

impl Default for NeuralTrainConfig {
    fn default() -> Self {
        Self {
            mode: NeuralMode::Frozen,
            encoder_dir: PathBuf::new(),
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
            knn_k: 30,
            finetune_layers: None,
            relative_shrink: true,
            conditional_prior: true,
            schedule: LrSchedule::Constant,
            eval_every: 0,
            group_by_length: false,
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
            group_by_length: true,
            ..Self::default()
        }
    }

    /// The paper's fine-tuning recipe (RoBERTa-base there, this encoder here): AdamW at 1e-6
    /// for encoder and head, effective batch 128 (16 x 8 accumulation), 30 epochs, linear decay,
    /// validation every 100 steps, the checkpoint with the lowest validation loss; no kNN
    /// evidence and no shrinkage toward the prior (our additions). Hours on a 2-core CPU.
    pub fn paper() -> Self {
        Self {
            mode: NeuralMode::FineTune,
            lr: 1e-6,
            encoder_lr: 1e-6,
            epochs: 30,
            batch: 16,
            grad_accum: 8,
            patience: 30,
            schedule: LrSchedule::Linear,
            eval_every: 100,
            knn_k: 0,
            relative_shrink: false,
            conditional_prior: false,
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
        if self.max_len < 2 {
            return bad("max_len must be at least 2 (the [CLS] and [SEP] tokens)");
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

/// Mean label per member over the training set.
pub(crate) fn label_rates(train: &[TrainExample], m: usize) -> Vec<f32> {
    let n = train.len().max(1) as f32;
    (0..m)
        .map(|j| train.iter().map(|x| x.labels[j]).sum::<f32>() / n)
        .collect()
}

/// Each example's training targets (labels or success rates, as configured).
pub(crate) fn targets(cfg: &NeuralTrainConfig, xs: &[TrainExample]) -> Vec<Vec<f32>> {
    xs.iter()
        .map(|x| match cfg.target {
            Target::Label => x.labels.clone(),
            Target::Success => x.success.clone(),
        })
        .collect()
}

/// The arithmetic of the encoder's dense layers at inference. Both give the same figures on
/// every machine; int8 is faster where the CPU has AVX-512 VNNI and its embeddings differ from
/// f32's by quantization error (measured in BENCHMARKS.md), so it is part of the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Self::F32),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown encoder precision {other:?} (f32 or int8)")),
        }
    }
}
