//! `selectllm train`, and the `--classifier` choice shared with `eval`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use selectllm_core::checkpoint::Manifest;
use selectllm_lab::data::registry::{self, LoadOptions};
use selectllm_lab::data::resolve_data_dir;
use selectllm_lab::eval::{EvalConfig, folds, metrics};
use selectllm_lab::train::checkpoint::save_lexical;
use selectllm_lab::train::lexical::{self, LexicalTrainConfig};
use selectllm_lab::train::{LexicalTrainer, TrainSet, Trainer};

use super::progress::spinner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifierKind {
    /// Hashed word and character n-grams, TF-IDF, multi-label head (no model files needed).
    Lexical,
}

#[derive(Debug, Args)]
pub struct ClassifierArgs {
    /// Which classifier to train.
    #[arg(long, value_enum, default_value = "lexical")]
    pub classifier: ClassifierKind,
    /// Hidden units of the lexical head (0 = linear / logistic).
    #[arg(long, default_value_t = 0)]
    pub hidden: usize,
    /// Train on 0/1 labels instead of success rates (soft targets).
    #[arg(long)]
    pub hard_targets: bool,
    /// Linear heads averaged over this many seeded train/validation re-splits (1 = no bagging).
    #[arg(long, default_value_t = LexicalTrainConfig::default().bag)]
    pub bag: usize,
    /// AdamW learning rate of the lexical head.
    #[arg(long, default_value_t = LexicalTrainConfig::default().lr)]
    pub lr: f32,
    /// AdamW decoupled weight decay of the lexical head.
    #[arg(long, default_value_t = LexicalTrainConfig::default().weight_decay)]
    pub weight_decay: f32,
    /// Character n-gram orders of the lexical features, LO-HI (0-0 disables them).
    #[arg(long, default_value = "2-4")]
    pub char_ngrams: String,
    /// Word n-gram orders of the lexical features, LO-HI.
    #[arg(long, default_value = "1-2")]
    pub word_ngrams: String,
}

fn range(flag: &str, v: &str) -> anyhow::Result<(usize, usize)> {
    let (a, b) = v
        .split_once('-')
        .ok_or_else(|| anyhow::anyhow!("--{flag} `{v}`: expected LO-HI, e.g. 2-4"))?;
    let (a, b): (usize, usize) = (
        a.parse()
            .map_err(|_| anyhow::anyhow!("--{flag} `{v}`: `{a}` is not a number"))?,
        b.parse()
            .map_err(|_| anyhow::anyhow!("--{flag} `{v}`: `{b}` is not a number"))?,
    );
    if a > b || b > 8 {
        anyhow::bail!("--{flag} `{v}`: need LO <= HI <= 8");
    }
    Ok((a, b))
}

pub fn lexical_config(a: &ClassifierArgs) -> anyhow::Result<LexicalTrainConfig> {
    let mut c = LexicalTrainConfig::default();
    c.features.hidden = a.hidden;
    c.features.char_ngrams = range("char-ngrams", &a.char_ngrams)?;
    c.features.word_ngrams = range("word-ngrams", &a.word_ngrams)?;
    c.soft_targets = !a.hard_targets;
    c.bag = a.bag;
    c.lr = a.lr;
    c.weight_decay = a.weight_decay;
    Ok(c)
}

pub fn trainer_for(a: &ClassifierArgs) -> anyhow::Result<Box<dyn Trainer>> {
    match a.classifier {
        ClassifierKind::Lexical => Ok(Box::new(LexicalTrainer {
            config: lexical_config(a)?,
        })),
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset name or path.
    #[arg(long, default_value = "routerdc-gsm8k")]
    pub dataset: String,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// Checkpoint folder to write.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// RouterDC label threshold.
    #[arg(long, default_value_t = 0.5)]
    pub label_threshold: f64,
}

pub fn run(a: TrainArgs, data: Option<&Path>) -> anyhow::Result<()> {
    let data_dir = resolve_data_dir(data)?;
    let ds = registry::load(
        &a.dataset,
        &data_dir,
        &LoadOptions {
            threshold: a.label_threshold,
        },
    )?;
    let cfg = EvalConfig {
        seed: a.seed,
        ..EvalConfig::default()
    };
    // Train on the training split (or, for test-only data, on everything), validating on the held-out part.
    let (fs, protocol) = folds(&ds, &cfg)?;
    let fold = &fs[0];
    let train_idx: Vec<usize> = if fs.len() > 1 {
        fold.train.iter().chain(&fold.test).copied().collect()
    } else {
        fold.train.clone()
    };
    let train = TrainSet::from_dataset(&ds, &train_idx);
    let val = TrainSet::from_dataset(&ds, &fold.val);
    let members = ds.member_names();
    let pb = spinner();
    pb.set_message(format!(
        "training {:?} on {} questions of {}",
        a.classifier,
        train.len(),
        ds.name
    ));
    let lcfg = lexical_config(&a.classifier)?;
    let (model, report) = lexical::train(&lcfg, &members, &train, &val, a.seed);
    pb.finish_and_clear();
    let clf: &dyn selectllm_core::Classifier = &model;
    let probs = clf.predict_batch(&val.texts)?;
    let aucs: Vec<f64> = (0..members.len())
        .filter_map(|m| {
            let s: Vec<f32> = probs.iter().map(|r| r[m]).collect();
            let y: Vec<bool> = val.labels.iter().map(|r| r[m]).collect();
            metrics::roc_auc(&s, &y)
        })
        .collect();
    let val_auc = aucs.iter().sum::<f64>() / aucs.len().max(1) as f64;
    let manifest = Manifest {
        kind: "lexical".into(),
        members: members.clone(),
        dataset: ds.name.clone(),
        data_hash: train.hash(),
        seed: a.seed,
        hyperparameters: serde_json::to_value(&lcfg)?,
        metrics: serde_json::json!({
            "protocol": protocol,
            "train_questions": train.len(),
            "val_questions": val.len(),
            "val_mean_auc": val_auc,
            "val_loss": report.best_val_loss,
            "steps": report.steps,
            "best_epochs": report.best_epochs,
        }),
        created_by: format!("selectllm {}", env!("CARGO_PKG_VERSION")),
    };
    save_lexical(&a.out, &model, &manifest)?;
    println!(
        "wrote {} ({} members, {} training questions, validation mean ROC-AUC {:.3}, {:.1} epochs, {} steps)",
        a.out.display(),
        members.len(),
        train.len(),
        val_auc,
        report.best_epochs,
        report.steps
    );
    Ok(())
}
