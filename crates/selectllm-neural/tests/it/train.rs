//! Training, checkpoints, the embedding cache and the Classifier impl on a small synthetic task:
//! member 0 is right on arithmetic questions, member 1 on history questions, member 2 always.

use selectllm_core::Classifier;
use selectllm_core::checkpoint::{CheckpointKind, Manifest};
use selectllm_neural::cache::CACHED_BATCH;
use selectllm_neural::{
    CachedClassifier, EmbeddingCache, NeuralClassifier, NeuralMode, NeuralTrainConfig,
    TrainExample, train,
};

use crate::{encoder, encoder_dir};

const MATH: [&str; 8] = [
    "What is 12 plus 30?",
    "Compute 7 times 8.",
    "How much is 100 divided by 4?",
    "Add 15 and 27 together.",
    "What is the square root of 81?",
    "Subtract 9 from 50.",
    "Multiply 6 by 12.",
    "What is 3 cubed?",
];
const HISTORY: [&str; 8] = [
    "Who was the first emperor of Rome?",
    "When did the French Revolution begin?",
    "Which dynasty built the Great Wall of China?",
    "Who signed the Magna Carta?",
    "In which year did the Berlin Wall fall?",
    "Who led the Mongol Empire at its founding?",
    "Which war ended with the Treaty of Versailles?",
    "Who was the pharaoh Tutankhamun?",
];

pub fn members() -> Vec<String> {
    ["arith", "hist", "always"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub fn examples() -> Vec<TrainExample> {
    let mk = |t: &str, math: bool| {
        let labels = vec![f32::from(math), f32::from(!math), 1.0];
        TrainExample {
            text: t.to_string(),
            success: labels.clone(),
            labels,
        }
    };
    MATH.iter()
        .map(|t| mk(t, true))
        .chain(HISTORY.iter().map(|t| mk(t, false)))
        .collect()
}

pub fn manifest(kind: CheckpointKind) -> Manifest {
    Manifest {
        kind,
        members: members(),
        dataset: "synthetic".into(),
        data_hash: "test".into(),
        seed: 7,
        hyperparameters: serde_json::json!({ "note": "kept" }),
        metrics: serde_json::Value::Null,
        created_by: "test".into(),
        member_order: None,
    }
}

pub fn config(mode: NeuralMode, cache: Option<&std::path::Path>) -> NeuralTrainConfig {
    NeuralTrainConfig {
        mode,
        encoder_dir: encoder_dir(),
        cache_dir: cache.map(|p| p.to_path_buf()),
        epochs: 40,
        hidden: 16,
        lr: 1e-2,
        seed: 7,
        knn_k: 3,
        ..NeuralTrainConfig::default()
    }
}

#[test]
fn frozen_learns_saves_and_reloads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let xs = examples();
    let (train_set, val) = (&xs[..], &xs[..4]);
    let clf = train(
        &config(NeuralMode::Frozen, Some(&cache)),
        &members(),
        train_set,
        val,
        &|_| (),
    )
    .expect("train")
    .checkpoint;
    let p = clf
        .classifier
        .predict_batch(&["What is 5 plus 9?", "Who founded the Roman Republic?"])
        .expect("predict");
    assert!(p[0][0] > p[0][1], "arithmetic question: {:?}", p[0]);
    assert!(p[1][1] > p[1][0], "history question: {:?}", p[1]);
    assert_eq!(clf.classifier.name(), "minilm");

    let dir = tmp.path().join("ckpt");
    clf.save(&dir, &manifest(CheckpointKind::Lexical))
        .expect("save");
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("read"))
            .expect("json");
    assert_eq!(m.kind, CheckpointKind::Minilm);
    assert_eq!(m.hyperparameters["note"], "kept");
    assert_eq!(
        m.hyperparameters["neural"]["encoder"]["hash"].as_str(),
        Some(encoder().hash())
    );
    assert_eq!(m.hyperparameters["finetune_layers"], "all");
    let back = NeuralClassifier::load(&dir).expect("load");
    assert_eq!(back.members(), &members()[..]);
    let q = back
        .predict_batch(&["What is 5 plus 9?", "Who founded the Roman Republic?"])
        .expect("predict");
    for (a, b) in p.iter().flatten().zip(q.iter().flatten()) {
        assert!(
            (a - b).abs() < 1e-5,
            "reloaded model differs: {p:?} vs {q:?}"
        );
    }
    // A huge temperature leaves a member no information beyond its training base rate.
    let mut flat = back;
    flat.set_temperatures(vec![1e6; 3]).expect("temperatures");
    let p = flat.predict("What is 5 plus 9?").expect("predict");
    for (j, pj) in p.iter().enumerate() {
        let rate = xs.iter().map(|x| x.labels[j]).sum::<f32>() / xs.len() as f32;
        let rate = rate.clamp(1e-4, 1.0 - 1e-4);
        assert!(
            (pj - rate).abs() < 1e-3,
            "member {j}: {pj} vs base rate {rate}"
        );
    }
    // The cache now holds every training text: a second pass encodes nothing.
    let mut c = EmbeddingCache::open(&cache, encoder()).expect("cache");
    assert_eq!(c.len(), xs.len());
    let texts: Vec<&str> = xs.iter().map(|x| x.text.as_str()).collect();
    let called = std::cell::Cell::new(false);
    c.embed(encoder(), &texts, &|_| called.set(true))
        .expect("cached embed");
    assert!(!called.get(), "cached texts were re-encoded");

    // Evaluation reads a batch through the cache: the same probabilities as the classifier
    // alone, and the batch's new texts are in the cache afterwards.
    let fresh: Vec<String> = (0..CACHED_BATCH)
        .map(|i| format!("What is {i} plus {}?", i + 3))
        .collect();
    let fresh: Vec<&str> = fresh.iter().map(String::as_str).collect();
    let cached = CachedClassifier {
        inner: NeuralClassifier::load(&dir).expect("load"),
        dir: cache.clone(),
    };
    let direct = cached.inner.predict_batch(&fresh).expect("direct");
    let through = cached.predict_batch(&fresh).expect("through the cache");
    for (a, b) in direct.iter().flatten().zip(through.iter().flatten()) {
        assert!((a - b).abs() < 1e-5, "{direct:?} vs {through:?}");
    }
    let c = EmbeddingCache::open(&cache, encoder()).expect("cache");
    assert_eq!(c.len(), xs.len() + CACHED_BATCH, "the batch was not cached");
}

