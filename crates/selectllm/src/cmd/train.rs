//! `selectllm train`, and the `--classifier` choice shared with `eval`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use selectllm_fs::locate::{self, DEFAULT_ENCODER};
use selectllm_lab::data::registry;
use selectllm_lab::run::train::{CheckpointClassifier, TrainRun, run as train_checkpoint};
use selectllm_lab::train::lexical::LexicalTrainConfig;
use selectllm_lab::train::neural::NeuralTrainer;
use selectllm_lab::train::order::{OrderCheckConfig, OrderChecked};
use selectllm_lab::train::{LexicalTrainer, Trainer};
use selectllm_neural::{LrSchedule, NeuralMode, NeuralTrainConfig};

use super::labels::LoadArgs;
use super::progress::{SuspendWriter, spinner};
use super::values;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifierKind {
    /// `minilm` when the encoder folder is found, else `lexical` (with a notice).
    Auto,
    /// Hashed word and character n-grams, TF-IDF, multi-label head (no model files needed).
    Lexical,
    /// all-MiniLM-L6-v2 embeddings (frozen, cached on disk) and a trained head.
    Minilm,
    /// all-MiniLM-L6-v2 fine-tuned end to end with the head (the paper's method; slower).
    MinilmFinetune,
}

#[derive(Debug, Args)]
pub struct ClassifierArgs {
    /// Which classifier to train.
    #[arg(long, value_enum, default_value = "auto")]
    pub classifier: ClassifierKind,
    /// Encoder folder (config.json, model.safetensors, tokenizer.json) for the MiniLM classifiers
    /// (default: $SELECTLLM_ENCODER, else models/all-MiniLM-L6-v2 beside the data folder or in
    /// the user cache folder, when present).
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Folder of the on-disk embedding cache (default: the user cache folder).
    #[arg(long, value_name = "DIR")]
    pub embedding_cache: Option<PathBuf>,
    /// Skip the per-member temperature scaling fitted on the validation questions.
    #[arg(long)]
    pub no_calibrate: bool,
    /// Folds of the cross-validation on the training questions that checks the learned member
    /// order beats the constant one (members by training accuracy); when it cannot show it,
    /// policies rank by the constant order. 0 skips the check.
    #[arg(long, default_value_t = 3, value_parser = values::folds_or_off)]
    pub order_check_folds: usize,
    /// Neighbours per question of the neighbourhood member order the same check tries: each
    /// member's success rate among the question's nearest training questions (TF-IDF cosine),
    /// blended with the classifier's probabilities; used when it beats the constant order and
    /// the learned one. 0: not tried.
    #[arg(long, default_value_t = selectllm_core::neighbour::DEFAULT_K, value_parser = values::count::<0, 10000>)]
    pub order_neighbours: usize,
    /// Hidden units of the head, 0 = linear [default: lexical 0, MiniLM 256].
    /// (At most 512: the lexical head holds 2^18 x HIDDEN weights, three times over in training.)
    #[arg(long, value_parser = values::count::<0, 512>)]
    pub hidden: Option<usize>,
    /// Train on 0/1 labels instead of success rates (soft targets; lexical classifier).
    #[arg(long)]
    pub hard_targets: bool,
    /// Linear heads averaged over this many seeded train/validation re-splits (1 = no bagging;
    /// lexical classifier).
    #[arg(long, default_value_t = LexicalTrainConfig::default().bag, value_parser = values::count::<1, 100>)]
    pub bag: usize,
    /// AdamW learning rate of the head [default: lexical 0.02, MiniLM 1e-3, paper preset 1e-6].
    #[arg(long, value_parser = values::positive)]
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay [default: lexical 1e-4, MiniLM 0.01].
    #[arg(long, value_parser = values::non_negative)]
    pub weight_decay: Option<f64>,
    #[command(flatten)]
    pub neural: NeuralArgs,
    /// Character n-gram orders of the lexical features, LO-HI (0-0 disables them).
    #[arg(long, default_value = "2-4", value_parser = values::ngram_range)]
    pub char_ngrams: (usize, usize),
    /// Word n-gram orders of the lexical features, LO-HI.
    #[arg(long, default_value = "1-2", value_parser = values::ngram_range)]
    pub word_ngrams: (usize, usize),
}

/// The help heading of the MiniLM settings.
const H: &str = "MiniLM training";

