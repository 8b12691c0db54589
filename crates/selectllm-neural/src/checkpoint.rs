//! Checkpoint folder of a neural classifier:
//! - `manifest.json`: the core `Manifest` (kind `minilm` / `minilm-finetune`, the training
//!   seed); its `hyperparameters` hold the training settings and `hyperparameters.neural` the
//!   encoder (id and hash) and what training fitted (see the `manifest` module). No folder of the
//!   training machine is recorded, so the folder can be copied anywhere;
//! - `head.safetensors`, and `knn.safetensors` when kNN evidence is on;
//! - fine-tuned only: `encoder/` (config.json, tokenizer.json, model.safetensors), so the
//!   checkpoint carries its encoder. A frozen checkpoint finds its encoder as
//!   `selectllm_fs::locate::encoder_dir` says (the explicit folder, `$SELECTLLM_ENCODER`,
//!   `models/<id>` beside the data folder or in the user cache) and checks its hash.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use selectllm_core::checkpoint::{CheckpointKind, MANIFEST_FILE, Manifest};
use selectllm_fs::locate::{self, DEFAULT_ENCODER};

use crate::classifier::NeuralClassifier;
use crate::config::NeuralMode;
use crate::encoder::{Encoder, EncoderFiles, check_finite, default_device, files_hash};
use crate::error::NeuralError;
use crate::head::Head;
use crate::knn::Knn;
use crate::manifest::{self, EncoderRef, Fitted, Stored};
use selectllm_fs::write_atomic;

fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> Result<(), NeuralError> {
    let cpu: HashMap<String, Tensor> = map
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_device(&candle_core::Device::Cpu)?)))
        .collect::<Result<_, candle_core::Error>>()?;
    Ok(selectllm_fs::write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(&cpu, tmp).map_err(std::io::Error::other)
    })?)
}

fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>, NeuralError> {
    let tensors = candle_core::safetensors::load(path, &default_device()).map_err(|e| {
        NeuralError::file(path, format!("not a valid checkpoint weights file ({e})"))
    })?;
    check_finite(&tensors, path)?;
    Ok(tensors)
}

/// The raw files of a fine-tuned encoder, kept so the checkpoint carries its encoder.
pub(crate) struct FineTunedFiles {
    pub config_bytes: Vec<u8>,
    pub tokenizer_bytes: Vec<u8>,
    pub tensors: HashMap<String, Tensor>,
}

/// How a classifier was trained, as its checkpoint records it; serving does not need it.
pub struct TrainingRecord {
    /// The training settings as the manifest records them (`manifest::recorded_settings`).
    pub(crate) settings: serde_json::Value,
    /// The training seed (the manifest's `seed`).
    pub seed: u64,
    /// A fine-tuned encoder's files, written into the checkpoint's `encoder/`.
    pub(crate) finetuned: Option<FineTunedFiles>,
}

impl TrainingRecord {
    pub(crate) fn new(cfg: &crate::config::NeuralTrainConfig) -> Self {
        TrainingRecord {
            settings: manifest::recorded_settings(cfg),
            seed: cfg.seed,
            finetuned: None,
        }
    }
}

/// A classifier with its training record: what training produces, [`Self::save`] writes and
/// [`Self::load`] reads back. Serving loads the classifier alone ([`NeuralClassifier::load`]).
pub struct NeuralCheckpoint {
    pub classifier: NeuralClassifier,
    pub record: TrainingRecord,
}

impl NeuralClassifier {
    /// Loads the classifier of a checkpoint folder (see [`NeuralCheckpoint::load`]).
    pub fn load(dir: &Path) -> Result<Self, NeuralError> {
        Ok(NeuralCheckpoint::load(dir)?.classifier)
    }

    /// Loads the classifier of a checkpoint folder with its frozen encoder taken from
    /// `encoder_dir` when given (see [`NeuralCheckpoint::load_with_encoder`]).
    pub fn load_with_encoder(dir: &Path, encoder_dir: Option<&Path>) -> Result<Self, NeuralError> {
        Ok(NeuralCheckpoint::load_with_encoder(dir, encoder_dir)?.classifier)
    }
}