#[test]
fn bad_training_input_is_an_error() {
    let mut xs = examples();
    let cfg = config(NeuralMode::Frozen, None);
    assert!(train(&cfg, &members(), &[], &[], &|_| ()).is_err());
    xs[3].labels.pop();
    let err = train(&cfg, &members(), &xs, &[], &|_| ())
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("training example 3"), "{err}");
    let mut ys = examples();
    ys[0].text = "  ".into();
    assert!(train(&cfg, &members(), &ys, &[], &|_| ()).is_err());
    let clf_err = NeuralClassifier::load(std::path::Path::new("/nonexistent/ckpt"))
        .err()
        .expect("must fail");
    assert!(clf_err.to_string().contains("manifest.json"), "{clf_err}");
}

#[test]
fn finetune_checkpoint_is_self_contained() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let xs = examples();
    let cfg = NeuralTrainConfig {
        epochs: 2,
        batch: 4,
        grad_accum: 2,
        finetune_layers: Some(1),
        knn_k: 0,
        ..config(NeuralMode::FineTune, None)
    };
    let trained = train(&cfg, &members(), &xs, &xs[..4], &|_| ()).expect("finetune");
    let (mut ckpt, report) = (trained.checkpoint, trained.report);
    let clf = &mut ckpt.classifier;
    assert_eq!(report.curve.len(), 2);
    let texts = ["What is 5 plus 9?", "Who founded the Roman Republic?"];
    let (_, none) = clf
        .predict_batch_with_uncalibrated(&texts)
        .expect("predict");
    assert!(none.is_none(), "no calibration yet, nothing to compare");
    let cal = clf.calibrate(&xs[..8], None).expect("calibrate");
    assert_eq!(cal.temperatures.len(), 3);
    assert_eq!(clf.temperatures(), &cal.temperatures[..]);
    let (_, raw) = clf
        .predict_batch_with_uncalibrated(&texts)
        .expect("predict");
    assert!(raw.is_some(), "a calibrated model reports both");
    assert!(clf.set_temperatures(vec![1.0, 2.0]).is_err());
    assert!(clf.set_temperatures(vec![1.0, 0.0, 1.0]).is_err());
    clf.set_temperatures(vec![0.5, 2.0, 1.5])
        .expect("temperatures");
    let (calibrated, raw) = clf
        .predict_batch_with_uncalibrated(&texts)
        .expect("predict");
    assert_eq!(calibrated, clf.predict_batch(&texts).expect("predict"));
    let raw = raw.expect("uncalibrated probabilities of a calibrated model");
    assert_ne!(raw, calibrated, "temperatures changed nothing");
    let dir = tmp.path().join("ft");
    ckpt.save(&dir, &manifest(CheckpointKind::MinilmFinetune))
        .expect("save");
    let clf = &ckpt.classifier;
    assert!(dir.join("encoder/model.safetensors").is_file());
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("read"))
            .expect("json");
    assert_eq!(m.hyperparameters["finetune_layers"], 1, "written as set");
    let id = encoder()
        .model_id()
        .expect("the test encoder has a folder name");
    assert_eq!(m.hyperparameters["neural"]["encoder"]["id"], id.as_str());
    let p = clf.predict("What is 5 plus 9?").expect("predict");
    let back = NeuralClassifier::load(&dir).expect("load");
    assert_eq!(back.name(), "minilm-finetune");
    assert_eq!(back.encoder().dir(), dir.join("encoder"));
    assert_eq!(
        back.encoder().model_id(),
        Some(id),
        "still named after the encoder it was fine-tuned from"
    );
    let q = back.predict("What is 5 plus 9?").expect("predict");
    for (a, b) in p.iter().zip(&q) {
        assert!(
            (a - b).abs() < 1e-5,
            "reloaded fine-tuned model differs: {p:?} vs {q:?}"
        );
    }
    assert!(
        back.predict("   ").is_err(),
        "an empty question is an error"
    );
}

