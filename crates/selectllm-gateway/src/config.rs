//! The gateway file: `[server]`, `[router]` and the pool's `[[member]]` tables (same schema
//! and validation as `pool.toml`). Parsed raw with unknown fields rejected, then validated
//! once into [`Config`]; every error names the file and the field.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"        # default 127.0.0.1:8080
//! api_keys_env = "SELECTLLM_KEYS"  # optional: NAME of a variable holding comma-separated client keys
//! max_body_bytes = 1048576         # default 1 MiB (larger bodies get 413)
//! max_in_flight = 512              # default 512 (more concurrent requests get 429)
//! drain_timeout_s = 30             # default 30: how long SIGTERM waits for in-flight requests
//! runtimes = 0                     # default 0: one async runtime, a worker thread per core;
//!                                  # N: N single-threaded runtimes, each accepting on its own
//!                                  # socket (SO_REUSEPORT), a request staying on one thread
//!
//! [router]
//! checkpoint = "../checkpoints/local-3-gsm8k"  # required; relative to this file
//! encoder = "../models/all-MiniLM-L6-v2"  # optional, relative to this file: a frozen MiniLM
//!                                  # checkpoint's encoder folder; default: $SELECTLLM_ENCODER,
//!                                  # else models/<id> beside the data folder or in the cache
//! encoder_precision = "f32"        # f32 (default, as trained) | int8 (MiniLM only; faster on
//!                                  # CPUs with AVX-512 VNNI, embeddings within quantization error)
//! policy = "weightedmaxconf:3"     # what `selectllm/auto` runs: a policy or a plan
//!                                  # (`early:weightedmaxconf:3`, `cascade:a=2,k=2,max=3`, ...)
//! cascade = "cascade:a=2,k=2,max=3" # what `selectllm/cascade` runs (default shown)
//! task = "gsm8k"                   # gsm8k | mmlu | generic | regex:<pattern>; default generic
//! request_timeout_s = 300          # default 300: deadline of one fan-out
//! batch_max = 32                   # classifier batch size, default 32
//! batch_wait_ms = 0                # extra wait to fill a batch; default 0: take what is queued
//!                                  # (batches still form while the previous one runs)
//! queue_capacity = 1024            # classifier queue; full means 429, default 1024
//! inline_max_us = 0                # opt-in: classify short questions on the request's own
//!                                  # thread when the warm-up timed one at most this (lexical:
//!                                  # tens of us); default 0: always the worker thread
//! breaker_failures = 5             # consecutive failures that open a member's circuit, default 5
//! breaker_cooldown_s = 10          # seconds before a half-open probe, default 10
//! probe_interval_s = 10            # readiness: GET each member's /models this often; 0: never
//!                                  # (then /ready trusts the circuits alone), default 10
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use selectllm_core::plan::{Plan, PlanKind};
use selectllm_core::{Answer, Task};
use selectllm_infer::Precision;
use selectllm_pool::{MemberConfig, PoolError, RawMember, validate_members};
use serde::Deserialize;

/// What `selectllm/cascade` runs unless `router.cascade` says otherwise.
pub const DEFAULT_CASCADE: &str = "cascade:a=2,k=2,max=3";

/// A bad gateway file: which file, which field, what is wrong. The gateway file extends the
/// pool file (its `[[member]]` tables are the pool's), so it fails the same ways: one error type.
pub type ConfigError = PoolError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    router: RawRouter,
    #[serde(default)]
    member: Vec<RawMember>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    api_keys_env: Option<String>,
    max_body_bytes: Option<i64>,
    max_in_flight: Option<i64>,
    drain_timeout_s: Option<f64>,
    runtimes: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    checkpoint: String,
    encoder: Option<String>,
    encoder_precision: Option<String>,
    policy: Option<String>,
    cascade: Option<String>,
    task: Option<String>,
    request_timeout_s: Option<f64>,
    batch_max: Option<i64>,
    batch_wait_ms: Option<i64>,
    queue_capacity: Option<i64>,
    inline_max_us: Option<i64>,
    breaker_failures: Option<i64>,
    breaker_cooldown_s: Option<f64>,
    probe_interval_s: Option<i64>,
}

/// How the winning answer is extracted from a member's response for the vote.
#[derive(Debug, Clone)]
pub enum AnswerTask {
    /// One of core's extractors (GSM8K numbers, MMLU letters, trimmed text).
    Builtin(Task),
    /// The first capture group (else the whole match) of the last match.
    Regex(regex::Regex),
}

