//! Classification throughput, padded against packed encoder inference, side by side in one
//! run: one question at a time, direct `predict_batch` calls on batches of 32, and many
//! concurrent callers (tokio tasks) through `ClassifierWorker` (batches of up to 32 within
//! 10 ms). Prints one
//! JSON line per (packing, mode), then a table with the packed/padded ratios, the mean tokens
//! per question, the achieved GFLOP/s of the encoder (useful FLOPs, padding not counted) and,
//! for packed, GFLOP per CPU-second and the cores used (the machine may be shared).
//!
//! PROFILE_PACKED=1 runs only packed dynamic batching (for a profiler) and prints its rate.
//!
//! [MAX_BATCH=32] cargo run --release -p selectllm-infer --example worker_bench -- CHECKPOINT_DIR QUESTIONS [N] [CLIENTS]
//! CHECKPOINT_DIR: a MiniLM checkpoint (`selectllm train --classifier minilm --out DIR`); QUESTIONS is a RouterDC file
//! (`.json`, an array of objects with "question", e.g. ../shared/data/routerdc/gsm8k-test.json)
//! or JSONL with one JSON string per line. N questions (default 400) go through each batched
//! mode, N/4 through the one-at-a-time mode; questions are taken in file order, repeated if
//! the file holds fewer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use selectllm_core::Classifier;
use selectllm_infer::{ClassifierWorker, WorkerConfig};
use selectllm_neural::{Encoder, NeuralClassifier, Packing};

type Error = Box<dyn std::error::Error>;

fn read_questions(path: &str) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path)?;
    if path.ends_with(".json") {
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        return rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r["question"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{path}: row {i} has no string \"question\"").into())
            })
            .collect();
    }
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// Encoder FLOPs for `texts`: 2 per weight of the layers per token, plus attention
/// (q k^T and p v: 2 x 2 x len^2 x hidden per layer).
fn encoder_flops(enc: &Encoder, texts: &[String]) -> Result<(f64, f64), Error> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let lens: Vec<f64> = enc
        .tokenize(&refs)?
        .iter()
        .map(|t| t.len() as f64)
        .collect();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.dir().join("config.json"))?)?;
    let get = |k: &str| cfg[k].as_f64().ok_or(format!("config.json: no {k}"));
    let (h, i, layers) = (
        get("hidden_size")?,
        get("intermediate_size")?,
        get("num_hidden_layers")?,
    );
    let per_token = 2.0 * layers * (4.0 * h * h + 2.0 * h * i);
    let flops: f64 = lens
        .iter()
        .map(|l| per_token * l + layers * 4.0 * l * l * h)
        .sum();
    Ok((flops, lens.iter().sum::<f64>() / lens.len().max(1) as f64))
}

