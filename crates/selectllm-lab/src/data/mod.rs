//! Datasets: where the data folder is, the readers for each public format, and our JSONL.

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

/// Environment variable naming the data folder.
pub const DATA_ENV: &str = "SELECTLLM_DATA";

/// The data folder: the explicit setting, else `$SELECTLLM_DATA`, else `../shared/data` or
/// `../../shared/data` from the working directory when it exists, else the user cache
/// folder that `selectllm data pull` fills.
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<PathBuf, DataError> {
    if let Some(p) = explicit {
        return existing_dir(p, "--data");
    }
    if let Some(p) = std::env::var_os(DATA_ENV) {
        return existing_dir(Path::new(&p), DATA_ENV);
    }
    for cand in [
        "../shared/data",
        "../../shared/data",
        "../../../shared/data",
    ] {
        let p = Path::new(cand);
        if p.join("README.md").is_file() || p.join("routerdc").is_dir() {
            return Ok(p.to_path_buf());
        }
    }
    let cache = default_cache_dir().join("data");
    if cache.is_dir() {
        return Ok(cache);
    }
    Err(DataError::Other(format!(
        "no data folder: pass --data DIR, set {DATA_ENV}, or run `selectllm data pull` to download the public data into {}",
        cache.display()
    )))
}

fn existing_dir(p: &Path, from: &str) -> Result<PathBuf, DataError> {
    if p.is_dir() {
        Ok(p.to_path_buf())
    } else {
        Err(DataError::Other(format!(
            "data folder {} (from {from}) does not exist",
            p.display()
        )))
    }
}

/// `$SELECTLLM_CACHE`, else `$XDG_CACHE_HOME/selectllm`, else `~/.cache/selectllm`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SELECTLLM_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("selectllm");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("selectllm");
    }
    PathBuf::from(".selectllm-cache")
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
