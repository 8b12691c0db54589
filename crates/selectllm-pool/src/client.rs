//! The OpenAI-compatible client of one member: a concurrency limit, a timeout per attempt,
//! retries with exponential backoff and jitter on 429, 5xx, connection errors, timeouts and
//! malformed bodies; measures latency (and time to first token when streaming), tokens, cost.
//! The API key is read once from the configured variable and never appears in errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::PoolError;
use crate::config::MemberConfig;
use crate::prompt::Prompt;
use crate::wire;

mod passthrough;
mod probe;
pub use passthrough::{ChatReply, ChatStream};

/// Characters of a server's error body kept in a [`CallError::Status`].
pub const BODY_CHARS: usize = 300;

/// Sampling settings of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub seed: Option<u64>,
}

/// What a successful call returned and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish_reason: Option<String>,
    /// Seconds of the successful attempt, request sent to body read.
    pub latency_s: f64,
    /// Seconds to the first non-empty streamed token (streaming only).
    pub ttft_s: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost: Option<f64>,
    /// Attempts made, 1 when the first try succeeded.
    pub attempts: u32,
}

/// Why a call failed (after its retries).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("timeout after {0:.1} s")]
    Timeout(f64),
    #[error("connection: {0}")]
    Transport(String),
    /// Nothing listens at the address: not retried, so a dead member fails fast.
    #[error("connection refused: {0}")]
    Refused(String),
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl CallError {
    /// 429, 5xx, timeouts, connection errors and malformed bodies are retried; other 4xx and
    /// refused connections are not.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Status { status, .. } => *status == 429 || *status >= 500,
            CallError::Refused(_) => false,
            _ => true,
        }
    }
}

/// A failed call: the last error and the attempts made.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    pub error: CallError,
    pub attempts: u32,
}

/// The client of one member. Cheap to share behind an `Arc`.
pub struct MemberClient {
    cfg: MemberConfig,
    http: reqwest::Client,
    key: Option<String>,
    /// Credentials written into `base_url` (user info, key-like query values).
    url_secrets: Vec<String>,
    permits: Arc<Semaphore>,
    jitter: AtomicU64,
}

impl std::fmt::Debug for MemberClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberClient")
            .field("member", &self.cfg.name)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The HTTP client of one member: its timeouts, an idle connection kept per permitted call.
fn http_client(cfg: &MemberConfig) -> Result<reqwest::Client, PoolError> {
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(cfg.max_concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| PoolError::Client {
            member: cfg.name.clone(),
            msg: e.to_string(),
        })
}

impl MemberClient {
    /// Builds the client; reads the API key from `api_key_env` when set.
    pub fn new(cfg: &MemberConfig) -> Result<Self, PoolError> {
        MemberClient::with_key_lookup(cfg, |var| std::env::var(var).ok())
    }