/// Settings of the MiniLM classifiers; unset ones come from the preset.
#[derive(Debug, Args)]
pub struct NeuralArgs {
    /// Base settings: `cpu` (CPU-friendly: frozen head 200 epochs with early stopping, or
    /// fine-tuning 4 epochs at encoder lr 3e-5, batch 16 x 2) or `paper` (the paper's
    /// fine-tuning recipe: lr 1e-6, batch 128 = 16 x 8, 30 epochs, linear decay, validation
    /// every 100 steps, no kNN or prior shrinkage; `minilm-finetune` only; hours on a CPU).
    #[arg(long, value_enum, default_value = "cpu", help_heading = H)]
    pub preset: Preset,
    /// Maximum epochs (early stopping on validation loss may end sooner).
    #[arg(long, help_heading = H, value_parser = values::count::<1, 100_000>)]
    pub epochs: Option<usize>,
    /// Questions per micro-batch.
    #[arg(long, help_heading = H, value_parser = values::count::<1, 4096>)]
    pub batch: Option<usize>,
    /// Micro-batches per optimizer step (effective batch = batch x grad-accum).
    #[arg(long, help_heading = H, value_parser = values::count::<1, 4096>)]
    pub grad_accum: Option<usize>,
    /// Tokens per question; longer questions are truncated (the paper: 128).
    #[arg(long, help_heading = H, value_parser = values::count::<1, 512>)]
    pub max_len: Option<usize>,
    /// Learning rate of the encoder when fine-tuning.
    #[arg(long, help_heading = H, value_parser = values::positive)]
    pub encoder_lr: Option<f64>,
    /// Fine-tune only this many of the top encoder layers (the rest stay frozen).
    #[arg(long, help_heading = H, value_parser = values::count::<0, 1000>)]
    pub finetune_layers: Option<usize>,
    /// Learning-rate schedule over the run: constant or linear (decay to 0).
    #[arg(long, value_parser = str::parse::<LrSchedule>, help_heading = H)]
    pub schedule: Option<LrSchedule>,
    /// Also evaluate on validation every this many optimizer steps and keep the best weights
    /// (0 = at the end of each epoch only).
    #[arg(long, help_heading = H)]
    pub eval_every: Option<usize>,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, help_heading = H)]
    pub patience: Option<usize>,
    /// Fine-tuning: micro-batches of questions of similar length (less padding; on in the cpu
    /// preset, off in the paper preset).
    #[arg(long, help_heading = H)]
    pub group_by_length: Option<bool>,
    /// Nearest-neighbour evidence from this many similar training questions (0 = off).
    #[arg(long, help_heading = H, value_parser = values::count::<0, 10_000>)]
    pub knn: Option<usize>,
    /// Let the members' prior order depend on question difficulty (the kNN neighbours' mean
    /// correctness) when 5-fold cross-validation on the training questions finds a gain of at
    /// least 2 standard errors (default true; needs kNN).
    #[arg(long, help_heading = H)]
    pub conditional_prior: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    Cpu,
    Paper,
}

pub fn lexical_config(a: &ClassifierArgs) -> anyhow::Result<LexicalTrainConfig> {
    let mut c = LexicalTrainConfig::default();
    c.features.hidden = a.hidden.unwrap_or(c.features.hidden);
    c.features.char_ngrams = a.char_ngrams;
    c.features.word_ngrams = a.word_ngrams;
    c.soft_targets = !a.hard_targets;
    c.bag = a.bag;
    c.lr = a.lr.map_or(c.lr, |v| v as f32);
    c.weight_decay = a.weight_decay.map_or(c.weight_decay, |v| v as f32);
    Ok(c)
}

/// The classifier `auto` resolves to, with a notice on stderr when it falls back.
pub fn resolve_kind(a: &ClassifierArgs) -> ClassifierKind {
    match a.classifier {
        ClassifierKind::Auto => {
            match locate::encoder_dir(a.encoder.as_deref(), DEFAULT_ENCODER, None) {
                Ok(l) if l.dir.join("config.json").is_file() => ClassifierKind::Minilm,
                Ok(l) => {
                    eprintln!(
                        "notice: {} ({}) is not an encoder folder (no config.json): using the lexical classifier",
                        l.dir.display(),
                        l.origin
                    );
                    ClassifierKind::Lexical
                }
                Err(e) => {
                    eprintln!("notice: {e}: using the lexical classifier");
                    ClassifierKind::Lexical
                }
            }
        }
        k => k,
    }
}

