//! Members failing: 500, malformed JSON, hanging past the timeout; all failing; overload;
//! the circuit breaker; a client hanging up cancels the member calls.

use std::time::Duration;

use selectllm_pool::fake::{FakeOptions, Fault};

use crate::common::{Harness, MemberSpec, ask, member};

fn faulty(name: &'static str, prob: f32, fault: Fault) -> MemberSpec {
    MemberSpec {
        name,
        prob,
        opts: FakeOptions {
            script: vec![fault],
            reply: Some(format!("{name} says the answer is 9.")),
            ..FakeOptions::default()
        },
        extra: "timeout_s = 0.3",
    }
}

async fn one_failing(fault: Fault, needle: &str) {
    let h = Harness::start(
        vec![
            faulty("bad", 0.9, fault),
            member("a", 0.6, "The answer is 7."),
            member("b", 0.5, "So the answer is 7."),
        ],
        "",
        "policy = \"maxconf:3\"",
    )
    .await;
    let r = h.post(&ask("selectllm/auto", "q")).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["selectllm"]["winner"], "a");
    let bad = v["selectllm"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["name"] == "bad")
        .expect("bad");
    let err = bad["error"].as_str().expect("failure reported");
    assert!(err.contains(needle), "{err} should say {needle}");
    assert!(bad.get("answer").is_none());
    h.stop().await;
}

#[tokio::test]
async fn member_500_drops_out_of_the_vote() {
    one_failing(Fault::Status(500), "HTTP 500").await;
}

#[tokio::test]
async fn member_malformed_json_drops_out() {
    one_failing(Fault::Malformed, "malformed").await;
}

#[tokio::test]
async fn member_hanging_past_its_timeout_drops_out() {
    one_failing(Fault::Slow(Duration::from_secs(5)), "timeout").await;
}

#[tokio::test]
async fn member_cut_mid_body_drops_out() {
    one_failing(Fault::Cut, "").await;
}

#[tokio::test]
async fn all_failing_is_502_and_all_timing_out_is_504() {
    let h = Harness::start(
        vec![
            faulty("x", 0.9, Fault::Status(500)),
            faulty("y", 0.8, Fault::Malformed),
        ],
        "",
        "policy = \"maxconf:2\"",
    )
    .await;
    let r = h.post(&ask("selectllm/auto", "q")).await;
    assert_eq!(r.status(), 502);
    let v: serde_json::Value = r.json().await.expect("envelope");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("x: HTTP 500") && msg.contains("y: malformed"),
        "{msg}"
    );
    h.stop().await;

    let slow = Fault::Slow(Duration::from_secs(5));
    let h = Harness::start(
        vec![faulty("x", 0.9, slow), faulty("y", 0.8, slow)],
        "",
        "policy = \"maxconf:2\"",
    )
    .await;
    let r = h.post(&ask("selectllm/auto", "q")).await;
    assert_eq!(r.status(), 504);
    h.stop().await;
}

#[tokio::test]
async fn overload_answers_429_with_retry_after_at_once() {
    let mut slow = member("a", 0.9, "The answer is 1.");
    slow.opts.script = vec![Fault::Slow(Duration::from_millis(800))];
    let h = Harness::start(vec![slow], "max_in_flight = 1", "").await;
    let first = {
        let (http, url) = (h.http.clone(), h.url.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/v1/chat/completions"))
                .json(&ask("selectllm/auto", "q"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = std::time::Instant::now();
    let r = h.post(&ask("selectllm/auto", "q")).await;
    assert_eq!(r.status(), 429);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "429 must not wait for a slot"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(first.await.expect("join").expect("first request"), 200);
    h.stop().await;
}

#[tokio::test]
async fn circuit_opens_after_consecutive_failures() {
    let h = Harness::start(
        vec![
            faulty("bad", 0.9, Fault::Status(500)),
            member("a", 0.6, "The answer is 7."),
        ],
        "",
        "policy = \"maxconf:2\"\nbreaker_failures = 2\nbreaker_cooldown_s = 60",
    )
    .await;
    for _ in 0..4 {
        let r = h.post(&ask("selectllm/auto", "q")).await;
        assert_eq!(r.status(), 200);
    }
    // two calls opened the circuit; the next two requests did not call `bad`
    assert_eq!(h.fakes[0].requests(), 2);
    let v: serde_json::Value = h
        .post(&ask("selectllm/auto", "q"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["selectllm"]["selected"], serde_json::json!(["a"]));
    let m = h.metrics().await;
    assert!(
        m.contains("selectllm_member_circuit_open{member=\"bad\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("selectllm_member_failures_total{member=\"bad\",reason=\"status\"} 2"),
        "{m}"
    );
    // passthrough to the open member fails fast with 502
    let r = h.post(&ask("bad", "q")).await;
    assert_eq!(r.status(), 502);
    h.stop().await;
}

#[tokio::test]
async fn client_hanging_up_cancels_member_calls() {
    let mut slow = member("a", 0.9, "The answer is 1.");
    slow.opts.script = vec![Fault::Slow(Duration::from_secs(3))];
    let h = Harness::start(vec![slow], "", "").await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let r = client
        .post(format!("{}/v1/chat/completions", h.url))
        .json(&ask("selectllm/auto", "q"))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while h.fakes[0].disconnects() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        h.fakes[0].disconnects(),
        1,
        "the member's connection was dropped"
    );
    h.stop().await;
}
