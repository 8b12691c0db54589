//! `selectllm collect`: pool x dataset x samples into a resumable SQLite store.
//! `selectllm bench collect` (hidden; feature `bench`): samples recorded per second against the
//! fake server.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use selectllm_lab::collect::{self, CollectSettings, source};
use selectllm_pool::{Pool, PromptStyle, Sampling};

use super::values;

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The pool file (see examples/pool.toml).
    #[arg(long)]
    pub pool: PathBuf,
    /// `gsm8k`, `gsm8k-train`, `mmlu`, `mmlu-dev` (from the data folder), or a path: a GSM8K
    /// jsonl, our routing JSONL with gold answers, or a folder of MMLU csv files.
    #[arg(long)]
    pub dataset: String,
    /// The SQLite store; a second run resumes it.
    #[arg(long)]
    pub db: PathBuf,
    /// Samples per (question, member).
    #[arg(long, default_value_t = 10, value_parser = values::count_u32::<1, 1000>)]
    pub samples: u32,
    /// Sampling temperature, in [0, 2].
    #[arg(long, default_value_t = 0.7, value_parser = values::non_negative)]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0, value_parser = values::probability)]
    pub top_p: f64,
    /// Max new tokens per response.
    #[arg(long, default_value_t = 750, value_parser = values::count_u32::<1, 1_000_000>)]
    pub max_tokens: u32,
    /// Sent as `seed + sample index` when set.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Overrides every member's prompt style: chat-cot, chat-direct, few-shot.
    #[arg(long)]
    pub prompt: Option<PromptStyle>,
    /// Shuffle the questions with this seed before --limit.
    #[arg(long)]
    pub shuffle: Option<u64>,
    /// Only the first N questions.
    #[arg(long, value_parser = values::count::<1, { usize::MAX }>)]
    pub limit: Option<usize>,
    /// Only these members (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub members: Option<Vec<String>>,
    /// Print what is pending and stop.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: CollectArgs, data: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut pool = Pool::load(&args.pool)?;
    if let Some(ms) = &args.members {
        pool = pool.select(ms).context("--members")?;
    }
    let questions = source::select(source::load(&args.dataset, data)?, args.shuffle, args.limit);
    let settings = CollectSettings {
        samples: args.samples,
        sampling: Sampling {
            temperature: args.temperature,
            top_p: args.top_p,
            max_tokens: args.max_tokens,
            seed: args.seed,
        },
        prompt: args.prompt,
        dry_run: args.dry_run,
        progress: std::io::stderr().is_terminal(),
    };
    let s = collect::collect(&pool, &questions, &args.db, &settings)?;
    if args.dry_run {
        writeln!(
            out,
            "dry run: {} questions x {} sample(s)",
            s.questions, args.samples
        )?;
    } else {
        writeln!(
            out,
            "{} questions x {} sample(s): {} rows recorded in {:.1} s -> {}",
            s.questions,
            args.samples,
            s.recorded(),
            s.elapsed_s,
            args.db.display()
        )?;
    }
    write!(out, "{}", s.table())?;
    let errors: usize = s.members.iter().map(|m| m.errors).sum();
    let ok: usize = s.members.iter().map(|m| m.ok).sum();
    if !args.dry_run && ok == 0 && errors > 0 {
        anyhow::bail!(
            "every call failed ({errors} of them; see the warnings above and the `error` column of {})",
            args.db.display()
        );
    }
    if errors > 0 {
        writeln!(
            out,
            "{errors} call(s) failed after retries; their error rows are retried by the next run"
        )?;
    }
    Ok(())
}

#[cfg(feature = "bench")]
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 2000)]
    pub questions: usize,
    #[arg(long, default_value_t = 2)]
    pub members: usize,
    #[arg(long, default_value_t = 2)]
    pub samples: u32,
    /// Per-member concurrency.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

#[cfg(feature = "bench")]
pub fn bench(args: BenchArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    use selectllm_lab::collect::bench;
    let r = bench::run(&bench::BenchSettings {
        questions: args.questions,
        members: args.members,
        samples: args.samples,
        concurrency: args.concurrency,
    })?;
    writeln!(
        out,
        "bench collect: {} questions x {} members x {} samples, concurrency {} per member, fake server in-process on 127.0.0.1",
        args.questions, args.members, args.samples, args.concurrency
    )?;
    writeln!(
        out,
        "recorded {} rows ({} HTTP requests) in {:.2} s: {:.0} samples/s (target >= 2000)",
        r.recorded, r.http_requests, r.elapsed_s, r.per_second
    )?;
    Ok(())
}
