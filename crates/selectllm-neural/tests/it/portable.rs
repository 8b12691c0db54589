//! Checkpoints are portable: a frozen checkpoint names its encoder by id and hash,
//! records no folder of the training machine, and finds its encoder where it is loaded; older
//! checkpoints (absolute encoder folder, settings said twice) still load.

use std::path::{Path, PathBuf};

use selectllm_core::Classifier;
use selectllm_core::checkpoint::{CheckpointKind, Manifest};
use selectllm_neural::{
    Encoder, NeuralCheckpoint, NeuralClassifier, NeuralMode, NeuralTrainConfig, train,
};
use serde_json::Value;

use crate::train::{config, examples, manifest, members};
use crate::{encoder, encoder_dir};

const TEXTS: [&str; 2] = ["What is 5 plus 9?", "Who founded the Roman Republic?"];

/// An encoder folder at `dst`: the test encoder's files (linked), with its config.json
/// rewritten by `edit` when given (which changes its hash).
fn link_encoder(dst: &Path, edit: Option<&dyn Fn(&mut Value)>) {
    std::fs::create_dir_all(dst).expect("mkdir");
    let src = encoder_dir();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let from = std::fs::canonicalize(src.join(f)).expect("encoder file");
        match edit {
            Some(edit) if f == "config.json" => {
                let mut cfg: Value =
                    serde_json::from_slice(&std::fs::read(from).expect("config")).expect("json");
                edit(&mut cfg);
                std::fs::write(dst.join(f), cfg.to_string()).expect("write");
            }
            _ => std::os::unix::fs::symlink(from, dst.join(f)).expect("symlink"),
        }
    }
}

/// A small frozen classifier (short questions, few epochs, kNN evidence, calibrated).
fn train_small(encoder_dir: &Path, cache: Option<PathBuf>) -> NeuralCheckpoint {
    let cfg = NeuralTrainConfig {
        encoder_dir: encoder_dir.to_path_buf(),
        cache_dir: cache,
        max_len: 32,
        epochs: 10,
        ..config(NeuralMode::Frozen, None)
    };
    let xs = examples();
    let mut ckpt = train(&cfg, &members(), &xs, &xs[..4], &|_| ())
        .expect("train")
        .checkpoint;
    ckpt.classifier
        .calibrate(&xs[..8], cfg.cache_dir.as_deref())
        .expect("calibrate");
    ckpt
}

