//! The `selectllm` binary: parse, dispatch, map errors to exit codes.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout as clap prints them.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", cmd::usage_error_line(&e));
            return ExitCode::from(2);
        }
    };
    cmd::init_logging(cli.verbose);
    if cli.command.runs_encoder() {
        // A process-wide heap setting for the encoder's tensors: the program's choice, made
        // once before any weights are read (see selectllm_neural::alloc).
        let kept = selectllm_neural::alloc::keep_freed_memory();
        tracing::debug!(kept, "allocator: keep freed tensor memory for reuse");
        // candle's elementwise pool on the calling thread (see selectllm_neural::threads)
        #[allow(unsafe_code)]
        // SAFETY: still one thread: clap and the log subscriber spawn none, and nothing else
        // has run yet.
        let pool = unsafe { selectllm_neural::threads::elementwise_on_caller() };
        tracing::debug!(pool, "candle elementwise threads");
    }
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cmd::one_line(&e));
            ExitCode::from(2)
        }
    }
}
