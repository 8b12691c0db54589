//! Checkpoint folder of a neural classifier:
//! - `manifest.json`: the core `Manifest` (kind `minilm` / `minilm-finetune`); its
//!   `hyperparameters.neural` records the encoder folder and hash, max length, head size,
//!   temperatures, kNN settings and the training settings;
//! - `head.safetensors`, and `knn.safetensors` when kNN evidence is on;
//! - fine-tuned only: `encoder/` (config.json, tokenizer.json, model.safetensors), so the
//!   checkpoint reloads without the original encoder folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use selectllm_core::checkpoint::{MANIFEST_FILE, Manifest};
use serde::{Deserialize, Serialize};

use crate::classifier::{FineTunedFiles, NeuralClassifier};
use crate::config::NeuralMode;
use crate::encoder::{Encoder, EncoderFiles, check_finite, default_device, files_hash};
use crate::error::NeuralError;
use crate::head::Head;
use crate::knn::Knn;
use crate::relative::Shrink;
use selectllm_fs::write_atomic;

/// What `hyperparameters.neural` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NeuralMeta {
    mode: NeuralMode,
    encoder_dir: PathBuf,
    encoder_hash: String,
    model_id: Option<String>,
    max_len: usize,
    hidden: usize,
    temperatures: Vec<f32>,
    /// Logits the temperatures scale around (absent in older checkpoints: 0).
    #[serde(default)]
    temperature_center: Vec<f32>,
    /// Whether calibration ran (it may keep every temperature at 1; absent in older checkpoints).
    #[serde(default)]
    calibrated: bool,
    knn_k: usize,
    knn_beta: f32,
    #[serde(default)]
    shrink: Option<Shrink>,
    settings: serde_json::Value,
}

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

impl NeuralClassifier {
    /// Writes the checkpoint folder. The manifest's `kind` is set from the mode and the
    /// neural settings are added under `hyperparameters.neural`.
    pub fn save(&self, dir: &Path, manifest: &Manifest) -> Result<(), NeuralError> {
        std::fs::create_dir_all(dir).map_err(|e| NeuralError::file(dir, e))?;
        if manifest.members != self.members {
            return Err(NeuralError::Checkpoint {
                dir: dir.to_path_buf(),
                message: "manifest members differ from the classifier's".into(),
            });
        }
        let mut encoder_hash = self.encoder.hash().to_string();
        if let Some(ft) = &self.finetuned {
            let e = dir.join("encoder");
            std::fs::create_dir_all(&e).map_err(|err| NeuralError::file(&e, err))?;
            write_atomic(&e.join("config.json"), &ft.config_bytes)?;
            write_atomic(&e.join("tokenizer.json"), &ft.tokenizer_bytes)?;
            let wpath = e.join("model.safetensors");
            save_tensors(&ft.tensors, &wpath)?;
            let weights = std::fs::read(&wpath).map_err(|err| NeuralError::file(&wpath, err))?;
            encoder_hash = files_hash(&ft.config_bytes, &ft.tokenizer_bytes, &weights);
        }
        let meta = NeuralMeta {
            mode: self.mode,
            encoder_dir: std::fs::canonicalize(self.encoder.dir())
                .unwrap_or_else(|_| self.encoder.dir().to_path_buf()),
            encoder_hash,
            model_id: self.encoder.model_id(),
            max_len: self.encoder.max_len(),
            hidden: self.head.hidden(),
            temperatures: self.temperatures.clone(),
            temperature_center: self.temperature_center.clone(),
            calibrated: self.calibrated,
            knn_k: self.knn.as_ref().map_or(0, |k| k.k),
            knn_beta: self.knn.as_ref().map_or(0.0, |k| k.beta),
            shrink: self.shrink.clone(),
            settings: self.settings.clone(),
        };
        let mut m = manifest.clone();
        m.kind = self.mode.checkpoint_kind();
        let meta_json =
            serde_json::to_value(&meta).map_err(|e| NeuralError::Data(e.to_string()))?;
        match &mut m.hyperparameters {
            serde_json::Value::Object(o) => {
                o.insert("neural".into(), meta_json);
            }
            other => *other = serde_json::json!({ "neural": meta_json }),
        }
        save_tensors(&self.head.tensors(), &dir.join("head.safetensors"))?;
        if let Some(knn) = &self.knn {
            save_tensors(
                &knn.tensors(&candle_core::Device::Cpu)?,
                &dir.join("knn.safetensors"),
            )?;
        }
        let json = serde_json::to_vec_pretty(&m).map_err(|e| NeuralError::Data(e.to_string()))?;
        Ok(write_atomic(&dir.join(MANIFEST_FILE), &json)?)
    }

