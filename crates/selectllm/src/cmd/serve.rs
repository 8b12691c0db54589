//! `selectllm serve --config gateway.toml [--listen ADDR]`: the OpenAI-compatible gateway
//! (crate `selectllm-gateway`); this command only loads the checkpoint and starts it.
//! Also the hidden `selectllm fake-server`: the pool's fake OpenAI server as a process, for
//! `scripts/test-openai-client.sh` and the gateway benchmark.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use selectllm_gateway::{Config, Gateway, http};

use super::values;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The gateway file (see examples/gateway.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Address to listen on, overriding `[server] listen` (e.g. 127.0.0.1:0 for a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = Config::load(&a.config)?;
    if let Some(l) = a.listen {
        cfg.server.listen = l;
    }
    let keys = http::keys_from_env(cfg.server.api_keys_env.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.config.display()))?;
    let loaded = selectllm_infer::load_checkpoint(
        &cfg.router.checkpoint,
        &selectllm_infer::LoadOptions {
            encoder_dir: cfg.router.encoder.clone(),
            encoder_precision: cfg.router.encoder_precision,
        },
    )
    .with_context(|| {
        format!(
            "{}: router.checkpoint `{}` (train one with `selectllm train --dataset local-3-gsm8k --out ...`)",
            a.config.display(),
            cfg.router.checkpoint.display()
        )
    })?;
    if cfg.router.encoder_precision == selectllm_infer::Precision::Int8 {
        if loaded.kind == selectllm_infer::CheckpointKind::Lexical {
            tracing::warn!(
                "router.encoder_precision = \"int8\" has no effect: a lexical checkpoint has no encoder"
            );
        } else if !selectllm_neural::int8::accelerated() {
            tracing::warn!(
                "router.encoder_precision = \"int8\" on a CPU without AVX-512 VNNI: the same answers, but slower than f32"
            );
        }
    }
    let listen = cfg.server.listen;
    // what is served, on the start-up line (an int8 encoder only where there is one)
    let serving = match loaded.kind {
        selectllm_infer::CheckpointKind::Lexical => "lexical checkpoint".to_string(),
        kind => format!(
            "{} checkpoint, encoder {}",
            kind.as_str(),
            cfg.router.encoder_precision.name()
        ),
    };
    let runtimes = cfg.server.runtimes;
    let gw = Arc::new(Gateway::new(cfg, loaded.classifier).map_err(anyhow::Error::msg)?);
    if runtimes > 0 {
        let rts = selectllm_gateway::runtimes::Runtimes::bind(listen, runtimes)
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!(
            "selectllm serve: listening on http://{} ({serving}; {runtimes} single-threaded runtime(s))",
            rts.local_addr()
        );
        rts.serve(gw, keys, http::shutdown_signal)?;
        eprintln!("selectllm serve: stopped");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("selectllm serve: listening on http://{addr} ({serving})");
        http::serve(gw, keys, listener, http::shutdown_signal()).await?;
        eprintln!("selectllm serve: stopped");
        Ok(())
    })
}

#[derive(Debug, Args)]
pub struct FakeServerArgs {
    /// Every answer is this text (default: a deterministic answer per model and prompt).
    #[arg(long)]
    pub reply: Option<String>,
    /// Pause before each streamed chunk, milliseconds.
    #[arg(long, default_value_t = 0, value_parser = values::count::<0, 600_000>)]
    pub chunk_delay_ms: usize,
    /// Pause before every answer, milliseconds (a member that always takes this long).
    #[arg(long, default_value_t = 0, value_parser = values::count::<0, 600_000>)]
    pub delay_ms: usize,
}

/// Starts the fake server, prints its base URL on stdout, serves until killed.
pub fn fake_server(a: FakeServerArgs) -> anyhow::Result<()> {
    use selectllm_pool::fake::{FakeOptions, FakeServer};
    let server = FakeServer::with_options(FakeOptions {
        reply: a.reply,
        chunk_delay: std::time::Duration::from_millis(a.chunk_delay_ms as u64),
        delay: std::time::Duration::from_millis(a.delay_ms as u64),
        ..FakeOptions::default()
    })?;
    println!("{}", server.base_url());
    loop {
        std::thread::park();
    }
}
