//! A ~20 s soak at a steady rate with 20% of member calls failing (500) or hanging past the
//! timeout: every request answered, RSS at the end within 10% of RSS after warm-up. Its own
//! test binary, so that no other test's allocations move this process's RSS.

#[path = "../it/common.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use selectllm_pool::fake::Fault;

use crate::common::{Harness, MemberSpec, ask, member};

/// Resident set size of this process, bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_failing_and_hanging_members() {
    let flaky = |name, prob, fault, at: usize| {
        let mut m: MemberSpec = member(name, prob, "Well, the answer is 4.");
        // one call in five fails, each member at another position of the cycle
        m.opts.script = vec![Fault::Ok; 5];
        m.opts.script[at] = fault;
        // enough permits for the hanging calls (30/s x 0.2 s): with fewer, calls queue for a
        // permit and the backlog (not a leak) grows for as long as the soak runs
        m.extra = "timeout_s = 0.2\nmax_concurrency = 64";
        m
    };
    let h = Harness::start(
        vec![
            flaky("a", 0.9, Fault::Status(500), 0),
            flaky("b", 0.8, Fault::Slow(Duration::from_secs(2)), 2),
            flaky("c", 0.7, Fault::Malformed, 4),
        ],
        "max_in_flight = 4096",
        "policy = \"maxconf:3\"\nbreaker_failures = 1000\nrequest_timeout_s = 2",
    )
    .await;
    let rate = 150.0; // requests per second
    let total = Duration::from_secs(20);
    let warmup = Duration::from_secs(5);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // finished requests are reaped as we go: a task's memory lives until it is joined
    let mut tasks = tokio::task::JoinSet::new();
    let (mut n, mut ok) = (0usize, 0usize);
    let mut reap = |r: Result<Result<(u16, bool), String>, tokio::task::JoinError>| {
        let (status, fine) = r.expect("join").expect("every request answered");
        assert!(fine, "status {status} without the expected body");
        n += 1;
        ok += usize::from(status == 200);
    };
    let mut rss_warm = None;
    while start.elapsed() < total {
        tick.tick().await;
        if rss_warm.is_none() && start.elapsed() >= warmup {
            rss_warm = Some(rss_bytes());
        }
        let (http, url) = (h.http.clone(), h.url.clone());
        while let Some(r) = tasks.try_join_next() {
            reap(r);
        }
        tasks.spawn(async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .json(&ask("selectllm/auto", "What is 2 + 2?"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            // keep only what is checked, so finished requests hold no memory
            let ok = match status {
                200 => v["selectllm"]["answer"] == "4",
                502 | 504 => v["error"]["message"].is_string(),
                _ => false,
            };
            Ok::<_, String>((status, ok))
        });
    }
    while let Some(r) = tasks.join_next().await {
        reap(r);
    }
    let rss_end = rss_bytes();
    assert!(
        h.fakes[1].disconnects() > 0,
        "hanging calls were cut at the timeout"
    );
    let warm = rss_warm.expect("warm-up sample");
    eprintln!(
        "soak: {n} requests, {ok} answered 200; RSS after warm-up {} KiB, at the end {} KiB",
        warm / 1024,
        rss_end / 1024
    );
    assert!(n as f64 >= rate * total.as_secs_f64() * 0.9);
    assert_eq!(ok, n, "a member always answers, so every vote has a winner");
    assert!(
        rss_end as f64 <= warm as f64 * 1.10,
        "RSS grew from {warm} to {rss_end} bytes"
    );
    h.stop().await;
}
