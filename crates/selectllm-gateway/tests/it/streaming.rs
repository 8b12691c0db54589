//! `stream: true`: one member passed through (with failover before the first byte), several
//! voted then replayed; the explanation in the last chunk, then `[DONE]`.

use selectllm_pool::fake::Fault;

use crate::common::{Harness, ask, member, ordered_gateway, sse_data};

fn streamed(model: &str) -> serde_json::Value {
    let mut b = ask(model, "What is 3 + 4?");
    b["stream"] = true.into();
    b
}

fn content(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn one_member_streams_through() {
    let h = Harness::start(
        vec![
            member("a", 0.9, "The answer is 7 indeed."),
            member("b", 0.2, "The answer is 1."),
        ],
        "",
        "policy = \"maxconf:1\"",
    )
    .await;
    let r = h.post(&streamed("selectllm/auto")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-selectllm-winner"], "a");
    let events = sse_data(&r.text().await.expect("body"));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(content(&events), "The answer is 7 indeed.");
    assert!(events.len() >= 5, "several chunks: {events:?}");
    let last: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).expect("json");
    assert_eq!(last["selectllm"]["answer"], "7");
    assert_eq!(last["object"], "chat.completion.chunk");
    assert_eq!(h.fakes[1].requests(), 0);
    h.stop().await;
}

#[tokio::test]
async fn failover_before_the_first_byte() {
    let mut bad = member("a", 0.9, "never");
    bad.opts.script = vec![Fault::Status(500)];
    let h = Harness::start(
        vec![bad, member("b", 0.5, "The answer is 1.")],
        "",
        "policy = \"maxconf:1\"",
    )
    .await;
    let r = h.post(&streamed("selectllm/auto")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-selectllm-winner"], "b");
    let events = sse_data(&r.text().await.expect("body"));
    assert_eq!(content(&events), "The answer is 1.");
    let last: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).expect("json");
    let a = last["selectllm"]["members"]
        .as_array()
        .expect("m")
        .iter()
        .find(|m| m["name"] == "a")
        .cloned()
        .expect("a");
    assert!(a["error"].as_str().expect("error").contains("HTTP 500"));
    h.stop().await;
}

#[tokio::test]
async fn cut_after_the_first_byte_ends_with_an_error_event() {
    let mut cut = member("a", 0.9, "The answer is 7 indeed.");
    cut.opts.script = vec![Fault::Cut];
    let h = Harness::start(
        vec![cut, member("b", 0.5, "The answer is 1.")],
        "",
        "policy = \"maxconf:1\"",
    )
    .await;
    let r = h.post(&streamed("selectllm/auto")).await;
    assert_eq!(r.status(), 200);
    let events = sse_data(&r.text().await.expect("body"));
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"));
    let last: serde_json::Value =
        serde_json::from_str(events.last().expect("events")).expect("json");
    assert!(
        last["error"]["message"]
            .as_str()
            .expect("error")
            .contains("mid-stream")
    );
    assert_eq!(h.fakes[1].requests(), 0, "no failover after the first byte");
    h.stop().await;
}

#[tokio::test]
async fn several_members_vote_then_stream_the_winner() {
    let h = Harness::start(
        vec![
            member("a", 0.6, "Clearly the answer is 7."),
            member("b", 0.5, "I think the answer is 7."),
            member("c", 0.9, "Surely the answer is 3."),
        ],
        "",
        "policy = \"maxconf:3\"",
    )
    .await;
    let r = h.post(&streamed("selectllm/auto")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-selectllm-winner"], "a");
    let events = sse_data(&r.text().await.expect("body"));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(content(&events), "Clearly the answer is 7.");
    let last: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).expect("json");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["selectllm"]["winner"], "a");
    assert!(last["usage"]["total_tokens"].as_u64().expect("usage") > 0);
    h.stop().await;
}

#[tokio::test]
async fn passthrough_streams() {
    let h = Harness::start(vec![member("a", 0.9, "one two three")], "", "").await;
    let r = h.post(&streamed("a")).await;
    let events = sse_data(&r.text().await.expect("body"));
    assert_eq!(content(&events), "one two three");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    h.stop().await;
}

#[tokio::test]
async fn failover_follows_the_checkpoint_s_member_order() {
    // the checkpoint ranks a, then c, then b, whatever the probabilities say
    let mut bad = member("a", 0.9, "never");
    bad.opts.script = vec![Fault::Status(500)];
    let specs = vec![
        bad,
        member("b", 0.8, "The answer is 1."),
        member("c", 0.2, "The answer is 7."),
    ];
    let fakes = crate::common::fakes(&specs);
    let gw = ordered_gateway(&specs, &fakes, "policy = \"maxconf:1\"", vec![0, 2, 1]);
    let h = Harness::serve(gw, fakes, Vec::new()).await;
    let r = h.post(&streamed("selectllm/auto")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-selectllm-winner"], "c");
    let events = sse_data(&r.text().await.expect("body"));
    assert_eq!(content(&events), "The answer is 7.");
    assert_eq!(
        h.fakes[1].requests(),
        0,
        "b is last in the checkpoint's order"
    );
    h.stop().await;
}
