//! Non-streamed answers: the vote, passthrough, route_only, auth, the 4xx paths.

use serde_json::json;

use crate::common::{Harness, ask, member};

fn three() -> Vec<crate::common::MemberSpec> {
    vec![
        member("a", 0.6, "Clearly the answer is 7."),
        member("b", 0.5, "I think the answer is 7."),
        member("c", 0.9, "Surely the answer is 3."),
    ]
}

#[tokio::test]
async fn vote_picks_the_majority_and_the_most_confident_backer() {
    let h = Harness::start(three(), "", "policy = \"maxconf:3\"").await;
    let r = h.post(&ask("selectllm/auto", "What is 3 + 4?")).await;
    assert_eq!(r.status(), 200);
    let hd = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(hd("x-selectllm-selected").as_deref(), Some("c,a,b"));
    assert_eq!(hd("x-selectllm-winner").as_deref(), Some("a"));
    assert_eq!(hd("x-selectllm-policy").as_deref(), Some("maxconf:3"));
    // where the time went, per request: classifier, member calls, the gateway's own (ms)
    let timing = hd("server-timing").expect("server-timing");
    let names: Vec<&str> = timing
        .split(", ")
        .map(|m| {
            let (name, dur) = m.split_once(";dur=").expect("name;dur=ms");
            assert!(dur.parse::<f64>().is_ok_and(|d| d >= 0.0), "{timing}");
            name
        })
        .collect();
    assert_eq!(names, ["classify", "members", "gateway"], "{timing}");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "selectllm/auto");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Clearly the answer is 7."
    );
    let x = &v["selectllm"];
    assert_eq!(x["answer"], "7");
    assert_eq!(x["winner"], "a");
    assert_eq!(x["unanimous"], false);
    assert!(x.get("tie_break").is_none(), "a 2-1 majority is no tie");
    let c = x["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["name"] == "c")
        .expect("c");
    assert_eq!(c["answer"], "3");
    assert!((c["probability"].as_f64().expect("p") - 0.9).abs() < 1e-6);
    // usage sums the three calls (fake: prompt words + completion words per call)
    let per_call = v["usage"]["prompt_tokens"].as_u64().expect("usage") / 3;
    assert_eq!(v["usage"]["prompt_tokens"].as_u64(), Some(per_call * 3));
    assert!(v["usage"]["completion_tokens"].as_u64().expect("ct") >= 3 * 4);
    // the user's messages and sampling parameters went to each member as sent
    for f in &h.fakes {
        let sent = f.last_request().expect("member called");
        assert_eq!(sent["temperature"], 0.3);
        assert_eq!(sent["stop"], json!(["\n\n"]));
        assert_eq!(sent["messages"][0]["content"], "Be brief.");
        assert!(sent.get("selectllm").is_none());
    }
    // by default the classifier runs on its worker thread, off the async runtime
    let m = h.metrics().await;
    assert!(m.contains("selectllm_classifier_inline_total 0"), "{m}");
    h.stop().await;
}

#[tokio::test]
async fn weighted_vote_and_policy_override() {
    let h = Harness::start(three(), "", "").await;
    // weightedmaxconf:3 (default): 7 has 0.6 + 0.5 = 1.1 > 0.9
    let v: serde_json::Value = h
        .post(&ask("selectllm/auto", "q"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["selectllm"]["answer"], "7");
    assert_eq!(v["selectllm"]["policy"], "weightedmaxconf:3");
    // selectllm/maxconf:1 calls only the most confident member
    let v: serde_json::Value = h
        .post(&ask("selectllm/maxconf:1", "q"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["selectllm"]["selected"], json!(["c"]));
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Surely the answer is 3."
    );
    // the request's selectllm object narrows members and sets the policy
    let mut body = ask("selectllm/auto", "q");
    body["selectllm"] = json!({"members": ["a", "b"], "policy": "maxconf:1"});
    let v: serde_json::Value = h.post(&body).await.json().await.expect("json");
    assert_eq!(v["selectllm"]["selected"], json!(["a"]));
    // a vote with no majority says which answers tied and the rule that broke the tie
    body["selectllm"] = json!({"members": ["a", "c"], "policy": "maxconf:2"});
    let v: serde_json::Value = h.post(&body).await.json().await.expect("json");
    let tie = v["selectllm"]["tie_break"]
        .as_str()
        .expect("a 1-1 tie is explained");
    assert!(tie.contains("7, 3") || tie.contains("3, 7"), "{tie}");
    assert!(tie.contains("lower mean latency"), "{tie}");
    h.stop().await;
}

#[tokio::test]
async fn route_only_calls_nobody() {
    let h = Harness::start(three(), "", "").await;
    let mut body = ask("selectllm/auto", "What is 3 + 4?");
    body["selectllm"] = json!({"route_only": true});
    let r = h.post(&body).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["selectllm"]["selected"], json!(["c", "a", "b"]));
    assert_eq!(v["selectllm"]["route_only"], true);
    assert!(h.fakes.iter().all(|f| f.requests() == 0));
    h.stop().await;
}

#[tokio::test]
async fn passthrough_calls_only_the_named_member() {
    let h = Harness::start(three(), "", "").await;
    let r = h.post(&ask("b", "hi")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-selectllm-policy"], "passthrough");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "I think the answer is 7."
    );
    assert_eq!(v["model"], "b");
    let calls: Vec<u64> = h.fakes.iter().map(|f| f.requests()).collect();
    assert_eq!(calls, vec![0, 1, 0]);
    h.stop().await;
}

