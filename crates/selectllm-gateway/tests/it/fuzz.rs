//! 10,000 generated request bodies through the router in-process (tower `oneshot`, no TCP):
//! wrong types, huge and empty strings, invalid UTF-8, deep nesting, unknown fields, absurd
//! numbers. Never a 5xx, never a panic; every error is OpenAI's envelope.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{fakes, gateway, member};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(f64::MAX),
            Just(f64::MIN),
            Just(1e-300),
            Just(-0.0),
            any::<f64>()
        ]
        .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from("")),
        (0usize..300_000).prop_map(|n| Value::from("x".repeat(n))),
        Just(Value::from("selectllm/auto")),
        Just(Value::from("a")),
        Just(Value::from("user")),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_string()),
                    Just("messages".to_string()),
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("stream".to_string()),
                    Just("selectllm".to_string()),
                    Just("temperature".to_string()),
                    Just("max_tokens".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid body with one field replaced by anything.
fn mutated() -> impl Strategy<Value = Value> {
    let fields = prop_oneof![
        Just("model"),
        Just("messages"),
        Just("stream"),
        Just("selectllm"),
        Just("temperature"),
        Just("top_p"),
        Just("max_tokens"),
        Just("n"),
        Just("stop"),
        Just("seed"),
        Just("unknown_field"),
    ];
    (
        fields,
        any_json(),
        any::<bool>(),
        prop_oneof![
            Just("selectllm/auto"),
            Just("selectllm/maxconf:1"),
            Just("a"),
            Just("b")
        ],
    )
        .prop_map(|(f, v, nested, model)| {
            let mut body = json!({
                "model": model,
                "messages": [{"role": "user", "content": "What is 2 + 2?"}],
                "selectllm": {"route_only": false},
            });
            if nested {
                body["messages"][0][f] = v;
            } else {
                body[f] = v;
            }
            body
        })
}

fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutated().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        2 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => (1usize..400).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        1 => (1usize..400).prop_map(|d| {
            let mut s = String::from(r#"{"model":"selectllm/auto","messages":[{"role":"user","content":"#);
            s.push_str(&"{\"a\":".repeat(d));
            s.push('1');
            s.push_str(&"}".repeat(d));
            s.push_str("}]}");
            s.into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|junk| {
            let mut b = br#"{"model":"selectllm/auto","messages":[{"role":"user","content":""#.to_vec();
            b.extend(junk);
            b.extend(br#""}]}"#);
            b
        }),
    ]
}

#[test]
fn generated_bodies_never_get_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let specs = vec![
        member("a", 0.7, "The answer is 4."),
        member("b", 0.4, "The answer is 5."),
    ];
    let fakes = fakes(&specs);
    let (gw, app) = rt.block_on(async {
        let gw = gateway(
            &specs,
            &fakes,
            "max_body_bytes = 262144",
            "policy = \"maxconf:2\"",
        );
        let app = selectllm_gateway::http::router(Arc::clone(&gw), Vec::new());
        (gw, app)
    });
    let config = ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&raw_body(), |body| {
        let req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .expect("request");
        let resp = rt.block_on(app.clone().oneshot(req)).expect("infallible");
        let status = resp.status();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
            .expect("body");
        prop_assert!(
            status.as_u16() < 500,
            "{status} for {:?}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)]),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&bytes).expect("error envelope");
            prop_assert!(v["error"]["message"].is_string());
        }
        Ok(())
    });
    drop(gw);
    result.expect("no body gets a 5xx");
}
