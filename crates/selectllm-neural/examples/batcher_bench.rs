//! Dynamic-batching throughput: classifications per second for GSM8K-length questions, with
//! many concurrent callers through `DynamicBatcher` versus one caller classifying one question
//! at a time, measured in one run.
//!
//! cargo run --release -p selectllm-neural --example batcher_bench -- CHECKPOINT_DIR QUESTIONS_JSONL [N] [CLIENTS]
//! (CHECKPOINT_DIR from `--example routerdc -- gsm8k --save DIR`; QUESTIONS_JSONL one JSON
//! string per line, e.g. the first 200 RouterDC GSM8K test questions.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use selectllm_core::Classifier;
use selectllm_neural::batcher::BatcherConfig;
use selectllm_neural::{DynamicBatcher, NeuralClassifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: batcher_bench CHECKPOINT_DIR QUESTIONS_JSONL [N] [CLIENTS]".into());
    }
    let clf = Arc::new(NeuralClassifier::load(std::path::Path::new(&args[0]))?);
    let qs: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let n: usize = args.get(2).map_or(Ok(400), |s| s.parse())?;
    let clients: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let q = |i: usize| qs[i % qs.len()].clone();
    clf.predict(&q(0))?; // warm-up

    let t = Instant::now();
    for i in 0..n / 4 {
        clf.predict(&q(i))?;
    }
    let single = (n / 4) as f64 / t.elapsed().as_secs_f64();

    let cfg = BatcherConfig {
        max_batch: 32,
        max_wait: Duration::from_millis(10),
        queue: 4096,
    };
    let batcher = Arc::new(DynamicBatcher::new(clf.clone(), cfg));
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let b = batcher.clone();
            let mine: Vec<String> = (0..n).filter(|i| i % clients == c).map(q).collect();
            std::thread::spawn(move || -> Result<(), String> {
                for text in mine {
                    b.submit(&text).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "client thread panicked")??;
    }
    let batched = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "{{\"questions\": {n}, \"clients\": {clients}, \"max_batch\": 32, \"max_wait_ms\": 10, \"one_at_a_time_per_s\": {single:.1}, \"dynamic_batching_per_s\": {batched:.1}, \"speedup\": {:.2}}}",
        batched / single
    );
    Ok(())
}