impl AnswerTask {
    pub fn parse(s: &str) -> Result<AnswerTask, String> {
        match s.strip_prefix("regex:") {
            Some(p) => regex::Regex::new(p)
                .map(AnswerTask::Regex)
                .map_err(|e| format!("bad regex `{p}`: {e}")),
            None => s.parse().map(AnswerTask::Builtin),
        }
    }

    /// How many answer options a question has (`None`: open answers).
    pub fn options(&self) -> Option<usize> {
        match self {
            AnswerTask::Builtin(t) => t.options(),
            AnswerTask::Regex(_) => None,
        }
    }

    /// The answer in `response`, `None` when there is none.
    pub fn extract(&self, response: &str) -> Option<Answer> {
        match self {
            AnswerTask::Builtin(t) => t.extract(response),
            AnswerTask::Regex(re) => {
                let c = re.captures_iter(response).last()?;
                let m = c.get(1).or_else(|| c.get(0))?;
                let t = m.as_str().trim();
                (!t.is_empty()).then(|| Answer::new(t))
            }
        }
    }
}

impl std::fmt::Display for AnswerTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerTask::Builtin(t) => write!(f, "{t}"),
            AnswerTask::Regex(r) => write!(f, "regex:{}", r.as_str()),
        }
    }
}

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The NAME of the variable holding comma-separated client keys; `None`: no auth.
    pub api_keys_env: Option<String>,
    pub max_body_bytes: usize,
    pub max_in_flight: usize,
    pub drain_timeout: Duration,
    /// 0: one multi-threaded runtime; N: N single-threaded ones (`http::Runtimes`).
    pub runtimes: usize,
}

/// `[router]`, validated.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Absolute, or relative to the working directory (resolved against the file's folder).
    pub checkpoint: PathBuf,
    /// The encoder folder of a frozen MiniLM checkpoint, resolved like `checkpoint`; `None`:
    /// found as `selectllm_fs::locate::encoder_dir` says.
    pub encoder: Option<PathBuf>,
    /// The arithmetic of a MiniLM encoder: `f32` (default, as trained) or `int8` (faster on
    /// CPUs with AVX-512 VNNI; figures in BENCHMARKS.md).
    pub encoder_precision: Precision,
    /// What `selectllm/auto` runs (a bare policy is `parallel:<policy>`).
    pub plan: Plan,
    /// What `selectllm/cascade` runs.
    pub cascade: Plan,
    pub task: AnswerTask,
    pub request_timeout: Duration,
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub queue_capacity: usize,
    /// Short questions skip the worker's queue when one question takes at most this.
    pub inline_max: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// How often readiness probes each member; `None`: never.
    pub probe_interval: Option<Duration>,
}

