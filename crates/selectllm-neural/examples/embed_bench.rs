//! Embedding throughput of the candle encoder on the same questions as
//! `scripts/bench_encoder.py` (run both through `scripts/bench-encoder.sh`).
//!
//! cargo run --release -p selectllm-neural --example embed_bench -- ENCODER_DIR QUESTIONS_FILE...
//! Each QUESTIONS_FILE holds one question per line (JSON string). Prints one JSON line per
//! file and mode: {"set", "mode", "n", "seconds", "ms_per_question"}; with `EMBED_OUT=DIR`
//! also writes the batched embeddings to DIR/<set>.json. `EMBED_MODES=single` (or `batched`)
//! runs one mode only, e.g. under `perf record`. `EMBED_GAP_MS=20` sleeps that long between
//! single questions (as a server at 50 req/s is idle between them) and reports the time spent
//! embedding only; `EMBED_PRECISION=int8` runs the int8 dense layers.

use std::time::Instant;

use selectllm_neural::Encoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, files) = args
        .split_first()
        .ok_or("usage: embed_bench ENCODER_DIR QUESTIONS_FILE...")?;
    selectllm_neural::alloc::keep_freed_memory(); // as the selectllm binary does
    let precision: selectllm_neural::Precision = std::env::var("EMBED_PRECISION")
        .unwrap_or_else(|_| "f32".into())
        .parse()?;
    let enc = Encoder::load(std::path::Path::new(dir), 128)?.with_precision(precision)?;
    let modes = std::env::var("EMBED_MODES").unwrap_or_else(|_| "single,batched".into());
    let (run_single, run_batched) = (modes.contains("single"), modes.contains("batched"));
    for f in files {
        let text = std::fs::read_to_string(f)?;
        let qs: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let qs: Vec<&str> = qs.iter().map(String::as_str).collect();
        let set = std::path::Path::new(f)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("set");
        // Warm-up (page in weights, allocator) on a few questions, not timed.
        enc.embed(&qs[..qs.len().min(8)])?;
        let mut timed = Vec::new();
        if run_single {
            let gap = std::env::var("EMBED_GAP_MS")
                .ok()
                .and_then(|g| g.parse().ok())
                .map(std::time::Duration::from_millis);
            let mut busy = 0.0;
            for q in &qs {
                let t = Instant::now();
                enc.embed(&[q])?;
                busy += t.elapsed().as_secs_f64();
                if let Some(g) = gap {
                    std::thread::sleep(g);
                }
            }
            timed.push(("single", busy));
        }
        if run_batched {
            let t = Instant::now();
            let v = enc.embed(&qs)?;
            timed.push(("batched", t.elapsed().as_secs_f64()));
            if v.len() != qs.len() {
                return Err("wrong number of embeddings".into());
            }
            if let Ok(out) = std::env::var("EMBED_OUT") {
                let path = std::path::Path::new(&out).join(format!("{set}.json"));
                std::fs::write(path, serde_json::to_string(&v)?)?;
            }
        }
        for (mode, s) in timed {
            println!(
                "{{\"impl\": \"candle\", \"set\": \"{set}\", \"mode\": \"{mode}\", \"n\": {}, \"seconds\": {s:.4}, \"ms_per_question\": {:.3}}}",
                qs.len(),
                1000.0 * s / qs.len() as f64
            );
        }
    }
    Ok(())
}
