//! What a neural checkpoint's `manifest.json` says in `hyperparameters`, each thing once:
//!
//! - the training settings, at the top of `hyperparameters` ([`recorded_settings`]): no folder
//!   of the training machine (the encoder is named below; the embedding cache is a setting of
//!   a run, not of the model), no `mode` (the manifest's `kind` says it), no `seed` (the
//!   manifest's `seed`), `finetune_layers` as `"all"` or a number;
//! - `hyperparameters.neural` ([`Fitted`]): the encoder by id and hash, and what training
//!   fitted (temperatures and their centres, whether calibration ran, the kNN weight, the
//!   shrinkage toward the prior).
//!
//! [`read`] also reads the first format, where `neural` held the absolute encoder folder, a
//! copy of every setting (`settings`) and `finetune_layers` 18446744073709551615 for all.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::NeuralTrainConfig;
use crate::relative::Shrink;

/// Settings a checkpoint never records at the top of `hyperparameters`: folders of the
/// training machine, and what the manifest says elsewhere (`kind`, `seed`).
const NOT_RECORDED: [&str; 4] = ["encoder_dir", "cache_dir", "mode", "seed"];

/// The training settings as the checkpoint records them (a JSON object).
pub(crate) fn recorded_settings(cfg: &NeuralTrainConfig) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_else(|_| Value::Object(Map::new()));
    if let Value::Object(o) = &mut v {
        for k in NOT_RECORDED {
            o.remove(k);
        }
    }
    v
}

/// The encoder a checkpoint was trained with: its id (the folder name under `models/`, e.g.
/// `all-MiniLM-L6-v2`) and the sha256 of its files. A fine-tuned checkpoint carries its
/// encoder (`encoder/`); `id` is then the one it was fine-tuned from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EncoderRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub hash: String,
}

/// `hyperparameters.neural`: the encoder and what training fitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fitted {
    pub encoder: EncoderRef,
    /// Whether calibration ran (it may keep every temperature at 1).
    pub calibrated: bool,
    pub temperatures: Vec<f32>,
    /// Logits the temperatures scale around.
    pub temperature_center: Vec<f32>,
    /// Weight of the kNN evidence (present when `knn_k` > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn_beta: Option<f32>,
    #[serde(default)]
    pub shrink: Option<Shrink>,
}

/// Everything loading needs, from either format.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub fitted: Fitted,
    /// The absolute encoder folder the first format recorded (tried when it still exists).
    pub recorded_dir: Option<PathBuf>,
    pub max_len: usize,
    /// k of the kNN evidence (0: none).
    pub knn_k: usize,
    /// The training settings, as [`recorded_settings`] gives them.
    pub settings: Value,
}

