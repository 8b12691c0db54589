//! Streamed answers (`stream: true`). One selected member: its chunks are passed through as
//! they come; if it fails before its first chunk, the next most confident candidate takes
//! over (never after). Several: the vote runs first, then the winner's answer is replayed as
//! `chat.completion.chunk` events. Either way the last chunk carries `usage` and the
//! `selectllm` explanation, then `[DONE]`; a stream cut after the first byte ends with an
//! `error` event instead.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::StreamExt;
use selectllm_pool::ChatStream;
use serde_json::{Map, Value};

use crate::call::{FailKind, Failure, ProbeGuard, all_failed};
use crate::error::GatewayError;
use crate::gateway::{Decision, Event, Gateway, Reply, unix_now};
use crate::wire::{self, Explanation, MemberReport, Usage};

/// A complete reply as a stream: role and content chunks, then a final chunk with the
/// finish reason, usage and explanation, then `[DONE]`.
pub fn replay(reply: Reply) -> Reply {
    let Reply::Complete { body, decision, .. } = reply else {
        return reply;
    };
    let id = body["id"]
        .as_str()
        .unwrap_or("chatcmpl-selectllm")
        .to_string();
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let created = body["created"].as_u64().unwrap_or_else(unix_now);
    let choice = &body["choices"][0];
    let text = choice["message"]["content"].as_str().unwrap_or_default();
    let finish = choice["finish_reason"].as_str().unwrap_or("stop");
    let mut events = vec![
        Event::Data(wire::chunk(
            &id,
            &model,
            created,
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        )),
        Event::Data(wire::chunk(
            &id,
            &model,
            created,
            serde_json::json!({"content": text}),
            None,
        )),
    ];
    let mut last = wire::chunk(&id, &model, created, serde_json::json!({}), Some(finish));
    last["usage"] = body["usage"].clone();
    last["selectllm"] = body["selectllm"].clone();
    events.push(Event::Data(last));
    events.push(Event::Done);
    Reply::Stream {
        decision,
        events: Box::pin(futures_util::stream::iter(events)),
    }
}

impl Gateway {
    /// Streams the first member of `order` that starts answering.
    pub(crate) async fn stream_single(
        self: &Arc<Self>,
        order: Vec<usize>,
        req: &Map<String, Value>,
        model: &str,
        mut decision: Decision,
        mut expl: Explanation,
        conf: &[f32],
    ) -> Result<Reply, GatewayError> {
        let mut failures: Vec<Result<(), Failure>> = Vec::new();
        let mut tried: Vec<usize> = Vec::new();
        for &i in &order {
            tried.push(i);
            let f = match self.start_stream(i, req).await {
                Ok((first, rest)) => {
                    let name = self.cfg.members[i].name.clone();
                    decision.winner = Some(name.clone());
                    expl.winner = Some(name.clone());
                    expl.unanimous = true;
                    if !decision.selected.contains(&name) {
                        decision.selected.push(name.clone());
                        expl.selected.push(name.clone());
                    }
                    let events = self.pass_through(i, first, rest, model, expl, conf);
                    return Ok(Reply::Stream { decision, events });
                }
                Err(f) => f,
            };
            let name = &self.cfg.members[i].name;
            match expl.members.iter_mut().find(|r| &r.name == name) {
                Some(r) => r.error = Some(f.msg.clone()),
                None => expl.members.push(MemberReport {
                    name: name.clone(),
                    probability: conf.get(i).copied(),
                    error: Some(f.msg.clone()),
                    ..MemberReport::default()
                }),
            }
            failures.push(Err(f));
        }
        Err(all_failed(&self.cfg, &tried, &failures))
    }

    /// Calls member `i` streaming and waits for its first chunk.
    async fn start_stream(
        &self,
        i: usize,
        req: &Map<String, Value>,
    ) -> Result<(Value, ChatStream), Failure> {
        let m = &self.members[i];
        let mm = &self.metrics.members[i];
        if !m.breaker.try_acquire(Instant::now()) {
            mm.failure("circuit_open");
            return Err(Failure {
                kind: FailKind::CircuitOpen,
                msg: "circuit open".into(),
            });
        }
        let probe = ProbeGuard(&m.breaker, true);
        mm.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = self.cfg.router.request_timeout;
        let started = async {
            let mut s = m
                .client()
                .chat_stream(req)
                .await
                .map_err(|f| (Failure::from_call(&f.error), Some(f.error)))?;
            match s.next().await {
                Some(Ok(first)) => Ok((first, s)),
                Some(Err(e)) => Err((Failure::from_call(&e), Some(e))),
                None => Err((
                    Failure {
                        kind: FailKind::Failed,
                        msg: "empty stream".into(),
                    },
                    None,
                )),
            }
        };
        let r = match tokio::time::timeout(timeout, started).await {
            Ok(r) => r,
            Err(_) => Err((
                Failure {
                    kind: FailKind::Timeout,
                    msg: format!(
                        "no first chunk within the request timeout ({:.1} s)",
                        timeout.as_secs_f64()
                    ),
                },
                None,
            )),
        };
        match r {
            Ok(v) => {
                probe.record(true);
                m.health.record_call(Ok(()));
                Ok(v)
            }
            Err((f, e)) => {
                mm.failure(f.metric_reason(e.as_ref()));
                if let Some(e) = &e {
                    m.health.record_call(Err(e));
                }
                probe.record(f.kind == FailKind::Rejected);
                Err(f)
            }
        }
    }

