//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the neural classifier: file names are always included.
#[derive(Debug, thiserror::Error)]
pub enum NeuralError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("encoder folder {dir}: {message}")]
    Encoder { dir: PathBuf, message: String },
    #[error("checkpoint {dir}: {message}")]
    Checkpoint { dir: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("invalid training data: {0}")]
    Data(String),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("hub download: {0}")]
    Hub(String),
}

impl NeuralError {
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        NeuralError::File {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

impl From<selectllm_fs::WriteError> for NeuralError {
    fn from(e: selectllm_fs::WriteError) -> Self {
        NeuralError::file(e.path, e.source)
    }
}

impl From<NeuralError> for selectllm_core::classifier::ClassifierError {
    fn from(e: NeuralError) -> Self {
        selectllm_core::classifier::ClassifierError::Model(e.to_string())
    }
}
