//! The selectllm gateway: an OpenAI-compatible server that classifies each query, selects the
//! few members most likely to answer it, fans out, votes and answers; it stays up when
//! members fail.
//!
//! - [`config`]: the gateway file (`[server]`, `[router]`, the pool's `[[member]]` tables), validated once.
//! - [`wire`]: OpenAI server-side request/response types and the `selectllm` explanation.
//! - [`gateway`]: the gateway's state ([`Gateway`]: config, members, classifier worker,
//!   metrics) and the answer types; `member`: a member's client, breaker and last sign of life.
//! - `pipeline`: one request end to end, free of HTTP types ([`Gateway::handle`]).
//! - `behaviour`: the plan (or passthrough member) a request's `model` and `selectllm`
//!   object ask for, and the members it may use.
//! - `execute`: the live driver of an execution plan (calls, answers as they arrive,
//!   cancellation); `call`: one member call with its breaker and metrics.
//! - `stream`: streamed answers (pass-through of one member, or the voted winner replayed).
//! - [`breaker`]: a circuit breaker per member; [`health`]: member probes and `/ready`.
//! - [`metrics`]: Prometheus text.
//! - [`error`]: the one error type and its status / OpenAI envelope.
//! - [`http`]: axum routes, auth, limits, graceful shutdown; [`runtimes`]: serving on one
//!   single-threaded runtime per thread (`server.runtimes`).
//!
//! Invariants: nothing a client sends yields a 5xx or a panic (bad input is a 4xx naming the
//! field); member API keys never leave the pool client; the classifier never runs on the
//! async runtime's threads.

mod behaviour;
pub mod breaker;
mod call;
pub mod config;
pub mod error;
mod execute;
pub mod gateway;
pub mod health;
pub mod http;
mod member;
pub mod metrics;
mod pipeline;
pub mod runtimes;
mod stream;
pub mod wire;

pub use config::Config;
pub use error::GatewayError;
pub use gateway::{AUTO_MODEL, Gateway, Reply};