struct Run {
    packing: &'static str,
    mode: &'static str,
    questions: usize,
    seconds: f64,
    /// CPU time of this process (all threads) during the run.
    cpu_seconds: f64,
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
/// Clock ticks are taken as 100 per second (the Linux default `USER_HZ`).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// Runs `f` and returns (wall seconds, CPU seconds).
fn timed(f: impl FnOnce() -> Result<(), Error>) -> Result<(f64, f64), Error> {
    let (t, c) = (Instant::now(), cpu_seconds());
    f()?;
    Ok((t.elapsed().as_secs_f64(), cpu_seconds() - c))
}

/// Largest batch: `$MAX_BATCH`, default 32.
fn max_batch() -> usize {
    std::env::var("MAX_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&b| b > 0)
        .unwrap_or(32)
}

fn one_at_a_time(clf: &NeuralClassifier, qs: &[String]) -> Result<(), Error> {
    for q in qs {
        clf.predict(q)?;
    }
    Ok(())
}

fn direct(clf: &NeuralClassifier, qs: &[String]) -> Result<(), Error> {
    for chunk in qs.chunks(max_batch()) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        clf.predict_batch(&texts)?;
    }
    Ok(())
}

fn dynamic(clf: Arc<NeuralClassifier>, qs: &[String], clients: usize) -> Result<(), Error> {
    let cfg = WorkerConfig {
        max_batch: max_batch(),
        max_wait: Duration::from_millis(10),
        queue_capacity: 4096,
        inline_max: Duration::ZERO,
    };
    let worker = ClassifierWorker::spawn(clf, cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let w = worker.clone();
                let mine: Vec<String> = qs.iter().skip(c).step_by(clients).cloned().collect();
                tokio::spawn(async move {
                    for text in mine {
                        w.classify(text).await?;
                    }
                    Ok::<_, selectllm_infer::InferError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        Ok::<_, Error>(())
    })?;
    let stats = worker.stats();
    eprintln!(
        "worker: {} questions in {} batches (mean {:.1}), {:.2} s in the classifier",
        stats.questions,
        stats.batches,
        stats.questions as f64 / stats.batches.max(1) as f64,
        stats.busy_seconds
    );
    worker.shutdown();
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: worker_bench CHECKPOINT_DIR QUESTIONS [N] [CLIENTS]".into());
    }
    selectllm_neural::alloc::keep_freed_memory(); // as the selectllm binary does
    let path = std::path::Path::new(&args[0]);
    let mut padded = NeuralClassifier::load(path)?;
    padded.set_packing(Packing::Padded);
    let padded = Arc::new(padded);
    let packed = Arc::new(NeuralClassifier::load(path)?);
    let all = read_questions(&args[1])?;
    if all.is_empty() {
        return Err(format!("{}: no questions", args[1]).into());
    }
    let n: usize = args.get(2).map_or(Ok(400), |s| s.parse())?;
    let clients: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let qs: Vec<String> = (0..n).map(|i| all[i % all.len()].clone()).collect();
    let few = &qs[..(n / 4).max(1)];
    for clf in [&padded, &packed] {
        clf.predict_batch(&[qs[0].as_str(), qs[1 % n].as_str()])?; // warm-up
    }

    if std::env::var("PROFILE_PACKED").is_ok() {
        // Packed dynamic batching only, for a profiler (perf record ...); no table.
        let (seconds, _) = timed(|| dynamic(packed.clone(), &qs, clients))?;
        println!("packed dynamic batching: {:.1}/s", n as f64 / seconds);
        return Ok(());
    }
    let mut runs = Vec::new();
    for (packing, clf) in [("padded", &padded), ("packed", &packed)] {
        let (seconds, cpu_seconds) = timed(|| one_at_a_time(clf, few))?;
        runs.push(Run {
            packing,
            mode: "one_at_a_time",
            questions: few.len(),
            seconds,
            cpu_seconds,
        });
    }
    for (packing, clf) in [("padded", &padded), ("packed", &packed)] {
        let (seconds, cpu_seconds) = timed(|| direct(clf, &qs))?;
        runs.push(Run {
            packing,
            mode: "direct_batches_of_32",
            questions: n,
            seconds,
            cpu_seconds,
        });
    }
    for (packing, clf) in [("padded", &padded), ("packed", &packed)] {
        let (seconds, cpu_seconds) = timed(|| dynamic(clf.clone(), &qs, clients))?;
        runs.push(Run {
            packing,
            mode: "dynamic_batching",
            questions: n,
            seconds,
            cpu_seconds,
        });
    }

    let (flops_all, mean_tokens) = encoder_flops(packed.encoder(), &qs)?;
    let (flops_few, _) = encoder_flops(packed.encoder(), few)?;
    println!(
        "{{\"questions\": {n}, \"clients\": {clients}, \"max_batch\": {}, \"max_wait_ms\": 10, \"mean_tokens\": {mean_tokens:.1}, \"encoder_gflop_per_question\": {:.3}, \"rayon_threads\": {}}}",
        max_batch(),
        flops_all / n as f64 / 1e9,
        rayon::current_num_threads()
    );
    let rate = |r: &Run| r.questions as f64 / r.seconds;
    for r in &runs {
        println!(
            "{{\"packing\": \"{}\", \"mode\": \"{}\", \"questions\": {}, \"seconds\": {:.3}, \"cpu_seconds\": {:.2}, \"per_s\": {:.1}}}",
            r.packing,
            r.mode,
            r.questions,
            r.seconds,
            r.cpu_seconds,
            rate(r)
        );
    }
    println!(
        "| mode | padded /s | packed /s | packed / padded | padded GFLOP/s | packed GFLOP/s | packed GFLOP per CPU-s | packed CPU use |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for pair in runs.chunks(2) {
        let flops = if pair[1].questions == n {
            flops_all
        } else {
            flops_few
        };
        println!(
            "| {} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.1} | {:.2} cores |",
            pair[1].mode,
            rate(&pair[0]),
            rate(&pair[1]),
            rate(&pair[1]) / rate(&pair[0]),
            flops / pair[0].seconds / 1e9,
            flops / pair[1].seconds / 1e9,
            flops / pair[1].cpu_seconds.max(1e-9) / 1e9,
            pair[1].cpu_seconds / pair[1].seconds
        );
    }
    Ok(())
}