    /// Builds the client, looking the key variable up with `lookup` (tests pass their own).
    pub fn with_key_lookup(
        cfg: &MemberConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PoolError> {
        let key = match &cfg.api_key_env {
            Some(var) => Some(lookup(var).ok_or_else(|| PoolError::MissingKey {
                member: cfg.name.clone(),
                var: var.clone(),
            })?),
            None => None,
        };
        Ok(MemberClient {
            cfg: cfg.clone(),
            http: http_client(cfg)?,
            key: key.filter(|k| !k.is_empty()),
            url_secrets: crate::config::url_secrets(&cfg.base_url),
            permits: Arc::new(Semaphore::new(cfg.max_concurrency)),
            jitter: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        })
    }

    /// A client for the same member with its own connections, sharing this one's
    /// `max_concurrency` permits (and key): for a server that runs one async runtime per
    /// thread, where a connection is driven by the runtime that opened it.
    pub fn with_own_connections(&self) -> Result<Self, PoolError> {
        Ok(MemberClient {
            cfg: self.cfg.clone(),
            http: http_client(&self.cfg)?,
            key: self.key.clone(),
            url_secrets: self.url_secrets.clone(),
            permits: self.permits.clone(),
            jitter: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        })
    }

    pub fn config(&self) -> &MemberConfig {
        &self.cfg
    }

    /// One call with retries; waits for a concurrency permit first.
    pub async fn complete(
        &self,
        prompt: &Prompt,
        sampling: &Sampling,
    ) -> Result<Completion, CallFailure> {
        let _permit = self.permits.acquire().await.map_err(|_| CallFailure {
            error: CallError::Transport("client closed".into()),
            attempts: 0,
        })?;
        let body = self.body(prompt, sampling);
        let url = match prompt {
            Prompt::Chat { .. } => format!("{}/chat/completions", self.cfg.base_url),
            Prompt::Completion { .. } => format!("{}/completions", self.cfg.base_url),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, retry_after) = self.attempt(&url, &body).await;
            match result {
                Ok(mut c) => {
                    c.attempts = attempt;
                    c.cost = self.cfg.cost(c.prompt_tokens, c.completion_tokens);
                    return Ok(c);
                }
                Err(e) => self.retry_or_fail(e, attempt, retry_after).await?,
            }
        }
    }

    fn body(&self, prompt: &Prompt, s: &Sampling) -> Vec<u8> {
        let stream = self.cfg.stream;
        let r = match prompt {
            Prompt::Chat { system, user } => serde_json::to_vec(&wire::ChatRequest {
                model: &self.cfg.model,
                messages: system
                    .iter()
                    .map(|s| wire::ChatMessage {
                        role: "system",
                        content: s,
                    })
                    .chain(std::iter::once(wire::ChatMessage {
                        role: "user",
                        content: user,
                    }))
                    .collect(),
                temperature: s.temperature,
                top_p: s.top_p,
                max_tokens: s.max_tokens,
                seed: s.seed,
                stream,
            }),
            Prompt::Completion { prompt, stop } => serde_json::to_vec(&wire::CompletionRequest {
                model: &self.cfg.model,
                prompt,
                stop,
                temperature: s.temperature,
                top_p: s.top_p,
                max_tokens: s.max_tokens,
                seed: s.seed,
                stream,
            }),
        };
        r.unwrap_or_default()
    }