    /// The member's chunks with the gateway's id and model, then the explanation and `[DONE]`.
    fn pass_through(
        self: &Arc<Self>,
        i: usize,
        first: Value,
        rest: ChatStream,
        model: &str,
        expl: Explanation,
        conf: &[f32],
    ) -> crate::gateway::EventStream {
        struct St {
            gw: Arc<Gateway>,
            i: usize,
            first: Option<Value>,
            rest: ChatStream,
            id: String,
            model: String,
            created: u64,
            usage: Usage,
            text: String,
            expl: Option<Explanation>,
            probability: Option<f32>,
            done: bool,
        }
        let st = St {
            gw: self.clone(),
            i,
            first: Some(first),
            id: self.next_id(),
            model: model.to_string(),
            created: unix_now(),
            usage: Usage::default(),
            text: String::new(),
            expl: Some(expl),
            probability: conf.get(i).copied(),
            done: false,
            rest,
        };
        let s = futures_util::stream::unfold(st, |mut st| async move {
            if st.done {
                return None;
            }
            let item = match st.first.take() {
                Some(v) => Some(Ok(v)),
                None => st.rest.next().await,
            };
            match item {
                Some(Ok(mut chunk)) => {
                    if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
                        st.usage
                            .add(u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64());
                    }
                    if let Some(t) = chunk
                        .pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                    {
                        st.text.push_str(t);
                    }
                    if let Some(o) = chunk.as_object_mut() {
                        o.insert("id".into(), Value::String(st.id.clone()));
                        o.insert("model".into(), Value::String(st.model.clone()));
                        o.insert("object".into(), "chat.completion.chunk".into());
                        o.remove("usage");
                    }
                    Some((vec![Event::Data(chunk)], st))
                }
                Some(Err(e)) => {
                    st.done = true;
                    let gw = &st.gw;
                    let f = Failure::from_call(&e);
                    gw.metrics.members[st.i].failure(f.metric_reason(Some(&e)));
                    gw.members[st.i].breaker.record(false, Instant::now());
                    let err = GatewayError::MembersFailed(format!(
                        "member `{}` failed mid-stream: {}",
                        gw.cfg.members[st.i].name, f.msg
                    ));
                    let v = serde_json::to_value(err.envelope()).unwrap_or_default();
                    Some((vec![Event::Data(v)], st))
                }
                None => {
                    st.done = true;
                    let gw = st.gw.clone();
                    let latency = st.rest.started.elapsed().as_secs_f64();
                    gw.metrics.members[st.i].latency.observe(latency);
                    let mut expl = st.expl.take().unwrap_or_default();
                    let name = gw.cfg.members[st.i].name.clone();
                    let rep = MemberReport {
                        name: name.clone(),
                        probability: st.probability,
                        selected: true,
                        answer: gw.cfg.router.task.extract(&st.text).map(|a| a.0),
                        weight: Some(1.0),
                        latency_s: Some(latency),
                        prompt_tokens: (st.usage.prompt_tokens > 0)
                            .then_some(st.usage.prompt_tokens),
                        completion_tokens: (st.usage.completion_tokens > 0)
                            .then_some(st.usage.completion_tokens),
                        cost: gw.cfg.members[st.i].cost(
                            Some(st.usage.prompt_tokens),
                            Some(st.usage.completion_tokens),
                        ),
                        attempts: Some(st.rest.attempts),
                        error: None,
                        cancelled: false,
                    };
                    expl.answer = rep.answer.clone();
                    match expl.members.iter_mut().find(|r| r.name == name) {
                        Some(r) => *r = rep,
                        None => expl.members.push(rep),
                    }
                    let mut last = serde_json::json!({
                        "id": st.id, "object": "chat.completion.chunk", "created": st.created,
                        "model": st.model, "choices": [],
                    });
                    last["usage"] = serde_json::to_value(st.usage).unwrap_or_default();
                    last["selectllm"] = serde_json::to_value(&expl).unwrap_or_default();
                    Some((vec![Event::Data(last), Event::Done], st))
                }
            }
        });
        Box::pin(s.flat_map(futures_util::stream::iter))
    }
}
