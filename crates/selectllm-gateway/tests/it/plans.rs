//! Plans executed live: the gateway's decisions equal the offline replay of the same plan on
//! the same answers and latencies, and a cancelled call really closes its connection.

use std::time::Duration;

use selectllm_core::plan::{Plan, replay};
use selectllm_core::policy::PoolInfo;
use selectllm_core::{Answer, Execution, Step, Task, VoteMode};
use selectllm_pool::fake::FakeOptions;
use serde_json::{Value, json};

use crate::common::{Harness, MemberSpec, ask};

/// Member, confidence, reply, seconds before it answers. Arrival times are far enough apart
/// (>= 150 ms) that the order is the same on a loaded machine.
const MEMBERS: [(&str, f32, &str, f64); 4] = [
    ("a", 0.9, "The answer is 7.", 0.05),
    ("b", 0.8, "The answer is 7.", 0.25),
    ("c", 0.7, "The answer is 9.", 1.2),
    ("d", 0.6, "The answer is 9.", 0.5),
];

fn specs() -> Vec<MemberSpec> {
    MEMBERS
        .iter()
        .map(|&(name, prob, reply, secs)| MemberSpec {
            name,
            prob,
            opts: FakeOptions {
                reply: Some(reply.to_string()),
                delay: Duration::from_secs_f64(secs),
                ..FakeOptions::default()
            },
            extra: "",
        })
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The offline replay of `plan` on the members' answers and delays.
fn replayed(plan: &str) -> (Option<String>, Vec<Vec<String>>, Vec<String>) {
    let plan: Plan = Plan::parse_or_policy(plan).expect("plan");
    let conf: Vec<f32> = MEMBERS.iter().map(|m| m.1).collect();
    let answers: Vec<Vec<Answer>> = MEMBERS
        .iter()
        .map(|m| Task::Gsm8k.extract(m.2).into_iter().collect())
        .collect();
    let refs: Vec<&[Answer]> = answers.iter().map(Vec::as_slice).collect();
    let latency: Vec<f64> = MEMBERS.iter().map(|m| m.3).collect();
    let pool = PoolInfo::uniform(MEMBERS.len());
    let exec = Execution::new(&plan, &conf, &pool, None, VoteMode::PerMember);
    let mut first = exec.clone();
    let first_wave = match first.step() {
        Step::Call(w) => w,
        _ => Vec::new(),
    };
    let r = replay(exec, &refs, &latency, &pool.cost);
    let name = |m: usize| MEMBERS[m].0.to_string();
    // the first wave starts at once, every later call is a wave of its own
    let mut waves = vec![first_wave.iter().map(|&m| name(m)).collect::<Vec<_>>()];
    for &m in r.called.iter().skip(first_wave.len()) {
        waves.push(vec![name(m)]);
    }
    (
        r.answer.map(|a| a.0),
        waves,
        r.cancelled.iter().map(|&m| name(m)).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_plans_decide_as_the_replay_does_and_cancel_for_real() {
    let h = Harness::start(specs(), "", "").await;
    let plans = [
        "early:weightedmaxconf:3",
        "maxconf:3",
        "cascade:a=1,k=2,max=3",
        "cascade:a=3,k=2,max=4",
        "cascade:a=2,k=3,max=4",
    ];
    for plan in plans {
        let (answer, waves, cancelled) = replayed(plan);
        let r = h
            .post(&ask(&format!("selectllm/{plan}"), "What is 3 + 4?"))
            .await;
        assert_eq!(r.status(), 200, "{plan}");
        let v: Value = r.json().await.expect("json");
        let x = &v["selectllm"];
        assert_eq!(
            x["answer"].as_str().map(String::from),
            answer,
            "{plan}: {x}"
        );
        let live_waves: Vec<Vec<String>> = x["waves"]
            .as_array()
            .map(|w| w.iter().map(names).collect())
            .unwrap_or_default();
        assert_eq!(live_waves, waves, "{plan}: {x}");
        assert_eq!(names(&x["cancelled"]), cancelled, "{plan}: {x}");
        for c in &cancelled {
            let rep = x["members"]
                .as_array()
                .and_then(|m| m.iter().find(|r| r["name"] == c.as_str()))
                .expect("a report for the cancelled member");
            assert_eq!(rep["cancelled"], true, "{plan}: {rep}");
        }
        // the winner gave the winning answer
        assert_eq!(x["plan"], Plan::parse_or_policy(plan).unwrap().to_string());
    }
    // early majority cancelled `c` (1.2 s) once a and b agreed: its server saw the hang-up
    let (_, _, cancelled) = replayed("early:weightedmaxconf:3");
    assert_eq!(cancelled, vec!["c".to_string()]);
    let mut seen = 0;
    for _ in 0..40 {
        seen = h.fakes[2].disconnects();
        if seen >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen >= 1, "member c never saw its call closed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_and_fields_are_checked() {
    let h = Harness::start(specs(), "", "cascade = \"cascade:a=1,k=2,max=2\"").await;
    // `selectllm/cascade` runs the configured cascade
    let r = h.post(&ask("selectllm/cascade", "What is 3 + 4?")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["selectllm"]["plan"], "cascade:a=1,k=2,max=2");
    assert_eq!(v["selectllm"]["waves"], json!([["a"], ["b"]]));
    // the `plan` field of the extension object; route_only reports the first wave
    let mut body = ask("selectllm/auto", "What is 3 + 4?");
    body["selectllm"] = json!({"plan": "early:maxconf:2", "route_only": true});
    let v: Value = h.post(&body).await.json().await.expect("json");
    assert_eq!(v["selectllm"]["plan"], "early:maxconf:2");
    assert_eq!(v["selectllm"]["waves"], json!([["a", "b"]]));
    assert_eq!(v["choices"], json!([]));
    for (body, field) in [
        (
            json!({"model": "selectllm/cascade:a=3,max=2", "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x"}],
                   "selectllm": {"plan": "early:maxconf:2", "policy": "maxconf:1"}}),
            "selectllm.plan",
        ),
        (
            json!({"model": "selectllm/auto", "messages": [{"role": "user", "content": "x"}],
                   "selectllm": {"plan": "cascade:a=1/latency=-1"}}),
            "selectllm.plan",
        ),
    ] {
        let r = h.post(&body).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"]["param"], field, "{e}");
    }
    h.stop().await;
}
