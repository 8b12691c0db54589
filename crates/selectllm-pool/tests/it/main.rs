//! Client against the in-process fake server: answers, streaming, retries, errors, secrets.

use std::path::Path;

use selectllm_core::answer::Task;
use selectllm_pool::fake::{FakeServer, Fault};
use selectllm_pool::prompt::{self, Prompt};
use selectllm_pool::{CallError, MemberClient, Pool, PromptStyle, Sampling};

fn client(server: &FakeServer, extra: &str) -> MemberClient {
    let toml = format!(
        "[[member]]\nname = \"m\"\nbase_url = \"{}\"\nmodel = \"fake\"\nprompt = \"chat-cot\"\nmax_concurrency = 1\nbackoff_ms = 1\nprice_in = 1.0\nprice_out = 2.0\n{extra}",
        server.base_url()
    );
    let pool = Pool::parse(Path::new("t.toml"), &toml).expect("valid pool");
    MemberClient::with_key_lookup(&pool.members[0], |v| {
        (v == "FAKE_KEY").then(|| "sk-very-secret-123".to_string())
    })
    .expect("client")
}

fn sampling() -> Sampling {
    Sampling {
        temperature: 0.0,
        top_p: 1.0,
        max_tokens: 32,
        seed: None,
    }
}

fn chat(q: &str) -> Prompt {
    prompt::build(PromptStyle::ChatCot, Task::Gsm8k, q)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn answers_with_tokens_and_cost() {
    let s = FakeServer::start().expect("server");
    let c = client(&s, "");
    let r = rt()
        .block_on(c.complete(&chat("What is 2+2?"), &sampling()))
        .expect("answer");
    assert!(Task::Gsm8k.extract(&r.text).is_some(), "{}", r.text);
    assert_eq!(r.attempts, 1);
    let (pt, ct) = (
        r.prompt_tokens.expect("pt"),
        r.completion_tokens.expect("ct"),
    );
    assert_eq!(r.cost, Some((pt as f64 + 2.0 * ct as f64) / 1e6));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    // Completion endpoint (few-shot style).
    let p = prompt::build(PromptStyle::FewShot, Task::Mmlu, "Q?\nA. x\nB. y");
    let r = rt().block_on(c.complete(&p, &sampling())).expect("answer");
    assert!(r.text.contains("The answer is ("), "{}", r.text);
}

#[test]
fn streaming_measures_time_to_first_token() {
    let s = FakeServer::start().expect("server");
    let plain = rt()
        .block_on(client(&s, "").complete(&chat("Q1"), &sampling()))
        .expect("plain");
    let streamed = rt()
        .block_on(client(&s, "stream = true").complete(&chat("Q1"), &sampling()))
        .expect("streamed");
    assert_eq!(plain.text, streamed.text);
    let ttft = streamed.ttft_s.expect("ttft when streaming");
    assert!(ttft <= streamed.latency_s);
    assert!(plain.ttft_s.is_none());
}

#[test]
fn retries_transient_failures() {
    for (script, attempts) in [
        (vec![Fault::Status(429), Fault::Status(500), Fault::Ok], 3),
        (vec![Fault::Malformed, Fault::Ok], 2),
        (vec![Fault::Drop, Fault::Ok], 2),
        (vec![Fault::Status(503), Fault::Ok], 2),
    ] {
        let s = FakeServer::with_script(script.clone()).expect("server");
        let r = rt()
            .block_on(client(&s, "retries = 3").complete(&chat("Q"), &sampling()))
            .unwrap_or_else(|e| panic!("{script:?}: {e:?}"));
        assert_eq!(r.attempts, attempts, "{script:?}");
    }
}

#[test]
fn gives_up_after_retries_and_not_on_client_errors() {
    let s = FakeServer::start().expect("server");
    let c = client(&s, "retries = 2");
    let e = rt()
        .block_on(c.complete(&chat("[[fake:500]]"), &sampling()))
        .expect_err("always 500");
    assert_eq!(e.attempts, 3);
    assert!(matches!(e.error, CallError::Status { status: 500, .. }));
    let e = rt()
        .block_on(c.complete(&chat("[[fake:404]]"), &sampling()))
        .expect_err("404");
    assert_eq!(e.attempts, 1, "4xx other than 429 is not retried");
    let e = rt()
        .block_on(c.complete(&chat("[[fake:malformed]]"), &sampling()))
        .expect_err("malformed");
    assert!(matches!(e.error, CallError::Malformed(_)));
    let e = rt()
        .block_on(c.complete(&chat("[[fake:drop]]"), &sampling()))
        .expect_err("drop");
    assert!(matches!(e.error, CallError::Transport(_)), "{:?}", e.error);
}

#[test]
fn timeout_is_an_error() {
    let s = FakeServer::start().expect("server");
    let c = client(&s, "retries = 0\ntimeout_s = 0.3");
    let e = rt()
        .block_on(c.complete(&chat("[[fake:slow=5000]]"), &sampling()))
        .expect_err("times out");
    assert!(matches!(e.error, CallError::Timeout(_)), "{:?}", e.error);
}

#[test]
fn key_is_sent_but_never_shown() {
    let s = FakeServer::start().expect("server");
    let c = client(&s, "api_key_env = \"FAKE_KEY\"");
    let e = rt()
        .block_on(c.complete(&chat("[[fake:echo-auth]]"), &sampling()))
        .expect_err("401");
    let shown = format!("{} {:?} {c:?}", e.error, e.error);
    assert!(shown.contains("Bearer <redacted>"), "{shown}");
    assert!(!shown.contains("very-secret"), "{shown}");
    let pool = Pool::parse(
        Path::new("t.toml"),
        &format!(
            "[[member]]\nname = \"m\"\nbase_url = \"{}\"\nmodel = \"f\"\nprompt = \"chat-cot\"\napi_key_env = \"FAKE_KEY\"\n",
            s.base_url()
        ),
    )
    .expect("pool");
    let e = MemberClient::with_key_lookup(&pool.members[0], |_| None).expect_err("missing key");
    assert!(e.to_string().contains("`FAKE_KEY`"), "{e}");
}

/// A one-shot HTTP server that answers 401 with `pad` characters and then the request's
/// Authorization header: the key sits across the cut of the error body.
fn echo_after_padding(pad: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let h = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let (mut auth, mut len) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("authorization:") {
                auth = line["authorization:".len()..].trim().to_string();
            } else if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        let _ = std::io::Read::read_exact(&mut reader, &mut body);
        let text = format!("{}{auth}", "x".repeat(pad));
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
    });
    (url, h)
}

