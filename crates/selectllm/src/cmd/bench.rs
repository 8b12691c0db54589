//! `selectllm bench`: figures for the benchmark scripts (not a test; prints JSON).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;

use selectllm_core::dataset::Split;
use selectllm_core::policy::{confidence_order, ranked_order};
use selectllm_fs::locate::data_dir;
use selectllm_infer::load_checkpoint;
use selectllm_lab::data::registry::{self, LoadOptions};
use selectllm_lab::eval::metrics;
use selectllm_neural::Precision;

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
        /// Time this question (N copies) instead of the test split's (e.g. the question a load
        /// test sends, to set the gateway's added latency beside the classifier's own).
        #[arg(long, value_name = "TEXT")]
        question: Option<String>,
        /// Arithmetic of a MiniLM checkpoint's encoder (f32 or int8).
        #[arg(long, value_name = "f32|int8", default_value = "f32")]
        encoder_precision: Precision,
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
            question,
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
            // another precision than the trained f32: how often it routes as f32 would
            let agreement = match encoder_precision {
                Precision::F32 => None,
                _ => {
                    let f32 =
                        load_checkpoint(&dir, &selectllm_infer::LoadOptions::default())?.classifier;
                    let other = f32.predict_batch(&texts)?;
                    Some(Agreement::of(
                        (&probs, &clf.rankings(&texts, &probs)?),
                        (&other, &f32.rankings(&texts, &other)?),
                    ))
                }
            };
            let copies = question.as_deref().map(|q| vec![q; n.max(1)]);
            let timed = match &copies {
                Some(c) => c.as_slice(),
                None => &texts[..n.min(texts.len())],
            };
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
            let mut each = Vec::new();
            while t0.elapsed().as_secs_f64() < 1.0 {
                for t in timed {
                    let t1 = Instant::now();
                    route(&[t])?;
                    each.push(t1.elapsed().as_secs_f64());
                }
            }
            let done = each.len();
            let per_q = t0.elapsed().as_secs_f64() / done as f64;
            each.sort_by(f64::total_cmp);
            let pct = |p: f64| each[((p * done as f64).ceil() as usize).clamp(1, done) - 1] * 1e6;
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
                    "route_us_p50": pct(0.50),
                    "route_us_p99": pct(0.99),
                    "question": question,
                    "route_us_per_question_batched": per_q_batched * 1e6,
                    "n_timed": done,
                    "encoder_precision": encoder_precision.name(),
                    "agreement_with_f32": agreement.map(|a| a.json()),
                })
            )?;
            Ok(())
        }
    }
}

/// How often two classifiers' routing agrees on the same questions: the same first member and
/// the same first three (as a set), by the member order the policies use (the checkpoint's
/// order when its check fell back to one) and by the probabilities alone; and the largest
/// probability difference.
#[derive(Debug)]
struct Agreement {
    top1: f64,
    top3_set: f64,
    top1_by_probability: f64,
    top3_set_by_probability: f64,
    max_abs_probability_diff: f32,
}

type Routed<'a> = (&'a [Vec<f32>], &'a [Option<Vec<usize>>]);

impl Agreement {
    fn of(a: Routed, b: Routed) -> Self {
        // the policies' own order: the checkpoint's ranking, else by confidence (no latencies)
        let by_conf = |p: &[f32]| confidence_order(p, &[]);
        let order = |p: &[f32], r: &Option<Vec<usize>>| ranked_order(p, &[], r.as_deref());
        let set = |o: &[usize]| {
            let mut s: Vec<usize> = o.iter().take(3).copied().collect();
            s.sort_unstable();
            s
        };
        let (mut same, mut diff) = ([0usize; 4], 0f32);
        for i in 0..a.0.len() {
            let (oa, ob) = (order(&a.0[i], &a.1[i]), order(&b.0[i], &b.1[i]));
            let (pa, pb) = (by_conf(&a.0[i]), by_conf(&b.0[i]));
            same[0] += usize::from(oa[0] == ob[0]);
            same[1] += usize::from(set(&oa) == set(&ob));
            same[2] += usize::from(pa[0] == pb[0]);
            same[3] += usize::from(set(&pa) == set(&pb));
            for (x, y) in a.0[i].iter().zip(&b.0[i]) {
                diff = diff.max((x - y).abs());
            }
        }
        let n = a.0.len().max(1) as f64;
        let share = |k: usize| same[k] as f64 / n;
        Self {
            top1: share(0),
            top3_set: share(1),
            top1_by_probability: share(2),
            top3_set_by_probability: share(3),
            max_abs_probability_diff: diff,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "top1": self.top1,
            "top3_set": self.top3_set,
            "top1_by_probability": self.top1_by_probability,
            "top3_set_by_probability": self.top3_set_by_probability,
            "max_abs_probability_diff": self.max_abs_probability_diff,
        })
    }
}
