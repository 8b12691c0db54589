//! `/ready`: members probed, reachable ones make the gateway ready, dead ones are named.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Harness, MemberSpec, ask, config_at, fakes, gateway_for, member};

/// A base URL where nothing listens (a port bound, then released).
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/v1")
}

async fn ready(h: &Harness) -> (u16, Value) {
    let r = h.get("/ready").await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// Polls `/ready` until every member's reachability is known (bounded: 10 s).
async fn ready_when_probed(h: &Harness) -> (u16, Value) {
    for _ in 0..200 {
        let (s, v) = ready(h).await;
        let known = v["members"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| !m["reachable"].is_null()));
        if known {
            return (s, v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("members were never probed");
}

/// Live fake members first, then `dead` members at closed ports.
async fn start(live: Vec<MemberSpec>, dead: Vec<MemberSpec>, router: &str) -> Harness {
    let fakes = fakes(&live);
    let mut urls: Vec<String> = fakes.iter().map(|f| f.base_url()).collect();
    urls.extend(dead.iter().map(|_| dead_url()));
    let specs: Vec<MemberSpec> = live.into_iter().chain(dead).collect();
    let gw = gateway_for(&specs, config_at(&specs, &urls, "", router));
    Harness::serve(gw, fakes, Vec::new()).await
}

#[tokio::test]
async fn a_dead_member_is_named_and_a_live_one_keeps_the_gateway_ready() {
    let h = start(vec![member("a", 0.9, "1")], vec![member("b", 0.8, "1")], "").await;
    let (status, v) = ready_when_probed(&h).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ready"], true);
    assert_eq!(v["classifier"], "loaded");
    let m = v["members"].as_array().expect("members");
    assert_eq!(m[0]["name"], "a");
    assert_eq!(m[0]["reachable"], true);
    assert_eq!(m[0]["circuit"], "closed");
    assert_eq!(m[1]["reachable"], false);
    let err = m[1]["error"].as_str().expect("error of the dead member");
    assert!(err.contains("refused"), "{err}");
    assert!(h.fakes[0].probes() >= 1);
    assert_eq!(h.fakes[0].requests(), 0, "a probe is not a chat request");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("selectllm_member_up{member=\"a\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("selectllm_member_up{member=\"b\"} 0"),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test]
async fn no_reachable_member_is_503_saying_why() {
    let h = start(
        Vec::new(),
        vec![member("a", 0.9, "1"), member("b", 0.8, "1")],
        "",
    )
    .await;
    let (status, v) = ready_when_probed(&h).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["ready"], false);
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("reachable")),
        "{v}"
    );
    h.stop().await;
}

#[tokio::test]
async fn without_probes_calls_tell_reachability() {
    let h = start(
        vec![member("a", 0.9, "7")],
        vec![member("b", 0.1, "7")],
        "probe_interval_s = 0",
    )
    .await;
    // nothing known yet: the circuits are closed, so ready
    let (status, v) = ready(&h).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["members"][0]["reachable"].is_null(), "{v}");
    // calling both members teaches the gateway which one is there
    let r = h.post(&ask("selectllm/maxconf:2", "What is 3 + 4?")).await;
    assert_eq!(r.status(), 200);
    let (status, v) = ready(&h).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["members"][0]["reachable"], true, "{v}");
    assert_eq!(v["members"][1]["reachable"], false, "{v}");
    assert_eq!(h.fakes[0].probes(), 0, "probing is off");
    h.stop().await;
}