impl NeuralCheckpoint {
    /// Writes the checkpoint folder. The manifest's `kind` is set from the mode; its `seed`
    /// must be the training seed and its members the classifier's. Its `hyperparameters` are
    /// kept, with the training settings and `neural` added (see the `manifest` module).
    pub fn save(&self, dir: &Path, manifest: &Manifest) -> Result<(), NeuralError> {
        std::fs::create_dir_all(dir).map_err(|e| NeuralError::file(dir, e))?;
        let bad = |message: String| NeuralError::Checkpoint {
            dir: dir.to_path_buf(),
            message,
        };
        let (clf, record) = (&self.classifier, &self.record);
        if manifest.members != clf.members {
            return Err(bad("manifest members differ from the classifier's".into()));
        }
        if manifest.seed != record.seed {
            return Err(bad(format!(
                "manifest seed {} differs from the classifier's training seed {}",
                manifest.seed, record.seed
            )));
        }
        let mut encoder_hash = clf.encoder.hash().to_string();
        if let Some(ft) = &record.finetuned {
            let e = dir.join("encoder");
            std::fs::create_dir_all(&e).map_err(|err| NeuralError::file(&e, err))?;
            write_atomic(&e.join("config.json"), &ft.config_bytes)?;
            write_atomic(&e.join("tokenizer.json"), &ft.tokenizer_bytes)?;
            let wpath = e.join("model.safetensors");
            save_tensors(&ft.tensors, &wpath)?;
            let weights = std::fs::read(&wpath).map_err(|err| NeuralError::file(&wpath, err))?;
            encoder_hash = files_hash(&ft.config_bytes, &ft.tokenizer_bytes, &weights);
        }
        let fitted = Fitted {
            encoder: EncoderRef {
                id: clf.encoder.model_id(),
                hash: encoder_hash,
            },
            calibrated: clf.calibrated,
            temperatures: clf.temperatures.clone(),
            temperature_center: clf.temperature_center.clone(),
            knn_beta: clf.knn.as_ref().map(|k| k.beta),
            shrink: clf.shrink.clone(),
        };
        let mut m = manifest.clone();
        m.kind = clf.mode.checkpoint_kind();
        m.hyperparameters = manifest::write(&manifest.hyperparameters, &record.settings, &fitted)
            .map_err(NeuralError::Data)?;
        save_tensors(&clf.head.tensors(), &dir.join("head.safetensors"))?;
        if let Some(knn) = &clf.knn {
            save_tensors(
                &knn.tensors(&candle_core::Device::Cpu)?,
                &dir.join("knn.safetensors"),
            )?;
        }
        let json = serde_json::to_vec_pretty(&m).map_err(|e| NeuralError::Data(e.to_string()))?;
        Ok(write_atomic(&dir.join(MANIFEST_FILE), &json)?)
    }

    /// Loads a checkpoint folder written by [`Self::save`] (or by the first format, see
    /// the `manifest` module); a frozen one's encoder is found by the one resolution
    /// (`selectllm_fs::locate::encoder_dir`).
    pub fn load(dir: &Path) -> Result<Self, NeuralError> {
        Self::load_with_encoder(dir, None)
    }

    /// Like [`Self::load`], with the frozen encoder taken from `encoder_dir` when given (its
    /// hash must still match). A fine-tuned checkpoint always uses the encoder it carries.
    pub fn load_with_encoder(dir: &Path, encoder_dir: Option<&Path>) -> Result<Self, NeuralError> {
        let bad = |message: String| NeuralError::Checkpoint {
            dir: dir.to_path_buf(),
            message,
        };
        let mpath = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&mpath).map_err(|e| NeuralError::file(&mpath, e))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| NeuralError::file(&mpath, e))?;
        let mode = match manifest.kind {
            CheckpointKind::Minilm => NeuralMode::Frozen,
            CheckpointKind::MinilmFinetune => NeuralMode::FineTune,
            k => {
                return Err(NeuralError::file(
                    &mpath,
                    format!("kind `{k}` is not a MiniLM checkpoint"),
                ));
            }
        };
        let stored =
            manifest::read(&manifest.hyperparameters).map_err(|e| NeuralError::file(&mpath, e))?;
        let want = &stored.fitted.encoder;
        let (encoder, finetuned, origin) = match mode {
            NeuralMode::Frozen => {
                let id = want.id.as_deref().unwrap_or(DEFAULT_ENCODER);
                let found = locate::encoder_dir(encoder_dir, id, stored.recorded_dir.as_deref())
                    .map_err(|e| bad(e.0))?;
                let enc = Encoder::load(&found.dir, stored.max_len)?;
                (enc, None, found.origin.to_string())
            }
            NeuralMode::FineTune => {
                let (enc, ft) = load_carried(dir, &stored)?;
                (enc, Some(ft), "carried by the checkpoint".to_string())
            }
        };
        if encoder.hash() != want.hash {
            return Err(bad(format!(
                "encoder folder {} ({origin}) has hash {}, but this checkpoint was trained with encoder {} of hash {}: point --encoder or $SELECTLLM_ENCODER at that encoder",
                encoder.dir().display(),
                &encoder.hash()[..12],
                want.id.as_deref().unwrap_or("(unnamed)"),
                &want.hash[..want.hash.len().min(12)]
            )));
        }
        assemble(dir, manifest, mode, stored, (encoder, finetuned))
    }
}