#[test]
fn evaluations_within_epochs_keep_the_best_step() {
    let xs = examples();
    let n = xs.len();
    let cfg = NeuralTrainConfig {
        epochs: 3,
        batch: 2,
        grad_accum: 1,
        eval_every: 1,
        patience: 100,
        schedule: selectllm_neural::LrSchedule::Linear,
        knn_k: 0,
        ..config(NeuralMode::Frozen, None)
    };
    let r = train(&cfg, &members(), &xs, &xs[..4], &|_| ())
        .expect("train")
        .report;
    let steps = n.div_ceil(2);
    // One evaluation after every optimizer step: within epochs and at each epoch's end.
    assert_eq!(r.checks.len(), 3 * steps, "{:?}", r.checks);
    let got: Vec<usize> = r.checks.iter().map(|c| c.0).collect();
    assert_eq!(got, (1..=3 * steps).collect::<Vec<_>>());
    assert_eq!(r.curve.len(), 3);
    let (best_step, best_loss) =
        r.checks.iter().copied().fold(
            (0, f64::INFINITY),
            |a, c| if c.1 < a.1 - 1e-6 { c } else { a },
        );
    assert_eq!(r.best_step, best_step);
    assert!((r.best_val_loss - best_loss).abs() < 1e-9);
    assert_eq!(r.best_epoch, (best_step - 1) / steps + 1);
    // Linear decay reaches 0 at the end of the run; constant stays.
    use selectllm_neural::LrSchedule;
    assert_eq!(LrSchedule::Linear.factor(0, 10), 1.0);
    assert!((LrSchedule::Linear.factor(9, 10) - 0.1).abs() < 1e-12);
    assert_eq!(LrSchedule::Constant.factor(9, 10), 1.0);
    assert!("cosine".parse::<LrSchedule>().is_err());
}

#[test]
fn paper_preset_is_the_papers_recipe() {
    let p = NeuralTrainConfig::paper();
    assert_eq!(p.mode, NeuralMode::FineTune);
    assert_eq!((p.lr, p.encoder_lr), (1e-6, 1e-6));
    assert_eq!(p.batch * p.grad_accum, 128);
    assert_eq!((p.epochs, p.eval_every, p.max_len), (30, 100, 128));
    assert_eq!(p.schedule, selectllm_neural::LrSchedule::Linear);
    let bad = NeuralTrainConfig {
        max_len: 1,
        ..config(NeuralMode::Frozen, None)
    };
    let err = train(&bad, &members(), &examples(), &[], &|_| ())
        .err()
        .expect("max_len 1 must fail")
        .to_string();
    assert!(err.contains("max_len"), "{err}");
}
