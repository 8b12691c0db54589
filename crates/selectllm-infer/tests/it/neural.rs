//! A frozen MiniLM checkpoint through `load_checkpoint`, as the CLI and the gateway load it:
//! copied to another folder, its encoder found by `LoadOptions` or the default resolution.
//! Needs the encoder folder (`$SELECTLLM_ENCODER`, else `../shared/models/all-MiniLM-L6-v2`
//! beside the repository), as `selectllm-neural`'s tests do.

use std::path::{Path, PathBuf};

use selectllm_core::classifier::Classifier;
use selectllm_infer::{CheckpointKind, LoadOptions, MANIFEST_FILE, Manifest, load_checkpoint};
use selectllm_neural::{NeuralTrainConfig, TrainExample, train};

fn encoder_dir() -> PathBuf {
    match std::env::var_os("SELECTLLM_ENCODER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/models/all-MiniLM-L6-v2"),
    }
}

fn examples() -> Vec<TrainExample> {
    let q = [
        ("What is 12 plus 30?", true),
        ("Compute 7 times 8.", true),
        ("Subtract 9 from 50.", true),
        ("Who was the first emperor of Rome?", false),
        ("Who signed the Magna Carta?", false),
        ("When did the French Revolution begin?", false),
    ];
    q.iter()
        .map(|&(t, math)| {
            let labels = vec![f32::from(math), f32::from(!math)];
            TrainExample {
                text: t.into(),
                success: labels.clone(),
                labels,
            }
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("list") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

#[test]
fn a_copied_minilm_checkpoint_loads_with_its_encoder_found_or_given() {
    let members = vec!["arith".to_string(), "hist".to_string()];
    let cfg = NeuralTrainConfig {
        encoder_dir: encoder_dir(),
        max_len: 16,
        epochs: 5,
        hidden: 8,
        knn_k: 2,
        seed: 3,
        ..NeuralTrainConfig::default()
    };
    let xs = examples();
    let clf = train(&cfg, &members, &xs, &xs[..2], &|_| ())
        .expect("train")
        .checkpoint;
    let trained = tempfile::tempdir().expect("tempdir");
    let manifest = Manifest {
        kind: CheckpointKind::Minilm,
        members: members.clone(),
        dataset: "synthetic".into(),
        data_hash: "x".into(),
        seed: 3,
        hyperparameters: serde_json::json!({}),
        metrics: serde_json::json!({}),
        created_by: "test".into(),
        member_order: None,
    };
    clf.save(trained.path(), &manifest).expect("save");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let dir = elsewhere.path().join("ckpt");
    copy_dir(trained.path(), &dir);
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).expect("read");
    assert!(
        !text.contains("encoder_dir") && !text.contains("cache_dir"),
        "{text}"
    );
    drop(trained);

    let q = "What is 3 plus 4?";
    let want = clf.classifier.predict(q).expect("predict");
    let given = LoadOptions {
        encoder_dir: Some(encoder_dir()),
        ..Default::default()
    };
    for opts in [given, LoadOptions::default()] {
        let loaded = load_checkpoint(&dir, &opts).expect("load");
        assert_eq!(loaded.kind, CheckpointKind::Minilm);
        let got = loaded.classifier.predict(q).expect("predict");
        for (a, b) in want.iter().zip(&got) {
            assert!((a - b).abs() < 1e-6, "{want:?} vs {got:?}");
        }
    }
    // int8 serving of the same checkpoint: other arithmetic, the same decision within
    // quantization error
    let int8 = LoadOptions {
        encoder_precision: selectllm_infer::Precision::Int8,
        ..Default::default()
    };
    let got = load_checkpoint(&dir, &int8)
        .expect("load int8")
        .classifier
        .predict(q)
        .expect("predict int8");
    assert_ne!(want, got, "int8 is not the f32 arithmetic");
    for (a, b) in want.iter().zip(&got) {
        assert!((a - b).abs() < 0.02, "{want:?} vs int8 {got:?}");
    }
    let e = load_checkpoint(
        &dir,
        &LoadOptions {
            encoder_dir: Some(elsewhere.path().join("missing-encoder")),
            ..Default::default()
        },
    )
    .expect_err("no encoder there")
    .to_string();
    assert!(e.contains("missing-encoder"), "{e}");
}