/// A fine-tuned checkpoint's own encoder (`encoder/`), under the id it was fine-tuned from.
fn load_carried(dir: &Path, stored: &Stored) -> Result<(Encoder, FineTunedFiles), NeuralError> {
    let device = default_device();
    let edir = dir.join("encoder");
    let files = EncoderFiles::read(&edir, stored.max_len, &device)?;
    let vb = VarBuilder::from_tensors(files.tensors.clone(), DType::F32, &device);
    let ft = FineTunedFiles {
        config_bytes: files.config_bytes,
        tokenizer_bytes: files.tokenizer_bytes,
        tensors: files.tensors,
    };
    let mut enc = Encoder::from_parts(
        &edir,
        files.config,
        files.tokenizer,
        files.hash,
        vb,
        device,
        stored.max_len,
    )?;
    enc.set_model_id(stored.fitted.encoder.id.clone());
    Ok((enc, ft))
}

/// The classifier from its checked encoder and the weights beside the manifest.
fn assemble(
    dir: &Path,
    manifest: Manifest,
    mode: NeuralMode,
    stored: Stored,
    (encoder, finetuned): (Encoder, Option<FineTunedFiles>),
) -> Result<NeuralCheckpoint, NeuralError> {
    let bad = |message: String| NeuralError::Checkpoint {
        dir: dir.to_path_buf(),
        message,
    };
    let fitted = stored.fitted;
    let hpath = dir.join("head.safetensors");
    let head = Head::from_tensors(load_tensors(&hpath)?, &hpath)?;
    let m = manifest.members.len();
    if head.members() != m || fitted.temperatures.len() != m || head.mean.dim(0)? != encoder.dim() {
        return Err(bad(format!(
            "head has {} outputs and {} temperatures for {m} members (input {} for encoder dim {})",
            head.members(),
            fitted.temperatures.len(),
            head.mean.dim(0)?,
            encoder.dim()
        )));
    }
    let knn = match fitted.knn_beta.filter(|_| stored.knn_k > 0) {
        Some(beta) => {
            let kpath = dir.join("knn.safetensors");
            Some(Knn::from_tensors(
                &load_tensors(&kpath)?,
                stored.knn_k,
                beta,
            )?)
        }
        None => None,
    };
    // Older checkpoints do not say: temperatures other than 1 mean it was calibrated.
    let calibrated = fitted.calibrated || fitted.temperatures.iter().any(|&t| t != 1.0);
    let temperature_center = match fitted.temperature_center.len() {
        0 => vec![0.0; m],
        n if n == m => fitted.temperature_center,
        n => return Err(bad(format!("{n} temperature centres for {m} members"))),
    };
    let classifier = NeuralClassifier {
        mode,
        members: manifest.members,
        encoder: Arc::new(encoder),
        head,
        temperatures: fitted.temperatures,
        temperature_center,
        knn,
        shrink: fitted.shrink,
        packing: crate::encoder::Packing::default(),
        calibrated,
    };
    Ok(NeuralCheckpoint {
        classifier,
        record: TrainingRecord {
            settings: stored.settings,
            seed: manifest.seed,
            finetuned,
        },
    })
}
