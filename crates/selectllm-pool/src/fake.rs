//! An in-process fake OpenAI server on 127.0.0.1:0 for tests and benchmarks (never a fixed port).
//!
//! It answers `/chat/completions` and `/completions` (plain or streamed) with a deterministic
//! text: `The answer is N.` (N from a hash of model and prompt) or, when the prompt has `A. `
//! option lines, `The answer is (L).`. Faults come from a cycling script (request k gets
//! `script[k % len]`) or from markers in the prompt, which always apply:
//! `[[fake:429]]` / `[[fake:500]]` (any status), `[[fake:malformed]]`, `[[fake:drop]]`,
//! `[[fake:slow=MS]]`, `[[fake:echo-auth]]` (a 401 whose body repeats the Authorization header).

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
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<AtomicU64>,
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
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let counter = requests.clone();
        let script = Arc::new(if script.is_empty() {
            vec![Fault::Ok]
        } else {
            script
        });
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
                                tokio::spawn(serve(sock, counter.clone(), script.clone()));
                            }
                        }
                    }
                }
            });
        });
        Ok(FakeServer {
            addr,
            requests,
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
        self.requests.load(Ordering::Relaxed)
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

async fn serve(mut sock: TcpStream, counter: Arc<AtomicU64>, script: Arc<Vec<Fault>>) {
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
        let k = counter.fetch_add(1, Ordering::Relaxed);
        let auth = header("authorization").unwrap_or_default();
        let keep = respond(&mut sock, &body, script[k as usize % script.len()], &auth).await;
        if !keep {
            return;
        }
    }
}

/// Writes the response; returns whether the connection stays open.
async fn respond(sock: &mut TcpStream, body: &[u8], scripted: Fault, auth: &str) -> bool {
    let Ok(req) = serde_json::from_slice::<Req>(body) else {
        return write(sock, 400, r#"{"error":{"message":"bad json"}}"#).await;
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
            "echo-auth" => {
                let msg = format!(r#"{{"error":{{"message":"bad key {auth}"}}}}"#);
                return write(sock, 401, &msg).await;
            }
            t if t.starts_with("slow=") => {
                Fault::Slow(Duration::from_millis(t[5..].parse().unwrap_or(100)))
            }
            t => t.parse().map(Fault::Status).unwrap_or(Fault::Ok),
        };
    }
    match fault {
        Fault::Drop => return false,
        Fault::Status(s) => {
            return write(sock, s, r#"{"error":{"message":"fake failure"}}"#).await;
        }
        Fault::Malformed => return write(sock, 200, r#"{"choices":[{"message":{"content"#).await,
        Fault::Slow(d) => tokio::time::sleep(d).await,
        Fault::Ok => {}
    }
    let text = answer(&req.model, &user);
    let pt = user.split_whitespace().count();
    let ct = text.split_whitespace().count();
    let chat = req.prompt.is_none();
    if req.stream {
        return stream(sock, &text, chat).await;
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
    write(sock, 200, &resp.to_string()).await
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

async fn stream(sock: &mut TcpStream, text: &str, chat: bool) -> bool {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut words: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
    if let Some(last) = words.last_mut() {
        *last = last.trim_end().to_string();
    }
    for w in words {
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
            return false;
        }
    }
    let end = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    let _ = sock
        .write_all(format!("data: {end}\n\ndata: [DONE]\n\n").as_bytes())
        .await;
    false
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
