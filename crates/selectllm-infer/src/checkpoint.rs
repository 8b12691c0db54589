//! Loading a trained checkpoint folder: `manifest.json` (the core [`Manifest`]) beside the
//! weights of its kind. Lexical checkpoints are read here ([`crate::lexical`]); MiniLM ones by
//! `selectllm-neural`: a fine-tuned one carries its encoder, a frozen one names it (id and
//! hash) and finds it as [`LoadOptions`] says, else by `selectllm_fs::locate::encoder_dir`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use selectllm_core::checkpoint::{CheckpointKind, MANIFEST_FILE, Manifest};
use selectllm_core::classifier::Classifier;
use selectllm_core::neighbour::{NEIGHBOURHOOD_FILE, Neighbourhood, NeighbourhoodData};
use selectllm_neural::{NeuralClassifier, Precision};

use crate::error::{CheckpointError, bad, read_file};

/// Reads and checks `manifest.json` of the checkpoint folder `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CheckpointError> {
    if !dir.is_dir() {
        return Err(bad(dir, "checkpoint folder does not exist"));
    }
    let path = dir.join(MANIFEST_FILE);
    let bytes = read_file(&path)?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(&path, e.to_string()))?;
    if m.members.is_empty() {
        return Err(bad(&path, "field `members` is empty"));
    }
    Ok(m)
}

/// Where to find what a checkpoint does not carry.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The folder of a frozen MiniLM checkpoint's encoder (`--encoder`, a gateway's
    /// `router.encoder`); `None`: `$SELECTLLM_ENCODER`, else `models/<id>` beside the data
    /// folder, else in the user cache folder. Its hash must match the checkpoint's.
    pub encoder_dir: Option<PathBuf>,
    /// The arithmetic of a MiniLM checkpoint's encoder (`--encoder-precision`, a gateway's
    /// `router.encoder_precision`); lexical checkpoints have no encoder and ignore it.
    pub encoder_precision: Precision,
}

/// A loaded checkpoint: what it says about itself and its classifier, ready to serve.
#[derive(Clone)]
pub struct LoadedCheckpoint {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub kind: CheckpointKind,
    pub classifier: Arc<dyn Classifier>,
}

impl LoadedCheckpoint {
    /// Checks that the classifier's members are `expected`, in that order (`what` names
    /// where `expected` comes from, e.g. "the dataset routerdc-gsm8k" or "the pool").
    pub fn check_members(&self, expected: &[String], what: &str) -> Result<(), CheckpointError> {
        if self.classifier.members() == expected {
            return Ok(());
        }
        Err(CheckpointError::Members {
            dir: self.dir.clone(),
            what: what.to_string(),
            found: self.classifier.members().to_vec(),
            expected: expected.to_vec(),
        })
    }
}

impl std::fmt::Debug for LoadedCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedCheckpoint")
            .field("dir", &self.dir)
            .field("kind", &self.kind)
            .field("members", &self.manifest.members)
            .finish_non_exhaustive()
    }
}

/// Reads a checkpoint's [`NEIGHBOURHOOD_FILE`] and builds its index.
pub fn read_neighbourhood(dir: &Path) -> Result<Neighbourhood, CheckpointError> {
    let path = dir.join(NEIGHBOURHOOD_FILE);
    let bytes = read_file(&path)?;
    let data: NeighbourhoodData =
        serde_json::from_slice(&bytes).map_err(|e| bad(&path, e.to_string()))?;
    if let Some(problem) = data.problem() {
        return Err(bad(&path, problem));
    }
    Ok(Neighbourhood::build(data))
}

/// Loads any checkpoint folder as a classifier, by its manifest's kind.
pub fn load_checkpoint(
    dir: &Path,
    opts: &LoadOptions,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let manifest = read_manifest(dir)?;
    let kind = manifest.kind;
    let classifier: Box<dyn Classifier> = match kind {
        CheckpointKind::Lexical => Box::new(crate::lexical::load(dir, &manifest)?),
        CheckpointKind::Minilm | CheckpointKind::MinilmFinetune => Box::new(
            NeuralClassifier::load_with_encoder(dir, opts.encoder_dir.as_deref())?
                .with_encoder_precision(opts.encoder_precision)?,
        ),
    };
    // the member-order check recorded at training time: on fallback, rank by the constant order
    // or per question by the neighbourhood order, whose training questions sit beside the weights
    let classifier: Arc<dyn Classifier> = match &manifest.member_order {
        Some(check) => {
            let nb = if check.uses_neighbourhood() {
                let nb = read_neighbourhood(dir)?;
                if nb.members() != manifest.members.len() {
                    return Err(bad(
                        dir.join(NEIGHBOURHOOD_FILE),
                        format!(
                            "success rates for {} members, but the manifest has {}",
                            nb.members(),
                            manifest.members.len()
                        ),
                    ));
                }
                Some(nb)
            } else {
                None
            };
            Arc::from(check.apply(classifier, nb))
        }
        None => Arc::from(classifier),
    };
    if classifier.members() != manifest.members {
        return Err(bad(
            dir.join(MANIFEST_FILE),
            "the classifier's members differ from the manifest's",
        ));
    }
    Ok(LoadedCheckpoint {
        dir: dir.to_path_buf(),
        manifest,
        kind,
        classifier,
    })
}
