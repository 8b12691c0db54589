//! `selectllm export`: a collection store -> our routing-dataset JSONL (what train/eval read).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use selectllm_core::answer::Task;
use selectllm_lab::collect::{self, export::ExportOptions};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The SQLite store written by `collect`.
    #[arg(long)]
    pub db: PathBuf,
    /// The JSONL file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// The dataset name in the header (default: the output file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Only questions of this task (gsm8k, mmlu).
    #[arg(long)]
    pub task: Option<Task>,
    /// Samples per (question, member); default: the most any pair has.
    #[arg(long)]
    pub samples: Option<u32>,
    /// Only these members (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub members: Option<Vec<String>>,
}

pub fn run(args: ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = args.name.clone().unwrap_or_else(|| {
        args.out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("collected")
            .to_string()
    });
    let s = collect::export(
        &args.db,
        Some(&args.out),
        &ExportOptions {
            name,
            task: args.task,
            samples: args.samples,
            members: args.members,
        },
    )?;
    let ds = &s.dataset;
    writeln!(
        out,
        "{}: {} questions x {} members, {} sample(s) each ({} incomplete and {} without gold left out)",
        args.out.display(),
        ds.questions.len(),
        ds.members.len(),
        s.samples,
        s.incomplete,
        s.no_gold
    )?;
    writeln!(out, "| member | accuracy | mean latency s |\n|---|---|---|")?;
    for (i, m) in ds.members.iter().enumerate() {
        let right = ds.outcomes.iter().filter(|row| row[i].label).count();
        writeln!(
            out,
            "| {} | {}/{} = {:.3} | {} |",
            m.name,
            right,
            ds.questions.len(),
            right as f64 / ds.questions.len() as f64,
            m.latency_s.map_or("-".into(), |v| format!("{v:.3}"))
        )?;
    }
    Ok(())
}
