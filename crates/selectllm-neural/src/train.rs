//! Training entry point: checks the examples, loads the encoder, embeds the questions once
//! (through the cache when set) and trains in the configured mode.

use crate::cache::embed_cached;
use crate::checkpoint::{NeuralCheckpoint, TrainingRecord};
use crate::config::{NeuralMode, NeuralTrainConfig, TrainExample, check_examples};
use crate::encoder::Encoder;
use crate::error::NeuralError;
use crate::finetune::train_finetune;
use crate::fit::FitReport;
use crate::frozen::train_frozen;

/// What training produces: the classifier with its training record (what a checkpoint
/// saves), and the learning curve and best epoch of the run.
pub struct Trained {
    pub checkpoint: NeuralCheckpoint,
    pub report: FitReport,
}

/// Trains a classifier for `members` (the order of every label vector). Frozen mode trains
/// the head on cached embeddings; fine-tuned mode trains encoder and head end to end.
/// Early stopping and the kNN weight use `val`; calibration is a separate step
/// ([`crate::NeuralClassifier::calibrate`]).
pub fn train(
    cfg: &NeuralTrainConfig,
    members: &[String],
    train: &[TrainExample],
    val: &[TrainExample],
    progress: &dyn Fn(&str),
) -> Result<Trained, NeuralError> {
    cfg.validate()?;
    if members.is_empty() {
        return Err(NeuralError::Data("no pool members".into()));
    }
    if train.is_empty() {
        return Err(NeuralError::Data("no training examples".into()));
    }
    check_examples(members, "training", train)?;
    check_examples(members, "validation", val)?;
    if let Some(i) = train
        .iter()
        .chain(val)
        .position(|x| x.text.trim().is_empty())
    {
        return Err(NeuralError::Data(format!(
            "example {i} has an empty question"
        )));
    }
    if cfg.encoder_dir.as_os_str().is_empty() {
        return Err(NeuralError::Config(
            "encoder_dir is not set: the folder of the encoder (config.json, model.safetensors, tokenizer.json)".into(),
        ));
    }
    progress(&format!("loading encoder {}", cfg.encoder_dir.display()));
    let encoder = match cfg.mode {
        NeuralMode::Frozen => Encoder::load_shared(&cfg.encoder_dir, cfg.max_len)?,
        NeuralMode::FineTune => Encoder::load(&cfg.encoder_dir, cfg.max_len)?,
    };
    let texts = |xs: &[TrainExample]| xs.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
    let (tt, vt) = (texts(train), texts(val));
    let tr: Vec<&str> = tt.iter().map(String::as_str).collect();
    let va: Vec<&str> = vt.iter().map(String::as_str).collect();
    let cache = cfg.cache_dir.as_deref();
    let e_train = embed_cached(&encoder, cache, &tr, progress)?;
    let e_val = embed_cached(&encoder, cache, &va, progress)?;
    let run = match cfg.mode {
        NeuralMode::Frozen => train_frozen,
        NeuralMode::FineTune => train_finetune,
    };
    let (classifier, carried, report) = run(
        cfg,
        members,
        encoder,
        (train, &e_train),
        (val, &e_val),
        progress,
    )?;
    let record = TrainingRecord {
        finetuned: carried,
        ..TrainingRecord::new(cfg)
    };
    Ok(Trained {
        checkpoint: NeuralCheckpoint { classifier, record },
        report,
    })
}