/// `hyperparameters` of a checkpoint: the caller's entries, the settings (which win) and
/// `neural`; never an entry of [`NOT_RECORDED`], even when the caller's has it.
pub(crate) fn write(caller: &Value, settings: &Value, fitted: &Fitted) -> Result<Value, String> {
    let mut h = match caller {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    h.remove("settings");
    if let Value::Object(s) = settings {
        h.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for k in NOT_RECORDED {
        h.remove(k);
    }
    let neural = serde_json::to_value(fitted).map_err(|e| e.to_string())?;
    h.insert("neural".into(), neural);
    Ok(Value::Object(h))
}

/// The settings loading reads from the top of `hyperparameters`.
#[derive(Deserialize)]
struct Needed {
    max_len: usize,
    #[serde(default)]
    knn_k: usize,
}

/// `hyperparameters.neural` of the first format.
#[derive(Deserialize)]
struct Legacy {
    encoder_dir: PathBuf,
    encoder_hash: String,
    #[serde(default)]
    model_id: Option<String>,
    max_len: usize,
    knn_k: usize,
    knn_beta: f32,
    temperatures: Vec<f32>,
    #[serde(default)]
    temperature_center: Vec<f32>,
    #[serde(default)]
    calibrated: bool,
    #[serde(default)]
    shrink: Option<Shrink>,
    #[serde(default)]
    settings: Value,
}

/// Reads `hyperparameters` (either format); the error names the field.
pub(crate) fn read(hyperparameters: &Value) -> Result<Stored, String> {
    let neural = hyperparameters
        .get("neural")
        .ok_or("hyperparameters has no `neural` entry")?;
    if neural.get("encoder_hash").is_some() {
        return read_legacy(neural);
    }
    let fitted: Fitted = serde_json::from_value(neural.clone())
        .map_err(|e| format!("hyperparameters.neural: {e}"))?;
    let needed: Needed = serde_json::from_value(hyperparameters.clone())
        .map_err(|e| format!("hyperparameters: {e}"))?;
    if needed.knn_k > 0 && fitted.knn_beta.is_none() {
        return Err(format!(
            "hyperparameters.neural: no `knn_beta` for knn_k {}",
            needed.knn_k
        ));
    }
    let mut settings = hyperparameters.clone();
    if let Value::Object(o) = &mut settings {
        o.remove("neural");
    }
    Ok(Stored {
        fitted,
        recorded_dir: None,
        max_len: needed.max_len,
        knn_k: needed.knn_k,
        settings,
    })
}

fn read_legacy(neural: &Value) -> Result<Stored, String> {
    let l: Legacy = serde_json::from_value(neural.clone())
        .map_err(|e| format!("hyperparameters.neural: {e}"))?;
    // The copy of the settings, made readable: through the config type when it parses
    // (finetune_layers "all"), as it is otherwise; without the folders, mode and seed.
    let settings = match serde_json::from_value::<NeuralTrainConfig>(l.settings.clone()) {
        Ok(cfg) => recorded_settings(&cfg),
        Err(_) => {
            let mut s = l.settings;
            if let Value::Object(o) = &mut s {
                for k in NOT_RECORDED {
                    o.remove(k);
                }
            }
            s
        }
    };
    Ok(Stored {
        fitted: Fitted {
            encoder: EncoderRef {
                id: l.model_id,
                hash: l.encoder_hash,
            },
            calibrated: l.calibrated,
            temperatures: l.temperatures,
            temperature_center: l.temperature_center,
            knn_beta: (l.knn_k > 0).then_some(l.knn_beta),
            shrink: l.shrink,
        },
        recorded_dir: Some(l.encoder_dir),
        max_len: l.max_len,
        knn_k: l.knn_k,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted() -> Fitted {
        Fitted {
            encoder: EncoderRef {
                id: Some("all-MiniLM-L6-v2".into()),
                hash: "ab".repeat(32),
            },
            calibrated: true,
            temperatures: vec![1.5, 2.0],
            temperature_center: vec![0.1, -0.2],
            knn_beta: Some(0.5),
            shrink: None,
        }
    }

    #[test]
    fn settings_are_written_once_without_machine_folders() {
        let cfg = NeuralTrainConfig {
            encoder_dir: "/train/machine/models/all-MiniLM-L6-v2".into(),
            cache_dir: Some("/train/machine/cache".into()),
            knn_k: 5,
            max_len: 16,
            ..NeuralTrainConfig::default()
        };
        let caller = serde_json::json!({ "note": "kept", "encoder_dir": "/x", "seed": 3 });
        let h = write(&caller, &recorded_settings(&cfg), &fitted()).expect("write");
        let text = h.to_string();
        assert!(
            !text.contains("/train/machine") && !text.contains("\"/x\""),
            "{text}"
        );
        assert_eq!(h["note"], "kept");
        assert_eq!(h["finetune_layers"], "all");
        assert_eq!(h["neural"]["encoder"]["id"], "all-MiniLM-L6-v2");
        for k in NOT_RECORDED.iter().chain(&["settings"]) {
            assert!(h.get(k).is_none(), "{k} recorded: {text}");
        }
        assert!(h["neural"].get("settings").is_none());
        let back = read(&h).expect("read");
        assert_eq!((back.max_len, back.knn_k), (16, 5));
        assert_eq!(back.fitted.encoder, fitted().encoder);
        assert!(back.recorded_dir.is_none());
        assert_eq!(back.settings["lr"], h["lr"]);
        assert!(back.settings.get("neural").is_none());
    }

    #[test]
    fn finetune_layers_round_trip_and_old_values_parse() {
        for layers in [None, Some(0), Some(2)] {
            let cfg = NeuralTrainConfig {
                finetune_layers: layers,
                ..NeuralTrainConfig::default()
            };
            let v = serde_json::to_value(&cfg).expect("json");
            let back: NeuralTrainConfig = serde_json::from_value(v).expect("parse");
            assert_eq!(back.finetune_layers, layers);
        }
        let parse = |v: Value| {
            let mut j = serde_json::to_value(NeuralTrainConfig::default()).expect("json");
            j["finetune_layers"] = v;
            serde_json::from_value::<NeuralTrainConfig>(j).map(|c| c.finetune_layers)
        };
        assert_eq!(
            parse(serde_json::json!(18446744073709551615u64)).ok(),
            Some(None)
        );
        assert_eq!(parse(Value::Null).ok(), Some(None));
        assert_eq!(parse(serde_json::json!("all")).ok(), Some(None));
        assert_eq!(parse(serde_json::json!(3)).ok(), Some(Some(3)));
        let e = parse(serde_json::json!("some")).expect_err("bad word");
        assert!(e.to_string().contains("expected \"all\""), "{e}");
    }

    #[test]
    fn missing_fields_are_named() {
        let mut h =
            write(&Value::Null, &serde_json::json!({ "knn_k": 3 }), &fitted()).expect("write");
        let e = read(&h).expect_err("no max_len");
        assert!(
            e.contains("hyperparameters") && e.contains("max_len"),
            "{e}"
        );
        h["max_len"] = 8.into();
        h["neural"]
            .as_object_mut()
            .expect("object")
            .remove("knn_beta");
        let e = read(&h).expect_err("no knn_beta");
        assert!(e.contains("knn_beta"), "{e}");
        h["neural"]
            .as_object_mut()
            .expect("object")
            .remove("encoder");
        let e = read(&h).expect_err("no encoder");
        assert!(
            e.contains("hyperparameters.neural") && e.contains("encoder"),
            "{e}"
        );
        let e = read(&serde_json::json!({})).expect_err("no neural");
        assert!(e.contains("`neural`"), "{e}");
    }
}
