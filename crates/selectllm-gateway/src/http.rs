//! The HTTP layer (axum): routes, bearer auth, body limit, bounded in-flight requests, the one
//! error-to-response mapping, SSE, graceful shutdown. No selection logic here.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{Listener, ListenerExt};
use futures_util::StreamExt;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::error::GatewayError;
use crate::gateway::{Decision, Event, Gateway, Reply, Waited};
use crate::wire;

/// Shared state of the routes.
#[derive(Clone)]
pub struct AppState {
    gw: Arc<Gateway>,
    keys: Arc<Vec<Vec<u8>>>,
    in_flight: Arc<Semaphore>,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_vec(&self.envelope()).unwrap_or_default();
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = self.retry_after_s() {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// The routes. `api_keys`: accepted client keys (empty: no auth).
pub fn router(gw: Arc<Gateway>, api_keys: Vec<String>) -> Router {
    let limit = gw.config().server.max_body_bytes;
    let state = AppState {
        in_flight: Arc::new(Semaphore::new(gw.config().server.max_in_flight)),
        keys: Arc::new(
            api_keys
                .into_iter()
                .filter(|k| !k.is_empty())
                .map(String::into_bytes)
                .collect(),
        ),
        gw,
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            GatewayError::BadRequest {
                msg: "no such route (POST /v1/chat/completions, GET /v1/models, /health, /ready, /metrics)".into(),
                param: None,
            }
            .with_status(StatusCode::NOT_FOUND)
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

impl GatewayError {
    fn with_status(self, status: StatusCode) -> Response {
        let mut r = self.into_response();
        *r.status_mut() = status;
        r
    }
}

/// Client keys from the variable `api_keys_env` names (comma-separated); none when unset.
pub fn keys_from_env(var: Option<&str>) -> Result<Vec<String>, String> {
    let Some(var) = var else {
        return Ok(Vec::new());
    };
    let v = std::env::var(var)
        .map_err(|_| format!("server.api_keys_env: environment variable `{var}` is not set"))?;
    let keys: Vec<String> = v
        .split(',')
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(format!("server.api_keys_env: `{var}` holds no key"));
    }
    Ok(keys)
}

fn authorized(keys: &[Vec<u8>], headers: &HeaderMap) -> bool {
    if keys.is_empty() {
        return true;
    }
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    // every key compared, each in constant time
    keys.iter()
        .fold(0u8, |ok, k| ok | k.as_slice().ct_eq(given).unwrap_u8())
        == 1
}

async fn models(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&st.keys, &headers) {
        return GatewayError::Unauthorized.into_response();
    }
    json(&wire::model_list(&st.gw.model_ids()))
}

async fn ready(State(st): State<AppState>) -> Response {
    let r = st.gw.readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = json(&serde_json::to_value(&r).unwrap_or_default());
    *resp.status_mut() = status;
    resp
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.gw.metrics_text(),
    )
        .into_response()
}

async fn chat(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let r = chat_inner(&st, &headers, body).await;
    let resp = match r {
        Ok((mut r, waited)) => {
            // the gateway's own share of a completed answer: its time here, less the waits
            if let Some(w) = waited {
                let own = start.elapsed().saturating_sub(w.classifier + w.members);
                st.gw.record_overhead(own.as_secs_f64());
                server_timing(r.headers_mut(), &w, own);
            }
            r
        }
        Err(e) => e.into_response(),
    };
    st.gw
        .record_request(resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

async fn chat_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Response, Option<Waited>), GatewayError> {
    if !authorized(&st.keys, headers) {
        return Err(GatewayError::Unauthorized);
    }
    let permit = st.in_flight.clone().try_acquire_owned().map_err(|_| {
        GatewayError::Overloaded("too many requests in flight; retry shortly".into())
    })?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::PayloadTooLarge(st.gw.config().server.max_body_bytes)
        } else {
            GatewayError::bad("body", e.body_text())
        }
    })?;
    match st.gw.handle(&body).await? {
        Reply::Complete {
            body,
            decision,
            waited,
        } => {
            let mut r = json(&body);
            decision_headers(r.headers_mut(), &decision);
            Ok((r, Some(waited)))
        }
        Reply::Stream { decision, events } => {
            let sse = events.map(move |e| {
                let _hold = &permit; // the in-flight slot lives as long as the stream
                let bytes = match e {
                    Event::Data(v) => format!("data: {v}\n\n"),
                    Event::Done => "data: [DONE]\n\n".to_string(),
                };
                Ok::<_, std::convert::Infallible>(Bytes::from(bytes))
            });
            let mut r = Response::new(Body::from_stream(sse));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            decision_headers(h, &decision);
            Ok((r, None))
        }
    }
}

fn json(v: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `Server-Timing` (W3C) of a completed answer, milliseconds: its wait for the classifier
/// (queue and batch), its waits on member calls, and the gateway's own time (the rest of its
/// time in the handler), so a client can tell per request where the time went.
fn server_timing(h: &mut HeaderMap, w: &Waited, own: std::time::Duration) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let v = format!(
        "classify;dur={:.3}, members;dur={:.3}, gateway;dur={:.3}",
        ms(w.classifier),
        ms(w.members),
        ms(own)
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert("server-timing", v);
    }
}

fn decision_headers(h: &mut HeaderMap, d: &Decision) {
    let mut put = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put("x-selectllm-selected", &d.selected.join(","));
    put("x-selectllm-policy", &d.policy);
    if let Some(w) = &d.winner {
        put("x-selectllm-winner", w);
    }
}

/// Serves until `shutdown` resolves, then stops accepting and drains in-flight requests for
/// at most the configured drain timeout.
pub async fn serve(
    gw: Arc<Gateway>,
    api_keys: Vec<String>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = gw.config().server.drain_timeout;
    let _stop_prober = AbortOnDrop(tokio::spawn(gw.clone().run_prober()));
    serve_app(router(gw, api_keys), drain, listener, shutdown).await
}

/// [`serve`] without the member prober: one runtime's share when there are several.
pub(crate) async fn serve_app(
    app: Router,
    drain: std::time::Duration,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(nodelay(listener), app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let mut rx2 = rx.clone();
    tokio::select! {
        r = server => r,
        _ = async move {
            let _ = rx2.wait_for(|v| *v).await;
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!("drain timeout: {} s passed with requests still in flight", drain.as_secs_f64());
            Ok(())
        }
    }
}

/// The listener with TCP_NODELAY set on every accepted connection, so that every write goes
/// out at once. Without it, a streamed answer's later events wait on Nagle's algorithm for
/// the client's delayed ACK (about 40 ms on Linux).
pub(crate) fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on an accepted connection: {e}");
        }
    })
}

/// Stops a background task when the server stops.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal: draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_send_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::nodelay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is not set");
    }
}
