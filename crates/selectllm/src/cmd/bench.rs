//! `selectllm bench`: figures for the benchmark scripts (not a test; prints JSON).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;

use selectllm_core::dataset::Split;
use selectllm_fs::locate::data_dir;
use selectllm_infer::load_checkpoint;
use selectllm_lab::data::registry::{self, LoadOptions};
use selectllm_lab::eval::metrics;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Per-question routing time (featurize + predict + the member order), one question at a time and as one
    /// batch of the N questions, and the test ROC-AUC of a checkpoint.
    Route {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "routerdc-gsm8k")]
        dataset: String,
        /// Questions timed (the first N of the test split).
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Arithmetic of a MiniLM checkpoint's encoder (f32 or int8).
        #[arg(long, value_name = "f32|int8", default_value = "f32")]
        encoder_precision: selectllm_neural::Precision,
    },
    /// Samples recorded per second by the collector against the in-process fake server
    /// (built with `--features bench`).
    #[cfg(feature = "bench")]
    Collect(super::collect::BenchArgs),
}

pub fn run(c: BenchCmd, data: Option<&Path>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match c {
        #[cfg(feature = "bench")]
        BenchCmd::Collect(a) => super::collect::bench(a, out),
        BenchCmd::Route {
            checkpoint: dir,
            dataset,
            n,
            encoder_precision,
        } => {
            let ds = registry::load(&dataset, &data_dir(data)?, &LoadOptions::default())?;
            let opts = selectllm_infer::LoadOptions {
                encoder_precision,
                ..Default::default()
            };
            let loaded = load_checkpoint(&dir, &opts)?;
            loaded.check_members(&ds.member_names(), &format!("the dataset {dataset}"))?;
            let clf = loaded.classifier;
            let test = ds.split_indices(Split::Test);
            let texts: Vec<&str> = test
                .iter()
                .map(|&q| ds.questions[q].text.as_str())
                .collect();
            let probs = clf.predict_batch(&texts)?;
            let labels: Vec<Vec<bool>> = test.iter().map(|&q| ds.labels(q)).collect();
            let mean_auc = metrics::mean_auc(&probs, &labels);
            let timed = &texts[..n.min(texts.len())];
            // what the gateway's worker does per question: probabilities, then the member order
            // (a neighbourhood order searches the training questions)
            let route = |texts: &[&str]| -> anyhow::Result<()> {
                let p = clf.predict_batch(texts)?;
                std::hint::black_box(clf.rankings(texts, &p)?);
                Ok(())
            };
            // warm up, then repeat the pass until at least one second has been measured
            for t in timed.iter().take(10) {
                route(&[t])?;
            }
            let t0 = Instant::now();
            let mut done = 0usize;
            while t0.elapsed().as_secs_f64() < 1.0 {
                for t in timed {
                    route(&[t])?;
                }
                done += timed.len();
            }
            let per_q = t0.elapsed().as_secs_f64() / done as f64;
            // the same questions as one batch (what the gateway's batching worker does under load)
            let t0 = Instant::now();
            let mut batched = 0usize;
            while t0.elapsed().as_secs_f64() < 1.0 {
                route(timed)?;
                batched += timed.len();
            }
            let per_q_batched = t0.elapsed().as_secs_f64() / batched as f64;
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "dataset": dataset,
                    "classifier": clf.name(),
                    "mean_auc": mean_auc,
                    "route_us_per_question": per_q * 1e6,
                    "route_us_per_question_batched": per_q_batched * 1e6,
                    "n_timed": done,
                })
            )?;
            Ok(())
        }
    }
}
