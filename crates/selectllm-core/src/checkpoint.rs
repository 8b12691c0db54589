//! The checkpoint manifest shared by every classifier kind: `manifest.json` beside the weights.

use serde::{Deserialize, Serialize};

/// File name of the manifest inside a checkpoint folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a checkpoint folder says about itself. A checkpoint without its member map is useless,
/// so `members` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `lexical`, `minilm`, `minilm-finetune`, ...
    pub kind: String,
    /// Output order of the classifier.
    pub members: Vec<String>,
    /// The dataset the classifier was trained on.
    pub dataset: String,
    /// sha256 of the training data (texts and targets), hex.
    pub data_hash: String,
    pub seed: u64,
    /// Kind-specific hyperparameters.
    pub hyperparameters: serde_json::Value,
    /// Validation / test metrics measured at training time.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// `selectllm <version>` that wrote it.
    pub created_by: String,
}
