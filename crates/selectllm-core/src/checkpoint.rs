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
    /// Whether the learned member order beat the constant one in cross-validation on the
    /// training questions; when it did not, policies rank by the constant order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_order: Option<OrderCheck>,
}

/// Cross-validated comparison of a classifier's member order with the constant order
/// (members by training accuracy), by pair accuracy on held-out training questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCheck {
    pub folds: usize,
    /// Pair accuracy of the classifier's probabilities on the held-out questions.
    pub learned_pair_accuracy: f64,
    /// Pair accuracy of the constant order on the same questions.
    pub constant_pair_accuracy: f64,
    /// Standard errors of the per-question gain (learned minus constant pair hits).
    pub z: f64,
    /// The gain must reach this many standard errors for the learned order to be used.
    pub min_z: f64,
    /// True when the learned order was not shown to be better: policies rank by `constant_order`.
    pub fallback: bool,
    /// Member indices by training accuracy over all training questions, best first.
    pub constant_order: Vec<usize>,
}

impl OrderCheck {
    /// One line for reports.
    pub fn describe(&self, members: &[String]) -> String {
        let first = self
            .constant_order
            .first()
            .and_then(|&m| members.get(m))
            .map_or("-", |s| s.as_str());
        format!(
            "member order checked by {}-fold cross-validation on the training questions: pair accuracy learned {:.3} vs constant {:.3} (gain {:.1} standard errors, {:.2} needed): {}",
            self.folds,
            self.learned_pair_accuracy,
            self.constant_pair_accuracy,
            self.z,
            self.min_z,
            if self.fallback {
                format!(
                    "not shown better, so policies rank members by training accuracy ({first} first), keeping the calibrated probabilities"
                )
            } else {
                "the learned order is used".to_string()
            }
        )
    }
}
