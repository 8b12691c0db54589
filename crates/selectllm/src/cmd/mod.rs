//! Subcommands: one module each, each a thin call into the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod collect;
mod config;
mod export;

/// Send each query to the few LLMs most likely to answer it correctly, and vote.
#[derive(Debug, Parser)]
#[command(name = "selectllm", version, about)]
pub struct Cli {
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The data folder (default: $SELECTLLM_DATA, else ../shared/data when present, else the `data pull` cache).
    #[arg(long, global = true, env = "SELECTLLM_DATA")]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask every member of a pool every question, resumably, into a SQLite store.
    Collect(collect::CollectArgs),
    /// Samples recorded per second against the in-process fake server.
    #[command(hide = true)]
    CollectBench(collect::BenchArgs),
    /// Check a pool file.
    Config(config::ConfigArgs),
    /// Export a collection store to our routing-dataset JSONL.
    Export(export::ExportArgs),
}

pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SELECTLLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Collect(a) => collect::run(a, cli.data.as_deref(), &mut out),
        Command::CollectBench(a) => collect::bench(a, &mut out),
        Command::Config(a) => config::run(a, &mut out),
        Command::Export(a) => export::run(a, &mut out),
    }
}
