//! `selectllm config check FILE`: validate a pool file once, naming the field at fault.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate a pool TOML file and print its members.
    Check {
        /// The pool file (see examples/pool.toml).
        file: PathBuf,
    },
}

pub fn run(args: ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        ConfigAction::Check { file } => {
            let pool = selectllm_pool::Pool::load(&file)?;
            writeln!(
                out,
                "{}: ok, {} member(s)",
                file.display(),
                pool.members.len()
            )?;
            for m in &pool.members {
                writeln!(
                    out,
                    "  {:<24} {:<12} concurrency {:>3}  timeout {:>5.0} s  retries {}  key {}  {}",
                    m.name,
                    m.prompt.as_str(),
                    m.max_concurrency,
                    m.timeout.as_secs_f64(),
                    m.retries,
                    m.api_key_env.as_deref().unwrap_or("-"),
                    m.display_url()
                )?;
            }
            Ok(())
        }
    }
}
