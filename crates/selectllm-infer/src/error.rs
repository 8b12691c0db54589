//! The crate's errors: why a classification request was not answered, and why a checkpoint
//! could not be read or used.

use std::path::{Path, PathBuf};

use selectllm_core::classifier::ClassifierError;
use selectllm_neural::NeuralError;

/// The worker's answer when it has no probabilities for a question.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The queue is full: the request was refused at once (a server answers 429).
    #[error("the classifier is overloaded: its queue is full")]
    Overloaded,
    /// The worker has shut down (or stopped) and takes no more requests.
    #[error("the classifier worker has shut down")]
    Closed,
    /// The classifier failed on the batch holding this question (every caller of that batch
    /// gets the same error), or the question was empty.
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
}

/// Why a checkpoint could not be read or used; always names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Neural(#[from] NeuralError),
    #[error(
        "checkpoint {dir} was trained for members [{}] but {what} has [{}]",
        found.join(", "),
        expected.join(", ")
    )]
    Members {
        dir: PathBuf,
        what: String,
        found: Vec<String>,
        expected: Vec<String>,
    },
}

pub(crate) fn bad(path: impl AsRef<Path>, message: impl Into<String>) -> CheckpointError {
    CheckpointError::File {
        path: path.as_ref().to_path_buf(),
        message: message.into(),
    }
}

/// Reads a whole file; the error names it once.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|e| bad(path, io_message(&e)))
}

/// An I/O error without the doubled "(os error N): ..." text of `io::Error`'s Display.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