/// A validated gateway file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub router: RouterConfig,
    pub members: Vec<MemberConfig>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Whether `text` looks like a gateway file (has a `[router]` table), for `config check`.
    pub fn is_gateway_file(text: &str) -> bool {
        toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("router"))
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            msg: selectllm_pool::toml_error_message(text, &e),
        })?;
        let err = |field: &str, msg: String| ConfigError::Field {
            path: path.to_path_buf(),
            field: field.to_string(),
            msg,
        };
        let s = raw.server;
        let listen = s.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen: SocketAddr = listen.parse().map_err(|e| {
            err(
                "server.listen",
                format!("`{listen}`: {e} (expected IP:PORT)"),
            )
        })?;
        if let Some(v) = &s.api_keys_env {
            let ok = !v.is_empty()
                && !v.starts_with(|c: char| c.is_ascii_digit())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(err(
                    "server.api_keys_env",
                    "must be an environment variable NAME ([A-Za-z_][A-Za-z0-9_]*), never a key"
                        .into(),
                ));
            }
        }
        let int = |field: &str, v: Option<i64>, default: i64, lo: i64, hi: i64| {
            let v = v.unwrap_or(default);
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(err(field, format!("{v} is not in {lo}..={hi}")))
            }
        };
        let secs = |field: &str, v: Option<f64>, default: f64, hi: f64| {
            let v = v.unwrap_or(default);
            if v.is_finite() && v > 0.0 && v <= hi {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(err(field, format!("{v} is not in (0, {hi}]")))
            }
        };
        let server = ServerConfig {
            listen,
            api_keys_env: s.api_keys_env,
            max_body_bytes: int(
                "server.max_body_bytes",
                s.max_body_bytes,
                1 << 20,
                1024,
                1 << 30,
            )? as usize,
            max_in_flight: int("server.max_in_flight", s.max_in_flight, 512, 1, 1_000_000)?
                as usize,
            drain_timeout: secs("server.drain_timeout_s", s.drain_timeout_s, 30.0, 3600.0)?,
            runtimes: int("server.runtimes", s.runtimes, 0, 0, 256)? as usize,
        };
        let r = raw.router;
        if r.checkpoint.trim().is_empty() {
            return Err(err("router.checkpoint", "must not be empty".into()));
        }
        let beside_file = |p: &str| {
            path.parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| PathBuf::from(p))
        };
        let checkpoint = beside_file(&r.checkpoint);
        let encoder = match r.encoder.as_deref().map(str::trim) {
            Some("") => return Err(err("router.encoder", "must not be empty".into())),
            Some(e) => Some(beside_file(e)),
            None => None,
        };
        let encoder_precision = match r.encoder_precision.as_deref() {
            Some(p) => p
                .trim()
                .parse()
                .map_err(|e| err("router.encoder_precision", e))?,
            None => Precision::F32,
        };
        let policy_s = r.policy.as_deref().unwrap_or("weightedmaxconf:3");
        let plan = Plan::parse_or_policy(policy_s).map_err(|e| err("router.policy", e))?;
        let cascade_s = r.cascade.as_deref().unwrap_or(DEFAULT_CASCADE);
        let cascade: Plan = cascade_s.parse().map_err(|e| err("router.cascade", e))?;
        if !matches!(cascade.kind, PlanKind::Cascade(_)) {
            return Err(err(
                "router.cascade",
                format!("`{cascade_s}` is not a cascade (cascade:a=N,k=N,max=N[,tau=P])"),
            ));
        }
        let task = AnswerTask::parse(r.task.as_deref().unwrap_or("generic"))
            .map_err(|e| err("router.task", e))?;
        let router = RouterConfig {
            checkpoint,
            encoder,
            encoder_precision,
            plan,
            cascade,
            task,
            request_timeout: secs(
                "router.request_timeout_s",
                r.request_timeout_s,
                300.0,
                86_400.0,
            )?,
            batch_max: int("router.batch_max", r.batch_max, 32, 1, 4096)? as usize,
            batch_wait: Duration::from_millis(int(
                "router.batch_wait_ms",
                r.batch_wait_ms,
                0,
                0,
                10_000,
            )? as u64),
            queue_capacity: int("router.queue_capacity", r.queue_capacity, 1024, 1, 1 << 20)?
                as usize,
            inline_max: Duration::from_micros(int(
                "router.inline_max_us",
                r.inline_max_us,
                0,
                0,
                1_000_000,
            )? as u64),
            breaker_failures: int("router.breaker_failures", r.breaker_failures, 5, 1, 1000)?
                as u32,
            breaker_cooldown: secs(
                "router.breaker_cooldown_s",
                r.breaker_cooldown_s,
                10.0,
                86_400.0,
            )?,
            probe_interval: match int("router.probe_interval_s", r.probe_interval_s, 10, 0, 3600)? {
                0 => None,
                n => Some(Duration::from_secs(n as u64)),
            },
        };
        let members = validate_members(path, raw.member)?;
        Ok(Config {
            path: path.to_path_buf(),
            server,
            router,
            members,
        })
    }

    /// Checks that the classifier's members are exactly the pool's (any order).
    pub fn check_members(&self, classifier_members: &[String]) -> Result<(), String> {
        let pool: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        let missing: Vec<&str> = classifier_members
            .iter()
            .map(String::as_str)
            .filter(|c| !pool.contains(c))
            .collect();
        let extra: Vec<&str> = pool
            .iter()
            .copied()
            .filter(|p| !classifier_members.iter().any(|c| c == p))
            .collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{}: the checkpoint's members do not match the [[member]] tables: {}{}{} (checkpoint: {}; pool: {})",
            self.path.display(),
            if missing.is_empty() {
                String::new()
            } else {
                format!("not in the pool: {}", missing.join(", "))
            },
            if !missing.is_empty() && !extra.is_empty() {
                "; "
            } else {
                ""
            },
            if extra.is_empty() {
                String::new()
            } else {
                format!("not in the checkpoint: {}", extra.join(", "))
            },
            classifier_members.join(", "),
            pool.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests;
