//! `selectllm data`: where the data is, and downloading it.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use selectllm_fs::locate::{cache_dir, data_dir};
use selectllm_lab::data::pull;

#[derive(Debug, Subcommand)]
pub enum DataCmd {
    /// Download the public data from its upstream sources (GitHub raw files).
    Pull {
        /// Destination folder (default: the user cache, which `selectllm` then finds by itself).
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Print the data folder selectllm would use.
    Where,
}

pub fn run(c: DataCmd, data: Option<&Path>) -> anyhow::Result<()> {
    match c {
        DataCmd::Pull { to } => {
            let dest = to.unwrap_or_else(|| cache_dir().join("data"));
            let n = pull::pull(&dest, &|i, total, name| {
                eprint!("\r[{:>3}/{total}] {name:<60}", i + 1);
            })?;
            eprintln!();
            println!("{n} files downloaded into {}", dest.display());
            Ok(())
        }
        DataCmd::Where => {
            println!("{}", data_dir(data)?.display());
            Ok(())
        }
    }
}
