//! `selectllm config check FILE`: validate a pool or gateway file once, naming the field at fault.

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
    /// Validate a pool or gateway TOML file and print its members.
    Check {
        /// The pool file (examples/pool.toml) or gateway file (examples/gateway.toml).
        file: PathBuf,
    },
}

pub fn run(args: ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        ConfigAction::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let members = if selectllm_gateway::Config::is_gateway_file(&text) {
                let cfg = selectllm_gateway::Config::parse(&file, &text)?;
                writeln!(
                    out,
                    "{}: ok, gateway on {} ({}), checkpoint {}{}, policy {}, cascade {}, task {}, {} member(s)",
                    file.display(),
                    cfg.server.listen,
                    match &cfg.server.api_keys_env {
                        Some(v) => format!("client keys from ${v}"),
                        None => "no client auth".to_string(),
                    },
                    cfg.router.checkpoint.display(),
                    cfg.router
                        .encoder
                        .as_ref()
                        .map(|e| format!(" (encoder {})", e.display()))
                        .unwrap_or_default(),
                    cfg.router.plan.short_name(),
                    cfg.router.cascade,
                    cfg.router.task,
                    cfg.members.len()
                )?;
                cfg.members
            } else {
                let pool = selectllm_pool::Pool::parse(&file, &text)?;
                writeln!(
                    out,
                    "{}: ok, {} member(s)",
                    file.display(),
                    pool.members.len()
                )?;
                pool.members
            };
            for m in &members {
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