    /// Loads a checkpoint folder written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<Self, NeuralError> {
        Self::load_with_encoder(dir, None)
    }

    /// Like [`Self::load`], with the frozen encoder taken from `encoder_dir` instead of the
    /// recorded folder (its hash must still match).
    pub fn load_with_encoder(dir: &Path, encoder_dir: Option<&Path>) -> Result<Self, NeuralError> {
        let bad = |message: String| NeuralError::Checkpoint {
            dir: dir.to_path_buf(),
            message,
        };
        let mpath = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&mpath).map_err(|e| NeuralError::file(&mpath, e))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| NeuralError::file(&mpath, e))?;
        let meta: NeuralMeta = manifest
            .hyperparameters
            .get("neural")
            .cloned()
            .ok_or_else(|| {
                bad(format!(
                    "manifest kind {:?} has no neural settings",
                    manifest.kind
                ))
            })
            .and_then(|v| {
                serde_json::from_value(v).map_err(|e| bad(format!("hyperparameters.neural: {e}")))
            })?;
        let device = default_device();
        let (encoder, finetuned) = match meta.mode {
            NeuralMode::Frozen => {
                let edir = encoder_dir
                    .map(Path::to_path_buf)
                    .unwrap_or(meta.encoder_dir.clone());
                (Encoder::load(&edir, meta.max_len)?, None)
            }
            NeuralMode::FineTune => {
                let edir = dir.join("encoder");
                let files = EncoderFiles::read(&edir, meta.max_len, &device)?;
                let vb = VarBuilder::from_tensors(files.tensors.clone(), DType::F32, &device);
                let ft = FineTunedFiles {
                    config_bytes: files.config_bytes,
                    tokenizer_bytes: files.tokenizer_bytes,
                    tensors: files.tensors,
                };
                let enc = Encoder::from_parts(
                    &edir,
                    files.config,
                    files.tokenizer,
                    files.hash,
                    vb,
                    device,
                    meta.max_len,
                )?;
                (enc, Some(ft))
            }
        };
        if encoder.hash() != meta.encoder_hash {
            return Err(bad(format!(
                "encoder at {} (hash {}) is not the one this checkpoint was trained with (hash {})",
                encoder.dir().display(),
                &encoder.hash()[..12],
                &meta.encoder_hash[..meta.encoder_hash.len().min(12)]
            )));
        }
        let hpath = dir.join("head.safetensors");
        let head = Head::from_tensors(load_tensors(&hpath)?, &hpath)?;
        let m = manifest.members.len();
        if head.members() != m || meta.temperatures.len() != m || head.mean.dim(0)? != encoder.dim()
        {
            return Err(bad(format!(
                "head has {} outputs and {} temperatures for {m} members (input {} for encoder dim {})",
                head.members(),
                meta.temperatures.len(),
                head.mean.dim(0)?,
                encoder.dim()
            )));
        }
        let knn = if meta.knn_k > 0 {
            let kpath = dir.join("knn.safetensors");
            Some(Knn::from_tensors(
                &load_tensors(&kpath)?,
                meta.knn_k,
                meta.knn_beta,
            )?)
        } else {
            None
        };
        // Older checkpoints do not say: temperatures other than 1 mean it was calibrated.
        let calibrated = meta.calibrated || meta.temperatures.iter().any(|&t| t != 1.0);
        let temperature_center = match meta.temperature_center.len() {
            0 => vec![0.0; m],
            n if n == m => meta.temperature_center,
            n => {
                return Err(NeuralError::Checkpoint {
                    dir: dir.to_path_buf(),
                    message: format!("{n} temperature centres for {m} members"),
                });
            }
        };
        Ok(Self {
            mode: meta.mode,
            members: manifest.members,
            encoder: Arc::new(encoder),
            head,
            temperatures: meta.temperatures,
            temperature_center,
            knn,
            shrink: meta.shrink,
            settings: meta.settings,
            finetuned,
            cache_dir: None,
            packing: crate::encoder::Packing::default(),
            calibrated,
        })
    }
}
