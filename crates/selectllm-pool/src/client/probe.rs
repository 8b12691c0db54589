//! Reachability of a member, for a gateway's readiness: `GET {base_url}/models` with the
//! member's key (every OpenAI-compatible server we target answers it: OpenAI, vLLM, SGLang,
//! llama.cpp server, Ollama). No retries, no concurrency permit: a probe must not queue
//! behind real calls.

use std::time::{Duration, Instant};

use super::{CallError, MemberClient};

impl MemberClient {
    /// Probes the member once within `timeout` (capped by the member's own timeout). Returns
    /// the round trip on a 2xx answer; any other status, a connection error or a timeout is
    /// an error, redacted like every other error of this client. What a status means for
    /// readiness (a 404 from a proxy that lists no models still says the server is up) is
    /// the caller's rule.
    pub async fn probe(&self, timeout: Duration) -> Result<Duration, CallError> {
        let timeout = timeout.min(self.cfg.timeout);
        let start = Instant::now();
        let mut req = self
            .http
            .get(format!("{}/models", self.cfg.base_url))
            .timeout(timeout);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(CallError::Timeout(timeout.as_secs_f64()));
            }
            Err(e) => return Err(self.redact(self.transport(e))),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(start.elapsed());
        }
        let body = resp.text().await.unwrap_or_default();
        Err(self.redact(CallError::Status {
            status: status.as_u16(),
            body,
        }))
    }
}
