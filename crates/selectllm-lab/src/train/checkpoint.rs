//! Writing lexical checkpoints where they are trained. The format (and loading any
//! checkpoint) is `selectllm-infer`'s: this file only puts its bytes on disk.

use std::path::{Path, PathBuf};

use selectllm_core::checkpoint::{MANIFEST_FILE, Manifest};
use selectllm_core::lexical::LexicalModel;
use selectllm_infer::lexical::{self, WEIGHTS_FILE};

use crate::data::{DataError, write_atomic};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Format(#[from] selectllm_infer::CheckpointError),
    #[error("{path}: {msg}")]
    Bad { path: PathBuf, msg: String },
}

/// Saves a lexical model. The manifest's `kind` is set to `lexical`.
pub fn save_lexical(
    dir: &Path,
    model: &LexicalModel,
    manifest: &Manifest,
) -> Result<(), CheckpointError> {
    let (bytes, manifest) = lexical::encode(model, manifest)?;
    write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| CheckpointError::Bad {
        path: dir.join(MANIFEST_FILE),
        msg: e.to_string(),
    })?;
    write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(())
}
