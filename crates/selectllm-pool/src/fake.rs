//! An in-process fake OpenAI server on 127.0.0.1:0 for tests and benchmarks (never a fixed port).
//!
//! It answers `/chat/completions` and `/completions` (plain or streamed) with a deterministic
//! text: `The answer is N.` (N from a hash of model and prompt) or, when the prompt has `A. `
//! option lines, `The answer is (L).`. Faults come from a cycling script (request k gets
//! `script[k % len]`) or from markers in the prompt, which always apply:
//! `[[fake:429]]` / `[[fake:500]]` (any status), `[[fake:malformed]]`, `[[fake:drop]]`,
//! `[[fake:slow=MS]]`, `[[fake:echo-auth]]` (a 401 whose body repeats the Authorization header),
//! `[[fake:cut]]`. [`FakeOptions`] sets a fixed reply text (a member that always answers the
//! same) and per-chunk delays; [`FakeServer::disconnects`] counts requests whose client hung
//! up before the answer was complete, [`FakeServer::last_request`] returns the last body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Ok,
    Slow(Duration),
    Status(u16),
    Malformed,
    Drop,
    /// A response cut mid-way: streamed, a first chunk and then the connection closes;
    /// plain, half the promised body and then the connection closes.
    Cut,
}

/// How a fake server answers.
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// Request k gets `script[k % len]` (markers in prompts still win); empty means all `Ok`.
    pub script: Vec<Fault>,
    /// Every successful answer is this text (default: [`answer`] of model and prompt).
    pub reply: Option<String>,
    /// Pause before each streamed chunk.
    pub chunk_delay: Duration,
    /// Pause before every answer that has no other fault (a member that always takes this
    /// long); a client hanging up meanwhile counts in [`FakeServer::disconnects`].
    pub delay: Duration,
}

#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    probes: AtomicU64,
    disconnects: AtomicU64,
    last: std::sync::Mutex<Option<serde_json::Value>>,
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server answering every request normally.
    pub fn start() -> std::io::Result<FakeServer> {
        FakeServer::with_script(vec![Fault::Ok])
    }

    /// Starts a server whose k-th request gets `script[k % len]` (markers in prompts still win).
    pub fn with_script(script: Vec<Fault>) -> std::io::Result<FakeServer> {
        FakeServer::with_options(FakeOptions {
            script,
            ..FakeOptions::default()
        })
    }

    /// Starts a server answering as `opts` says.
    pub fn with_options(opts: FakeOptions) -> std::io::Result<FakeServer> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let counter = shared.clone();
        let mut opts = opts;
        if opts.script.is_empty() {
            opts.script.push(Fault::Ok);
        }
        let opts = Arc::new(opts);
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        acc = listener.accept() => {
                            if let Ok((sock, _)) = acc {
                                let _ = sock.set_nodelay(true);
                                tokio::spawn(serve(sock, counter.clone(), opts.clone()));
                            }
                        }
                    }
                }
            });
        });
        Ok(FakeServer {
            addr,
            shared,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to put in a pool config, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far (every attempt counts).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// `GET /models` requests received (readiness probes; not counted in [`Self::requests`]).
    pub fn probes(&self) -> u64 {
        self.shared.probes.load(Ordering::Relaxed)
    }

    /// Requests whose client closed the connection before the answer was complete.
    pub fn disconnects(&self) -> u64 {
        self.shared.disconnects.load(Ordering::Relaxed)
    }

    /// The body of the last request received, as JSON.
    pub fn last_request(&self) -> Option<serde_json::Value> {
        self.shared.last.lock().map(|l| l.clone()).unwrap_or(None)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Deserialize)]
struct Req {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Msg>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize)]
struct Msg {
    #[serde(default)]
    content: String,
}

async fn serve(mut sock: TcpStream, shared: Arc<Shared>, opts: Arc<FakeOptions>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        // A model list for readiness probes; not a scripted request.
        if head.starts_with("GET ") && head.lines().next().is_some_and(|l| l.contains("/models")) {
            shared.probes.fetch_add(1, Ordering::Relaxed);
            if !write(&mut sock, 200, r#"{"object":"list","data":[]}"#).await {
                return;
            }
            continue;
        }
        let k = shared.requests.fetch_add(1, Ordering::Relaxed);
        if let (Ok(v), Ok(mut last)) = (serde_json::from_slice(&body), shared.last.lock()) {
            *last = Some(v);
        }
        let auth = header("authorization").unwrap_or_default();
        let fault = opts.script[k as usize % opts.script.len()];
        let keep = respond(&mut sock, &body, fault, &auth, &opts).await;
        if keep == Keep::Hungup {
            shared.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        if keep != Keep::Open {
            return;
        }
    }
}

/// What became of the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Open,
    Closed,
    /// The client hung up before the answer was complete.
    Hungup,
}

