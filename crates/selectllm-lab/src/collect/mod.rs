//! Collection: ask every member of a pool every question `n` times, record every response
//! in a SQLite store (resumable, never duplicated), and export a routing dataset with
//! extracted answers, labels and measured latency.
//!
//! - [`source`]: which questions (GSM8K, MMLU, our JSONL), shuffled and limited.
//! - [`store`]: the SQLite store, one row per (question, member, sample).
//! - [`runner`]: the async fan-out with per-member progress.
//! - [`export`](mod@export): store -> [`RoutingDataset`](selectllm_core::dataset::RoutingDataset) -> JSONL.
//! - `bench` (feature `bench`): samples recorded per second against the in-process fake server.

#[cfg(feature = "bench")]
pub mod bench;
pub mod export;
pub mod runner;
pub mod source;
pub mod store;

use std::path::{Path, PathBuf};

pub use export::{ExportSummary, export};
pub use runner::{CollectSettings, CollectSummary, MemberSummary, collect};

/// Errors of collection and export.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{0}: database: {1}")]
    Db(PathBuf, #[source] rusqlite::Error),
    #[error("{0}: {1}")]
    Store(PathBuf, String),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Pool(#[from] selectllm_pool::PoolError),
    #[error("{0}")]
    Invalid(String),
}

impl CollectError {
    pub fn db(path: &Path, e: rusqlite::Error) -> Self {
        CollectError::Db(path.to_path_buf(), e)
    }
}
