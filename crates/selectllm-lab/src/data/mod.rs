//! Datasets: the readers for each public format, and our JSONL (where the data folder is:
//! `selectllm_fs::locate::data_dir`).

pub mod answer_level;
pub mod jsonl;
pub mod mixed;
pub mod pull;
pub mod raw;
pub mod registry;
pub mod routerdc;

use std::path::{Path, PathBuf};

/// Errors of the data layer; each names the file (and line or field) at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Line {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn line(path: &Path, line: usize, msg: impl Into<String>) -> Self {
        DataError::Line {
            path: path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }
    pub fn file(path: &Path, msg: impl Into<String>) -> Self {
        DataError::File {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

impl From<selectllm_fs::locate::LocateError> for DataError {
    fn from(e: selectllm_fs::locate::LocateError) -> Self {
        DataError::Other(e.0)
    }
}

/// Reads a whole UTF-8 file, naming it in the error (and the line of invalid UTF-8).
pub fn read_to_string(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::line(path, line, "invalid UTF-8")
    })
}

/// Writes a file atomically and durably (see `selectllm_fs::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    selectllm_fs::write_atomic(path, bytes).map_err(|e| DataError::io(&e.path, e.source))
}
