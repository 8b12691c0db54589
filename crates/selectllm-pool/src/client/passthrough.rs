//! Passthrough calls: the client's own chat request (messages and sampling parameters as the
//! caller sent them, not rebuilt from a prompt template) to this member, with the member's
//! `model` substituted, and its full response back, plain or streamed. Same permits, timeouts,
//! retries with backoff and key redaction as [`MemberClient::complete`].

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::{CallError, CallFailure, Completion, MemberClient, completion_of};
use crate::wire;

/// A member's full chat response, as it sent it, with what the call measured.
#[derive(Debug, Clone)]
pub struct ChatReply {
    /// The response object (`choices`, `usage`, ... as the member sent them).
    pub body: Value,
    /// Text of the first choice, tokens, cost, latency, attempts.
    pub completion: Completion,
}

/// A member's streamed response: one item per `data:` event (the chunk object), ending after
/// `[DONE]`. A stream that ends without `[DONE]` or a final `finish_reason` ends with an
/// error item. Holds the member's concurrency permit until dropped; dropping it closes the
/// connection.
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<Value, CallError>> + Send>>,
    _permit: OwnedSemaphorePermit,
    /// Attempts made before the stream started (1 when the first try answered).
    pub attempts: u32,
    /// When the request was sent (for latency and time to first token).
    pub started: Instant,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl Stream for ChatStream {
    type Item = Result<Value, CallError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl MemberClient {
    /// Sends `request` (an OpenAI chat request object) to `/chat/completions` with `model`
    /// set to this member's model and `stream` off; retries as [`MemberClient::complete`].
    pub async fn chat(&self, request: &Map<String, Value>) -> Result<ChatReply, CallFailure> {
        let _permit = self.permit().await?;
        let body = self.passthrough_body(request, false);
        let url = format!("{}/chat/completions", self.cfg.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let start = Instant::now();
            let result = match self.send_json(&url, &body).await {
                Ok(resp) => (self.read_reply(resp, start).await, None),
                Err((e, retry_after)) => (Err(e), retry_after),
            };
            match result {
                (Ok(mut r), _) => {
                    r.completion.attempts = attempt;
                    r.completion.cost = self
                        .cfg
                        .cost(r.completion.prompt_tokens, r.completion.completion_tokens);
                    return Ok(r);
                }
                (Err(e), retry_after) => self.retry_or_fail(e, attempt, retry_after).await?,
            }
        }
    }

    /// Like [`MemberClient::chat`] with `stream` on: retries until the member answers 200,
    /// then hands over the event stream (no retry once it has started).
    pub async fn chat_stream(
        &self,
        request: &Map<String, Value>,
    ) -> Result<ChatStream, CallFailure> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let body = self.passthrough_body(request, true);
        let url = format!("{}/chat/completions", self.cfg.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            match self.send_json(&url, &body).await {
                Ok(resp) => {
                    return Ok(ChatStream {
                        inner: sse_events(resp, self.cfg.timeout.as_secs_f64(), self.secrets())
                            .boxed(),
                        _permit: permit,
                        attempts: attempt,
                        started,
                    });
                }
                Err((e, retry_after)) => self.retry_or_fail(e, attempt, retry_after).await?,
            }
        }
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, CallFailure> {
        self.permits.acquire().await.map_err(|_| closed())
    }

    /// Redacts `e`; sleeps the backoff when it may be retried, else returns the failure.
    pub(super) async fn retry_or_fail(
        &self,
        e: CallError,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Result<(), CallFailure> {
        let e = self.redact(e);
        if !e.retryable() || attempt > self.cfg.retries {
            return Err(CallFailure {
                error: e,
                attempts: attempt,
            });
        }
        tracing::debug!(member = %self.cfg.name, attempt, error = %e, "retrying");
        tokio::time::sleep(self.backoff(attempt, retry_after)).await;
        Ok(())
    }

    fn passthrough_body(&self, request: &Map<String, Value>, stream: bool) -> Vec<u8> {
        let mut r = request.clone();
        r.insert("model".into(), Value::String(self.cfg.model.clone()));
        if stream {
            r.insert("stream".into(), Value::Bool(true));
        } else {
            r.remove("stream");
            r.remove("stream_options");
        }
        serde_json::to_vec(&r).unwrap_or_default()
    }

    /// POSTs `body`; a non-2xx status is an error with the (redacted, then truncated) body
    /// and the server's `Retry-After`.
    async fn send_json(
        &self,
        url: &str,
        body: &[u8],
    ) -> Result<reqwest::Response, (CallError, Option<Duration>)> {
        let resp = self
            .post_json(url, body)
            .send()
            .await
            .map_err(|e| (self.transport(e), None))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = super::retry_after(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        let e = self.redact(CallError::Status {
            status: status.as_u16(),
            body: text,
        });
        Err((e, retry_after))
    }

    async fn read_reply(
        &self,
        resp: reqwest::Response,
        start: Instant,
    ) -> Result<ChatReply, CallError> {
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let latency_s = start.elapsed().as_secs_f64();
        let body: Value =
            serde_json::from_slice(&bytes).map_err(|e| CallError::Malformed(e.to_string()))?;
        let r =
            wire::Response::deserialize(&body).map_err(|e| CallError::Malformed(e.to_string()))?;
        let completion = completion_of(&r, latency_s)?;
        Ok(ChatReply { body, completion })
    }
}

fn closed() -> CallFailure {
    CallFailure {
        error: CallError::Transport("client closed".into()),
        attempts: 0,
    }
}

/// The `data:` events of an SSE body as JSON values; ends at `[DONE]`, errors on a cut stream.
/// A cut stream's error goes through [`super::redact`] with `secrets` (reqwest names the URL).
fn sse_events(
    resp: reqwest::Response,
    timeout_s: f64,
    secrets: Vec<String>,
) -> impl Stream<Item = Result<Value, CallError>> + Send {
    struct St<S> {
        body: S,
        buf: Vec<u8>,
        finished: bool,
        saw_finish: bool,
        secrets: Vec<String>,
    }
    let st = St {
        body: resp.bytes_stream(),
        buf: Vec::new(),
        finished: false,
        saw_finish: false,
        secrets,
    };
    futures_util::stream::unfold(st, move |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            while let Some(pos) = st.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = st.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    return None;
                }
                let item = serde_json::from_str::<Value>(data)
                    .map_err(|e| CallError::Malformed(format!("stream chunk: {e}")));
                match &item {
                    Ok(v) => {
                        st.saw_finish |= v
                            .pointer("/choices/0/finish_reason")
                            .is_some_and(|f| !f.is_null());
                    }
                    Err(_) => st.finished = true,
                }
                return Some((item, st));
            }
            match st.body.next().await {
                Some(Ok(bytes)) => st.buf.extend_from_slice(&bytes),
                Some(Err(e)) => {
                    st.finished = true;
                    let err = if e.is_timeout() {
                        CallError::Timeout(timeout_s)
                    } else {
                        let cut = CallError::Transport(format!("stream cut: {e}"));
                        super::redact(&st.secrets, cut)
                    };
                    return Some((Err(err), st));
                }
                None => {
                    if st.saw_finish {
                        return None;
                    }
                    st.finished = true;
                    let e = CallError::Malformed("stream ended without [DONE]".into());
                    return Some((Err(e), st));
                }
            }
        }
    })
}
