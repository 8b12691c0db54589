//! The checkpoint manifest shared by every classifier kind: `manifest.json` beside the weights.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::classifier::Classifier;
use crate::neighbour::{Neighbourhood, Search};
use crate::order::{MemberOrder, Ordered};

/// File name of the manifest inside a checkpoint folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a checkpoint folder says about itself. A checkpoint without its member map is useless,
/// so `members` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Which classifier the weights are for (written as `lexical`, `minilm`, ...).
    pub kind: CheckpointKind,
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
    /// True when the learned order is not used: policies rank by `constant_order`, or by the
    /// neighbourhood order when `neighbourhood` says it is used.
    pub fallback: bool,
    /// Member indices by training accuracy over all training questions, best first.
    pub constant_order: Vec<usize>,
    /// The neighbourhood-conditional order ([`crate::neighbour`]) checked the same way, when
    /// it was; `used`: policies rank by it (the checkpoint then holds its
    /// [`crate::neighbour::NEIGHBOURHOOD_FILE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbourhood: Option<NeighbourCheck>,
}

/// The cross-validated check of the neighbourhood order: the best blend weight `lambda` of
/// those tried (0: neighbourhood rates only, 1 would be the classifier's own order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourCheck {
    /// Neighbours per question.
    pub k: usize,
    /// Nearest questions, or the nearest task centroid (`k` then unused).
    #[serde(default)]
    pub search: Search,
    pub lambda: f32,
    /// Pair accuracy of the blended order on the held-out questions.
    pub pair_accuracy: f64,
    /// Mean success rate of its first member on the held-out questions (for the record).
    #[serde(default)]
    pub first_success: f64,
    /// Standard errors of its per-question gain over the constant order.
    pub z: f64,
    /// True when it beat the constant order by `min_z` and the learned order in pair
    /// accuracy: policies rank by it.
    pub used: bool,
}

impl OrderCheck {
    /// The neighbourhood order is the one used.
    pub fn uses_neighbourhood(&self) -> bool {
        self.neighbourhood.as_ref().is_some_and(|n| n.used)
    }

    /// Applies the check to a trained classifier: when the neighbourhood order is used (and
    /// `neighbourhood` is given), policies rank per question by it; on fallback, by the
    /// constant order (both through [`Ordered`]); otherwise it is returned as it is.
    /// A check that uses the neighbourhood, given none, falls back to the constant order.
    pub fn apply(
        &self,
        clf: Box<dyn Classifier>,
        neighbourhood: Option<Neighbourhood>,
    ) -> Box<dyn Classifier> {
        if let (Some(n), Some(nb)) = (&self.neighbourhood, neighbourhood)
            && n.used
        {
            return Box::new(Ordered {
                inner: clf,
                order: MemberOrder::Neighbourhood {
                    neighbourhood: Box::new(nb),
                    lambda: n.lambda,
                },
            });
        }
        if self.fallback || self.uses_neighbourhood() {
            Box::new(Ordered {
                inner: clf,
                order: MemberOrder::Constant(self.constant_order.clone()),
            })
        } else {
            clf
        }
    }

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
            if self.uses_neighbourhood() {
                let n = self.neighbourhood.as_ref().expect("checked");
                format!(
                    "policies rank members per question by the success rates of {} (blend weight of the learned order {:.2}; pair accuracy {:.3}, gain {:.1} standard errors; first member's success {:.3}), keeping the calibrated probabilities",
                    n.search.describe(n.k),
                    n.lambda,
                    n.pair_accuracy,
                    n.z,
                    n.first_success
                )
            } else if self.fallback {
                format!(
                    "not shown better, so policies rank members by training accuracy ({first} first), keeping the calibrated probabilities"
                )
            } else {
                "the learned order is used".to_string()
            }
        )
    }
}

/// The classifier a checkpoint holds; its manifest names it as [`CheckpointKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointKind {
    /// The hashed TF-IDF model of [`crate::lexical`].
    Lexical,
    /// all-MiniLM-L6-v2 frozen, with a trained head (`selectllm-neural`).
    Minilm,
    /// all-MiniLM-L6-v2 fine-tuned with its head; the checkpoint carries the encoder.
    MinilmFinetune,
}

impl CheckpointKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [CheckpointKind; 3] = [
        CheckpointKind::Lexical,
        CheckpointKind::Minilm,
        CheckpointKind::MinilmFinetune,
    ];

    /// The name written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::Lexical => "lexical",
            CheckpointKind::Minilm => "minilm",
            CheckpointKind::MinilmFinetune => "minilm-finetune",
        }
    }
}

impl fmt::Display for CheckpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checkpoint kind this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown classifier kind `{0}` (this build knows: lexical, minilm, minilm-finetune)")]
pub struct UnknownKind(pub String);

impl FromStr for CheckpointKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckpointKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

impl Serialize for CheckpointKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckpointKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in CheckpointKind::ALL {
            assert_eq!(k.to_string().parse::<CheckpointKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<CheckpointKind>(&json).unwrap(), k);
        }
        let e = "mystery".parse::<CheckpointKind>().unwrap_err();
        assert!(
            e.to_string().contains("unknown classifier kind `mystery`"),
            "{e}"
        );
        assert!(serde_json::from_str::<CheckpointKind>("\"Lexical\"").is_err());
    }

    #[test]
    fn manifests_written_before_the_enum_still_read() {
        // A manifest as `selectllm train` wrote it when the kind was a free string.
        let old = r#"{"kind": "minilm-finetune", "members": ["a", "b"], "dataset": "d",
            "data_hash": "h", "seed": 7, "hyperparameters": {}, "created_by": "selectllm 0.1.0"}"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(m.kind, CheckpointKind::MinilmFinetune);
        let back: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(back["kind"], "minilm-finetune");
    }
}