#[tokio::test]
async fn client_errors_are_4xx_naming_the_field() {
    let h = Harness::start(three(), "max_body_bytes = 2048", "").await;
    let cases = [
        (ask("gpt-9", "q"), 404, "gpt-9"),
        (ask("selectllm/best:3", "q"), 400, "model"),
        (json!({"model": "selectllm/auto"}), 400, "messages"),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": 5}]}),
            400,
            "messages[0].content",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "system", "content": "x"}]}),
            400,
            "user",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            400,
            "temperature",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x"}], "selectllm": {"colour": 1}}),
            400,
            "selectllm",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x"}], "selectllm": {"members": ["zz"]}}),
            400,
            "zz",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x".repeat(5000)}]}),
            413,
            "2048",
        ),
    ];
    for (body, status, needle) in cases {
        let r = h.post(&body).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: serde_json::Value = r.json().await.expect("envelope");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(msg.contains(needle), "{msg} should name {needle}");
        assert!(v["error"]["type"].is_string());
    }
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.url))
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert!(h.fakes.iter().all(|f| f.requests() == 0));
    h.stop().await;
}

#[tokio::test]
async fn bearer_auth() {
    // opt-in inline classification: the test classifier takes microseconds
    let h = Harness::start_with_keys(
        three(),
        "",
        "inline_max_us = 1000000",
        vec!["k1".into(), "key-two".into()],
    )
    .await;
    let url = format!("{}/v1/chat/completions", h.url);
    let body = ask("selectllm/auto", "q");
    let r = h.http.post(&url).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.expect("envelope");
    assert_eq!(v["error"]["type"], "authentication_error");
    let r = h
        .http
        .post(&url)
        .bearer_auth("key-tw")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = h
        .http
        .post(&url)
        .bearer_auth("key-two")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .get(format!("{}/v1/models", h.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = h
        .http
        .get(format!("{}/v1/models", h.url))
        .bearer_auth("k1")
        .send()
        .await
        .expect("send");
    let v: serde_json::Value = r.json().await.expect("list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "selectllm/auto",
            "selectllm/weightedmaxconf:3",
            "selectllm/cascade",
            "a",
            "b",
            "c"
        ]
    );
    // health, readiness and metrics need no key (ready once the first probe has answered)
    for p in ["/health", "/ready", "/metrics"] {
        let mut status = 0;
        for _ in 0..100 {
            let r = h.get(p).await;
            status = r.status().as_u16();
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, 200, "{p}");
    }
    let m = h.metrics().await;
    assert!(
        m.contains("selectllm_requests_total{status=\"401\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("selectllm_member_calls_total{member=\"a\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("selectllm_votes_total{agreement=\"split\"} 1"),
        "{m}"
    );
    // the classifier's own counters: time spent (its utilisation), failures, refusals
    assert!(
        m.contains("selectllm_classifier_busy_seconds_total "),
        "{m}"
    );
    assert!(
        m.contains("selectllm_classifier_failed_batches_total 0"),
        "{m}"
    );
    assert!(m.contains("selectllm_classifier_overloaded_total 0"), "{m}");
    // each classified request's wait for the classifier: the one request that got through
    assert!(
        m.contains("selectllm_classifier_wait_seconds_count 1"),
        "{m}"
    );
    // opted in, the warm-up timed the classifier under the bound: on the request's own thread
    assert!(m.contains("selectllm_classifier_inline_total 1"), "{m}");
    h.stop().await;
}

#[tokio::test]
async fn the_winner_among_agreeing_members_is_the_first_in_the_checkpoint_s_order() {
    let specs = vec![
        member("a", 0.9, "From a: the answer is 7."),
        member("b", 0.5, "From b: the answer is 7."),
        member("c", 0.2, "From c: the answer is 7."),
    ];
    let fakes = crate::common::fakes(&specs);
    let gw =
        crate::common::ordered_gateway(&specs, &fakes, "policy = \"maxconf:3\"", vec![2, 1, 0]);
    let h = Harness::serve(gw, fakes, Vec::new()).await;
    let r = h.post(&ask("selectllm/auto", "What is 3 + 4?")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-selectllm-winner"], "c");
    let body: serde_json::Value = r.json().await.expect("json");
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(text.starts_with("From c"), "{text}");
    h.stop().await;
}

#[tokio::test]
async fn the_overhead_histogram_leaves_out_the_waits_for_members() {
    // a member that takes 300 ms: the request takes that long, the gateway's own share not
    let mut slow = member("a", 0.9, "The answer is 7.");
    slow.opts.delay = std::time::Duration::from_millis(300);
    let h = Harness::start(vec![slow], "", "policy = \"maxconf:1\"").await;
    let r = h.post(&ask("selectllm/auto", "What is 3 + 4?")).await;
    assert_eq!(r.status(), 200);
    let m = h.metrics().await;
    let value = |name: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {m}"))
    };
    assert_eq!(value("selectllm_gateway_overhead_seconds_count"), 1.0);
    let total = value("selectllm_request_duration_seconds_sum");
    let own = value("selectllm_gateway_overhead_seconds_sum");
    assert!(total >= 0.3, "{total}");
    assert!(own < 0.15, "own {own} of {total}");
    h.stop().await;
}
