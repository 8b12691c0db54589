//! Loading checkpoints: the lexical format round trip, the kind, and bad folders named.

use std::path::Path;

use selectllm_core::classifier::Classifier;
use selectllm_core::lexical::{Head, LexicalConfig, LexicalModel};
use selectllm_infer::lexical::{WEIGHTS_FILE, encode};
use selectllm_infer::{
    CheckpointKind, LoadOptions, MANIFEST_FILE, Manifest, load_checkpoint, read_manifest,
};

/// A small lexical model with deterministic, non-trivial weights (an MLP head).
fn model() -> LexicalModel {
    let config = LexicalConfig {
        dim_bits: 8,
        hidden: 3,
        ..LexicalConfig::default()
    };
    let d = config.dim();
    let mut head = Head::zeros(d, 3, 2);
    let wave = |i: usize, s: f32| (i as f32 * s).sin() * 0.7;
    head.w1
        .iter_mut()
        .enumerate()
        .for_each(|(i, w)| *w = wave(i, 0.37));
    head.b1 = vec![0.1, -0.2, 0.05];
    head.w2
        .iter_mut()
        .enumerate()
        .for_each(|(i, w)| *w = wave(i, 1.3));
    head.b2 = vec![0.3, -0.4];
    LexicalModel {
        members: vec!["alpha".into(), "beta".into()],
        idf: (0..d).map(|i| 1.0 + (i % 5) as f32 * 0.25).collect(),
        head,
        temperature: vec![1.0, 1.5],
        config,
    }
}

fn manifest() -> Manifest {
    Manifest {
        kind: CheckpointKind::Minilm, // encode sets it
        members: vec![],
        dataset: "synthetic".into(),
        data_hash: "x".into(),
        seed: 1,
        hyperparameters: serde_json::json!({ "epochs": 3 }),
        metrics: serde_json::json!({}),
        created_by: "test".into(),
        member_order: None,
    }
}

fn write(dir: &Path, model: &LexicalModel) {
    let (bytes, m) = encode(model, &manifest()).expect("encode");
    std::fs::write(dir.join(WEIGHTS_FILE), bytes).unwrap();
    std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&m).unwrap()).unwrap();
}

fn load_err(dir: &Path) -> String {
    load_checkpoint(dir, &LoadOptions::default())
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn a_lexical_checkpoint_loads_with_its_kind_and_predicts_the_same() {
    let model = model();
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &model);
    let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
    assert_eq!(loaded.kind, CheckpointKind::Lexical);
    assert_eq!(loaded.manifest.kind, CheckpointKind::Lexical);
    assert_eq!(loaded.manifest.hyperparameters["epochs"], 3, "kept");
    assert_eq!(loaded.classifier.members(), ["alpha", "beta"]);
    for q in [
        "How many ducks does Janet have?",
        "Which gas do plants absorb?",
    ] {
        assert_eq!(
            loaded.classifier.predict(q).unwrap(),
            model.predict(q).unwrap()
        );
    }
    // The manifest on disk names the kind as before the enum existed.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(raw["kind"], "lexical");
    // Members checked against what the caller expects, named in the error.
    let ok = ["alpha".to_string(), "beta".to_string()];
    loaded.check_members(&ok, "the pool").expect("same members");
    let e = loaded
        .check_members(&["beta".to_string(), "alpha".to_string()], "the pool")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trained for members [alpha, beta] but the pool has [beta, alpha]"),
        "{e}"
    );
}

#[test]
fn bad_checkpoints_are_refused_with_the_file_named() {
    let model = model();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, &model);
    let mpath = dir.join(MANIFEST_FILE);
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let put = |m: &serde_json::Value| std::fs::write(&mpath, m.to_string()).unwrap();

    let mut m = good.clone();
    m["kind"] = serde_json::json!("mystery");
    put(&m);
    let e = load_err(dir);
    assert!(
        e.contains(MANIFEST_FILE) && e.contains("unknown classifier kind `mystery`"),
        "{e}"
    );

    let mut m = good.clone();
    m["members"] = serde_json::json!(["a", "b", "c"]);
    put(&m);
    let e = load_err(dir);
    assert!(e.contains(WEIGHTS_FILE) && e.contains("shape"), "{e}");

    let mut m = good.clone();
    m["members"] = serde_json::json!([]);
    put(&m);
    assert!(load_err(dir).contains("`members` is empty"));

    put(&good);
    std::fs::write(dir.join(WEIGHTS_FILE), b"12345").unwrap();
    let e = load_err(dir);
    assert!(
        e.contains(WEIGHTS_FILE) && e.contains("not a valid checkpoint weights file"),
        "{e}"
    );

    std::fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
    let e = load_err(dir);
    assert!(e.contains(WEIGHTS_FILE) && e.ends_with("not found"), "{e}");

    let e = load_err(&dir.join("nope"));
    assert!(e.contains("does not exist"), "{e}");
    assert!(read_manifest(&dir.join("nope")).is_err());
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let mut model = model();
    model.head.w2[4] = f32::NAN;
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &model);
    let e = load_err(tmp.path());
    assert!(e.contains("tensor `w2`") && e.contains("non-finite"), "{e}");
    model.head.w2[4] = 0.0;
    model.temperature[1] = f32::INFINITY;
    write(tmp.path(), &model);
    assert!(load_err(tmp.path()).contains("tensor `temperature`"));
}

