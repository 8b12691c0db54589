//! Checkpoint folders: `manifest.json` (the core [`Manifest`]) beside `weights.safetensors`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use selectllm_core::checkpoint::{MANIFEST_FILE, Manifest};
use selectllm_core::classifier::Classifier;
use selectllm_core::lexical::{Head, LexicalConfig, LexicalModel};

use crate::data::{DataError, write_atomic};

pub const WEIGHTS_FILE: &str = "weights.safetensors";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {msg}")]
    Bad { path: PathBuf, msg: String },
}

fn bad(path: &Path, msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Bad {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads and checks `manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CheckpointError> {
    let path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() {
        return Err(bad(dir, "checkpoint folder does not exist"));
    }
    let text = crate::data::read_to_string(&path)?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
    if m.members.is_empty() {
        return Err(bad(&path, "field `members` is empty"));
    }
    Ok(m)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Saves a lexical model. The manifest's `kind` is set to `lexical`.
pub fn save_lexical(
    dir: &Path,
    model: &LexicalModel,
    manifest: &Manifest,
) -> Result<(), CheckpointError> {
    let h = &model.head;
    let width = if h.hidden == 0 { h.n_out } else { h.hidden };
    let tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
        ("idf", vec![model.idf.len()], f32_bytes(&model.idf)),
        ("w1", vec![h.d_in, width], f32_bytes(&h.w1)),
        ("b1", vec![width], f32_bytes(&h.b1)),
        (
            "w2",
            vec![h.hidden, if h.hidden == 0 { 0 } else { h.n_out }],
            f32_bytes(&h.w2),
        ),
        ("b2", vec![h.b2.len()], f32_bytes(&h.b2)),
        (
            "temperature",
            vec![model.temperature.len()],
            f32_bytes(&model.temperature),
        ),
    ];
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (*n, v))
                .map_err(|e| bad(dir, format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let bytes = safetensors::serialize(views, &None).map_err(|e| bad(dir, e.to_string()))?;
    let mut manifest = manifest.clone();
    manifest.kind = "lexical".into();
    manifest.members = model.members.clone();
    manifest.hyperparameters["features"] =
        serde_json::to_value(&model.config).map_err(|e| bad(dir, e.to_string()))?;
    write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| bad(dir, e.to_string()))?;
    write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(())
}

/// Loads a lexical model saved by [`save_lexical`].
pub fn load_lexical(dir: &Path) -> Result<LexicalModel, CheckpointError> {
    let manifest = read_manifest(dir)?;
    let mpath = dir.join(MANIFEST_FILE);
    if manifest.kind != "lexical" {
        return Err(bad(
            &mpath,
            format!("kind is `{}`, expected `lexical`", manifest.kind),
        ));
    }
    let config: LexicalConfig = serde_json::from_value(
        manifest
            .hyperparameters
            .get("features")
            .cloned()
            .ok_or_else(|| bad(&mpath, "missing field `hyperparameters.features`"))?,
    )
    .map_err(|e| bad(&mpath, format!("field `hyperparameters.features`: {e}")))?;
    if !(4..=24).contains(&config.dim_bits) {
        return Err(bad(
            &mpath,
            format!("field `dim_bits` = {} is outside 4..=24", config.dim_bits),
        ));
    }
    let wpath = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&wpath).map_err(|e| DataError::io(&wpath, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(&wpath, format!("not a valid checkpoint weights file ({e})")))?;
    let mut t: HashMap<&str, (Vec<usize>, Vec<f32>)> = HashMap::new();
    for name in ["idf", "w1", "b1", "w2", "b2", "temperature"] {
        let v = st
            .tensor(name)
            .map_err(|e| bad(&wpath, format!("tensor `{name}`: {e}")))?;
        if v.dtype() != Dtype::F32 {
            return Err(bad(
                &wpath,
                format!("tensor `{name}` is {:?}, expected F32", v.dtype()),
            ));
        }
        let data = v
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        t.insert(name, (v.shape().to_vec(), data));
    }
    let n_out = manifest.members.len();
    let d = config.dim();
    let hidden = config.hidden;
    let width = if hidden == 0 { n_out } else { hidden };
    let mut expect = |name: &str, shape: &[usize]| -> Result<Vec<f32>, CheckpointError> {
        let (s, v) = t.remove(name).unwrap_or_default();
        if s != shape {
            return Err(bad(
                &wpath,
                format!("tensor `{name}` has shape {s:?}, expected {shape:?} for {n_out} members"),
            ));
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(bad(&wpath, format!("tensor `{name}` holds {x}")));
        }
        Ok(v)
    };
    let idf = expect("idf", &[d])?;
    let w1 = expect("w1", &[d, width])?;
    let b1 = expect("b1", &[width])?;
    let w2 = expect("w2", &[hidden, if hidden == 0 { 0 } else { n_out }])?;
    let b2 = expect("b2", &[if hidden == 0 { 0 } else { n_out }])?;
    let temperature = expect("temperature", &[n_out])?;
    Ok(LexicalModel {
        members: manifest.members,
        config,
        idf,
        head: Head {
            d_in: d,
            hidden,
            n_out,
            w1,
            b1,
            w2,
            b2,
        },
        temperature,
    })
}

/// Loads any checkpoint as a classifier, by its manifest's `kind`.
pub fn load(dir: &Path) -> Result<Box<dyn Classifier>, CheckpointError> {
    let manifest = read_manifest(dir)?;
    match manifest.kind.as_str() {
        "lexical" => Ok(Box::new(load_lexical(dir)?)),
        k if super::neural::is_neural_kind(k) => Ok(Box::new(
            selectllm_neural::NeuralClassifier::load(dir).map_err(|e| bad(dir, e.to_string()))?,
        )),
        other => Err(bad(
            &dir.join(MANIFEST_FILE),
            format!(
                "unknown classifier kind `{other}` (this build knows: lexical, minilm, minilm-finetune)"
            ),
        )),
    }
}
