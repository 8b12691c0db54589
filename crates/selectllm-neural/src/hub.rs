//! Encoders from the Hugging Face hub, for users with network. A local folder is the default;
//! this is opt-in (the `hub` cargo feature) and never called by tests.

use std::path::{Path, PathBuf};

use crate::error::NeuralError;

/// Files fetched for a model id.
pub const HUB_FILES: [&str; 3] = crate::encoder::ENCODER_FILES;

/// The folder a model id is stored in under `cache`: `<cache>/<owner>--<name>`.
pub fn model_dir(cache: &Path, model_id: &str) -> PathBuf {
    cache.join(model_id.replace('/', "--"))
}

/// Downloads `model_id` (e.g. `sentence-transformers/all-MiniLM-L6-v2`) into `cache` unless
/// its files are already there; returns the folder to pass to [`crate::Encoder::load`].
pub fn download(model_id: &str, cache: &Path) -> Result<PathBuf, NeuralError> {
    if model_id.is_empty() || model_id.contains("..") || model_id.starts_with('/') {
        return Err(NeuralError::Hub(format!(
            "{model_id:?} is not a hub model id"
        )));
    }
    let dir = model_dir(cache, model_id);
    if HUB_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    fetch(model_id, &dir)?;
    Ok(dir)
}

#[cfg(feature = "hub")]
fn fetch(model_id: &str, dir: &Path) -> Result<(), NeuralError> {
    use std::io::Read;
    std::fs::create_dir_all(dir).map_err(|e| NeuralError::file(dir, e))?;
    for f in HUB_FILES {
        let url = format!("https://huggingface.co/{model_id}/resolve/main/{f}");
        let resp = ureq::get(&url).call().map_err(|e| {
            NeuralError::Hub(format!(
                "cannot download {f} of {model_id} ({e}); without network, pass a local encoder folder instead"
            ))
        })?;
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(2 << 30)
            .read_to_end(&mut bytes)
            .map_err(|e| NeuralError::Hub(format!("reading {url}: {e}")))?;
        selectllm_fs::write_atomic(&dir.join(f), &bytes)?;
    }
    Ok(())
}

#[cfg(not(feature = "hub"))]
fn fetch(model_id: &str, _dir: &Path) -> Result<(), NeuralError> {
    Err(NeuralError::Hub(format!(
        "{model_id} is not in the local cache and this build has no hub download (rebuild with --features hub, or pass a local encoder folder)"
    )))
}