#[test]
fn a_recorded_member_order_fallback_is_applied_at_load() {
    let model = model();
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &model);
    let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
    assert_eq!(loaded.classifier.ranking(), None, "no check recorded");

    let mpath = tmp.path().join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let check = |fallback: bool| {
        serde_json::json!({
            "folds": 5, "learned_pair_accuracy": 0.6, "constant_pair_accuracy": 0.62,
            "z": -0.5, "min_z": 2.0, "fallback": fallback, "constant_order": [1, 0]
        })
    };
    m["member_order"] = check(true);
    std::fs::write(&mpath, m.to_string()).unwrap();
    let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
    assert_eq!(loaded.classifier.ranking(), Some(&[1usize, 0][..]));
    let q = "How many ducks does Janet have?";
    assert_eq!(
        loaded.classifier.predict(q).unwrap(),
        model.predict(q).unwrap(),
        "probabilities kept"
    );

    m["member_order"] = check(false);
    std::fs::write(&mpath, m.to_string()).unwrap();
    let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
    assert_eq!(loaded.classifier.ranking(), None, "learned order used");
}

#[test]
fn a_recorded_neighbourhood_order_ranks_per_question_and_needs_its_file() {
    use selectllm_core::neighbour::{NEIGHBOURHOOD_FILE, Neighbourhood, Search};
    let model = model();
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &model);
    let mpath = tmp.path().join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["member_order"] = serde_json::json!({
        "folds": 3, "learned_pair_accuracy": 0.6, "constant_pair_accuracy": 0.62,
        "z": -0.5, "min_z": 1.645, "fallback": true, "constant_order": [1, 0],
        "neighbourhood": {"k": 2, "lambda": 0.0, "pair_accuracy": 0.8, "z": 5.0, "used": true}
    });
    std::fs::write(&mpath, m.to_string()).unwrap();
    let e = load_err(tmp.path());
    assert!(e.contains(NEIGHBOURHOOD_FILE), "{e}");
    // alpha is right on duck questions, beta on train questions
    let questions = [
        "how many ducks does janet keep",
        "ducks lay eggs every day",
        "a train leaves the station at noon",
        "the train travels sixty miles",
    ];
    let success = [
        vec![1.0, 0.0],
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![0.0, 1.0],
    ];
    let nb = Neighbourhood::fit(&questions, &success, 2);
    std::fs::write(
        tmp.path().join(NEIGHBOURHOOD_FILE),
        serde_json::to_vec(&nb.data).unwrap(),
    )
    .unwrap();
    let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
    assert_eq!(loaded.classifier.ranking(), None, "no constant order");
    let texts = ["how many ducks are there", "when does the train arrive"];
    let probs = loaded.classifier.predict_batch(&texts).unwrap();
    assert_eq!(
        probs,
        model.predict_batch(&texts).unwrap(),
        "probabilities kept"
    );
    let r = loaded.classifier.rankings(&texts, &probs).unwrap();
    assert_eq!(r, vec![Some(vec![0, 1]), Some(vec![1, 0])]);
    // with tasks and the task-centroid search: every question's 4 nearest are all four (the
    // overall rates, a tie), but its task's centroid still tells ducks from trains
    let tasked = |search| {
        let nb = Neighbourhood::fit_with_tasks(
            &questions,
            &success,
            &[Some("birds"), Some("birds"), Some("trains"), Some("trains")],
            4,
        )
        .with_search(search);
        std::fs::write(
            tmp.path().join(NEIGHBOURHOOD_FILE),
            serde_json::to_vec(&nb.data).unwrap(),
        )
        .unwrap();
        let loaded = load_checkpoint(tmp.path(), &LoadOptions::default()).expect("load");
        loaded.classifier.rankings(&texts, &probs).unwrap()
    };
    assert_eq!(
        tasked(Search::TaskCentroid),
        vec![Some(vec![0, 1]), Some(vec![1, 0])]
    );
    assert_eq!(
        tasked(Search::Nearest),
        vec![Some(vec![0, 1]), Some(vec![0, 1])]
    );
    // a file that does not fit: refused at load, naming the file and the field
    let file = tmp.path().join(NEIGHBOURHOOD_FILE);
    let mut data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    data["task_of"][2] = serde_json::json!(9);
    std::fs::write(&file, data.to_string()).unwrap();
    let e = load_err(tmp.path());
    assert!(
        e.contains(NEIGHBOURHOOD_FILE) && e.contains("`task_of` entry 2"),
        "{e}"
    );
    let one_member = Neighbourhood::fit(&questions, &vec![vec![1.0]; 4], 2);
    std::fs::write(&file, serde_json::to_vec(&one_member.data).unwrap()).unwrap();
    let e = load_err(tmp.path());
    assert!(
        e.contains("success rates for 1 members, but the manifest has 2"),
        "{e}"
    );
}
