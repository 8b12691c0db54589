//! The lexical checkpoint format, both ways: `weights.safetensors` (idf, head, temperatures)
//! beside the manifest, whose `hyperparameters.features` holds the [`LexicalConfig`].
//! Encoding is pure; the lab writes the bytes where it trains.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use selectllm_core::checkpoint::{CheckpointKind, MANIFEST_FILE, Manifest};
use selectllm_core::lexical::{Head, LexicalConfig, LexicalModel};

use crate::error::{CheckpointError, bad, read_file};

/// The weights file of a lexical checkpoint.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// The tensors of the format, in file order.
const TENSORS: [&str; 6] = ["idf", "w1", "b1", "w2", "b2", "temperature"];

/// Shapes of the tensors for a model with these settings and member count.
fn shapes(config: &LexicalConfig, n_out: usize) -> [Vec<usize>; 6] {
    let hidden = config.hidden;
    let width = if hidden == 0 { n_out } else { hidden };
    let out2 = if hidden == 0 { 0 } else { n_out };
    [
        vec![config.dim()],
        vec![config.dim(), width],
        vec![width],
        vec![hidden, out2],
        vec![out2],
        vec![n_out],
    ]
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// The files of a lexical checkpoint: (`weights.safetensors` bytes, the manifest to write,
/// with `kind`, `members` and `hyperparameters.features` set from the model).
pub fn encode(
    model: &LexicalModel,
    manifest: &Manifest,
) -> Result<(Vec<u8>, Manifest), CheckpointError> {
    let h = &model.head;
    let data = [&model.idf, &h.w1, &h.b1, &h.w2, &h.b2, &model.temperature].map(|v| f32_bytes(v));
    let shapes = shapes(&model.config, model.members.len());
    let views: Vec<(&str, TensorView<'_>)> = TENSORS
        .iter()
        .zip(&shapes)
        .zip(&data)
        .map(|((name, shape), bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (*name, v))
                .map_err(|e| bad(WEIGHTS_FILE, format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let bytes =
        safetensors::serialize(views, &None).map_err(|e| bad(WEIGHTS_FILE, e.to_string()))?;
    let mut manifest = manifest.clone();
    manifest.kind = CheckpointKind::Lexical;
    manifest.members = model.members.clone();
    let features = serde_json::to_value(&model.config)
        .map_err(|e| bad(MANIFEST_FILE, format!("hyperparameters.features: {e}")))?;
    match &mut manifest.hyperparameters {
        serde_json::Value::Object(o) => {
            o.insert("features".into(), features);
        }
        other => *other = serde_json::json!({ "features": features }),
    }
    Ok((bytes, manifest))
}

/// Loads the lexical model of the checkpoint in `dir`, whose manifest has been read.
pub fn load(dir: &Path, manifest: &Manifest) -> Result<LexicalModel, CheckpointError> {
    let mpath = dir.join(MANIFEST_FILE);
    if manifest.kind != CheckpointKind::Lexical {
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
    let bytes = read_file(&wpath)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(&wpath, format!("not a valid checkpoint weights file ({e})")))?;
    let n_out = manifest.members.len();
    let mut t: HashMap<&str, Vec<f32>> = HashMap::new();
    for (name, shape) in TENSORS.iter().zip(shapes(&config, n_out)) {
        let v = st
            .tensor(name)
            .map_err(|e| bad(&wpath, format!("tensor `{name}`: {e:?}")))?;
        if v.dtype() != Dtype::F32 {
            return Err(bad(
                &wpath,
                format!("tensor `{name}` is {:?}, expected F32", v.dtype()),
            ));
        }
        if v.shape() != shape {
            return Err(bad(
                &wpath,
                format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?} for {n_out} members",
                    v.shape()
                ),
            ));
        }
        let data: Vec<f32> = v
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(bad(
                &wpath,
                format!(
                    "tensor `{name}` holds a non-finite value ({}) at {i}",
                    data[i]
                ),
            ));
        }
        t.insert(name, data);
    }
    let mut take = |name: &str| t.remove(name).unwrap_or_default();
    let hidden = config.hidden;
    let d_in = config.dim();
    Ok(LexicalModel {
        members: manifest.members.clone(),
        idf: take("idf"),
        head: Head {
            d_in,
            hidden,
            n_out,
            w1: take("w1"),
            b1: take("b1"),
            w2: take("w2"),
            b2: take("b2"),
        },
        temperature: take("temperature"),
        config,
    })
}
