//! Subcommands: one module each, each a thin call into the library.

mod bench;
mod collect;
mod config;
mod data;
mod eval;
mod export;
mod labels;
mod progress;
mod route;
mod serve;
mod train;
mod values;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Check a pool or gateway file.
    Config(config::ConfigArgs),
    /// Export a collection store to our routing-dataset JSONL.
    Export(export::ExportArgs),
    /// Evaluate SelectLLM against every baseline and the oracle; prints the results tables.
    Eval(eval::EvalArgs),
    /// Train a classifier on a dataset and write a checkpoint.
    Train(train::TrainArgs),
    /// Route one question with a checkpoint: each member's probability and the chosen subset.
    Route(route::RouteArgs),
    /// Serve the OpenAI-compatible gateway: classify, select, fan out, vote, answer.
    Serve(serve::ServeArgs),
    /// Run the fake OpenAI server as a process (tests and benchmarks).
    #[command(hide = true)]
    FakeServer(serve::FakeServerArgs),
    /// Manage the public data (download it with `data pull`).
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Benchmark figures for the scripts under scripts/ (prints JSON).
    #[command(subcommand, hide = true)]
    Bench(bench::BenchCmd),
}

impl Command {
    /// Whether the command may run the MiniLM encoder (training, evaluating or routing with
    /// a classifier), and so wants the allocator tuned for it before anything is loaded.
    pub fn runs_encoder(&self) -> bool {
        match self {
            Command::Eval(_) | Command::Train(_) | Command::Route(_) | Command::Serve(_) => true,
            Command::Bench(c) => matches!(c, bench::BenchCmd::Route { .. }),
            Command::Collect(_)
            | Command::Config(_)
            | Command::Export(_)
            | Command::Data(_)
            | Command::FakeServer(_) => false,
        }
    }
}

pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SELECTLLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour codes only for a terminal: redirected stderr stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// A usage error of clap's on one line (`error: invalid value 'NaN' for '--lr <LR>': ...`):
/// its message and the missing arguments or tips clap lists, without the usage and help hints.
pub fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error and its causes on one line, `outer: cause: ...`, leaving out a cause whose text
/// the line already holds (many errors print their source in their own message too, which
/// would otherwise say "No such file or directory (os error 2)" twice).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.replace('\n', " ")
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let data = cli.data;
    if let Some(d) = &data {
        // every lookup of this command (the encoder beside the data folder included) uses it
        selectllm_fs::locate::set_data_dir(d);
    }
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Collect(a) => collect::run(a, data.as_deref(), &mut out),
        Command::Config(a) => config::run(a, &mut out),
        Command::Export(a) => export::run(a, &mut out),
        Command::Eval(a) => eval::run(a, data.as_deref()),
        Command::Train(a) => train::run(a, data.as_deref()),
        Command::Route(a) => route::run(a),
        Command::Serve(a) => serve::run(a),
        Command::FakeServer(a) => serve::fake_server(a),
        Command::Data(c) => data::run(c, data.as_deref()),
        Command::Bench(c) => bench::run(c, data.as_deref(), &mut out),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    fn runs_encoder(args: &[&str]) -> bool {
        let argv = std::iter::once("selectllm").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
            .runs_encoder()
    }

    #[test]
    fn commands_that_run_the_encoder_get_the_allocator_setting() {
        assert!(runs_encoder(&["eval"]));
        assert!(runs_encoder(&["eval", "--checkpoint", "ck"]));
        assert!(runs_encoder(&["train", "--out", "ck"]));
        assert!(runs_encoder(&["route", "q", "--checkpoint", "ck"]));
        assert!(runs_encoder(&["bench", "route", "--checkpoint", "ck"]));
        assert!(!runs_encoder(&["config", "check", "pool.toml"]));
        assert!(!runs_encoder(&["data", "pull"]));
    }
}