#[test]
fn key_across_the_body_cut_is_redacted_first() {
    // "Bearer " is 7 characters: the key starts at 292 and crosses the 300-character cut, so
    // cutting first would keep "sk-very-" where the whole key can no longer be found.
    let (url, server) = echo_after_padding(285);
    let toml = format!(
        "[[member]]\nname = \"m\"\nbase_url = \"{url}\"\nmodel = \"f\"\nprompt = \"chat-cot\"\napi_key_env = \"FAKE_KEY\"\nretries = 0\n"
    );
    let pool = Pool::parse(Path::new("t.toml"), &toml).expect("pool");
    let c = MemberClient::with_key_lookup(&pool.members[0], |_| Some("sk-very-secret-123".into()))
        .expect("client");
    let e = rt()
        .block_on(c.complete(&chat("Q"), &sampling()))
        .expect_err("401");
    server.join().expect("server thread");
    let CallError::Status { status, body } = &e.error else {
        panic!("{:?}", e.error)
    };
    assert_eq!(*status, 401);
    assert!(body.ends_with("Bearer <redacte"), "{body}");
    assert_eq!(body.chars().count(), selectllm_pool::client::BODY_CHARS);
    assert!(!body.contains("sk-"), "{body}");
}

#[test]
fn passthrough_calls_redact_the_same_way() {
    // The gateway's passthrough paths (`chat`, `chat_stream`) share `complete`'s redaction:
    // the key is removed before the body is cut.
    for stream in [false, true] {
        let (url, server) = echo_after_padding(285);
        let toml = format!(
            "[[member]]\nname = \"m\"\nbase_url = \"{url}\"\nmodel = \"f\"\nprompt = \"chat-cot\"\napi_key_env = \"FAKE_KEY\"\nretries = 0\n"
        );
        let pool = Pool::parse(Path::new("t.toml"), &toml).expect("pool");
        let c =
            MemberClient::with_key_lookup(&pool.members[0], |_| Some("sk-very-secret-123".into()))
                .expect("client");
        let request: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"messages":[{"role":"user","content":"Q"}]}"#).unwrap();
        let e = rt().block_on(async {
            if stream {
                c.chat_stream(&request).await.map(|_| ()).expect_err("401")
            } else {
                c.chat(&request).await.map(|_| ()).expect_err("401")
            }
        });
        server.join().expect("server thread");
        let CallError::Status { status, body } = &e.error else {
            panic!("{:?}", e.error)
        };
        assert_eq!(*status, 401);
        assert!(body.ends_with("Bearer <redacte"), "stream {stream}: {body}");
        assert_eq!(body.chars().count(), selectllm_pool::client::BODY_CHARS);
        assert!(!body.contains("sk-"), "{body}");
    }
}

#[test]
fn refused_connection_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let toml = format!(
        "[[member]]\nname = \"m\"\nbase_url = \"http://127.0.0.1:{port}/v1?api_key=sk-in-url-77\"\nmodel = \"f\"\nprompt = \"chat-cot\"\nretries = 5\nbackoff_ms = 2000\n"
    );
    let pool = Pool::parse(Path::new("t.toml"), &toml).expect("pool");
    let c = MemberClient::with_key_lookup(&pool.members[0], |_| None).expect("client");
    let e = rt()
        .block_on(c.complete(&chat("Q"), &sampling()))
        .expect_err("nothing listens");
    assert!(matches!(e.error, CallError::Refused(_)), "{:?}", e.error);
    assert_eq!(e.attempts, 1, "a refused connection is not retried");
    assert!(!e.error.to_string().contains("sk-in-url"), "{}", e.error);
}

#[test]
fn a_client_with_its_own_connections_shares_the_concurrency_limit() {
    // max_concurrency = 1: the two clients' calls to a member taking 300 ms must queue
    let server = FakeServer::with_options(selectllm_pool::fake::FakeOptions {
        delay: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .expect("fake");
    let a = client(&server, "");
    let b = a.with_own_connections().expect("second client");
    let (q1, q2, s) = (chat("q1"), chat("q2"), sampling());
    let t = std::time::Instant::now();
    rt().block_on(async {
        let (x, y) = tokio::join!(a.complete(&q1, &s), b.complete(&q2, &s));
        x.expect("first answer");
        y.expect("second answer");
    });
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(590),
        "the calls overlapped: {:?}",
        t.elapsed()
    );
    assert_eq!(server.requests(), 2);
}
