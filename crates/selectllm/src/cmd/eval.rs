//! `selectllm eval`.

use std::path::{Path, PathBuf};

use clap::Args;

use selectllm_core::plan::Plan;
use selectllm_core::policy::Budget;
use selectllm_core::vote::VoteMode;
use selectllm_fs::locate::data_dir;
use selectllm_lab::data::registry::DEFAULT_DATASETS;
use selectllm_lab::eval::EvalConfig;
use selectllm_lab::run::eval::{EvalRun, run as run_eval};
use selectllm_lab::train::{Pretrained, Trainer};

use super::labels::LoadArgs;
use super::progress::{SuspendWriter, spinner};
use super::train::{ClassifierArgs, trainer_for};
use super::values::{self, MemberSeconds};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset name or path; repeat for several (default: routerdc-gsm8k, routerdc-mmlu, routerdc-mixed, gsm8k-answers, local-3-gsm8k, local-3-mmlu).
    #[arg(long = "dataset", value_name = "NAME|PATH")]
    pub datasets: Vec<String>,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// Use this checkpoint (from `selectllm train`) instead of training on each fold.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Output folder; each dataset writes OUT/DATASET/report.{md,json,csv} and plots.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Folds for datasets without a training split.
    #[arg(long, default_value_t = 5, value_parser = values::count::<2, 100>)]
    pub folds: usize,
    /// Vote unit: per-member (its majority answer) or pooled (every sample).
    #[arg(long, default_value = "per-member")]
    pub vote: VoteMode,
    /// Largest subset size s for the fixed, random and policy rows.
    #[arg(long, default_value_t = 5, value_parser = values::count::<1, 1000>)]
    pub max_s: usize,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Confidence threshold of the `threshold` policy row.
    #[arg(long, default_value_t = 0.5, value_parser = values::probability)]
    pub tau: f64,
    /// Budget of the `budget` policy row, e.g. `calls=3` or `latency=2.5,cost=0.01`.
    #[arg(long, default_value = "calls=3", value_parser = values::budget)]
    pub budget: Budget,
    /// Seconds per call of a member, NAME=SECONDS (repeatable); overrides the data.
    #[arg(long = "latency", value_name = "NAME=SECONDS")]
    pub latency: Vec<MemberSeconds>,
    /// Seconds per call for members whose latency the data does not give.
    #[arg(long, default_value_t = 1.0, value_parser = values::non_negative)]
    pub default_latency: f64,
    /// Random subsets averaged per size.
    #[arg(long, default_value_t = 100, value_parser = values::count::<1, 100_000>)]
    pub random_seeds: usize,
    /// A plan (or policy) to replay on answer-level data and show in the main table, as the
    /// gateway would run it (repeatable), e.g. `cascade:a=2,k=2,max=4/latency=20,at=p95`.
    #[arg(long = "plan", value_name = "PLAN", value_parser = values::plan)]
    pub plans: Vec<Plan>,
}

pub fn run(a: EvalArgs, data: Option<&Path>) -> anyhow::Result<()> {
    let data_dir = data_dir(data)?;
    let latency = a
        .latency
        .iter()
        .map(|l| (l.member.clone(), l.seconds))
        .collect();
    let datasets = if a.datasets.is_empty() {
        DEFAULT_DATASETS.iter().map(|s| s.to_string()).collect()
    } else {
        a.datasets
    };
    let cfg = EvalRun {
        datasets,
        data_dir,
        out: a.out,
        load: a.load.options(),
        eval: EvalConfig {
            seed: a.seed,
            folds: a.folds,
            vote: a.vote,
            max_s: a.max_s,
            random_seeds: a.random_seeds,
            threshold_tau: a.tau as f32,
            budget: a.budget,
            default_latency: a.default_latency,
            latency,
            plans: a.plans,
            ..EvalConfig::default()
        },
    };
    let trainer: Box<dyn Trainer> = match &a.checkpoint {
        Some(dir) => Box::new(Pretrained {
            dir: dir.clone(),
            options: selectllm_infer::LoadOptions {
                encoder_dir: a.classifier.encoder.clone(),
                ..Default::default()
            },
        }),
        None => trainer_for(&a.classifier)?,
    };
    let pb = spinner();
    let progress = |m: &str| pb.set_message(m.to_string());
    let mut stdout = SuspendWriter {
        pb: &pb,
        inner: std::io::stdout().lock(),
    };
    let result = run_eval(&cfg, trainer.as_ref(), &mut stdout, &progress);
    pb.finish_and_clear();
    result?;
    Ok(())
}
