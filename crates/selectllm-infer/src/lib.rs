//! Serving-side inference for SelectLLM: load a trained checkpoint and run its classifier.
//!
//! - [`ClassifierWorker`]: the classifier on one OS thread, off the async runtime, fed by a
//!   bounded queue and forming dynamic batches (up to `max_batch` questions, or `max_wait`
//!   after the first); each caller awaits its own reply. A full queue answers
//!   [`InferError::Overloaded`] at once.
//! - [`WorkerStats`]: queue depth, batch sizes and counts for metrics, read without locks.
//! - [`load_checkpoint`]: a checkpoint folder -> its manifest, [`CheckpointKind`] and
//!   classifier; [`lexical`] is the lexical checkpoint format (the lab writes it).
//!
//! This crate knows nothing of HTTP, training, SQLite or plots: the gateway and the CLI use
//! it, the lab writes what it reads.

mod checkpoint;
mod error;
pub mod lexical;
mod stats;
mod worker;

pub use checkpoint::{LoadOptions, LoadedCheckpoint, load_checkpoint, read_manifest};
pub use error::{CheckpointError, InferError};
pub use selectllm_core::checkpoint::{CheckpointKind, MANIFEST_FILE, Manifest};
pub use selectllm_neural::Precision;
pub use stats::{BATCH_SIZE_BUCKETS, WorkerStats};
pub use worker::{Classified, ClassifierWorker, INLINE_MAX_BYTES, WarmUp, WorkerConfig};
