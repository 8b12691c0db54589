//! `server.runtimes = N`: N single-threaded runtimes accepting on one address.

use std::time::Duration;

use selectllm_gateway::runtimes::Runtimes;

use crate::common::{ask, fakes, gateway, member};

/// One request on a connection of its own (the kernel picks the runtime per connection).
async fn post_alone(url: &str, question: &str) -> (u16, String) {
    let r = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .post(format!("{url}/v1/chat/completions"))
        .json(&ask("selectllm/auto", question))
        .send()
        .await
        .expect("the gateway answers");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_share_one_address_one_limit_and_drain_together() {
    let mut slow = member("a", 0.9, "The answer is 7.");
    slow.opts.delay = Duration::from_millis(400);
    let specs = vec![slow, member("b", 0.8, "The answer is 7.")];
    let fakes = fakes(&specs);
    let gw = gateway(&specs, &fakes, "max_in_flight = 2\nruntimes = 2", "");
    let rts = Runtimes::bind("127.0.0.1:0".parse().expect("addr"), 2).expect("bind");
    let url = format!("http://{}", rts.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        rts.serve(gw, Vec::new(), move || async move {
            let _ = stopped.await;
        })
    });

    // eight at once on eight connections: one in-flight limit of 2 for both runtimes
    let burst: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move { post_alone(&url, &format!("q{i}")).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for b in burst {
        statuses.push(b.await.expect("join"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 429, 429]);

    // then every connection is answered, whichever runtime accepts it
    for i in 0..6 {
        let (status, body) = post_alone(&url, &format!("again {i}")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("The answer is 7."), "{body}");
    }

    // a request in flight when the signal comes is finished, then every runtime stops
    let in_flight = {
        let url = url.clone();
        tokio::spawn(async move { post_alone(&url, "last").await.0 })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).expect("the server waits for the signal");
    assert_eq!(in_flight.await.expect("join"), 200);
    tokio::task::spawn_blocking(move || server.join())
        .await
        .expect("join")
        .expect("no serving thread panicked")
        .expect("served without error");
    assert!(
        tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .is_err(),
        "still accepting after the stop"
    );
}