    async fn attempt(
        &self,
        url: &str,
        body: &[u8],
    ) -> (Result<Completion, CallError>, Option<Duration>) {
        let start = Instant::now();
        let resp = match self.post_json(url, body).send().await {
            Ok(r) => r,
            Err(e) => return (Err(self.transport(e)), None),
        };
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry_after(resp.headers());
            // Kept whole here: `redact` removes the key before the body is cut.
            let body = resp.text().await.unwrap_or_default();
            let e = CallError::Status {
                status: status.as_u16(),
                body,
            };
            return (Err(e), retry_after);
        }
        let r = if self.cfg.stream {
            self.read_stream(resp, start).await
        } else {
            self.read_whole(resp, start).await
        };
        (r, None)
    }

    async fn read_whole(
        &self,
        resp: reqwest::Response,
        start: Instant,
    ) -> Result<Completion, CallError> {
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let latency_s = start.elapsed().as_secs_f64();
        let r: wire::Response =
            serde_json::from_slice(&bytes).map_err(|e| CallError::Malformed(e.to_string()))?;
        completion_of(&r, latency_s)
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        start: Instant,
    ) -> Result<Completion, CallError> {
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Completion {
            text: String::new(),
            finish_reason: None,
            latency_s: 0.0,
            ttft_s: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost: None,
            attempts: 0,
        };
        let mut done = false;
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk.map_err(|e| self.transport(e))?);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    done = true;
                    continue;
                }
                let r: wire::Response = serde_json::from_str(data)
                    .map_err(|e| CallError::Malformed(format!("stream chunk: {e}")))?;
                if let Some(c) = r.choices.first() {
                    if let Some(t) = c.text().filter(|t| !t.is_empty()) {
                        if out.ttft_s.is_none() {
                            out.ttft_s = Some(start.elapsed().as_secs_f64());
                        }
                        out.text.push_str(t);
                    }
                    if c.finish_reason.is_some() {
                        out.finish_reason = c.finish_reason.clone();
                    }
                }
                if let Some(u) = r.usage {
                    out.prompt_tokens = u.prompt_tokens.or(out.prompt_tokens);
                    out.completion_tokens = u.completion_tokens.or(out.completion_tokens);
                }
            }
        }
        if !done && out.finish_reason.is_none() {
            return Err(CallError::Malformed("stream ended without [DONE]".into()));
        }
        out.latency_s = start.elapsed().as_secs_f64();
        Ok(out)
    }

    /// A JSON POST to the member, with its key as a bearer token when it has one.
    fn post_json(&self, url: &str, body: &[u8]) -> reqwest::RequestBuilder {
        let req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        match &self.key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    fn transport(&self, e: reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::Timeout(self.cfg.timeout.as_secs_f64())
        } else {
            // reqwest's Display names the URL; the source chain says what happened.
            let mut msg = e.to_string();
            let mut refused = false;
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                refused |= s
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            if refused {
                CallError::Refused(msg)
            } else {
                CallError::Transport(msg)
            }
        }
    }

    /// The texts [`redact`] removes from this member's errors: the API key and the base
    /// URL's credentials.
    fn secrets(&self) -> Vec<String> {
        self.key.iter().chain(&self.url_secrets).cloned().collect()
    }

    /// [`redact`] with this member's secrets.
    fn redact(&self, e: CallError) -> CallError {
        redact(&self.secrets(), e)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.cfg.backoff.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1) as i32);
        // xorshift jitter in [0.5, 1.5): spreads retries without a shared RNG.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        let j = 0.5 + (x >> 11) as f64 / (1u64 << 53) as f64;
        let d = Duration::from_secs_f64((base * j).min(30.0));
        retry_after.map_or(d, |r| r.max(d))
    }
}

/// Removes `secrets` (the API key and the base URL's credentials) from any text a server or
/// library put in an error, then cuts a status body to [`BODY_CHARS`] (in that order, so no
/// part of a key survives the cut). Every call path (prompted and passthrough) uses it.
fn redact(secrets: &[String], e: CallError) -> CallError {
    let r = |mut s: String| {
        for k in secrets {
            s = s.replace(k.as_str(), "<redacted>");
        }
        s
    };
    match e {
        CallError::Status { status, body } => CallError::Status {
            status,
            body: r(body).chars().take(BODY_CHARS).collect(),
        },
        CallError::Transport(s) => CallError::Transport(r(s)),
        CallError::Refused(s) => CallError::Refused(r(s)),
        CallError::Malformed(s) => CallError::Malformed(r(s)),
        t => t,
    }
}

/// The first choice's text, the finish reason and the tokens of a whole (not streamed)
/// response; cost and attempts are filled in by the caller.
fn completion_of(r: &wire::Response, latency_s: f64) -> Result<Completion, CallError> {
    let choice = r
        .choices
        .first()
        .ok_or_else(|| CallError::Malformed("no choices".into()))?;
    let text = choice
        .text()
        .ok_or_else(|| CallError::Malformed("choice has no content".into()))?;
    Ok(Completion {
        text: text.to_string(),
        finish_reason: choice.finish_reason.clone(),
        latency_s,
        ttft_s: None,
        prompt_tokens: r.usage.as_ref().and_then(|u| u.prompt_tokens),
        completion_tokens: r.usage.as_ref().and_then(|u| u.completion_tokens),
        cost: None,
        attempts: 0,
    })
}

/// A server's `Retry-After` in seconds (finite, non-negative, at most 60 s).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Duration::from_secs_f64(v.min(60.0)))
}