impl From<bool> for Keep {
    fn from(open: bool) -> Keep {
        if open { Keep::Open } else { Keep::Closed }
    }
}

/// Sleeps `d`, or returns false early when the client closes the connection.
async fn wait_or_hangup(sock: &mut TcpStream, d: Duration) -> bool {
    let mut probe = [0u8; 1];
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        r = sock.peek(&mut probe) => !matches!(r, Ok(0) | Err(_)) && {
            tokio::time::sleep(d).await;
            true
        },
    }
}

/// Writes the response; says whether the connection stays open.
async fn respond(
    sock: &mut TcpStream,
    body: &[u8],
    scripted: Fault,
    auth: &str,
    opts: &FakeOptions,
) -> Keep {
    let Ok(req) = serde_json::from_slice::<Req>(body) else {
        return write(sock, 400, r#"{"error":{"message":"bad json"}}"#)
            .await
            .into();
    };
    let user = match &req.prompt {
        Some(p) => p.clone(),
        None => req
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut fault = scripted;
    if let Some(i) = user.find("[[fake:") {
        let rest = &user[i + 7..];
        let tag = &rest[..rest.find("]]").unwrap_or(rest.len())];
        fault = match tag {
            "malformed" => Fault::Malformed,
            "drop" => Fault::Drop,
            "cut" => Fault::Cut,
            "echo-auth" => {
                let msg = format!(r#"{{"error":{{"message":"bad key {auth}"}}}}"#);
                return write(sock, 401, &msg).await.into();
            }
            t if t.starts_with("slow=") => {
                Fault::Slow(Duration::from_millis(t[5..].parse().unwrap_or(100)))
            }
            t => t.parse().map(Fault::Status).unwrap_or(Fault::Ok),
        };
    }
    if fault == Fault::Ok && !opts.delay.is_zero() {
        fault = Fault::Slow(opts.delay);
    }
    match fault {
        Fault::Drop => return Keep::Closed,
        Fault::Status(s) => {
            return write(sock, s, r#"{"error":{"message":"fake failure"}}"#)
                .await
                .into();
        }
        Fault::Malformed => {
            return write(sock, 200, r#"{"choices":[{"message":{"content"#)
                .await
                .into();
        }
        Fault::Slow(d) => {
            if !wait_or_hangup(sock, d).await {
                return Keep::Hungup;
            }
        }
        Fault::Ok | Fault::Cut => {}
    }
    let text = opts
        .reply
        .clone()
        .unwrap_or_else(|| answer(&req.model, &user));
    let cut = fault == Fault::Cut;
    let pt = user.split_whitespace().count();
    let ct = text.split_whitespace().count();
    let chat = req.prompt.is_none();
    if req.stream {
        return stream(sock, &text, chat, cut, opts.chunk_delay).await;
    }
    let choice = if chat {
        serde_json::json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
    } else {
        serde_json::json!({"index": 0, "text": text, "finish_reason": "stop"})
    };
    let resp = serde_json::json!({
        "id": "fake", "object": "chat.completion", "model": req.model,
        "choices": [choice],
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
    });
    let resp = resp.to_string();
    if cut {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            resp.len()
        );
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(&resp.as_bytes()[..resp.len() / 2]).await;
        return Keep::Closed;
    }
    write(sock, 200, &resp).await.into()
}

/// The deterministic answer text of a model to a prompt.
pub fn answer(model: &str, user: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in model.bytes().chain(user.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    if user.contains("\nA. ") {
        let l = (b'A' + (h % 4) as u8) as char;
        format!("Thinking it over. The answer is ({l}).")
    } else {
        format!("Let me compute step by step. The answer is {}.", h % 5)
    }
}

async fn stream(sock: &mut TcpStream, text: &str, chat: bool, cut: bool, delay: Duration) -> Keep {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return Keep::Hungup;
    }
    let mut words: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
    if let Some(last) = words.last_mut() {
        *last = last.trim_end().to_string();
    }
    for (i, w) in words.into_iter().enumerate() {
        if cut && i == 1 {
            return Keep::Closed;
        }
        if !delay.is_zero() && !wait_or_hangup(sock, delay).await {
            return Keep::Hungup;
        }
        let c = if chat {
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": w}}]})
        } else {
            serde_json::json!({"choices": [{"index": 0, "text": w}]})
        };
        if sock
            .write_all(format!("data: {c}\n\n").as_bytes())
            .await
            .is_err()
        {
            return Keep::Hungup;
        }
    }
    let end = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    let _ = sock
        .write_all(format!("data: {end}\n\ndata: [DONE]\n\n").as_bytes())
        .await;
    Keep::Closed
}

async fn write(sock: &mut TcpStream, status: u16, body: &str) -> bool {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(msg.as_bytes()).await.is_ok()
}