fn same(a: &NeuralClassifier, b: &NeuralClassifier) {
    let (p, q) = (
        a.predict_batch(&TEXTS).expect("predict"),
        b.predict_batch(&TEXTS).expect("predict"),
    );
    for (x, y) in p.iter().flatten().zip(q.iter().flatten()) {
        assert!((x - y).abs() < 1e-6, "predictions differ: {p:?} vs {q:?}");
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("list") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

/// Every string of the manifest is checked: none is an absolute path.
fn no_absolute_path(v: &Value, at: &str) {
    match v {
        Value::String(s) => assert!(!s.starts_with('/'), "{at} = {s:?} is an absolute path"),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| no_absolute_path(x, &format!("{at}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| no_absolute_path(x, &format!("{at}.{k}"))),
        _ => {}
    }
}

#[test]
fn a_frozen_checkpoint_copied_elsewhere_loads_and_predicts_the_same() {
    let machine_a = tempfile::tempdir().expect("tempdir");
    let enc_a = machine_a.path().join("models/all-MiniLM-L6-v2");
    link_encoder(&enc_a, None);
    let clf = train_small(&enc_a, Some(machine_a.path().join("cache")));
    let ckpt_a = machine_a.path().join("ckpt");
    clf.save(&ckpt_a, &manifest(CheckpointKind::Minilm))
        .expect("save");

    let text = std::fs::read_to_string(ckpt_a.join("manifest.json")).expect("read");
    let canonical = |p: &Path| std::fs::canonicalize(p).expect("canonical");
    for p in [
        machine_a.path().to_path_buf(),
        canonical(machine_a.path()),
        encoder_dir(),
        canonical(&encoder_dir()),
    ] {
        let p = p.display().to_string();
        assert!(!text.contains(&p), "manifest.json holds {p}:\n{text}");
    }
    let v: Value = serde_json::from_str(&text).expect("json");
    no_absolute_path(&v, "manifest");
    let h = &v["hyperparameters"];
    let neural = &h["neural"];
    assert_eq!(neural["encoder"]["id"], "all-MiniLM-L6-v2");
    assert_eq!(neural["encoder"]["hash"].as_str(), Some(encoder().hash()));
    for k in ["encoder_dir", "cache_dir", "settings", "mode", "seed"] {
        assert!(h.get(k).is_none(), "hyperparameters.{k}:\n{text}");
        assert!(
            neural.get(k).is_none(),
            "hyperparameters.neural.{k}:\n{text}"
        );
    }
    for k in ["max_len", "knn_k", "hidden"] {
        assert!(neural.get(k).is_none(), "{k} said twice:\n{text}");
    }
    assert_eq!(
        (&h["max_len"], &h["knn_k"], &h["finetune_layers"]),
        (&Value::from(32), &Value::from(3), &Value::from("all"))
    );

    // Another machine: the checkpoint copied, the training machine's encoder and cache gone.
    let machine_b = tempfile::tempdir().expect("tempdir");
    let ckpt_b = machine_b.path().join("ckpt");
    copy_dir(&ckpt_a, &ckpt_b);
    drop(machine_a);
    let given = NeuralClassifier::load_with_encoder(&ckpt_b, Some(&encoder_dir())).expect("load");
    same(&clf.classifier, &given);
    // found as every command finds it: $SELECTLLM_ENCODER, else models/ beside the data
    let found = NeuralCheckpoint::load(&ckpt_b).expect("load by the default resolution");
    same(&clf.classifier, &found.classifier);

    // Saving what was loaded writes the same manifest.
    let m: Manifest = serde_json::from_str(&text).expect("manifest");
    let again = machine_b.path().join("again");
    found.save(&again, &m).expect("save again");
    assert_eq!(read_json(&again.join("manifest.json")), v);
}

#[test]
fn an_encoder_with_another_hash_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ckpt = tmp.path().join("ckpt");
    let clf = train_small(&encoder_dir(), None);
    clf.save(&ckpt, &manifest(CheckpointKind::Minilm))
        .expect("save");
    let other = tmp.path().join("other-encoder");
    link_encoder(&other, Some(&|c| c["note"] = "edited".into()));
    let other_hash = Encoder::load(&other, 32).expect("loads").hash().to_string();
    let e = NeuralClassifier::load_with_encoder(&ckpt, Some(&other))
        .err()
        .expect("another encoder")
        .to_string();
    for want in [
        other.display().to_string(),
        other_hash[..12].to_string(),
        encoder().hash()[..12].to_string(),
        "--encoder".into(),
    ] {
        assert!(e.contains(&want), "{e} should name {want}");
    }
    let nothing = tmp.path().join("no-encoder-here");
    let e = NeuralClassifier::load_with_encoder(&ckpt, Some(&nothing))
        .err()
        .expect("no encoder")
        .to_string();
    assert!(e.contains("no-encoder-here"), "{e}");
    let m = manifest(CheckpointKind::Minilm);
    let e = clf
        .save(&tmp.path().join("x"), &Manifest { seed: 8, ..m })
        .expect_err("another seed")
        .to_string();
    assert!(e.contains("seed 8") && e.contains("training seed 7"), "{e}");
}

/// The manifest as the first format wrote it: the settings at the top of `hyperparameters`
/// with the machine's folders and `finetune_layers` 18446744073709551615, and again in
/// `neural.settings`, beside the absolute encoder folder.
fn first_format(new: &Value, recorded_encoder: &str) -> Value {
    let h = &new["hyperparameters"];
    let n = &h["neural"];
    let mut settings = h.clone();
    let o = settings.as_object_mut().expect("object");
    o.remove("neural");
    o.insert(
        "encoder_dir".into(),
        "../shared/models/all-MiniLM-L6-v2".into(),
    );
    o.insert(
        "cache_dir".into(),
        "/home/trainer/.cache/selectllm/embeddings".into(),
    );
    o.insert("mode".into(), "frozen".into());
    o.insert("seed".into(), new["seed"].clone());
    o.insert("finetune_layers".into(), u64::MAX.into());
    let neural = serde_json::json!({
        "mode": "frozen",
        "encoder_dir": recorded_encoder,
        "encoder_hash": n["encoder"]["hash"],
        "model_id": n["encoder"]["id"],
        "max_len": h["max_len"],
        "hidden": h["hidden"],
        "temperatures": n["temperatures"],
        "temperature_center": n["temperature_center"],
        "calibrated": n["calibrated"],
        "knn_k": h["knn_k"],
        "knn_beta": n["knn_beta"],
        "shrink": n["shrink"],
        "settings": settings.clone(),
    });
    let mut old = new.clone();
    let mut hyper = settings;
    hyper["neural"] = neural;
    old["hyperparameters"] = hyper;
    old
}

#[test]
fn checkpoints_of_the_first_format_still_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ckpt = tmp.path().join("ckpt");
    let clf = train_small(&encoder_dir(), None);
    clf.save(&ckpt, &manifest(CheckpointKind::Minilm))
        .expect("save");
    let mpath = ckpt.join("manifest.json");
    let new = read_json(&mpath);
    let put = |v: &Value| std::fs::write(&mpath, v.to_string()).expect("write");

    // The recorded folder still exists: used (unless $SELECTLLM_ENCODER says otherwise).
    let here = std::fs::canonicalize(encoder_dir()).expect("canonical");
    put(&first_format(&new, &here.display().to_string()));
    same(
        &clf.classifier,
        &NeuralClassifier::load(&ckpt).expect("recorded folder"),
    );

    // It is gone (another machine): the explicit folder, else the default resolution.
    let old = first_format(&new, "/nonexistent/trainer/models/all-MiniLM-L6-v2");
    put(&old);
    let given = NeuralClassifier::load_with_encoder(&ckpt, Some(&encoder_dir())).expect("given");
    same(&clf.classifier, &given);
    let found = NeuralCheckpoint::load(&ckpt).expect("resolved");
    same(&clf.classifier, &found.classifier);

    // Saved again, it is in the new format: settings once, no folders, "all".
    let again = tmp.path().join("again");
    let m: Manifest = serde_json::from_value(old.clone()).expect("manifest");
    found.save(&again, &m).expect("save");
    let v = read_json(&again.join("manifest.json"));
    assert_eq!(v, new, "the old checkpoint re-saved is the new one");

    // The hash still decides.
    let mut wrong = old;
    wrong["hyperparameters"]["neural"]["encoder_hash"] = "0".repeat(64).into();
    put(&wrong);
    let e = NeuralClassifier::load(&ckpt)
        .err()
        .expect("wrong hash")
        .to_string();
    assert!(e.contains("000000000000") && e.contains("has hash"), "{e}");
}