pub fn neural_trainer(a: &ClassifierArgs, mode: NeuralMode) -> anyhow::Result<NeuralTrainer> {
    let mut c = match (mode, a.neural.preset) {
        (NeuralMode::Frozen, Preset::Cpu) => NeuralTrainConfig::default(),
        (NeuralMode::FineTune, Preset::Cpu) => NeuralTrainConfig::finetune(),
        (NeuralMode::FineTune, Preset::Paper) => NeuralTrainConfig::paper(),
        (NeuralMode::Frozen, Preset::Paper) => anyhow::bail!(
            "--preset paper is the paper's fine-tuning recipe: use it with --classifier minilm-finetune"
        ),
    };
    c.encoder_dir = locate::encoder_dir(a.encoder.as_deref(), DEFAULT_ENCODER, None)?.dir;
    c.cache_dir = Some(
        a.embedding_cache
            .clone()
            .unwrap_or_else(|| locate::cache_dir().join("embeddings")),
    );
    let n = &a.neural;
    macro_rules! set {
        ($field:ident, $value:expr) => {
            if let Some(v) = $value {
                c.$field = v;
            }
        };
    }
    set!(hidden, a.hidden);
    set!(lr, a.lr);
    set!(weight_decay, a.weight_decay);
    set!(epochs, n.epochs);
    set!(batch, n.batch);
    set!(grad_accum, n.grad_accum);
    set!(max_len, n.max_len);
    set!(encoder_lr, n.encoder_lr);
    set!(finetune_layers, n.finetune_layers.map(Some));
    set!(eval_every, n.eval_every);
    set!(patience, n.patience);
    set!(knn_k, n.knn);
    set!(conditional_prior, n.conditional_prior);
    set!(group_by_length, n.group_by_length);
    set!(schedule, n.schedule);
    Ok(NeuralTrainer {
        config: c,
        calibrate: !a.no_calibrate,
    })
}

/// The trainer of the chosen classifier, without the member-order check.
fn base_trainer(a: &ClassifierArgs) -> anyhow::Result<Box<dyn Trainer>> {
    Ok(match resolve_kind(a) {
        ClassifierKind::Lexical | ClassifierKind::Auto => Box::new(LexicalTrainer {
            config: lexical_config(a)?,
        }),
        ClassifierKind::Minilm => Box::new(neural_trainer(a, NeuralMode::Frozen)?),
        ClassifierKind::MinilmFinetune => Box::new(neural_trainer(a, NeuralMode::FineTune)?),
    })
}

fn order_config(a: &ClassifierArgs) -> OrderCheckConfig {
    OrderCheckConfig {
        folds: a.order_check_folds,
        neighbours: a.order_neighbours,
        ..OrderCheckConfig::default()
    }
}

/// The trainer of the chosen classifier, its member order checked (`train::order`).
pub fn trainer_for(a: &ClassifierArgs) -> anyhow::Result<Box<dyn Trainer>> {
    Ok(Box::new(OrderChecked::new(
        base_trainer(a)?,
        order_config(a),
    )))
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
    #[command(flatten)]
    pub load: LoadArgs,
}

pub fn run(a: TrainArgs, data: Option<&Path>) -> anyhow::Result<()> {
    let data_dir = locate::data_dir(data)?;
    let ds = registry::load(&a.dataset, &data_dir, &a.load.options())?;
    let classifier = match resolve_kind(&a.classifier) {
        ClassifierKind::Minilm => {
            CheckpointClassifier::Neural(neural_trainer(&a.classifier, NeuralMode::Frozen)?)
        }
        ClassifierKind::MinilmFinetune => {
            CheckpointClassifier::Neural(neural_trainer(&a.classifier, NeuralMode::FineTune)?)
        }
        ClassifierKind::Lexical | ClassifierKind::Auto => {
            CheckpointClassifier::Lexical(lexical_config(&a.classifier)?)
        }
    };
    let checked = if a.classifier.order_check_folds > 0 {
        Some(base_trainer(&a.classifier)?)
    } else {
        None
    };
    let cfg = TrainRun {
        classifier,
        order_check: checked.as_deref().map(|t| (t, order_config(&a.classifier))),
        out: a.out,
        seed: a.seed,
        created_by: format!("selectllm {}", env!("CARGO_PKG_VERSION")),
    };
    let pb = spinner();
    let progress = |m: &str| pb.set_message(m.to_string());
    let mut stdout = SuspendWriter {
        pb: &pb,
        inner: std::io::stdout().lock(),
    };
    let result = train_checkpoint(&ds, &cfg, &mut stdout, &progress);
    pb.finish_and_clear();
    result?;
    Ok(())
}
