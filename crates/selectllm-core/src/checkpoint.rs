//! The checkpoint manifest shared by every classifier kind: `manifest.json` beside the weights.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
