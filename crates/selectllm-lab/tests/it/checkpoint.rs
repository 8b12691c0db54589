//! Lexical checkpoints: save, load, and refuse what does not fit.

use std::path::Path;
use std::sync::Arc;

use selectllm_core::checkpoint::{CheckpointKind, Manifest};
use selectllm_core::classifier::Classifier;
use selectllm_infer::{CheckpointError, LoadOptions, load_checkpoint};
use selectllm_lab::train::TrainSet;
use selectllm_lab::train::checkpoint::save_lexical;
use selectllm_lab::train::lexical::{LexicalTrainConfig, train};

use super::synthetic;

/// Loads a checkpoint written here with `selectllm-infer`, as the CLI and the gateway do.
fn load(dir: &Path) -> Result<Arc<dyn selectllm_core::Classifier>, CheckpointError> {
    Ok(load_checkpoint(dir, &LoadOptions::default())?.classifier)
}

fn manifest() -> Manifest {
    Manifest {
        kind: CheckpointKind::Minilm, // save_lexical sets it
        members: vec![],
        dataset: "synthetic".into(),
        data_hash: "x".into(),
        seed: 1,
        hyperparameters: serde_json::json!({}),
        metrics: serde_json::json!({}),
        created_by: "test".into(),
        member_order: None,
    }
}

fn trained() -> selectllm_core::lexical::LexicalModel {
    let ds = synthetic(60, false);
    let idx: Vec<usize> = (0..50).collect();
    let val: Vec<usize> = (50..60).collect();
    let mut cfg = LexicalTrainConfig::default();
    cfg.features.dim_bits = 12;
    train(
        &cfg,
        &ds.member_names(),
        &TrainSet::from_dataset(&ds, &idx),
        &TrainSet::from_dataset(&ds, &val),
        3,
    )
    .0
}

#[test]
fn roundtrip_predicts_the_same() {
    let model = trained();
    let dir = tempfile::tempdir().unwrap();
    save_lexical(dir.path(), &model, &manifest()).unwrap();
    let back = load(dir.path()).unwrap();
    assert_eq!(back.members(), model.members.as_slice());
    let q = "A money question about money things";
    assert_eq!(back.predict(q).unwrap(), model.predict(q).unwrap());
    assert!(back.predict("   ").is_err());
}

#[test]
fn training_is_deterministic() {
    assert_eq!(trained(), trained());
}

#[test]
fn bad_checkpoints_are_named() {
    let model = trained();
    let dir = tempfile::tempdir().unwrap();
    save_lexical(dir.path(), &model, &manifest()).unwrap();
    // member count that does not match the weights
    let mpath = dir.path().join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m["members"] = serde_json::json!(["a", "b"]);
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = load(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("weights.safetensors") && e.contains("shape"),
        "{e}"
    );
    // unknown kind
    m["kind"] = serde_json::json!("mystery");
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = load(dir.path()).err().unwrap().to_string();
    assert!(e.contains("unknown classifier kind `mystery`"), "{e}");
    // truncated weights
    std::fs::write(dir.path().join("weights.safetensors"), b"12345").unwrap();
    m["kind"] = serde_json::json!("lexical");
    m["members"] = serde_json::json!(model.members);
    std::fs::write(&mpath, m.to_string()).unwrap();
    assert!(load(dir.path()).is_err());
    // missing folder
    let e = load(&dir.path().join("nope")).err().unwrap().to_string();
    assert!(e.contains("does not exist"), "{e}");
}
