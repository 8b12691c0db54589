//! The pool layer: which LLMs make up a pool (a validated TOML config), how each is prompted,
//! and an OpenAI-compatible client with timeouts, retries with backoff and per-member
//! concurrency limits that measures latency, time to first token, tokens and cost.
//!
//! - [`config`]: `pool.toml` parsed raw (unknown fields are errors), validated once into [`Pool`].
//! - [`prompt`]: the prompt styles (chat zero-shot chain-of-thought, chat direct answer, few-shot completion).
//! - [`client`]: one [`MemberClient`] per member; [`Completion`] is what a call measured.
//! - [`wire`]: the OpenAI wire types, lenient about what real servers send.
//! - `fake` (feature `test-support`): an in-process fake OpenAI server on 127.0.0.1:0 for tests and benchmarks.

pub mod client;
pub mod config;
#[cfg(feature = "test-support")]
pub mod fake;
pub mod prompt;
pub mod wire;

pub use client::{
    CallError, CallFailure, ChatReply, ChatStream, Completion, MemberClient, Sampling,
};
pub use config::{
    MemberConfig, Pool, PromptStyle, RawMember, toml_error_message, validate_members,
};

use std::path::PathBuf;

/// Errors of the pool layer (configuration and client construction).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    /// A field failed validation; `field` is a path such as `member[1].timeout_s`.
    #[error("{path}: {field}: {msg}")]
    Field {
        path: PathBuf,
        field: String,
        msg: String,
    },
    /// A member name asked for that the pool does not have.
    #[error("{path}: unknown member `{name}` (the pool has: {known})")]
    UnknownMember {
        path: PathBuf,
        name: String,
        known: String,
    },
    #[error("member `{member}`: environment variable `{var}` (api_key_env) is not set")]
    MissingKey { member: String, var: String },
    #[error("member `{member}`: cannot build the HTTP client: {msg}")]
    Client { member: String, msg: String },
}
