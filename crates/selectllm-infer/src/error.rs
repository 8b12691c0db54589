//! Why a classification request was not answered.

use selectllm_core::classifier::ClassifierError;

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
