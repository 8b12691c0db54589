//! Classifier training and checkpoints.

pub mod checkpoint;
pub mod lexical;
pub mod neural;
pub mod order;

use sha2::{Digest, Sha256};

use selectllm_core::dataset::RoutingDataset;

/// Texts and per-member targets for training or validation.
#[derive(Debug, Clone, Default)]
pub struct TrainSet<'a> {
    pub texts: Vec<&'a str>,
    pub labels: Vec<Vec<bool>>,
    pub success: Vec<Vec<f32>>,
}

impl<'a> TrainSet<'a> {
    /// The questions `idx` of a dataset.
    pub fn from_dataset(ds: &'a RoutingDataset, idx: &[usize]) -> Self {
        TrainSet {
            texts: idx.iter().map(|&i| ds.questions[i].text.as_str()).collect(),
            labels: idx.iter().map(|&i| ds.labels(i)).collect(),
            success: idx
                .iter()
                .map(|&i| ds.outcomes[i].iter().map(|o| o.success_rate).collect())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// 0/1 labels, or success rates when `soft`.
    pub fn targets(&self, soft: bool) -> Vec<Vec<f32>> {
        if soft {
            self.success.clone()
        } else {
            self.labels
                .iter()
                .map(|r| r.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect())
                .collect()
        }
    }

    /// sha256 over texts and labels, hex: identifies the training data in a checkpoint.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (t, l) in self.texts.iter().zip(&self.labels) {
            h.update(t.as_bytes());
            h.update([0u8]);
            h.update(l.iter().map(|&b| b as u8).collect::<Vec<_>>());
            h.update([0xffu8]);
        }
        format!("{:x}", h.finalize())
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training set is empty")]
    Empty,
    #[error("{0}")]
    Other(String),
}

/// Something that turns training data into a classifier (lexical here; neural in `selectllm-neural`).
pub trait Trainer: Sync {
    /// The classifier name for reports (`lexical`, `minilm`, ...).
    fn name(&self) -> String;
    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError>;

    /// The member-order check of the last `fit`, when this trainer runs one (`order`).
    fn order_check(&self) -> Option<selectllm_core::checkpoint::OrderCheck> {
        None
    }
}

/// The lexical trainer.
#[derive(Debug, Clone, Default)]
pub struct LexicalTrainer {
    pub config: lexical::LexicalTrainConfig,
}

impl Trainer for LexicalTrainer {
    fn name(&self) -> String {
        "lexical".into()
    }
    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError> {
        if train.is_empty() {
            return Err(TrainError::Empty);
        }
        let (model, report) = lexical::train(&self.config, members, train, val, seed);
        tracing::info!(?report, "lexical classifier trained");
        Ok(Box::new(model))
    }
}

/// A checkpoint trained earlier (`selectllm train`), used as is on every fold. Its members
/// must be the dataset's, in the same order.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub dir: std::path::PathBuf,
    /// Where its encoder is, when not where the checkpoint says.
    pub options: selectllm_infer::LoadOptions,
}

impl Trainer for Pretrained {
    fn name(&self) -> String {
        selectllm_infer::read_manifest(&self.dir).map_or_else(
            |_| "checkpoint".into(),
            |m| format!("{} (checkpoint)", m.kind),
        )
    }
    fn fit(
        &self,
        members: &[String],
        _train: &TrainSet<'_>,
        _val: &TrainSet<'_>,
        _seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError> {
        let other = |e: selectllm_infer::CheckpointError| TrainError::Other(e.to_string());
        let loaded = selectllm_infer::load_checkpoint(&self.dir, &self.options).map_err(other)?;
        loaded
            .check_members(members, "the dataset")
            .map_err(other)?;
        Ok(Box::new(loaded.classifier))
    }
}
