//! The request pipeline, free of HTTP types: body -> behaviour (from `model`) -> classify the
//! last user message -> `Policy::select` -> fan out to the selected members concurrently, the
//! client's messages and parameters as sent -> extract answers -> vote -> the winner's full
//! response with the explanation. Streaming lives in `stream.rs`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::Stream;
use selectllm_core::policy::{PoolInfo, confidence_order};
use selectllm_core::vote::{Ballot, VoteMode, Voter};
use selectllm_core::{Answer, Classifier, ClassifierError, Policy};
use selectllm_infer::{BATCH_SIZE_BUCKETS, ClassifierWorker, InferError, WorkerConfig};
use selectllm_pool::{CallError, ChatReply, MemberClient};
use serde_json::{Map, Value};

use crate::breaker::{Breaker, BreakerState};
use crate::config::Config;
use crate::error::GatewayError;
use crate::metrics::{Agreement, ClassifierFigures, Metrics};
use crate::wire::{self, ChatRequest, Explanation, MemberReport, Usage};

/// Model names that mean "let selectllm choose".
pub const AUTO_MODEL: &str = "selectllm/auto";
const MODEL_PREFIX: &str = "selectllm/";

/// One server-sent event of a streamed answer.
#[derive(Debug, Clone)]
pub enum Event {
    Data(Value),
    Done,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// What the HTTP layer puts in the `x-selectllm-*` headers.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub policy: String,
    pub selected: Vec<String>,
    pub winner: Option<String>,
}

/// The answer to a chat request.
pub enum Reply {
    Complete {
        body: Value,
        decision: Decision,
    },
    Stream {
        decision: Decision,
        events: EventStream,
    },
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Complete { decision, .. } => write!(f, "Complete({decision:?})"),
            Reply::Stream { decision, .. } => write!(f, "Stream({decision:?})"),
        }
    }
}

/// How a request is served, from its `model`.
#[derive(Debug, Clone)]
enum Behaviour {
    Select(Policy),
    Passthrough(usize),
}

pub(crate) struct Member {
    pub client: MemberClient,
    pub breaker: Breaker,
}

/// Why a member did not contribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailKind {
    Timeout,
    /// The member called the request invalid (4xx other than 401/403/404/408/429).
    Rejected,
    Failed,
    CircuitOpen,
}

#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: FailKind,
    pub msg: String,
}

impl Failure {
    pub(crate) fn from_call(e: &CallError) -> Failure {
        let kind = match e {
            CallError::Timeout(_) => FailKind::Timeout,
            CallError::Status { status, .. }
                if (400..500).contains(status) && ![401, 403, 404, 408, 429].contains(status) =>
            {
                FailKind::Rejected
            }
            _ => FailKind::Failed,
        };
        Failure {
            kind,
            msg: e.to_string(),
        }
    }

    pub(crate) fn metric_reason(&self, e: Option<&CallError>) -> &'static str {
        match (self.kind, e) {
            (FailKind::CircuitOpen, _) => "circuit_open",
            (FailKind::Timeout, _) => "timeout",
            (_, Some(CallError::Status { .. })) => "status",
            (_, Some(CallError::Malformed(_))) => "malformed",
            _ => "transport",
        }
    }
}

/// The gateway: members, their breakers, the classifier worker and the metrics.
pub struct Gateway {
    pub(crate) cfg: Config,
    pub(crate) members: Vec<Member>,
    /// For pool member `i`, its column in the classifier's output.
    conf_index: Vec<usize>,
    /// Pool members best first when the checkpoint fell back to a constant member order
    /// (`Classifier::ranking`); `None`: rank by confidence.
    ranking: Option<Vec<usize>>,
    worker: ClassifierWorker,
    pub(crate) metrics: Metrics,
    ids: AtomicU64,
}

impl Gateway {
    /// Builds the gateway; the classifier's members must be exactly the pool's.
    /// Reads member API keys from their variables.
    pub fn new(cfg: Config, classifier: Arc<dyn Classifier>) -> Result<Gateway, String> {
        cfg.check_members(classifier.members())?;
        let conf_index = cfg
            .members
            .iter()
            .map(|m| {
                classifier
                    .members()
                    .iter()
                    .position(|c| c == &m.name)
                    .unwrap_or_default()
            })
            .collect::<Vec<usize>>();
        let ranking = classifier.ranking().map(|r| {
            r.iter()
                .filter_map(|&c| conf_index.iter().position(|&ci| ci == c))
                .collect()
        });
        let members = cfg
            .members
            .iter()
            .map(|m| {
                Ok(Member {
                    client: MemberClient::new(m).map_err(|e| e.to_string())?,
                    breaker: Breaker::new(cfg.router.breaker_failures, cfg.router.breaker_cooldown),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let worker = ClassifierWorker::spawn(
            classifier,
            WorkerConfig {
                max_batch: cfg.router.batch_max,
                max_wait: cfg.router.batch_wait,
                queue_capacity: cfg.router.queue_capacity,
            },
        )
        .map_err(|e| format!("cannot start the classifier worker: {e}"))?;
        let metrics = Metrics::new(cfg.members.iter().map(|m| m.name.clone()).collect());
        Ok(Gateway {
            cfg,
            members,
            conf_index,
            ranking,
            worker,
            metrics,
            ids: AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The model ids `GET /v1/models` lists.
    pub fn model_ids(&self) -> Vec<String> {
        let mut ids = vec![
            AUTO_MODEL.to_string(),
            format!("{MODEL_PREFIX}{}", self.cfg.router.policy),
        ];
        ids.extend(self.cfg.members.iter().map(|m| m.name.clone()));
        ids
    }

    /// Ready: at least one member can be called now (its circuit is not open).
    pub fn ready(&self) -> bool {
        let now = Instant::now();
        self.members.iter().any(|m| m.breaker.available(now))
    }

    pub fn metrics_text(&self) -> String {
        let s = self.worker.stats();
        let figures = ClassifierFigures {
            queue_depth: s.queue_depth as u64,
            questions: s.questions,
            batch_size_buckets: BATCH_SIZE_BUCKETS
                .iter()
                .copied()
                .zip(s.batch_size_buckets)
                .collect(),
            batches: s.batches,
            batch_size_sum: s.questions,
        };
        let now = Instant::now();
        let open: Vec<bool> = self
            .members
            .iter()
            .map(|m| m.breaker.state(now) == BreakerState::Open)
            .collect();
        self.metrics.render(&figures, &open)
    }

    pub fn record_request(&self, status: u16, secs: f64) {
        self.metrics.request(status, secs);
    }

    pub(crate) fn next_id(&self) -> String {
        format!(
            "chatcmpl-selectllm-{}",
            self.ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Answers one chat request body.
    pub async fn handle(self: &Arc<Self>, body: &[u8]) -> Result<Reply, GatewayError> {
        let (map, req) = parse(body)?;
        let stream = req.stream.unwrap_or(false);
        let forwarded = wire::forwarded(map);
        match self.behaviour(&req)? {
            Behaviour::Passthrough(i) => {
                if req.selectllm.is_some() {
                    return Err(GatewayError::bad(
                        "selectllm",
                        "applies to selectllm/* models only, not to a member's name",
                    ));
                }
                let decision = Decision {
                    policy: "passthrough".into(),
                    selected: vec![self.cfg.members[i].name.clone()],
                    winner: None,
                };
                let expl = Explanation {
                    policy: "passthrough".into(),
                    task: self.cfg.router.task.to_string(),
                    reason: "the model names a member".into(),
                    selected: decision.selected.clone(),
                    ..Explanation::default()
                };
                if stream {
                    return self
                        .stream_single(vec![i], &forwarded, &req.model, decision, expl, &[])
                        .await;
                }
                self.fan_out_and_vote(&[i], None, &[], &forwarded, &req.model, decision, expl)
                    .await
            }
            Behaviour::Select(policy) => self.select(&req, policy, &forwarded, stream).await,
        }
    }

    fn behaviour(&self, req: &ChatRequest) -> Result<Behaviour, GatewayError> {
        let model = req.model.as_str();
        let ext_policy = req.selectllm.as_ref().and_then(|e| e.policy.as_deref());
        if let Some(p) = ext_policy {
            let policy = Policy::parse(p).map_err(|e| GatewayError::bad("selectllm.policy", e))?;
            if model == AUTO_MODEL || model.starts_with(MODEL_PREFIX) {
                return Ok(Behaviour::Select(policy));
            }
        }
        if model == AUTO_MODEL {
            return Ok(Behaviour::Select(self.cfg.router.policy.clone()));
        }
        if let Some(p) = model.strip_prefix(MODEL_PREFIX) {
            return Policy::parse(p)
                .map(Behaviour::Select)
                .map_err(|e| GatewayError::bad("model", format!("`{model}`: {e}")));
        }
        match self.cfg.members.iter().position(|m| m.name == model) {
            Some(i) => Ok(Behaviour::Passthrough(i)),
            None => Err(GatewayError::UnknownModel(
                model.chars().take(200).collect(),
            )),
        }
    }

    async fn select(
        self: &Arc<Self>,
        req: &ChatRequest,
        policy: Policy,
        forwarded: &Map<String, Value>,
        stream: bool,
    ) -> Result<Reply, GatewayError> {
        let text = req
            .last_user_text()
            .ok_or_else(|| GatewayError::bad("messages", "no message with role `user`"))?;
        if text.trim().is_empty() {
            return Err(GatewayError::bad(
                "messages",
                "the last user message has no text",
            ));
        }
        let allowed = self.allowed(req)?;
        let raw = self.worker.classify(text).await.map_err(|e| match e {
            InferError::Overloaded => GatewayError::Overloaded("classifier queue full".into()),
            InferError::Closed => GatewayError::Unavailable("classifier stopped".into()),
            InferError::Classifier(ClassifierError::EmptyInput) => {
                GatewayError::bad("messages", "the last user message has no text")
            }
            InferError::Classifier(e) => GatewayError::Internal(e.to_string()),
        })?;
        let conf: Vec<f32> = self
            .conf_index
            .iter()
            .map(|&c| raw.get(c).copied().unwrap_or(0.0))
            .collect();
        let now = Instant::now();
        let cand: Vec<usize> = allowed
            .into_iter()
            .filter(|&i| self.members[i].breaker.available(now))
            .collect();
        if cand.is_empty() {
            return Err(GatewayError::Unavailable(
                "every candidate member's circuit is open; retry later".into(),
            ));
        }
        let sub_conf: Vec<f32> = cand.iter().map(|&i| conf[i]).collect();
        // a checkpoint's fixed member order, restricted to the candidates
        let sub_rank: Option<Vec<usize>> = self.ranking.as_ref().map(|r| {
            r.iter()
                .filter_map(|m| cand.iter().position(|c| c == m))
                .collect()
        });
        let sel = policy.select_ranked(
            &sub_conf,
            &PoolInfo::uniform(cand.len()),
            sub_rank.as_deref(),
        );
        let selected: Vec<usize> = sel.members.iter().map(|&j| cand[j]).collect();
        let weights = sel.weights.clone();
        let names = |v: &[usize]| -> Vec<String> {
            v.iter()
                .map(|&i| self.cfg.members[i].name.clone())
                .collect()
        };
        let decision = Decision {
            policy: policy.to_string(),
            selected: names(&selected),
            winner: None,
        };
        let mut expl = Explanation {
            policy: policy.to_string(),
            task: self.cfg.router.task.to_string(),
            reason: sel.reason.clone(),
            selected: decision.selected.clone(),
            route_only: req.selectllm.as_ref().is_some_and(|e| e.route_only),
            ..Explanation::default()
        };
        if expl.route_only {
            expl.members = self.reports(&conf, &selected, &cand);
            let body = serde_json::json!({
                "id": self.next_id(), "object": "chat.completion", "created": unix_now(),
                "model": req.model, "choices": [], "usage": Usage::default(), "selectllm": expl,
            });
            return Ok(Reply::Complete { body, decision });
        }
        expl.members = self.reports(&conf, &selected, &cand);
        if stream && selected.len() == 1 {
            // failover, before the first byte, to the next most confident candidates
            let order: Vec<usize> = confidence_order(&sub_conf, &vec![1.0; cand.len()])
                .into_iter()
                .map(|j| cand[j])
                .collect();
            let mut order_from: Vec<usize> = selected.clone();
            order_from.extend(order.into_iter().filter(|i| !selected.contains(i)));
            return self
                .stream_single(order_from, forwarded, &req.model, decision, expl, &conf)
                .await;
        }
        let reply = self
            .fan_out_and_vote(
                &selected,
                weights.as_deref(),
                &conf,
                forwarded,
                &req.model,
                decision,
                expl,
            )
            .await?;
        Ok(if stream {
            crate::stream::replay(reply)
        } else {
            reply
        })
    }

    /// The members this request may use: all, or the `selectllm.members` list.
    fn allowed(&self, req: &ChatRequest) -> Result<Vec<usize>, GatewayError> {
        let Some(list) = req.selectllm.as_ref().and_then(|e| e.members.as_ref()) else {
            return Ok((0..self.members.len()).collect());
        };
        if list.is_empty() {
            return Err(GatewayError::bad("selectllm.members", "must not be empty"));
        }
        let mut out = Vec::with_capacity(list.len());
        for n in list {
            let i = self
                .cfg
                .members
                .iter()
                .position(|m| &m.name == n)
                .ok_or_else(|| {
                    GatewayError::bad(
                        "selectllm.members",
                        format!(
                            "unknown member `{}`",
                            n.chars().take(200).collect::<String>()
                        ),
                    )
                })?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// A report line per candidate member, selected ones first.
    fn reports(&self, conf: &[f32], selected: &[usize], cand: &[usize]) -> Vec<MemberReport> {
        let mut order: Vec<usize> = selected.to_vec();
        order.extend(cand.iter().copied().filter(|i| !selected.contains(i)));
        order
            .into_iter()
            .map(|i| MemberReport {
                name: self.cfg.members[i].name.clone(),
                probability: conf.get(i).copied(),
                selected: selected.contains(&i),
                ..MemberReport::default()
            })
            .collect()
    }

    /// Calls one member with the breaker and metrics around it.
    pub(crate) async fn call(
        &self,
        i: usize,
        req: &Map<String, Value>,
    ) -> Result<ChatReply, Failure> {
        let m = &self.members[i];
        let mm = &self.metrics.members[i];
        if !m.breaker.try_acquire(Instant::now()) {
            let f = Failure {
                kind: FailKind::CircuitOpen,
                msg: "circuit open".into(),
            };
            mm.failure(f.metric_reason(None));
            return Err(f);
        }
        let probe = ProbeGuard(&m.breaker, true);
        mm.calls.fetch_add(1, Ordering::Relaxed);
        let r = tokio::time::timeout(self.cfg.router.request_timeout, m.client.chat(req)).await;
        let r = match r {
            Ok(Ok(reply)) => {
                mm.latency.observe(reply.completion.latency_s);
                Ok(reply)
            }
            Ok(Err(f)) => {
                let fail = Failure::from_call(&f.error);
                mm.failure(fail.metric_reason(Some(&f.error)));
                Err(fail)
            }
            Err(_) => {
                let fail = Failure {
                    kind: FailKind::Timeout,
                    msg: format!(
                        "no answer within the request timeout ({:.1} s)",
                        self.cfg.router.request_timeout.as_secs_f64()
                    ),
                };
                mm.failure("timeout");
                Err(fail)
            }
        };
        let healthy = match &r {
            Ok(_) => true,
            Err(f) => f.kind == FailKind::Rejected,
        };
        probe.record(healthy);
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn fan_out_and_vote(
        &self,
        selected: &[usize],
        weights: Option<&[f32]>,
        conf: &[f32],
        req: &Map<String, Value>,
        model: &str,
        mut decision: Decision,
        mut expl: Explanation,
    ) -> Result<Reply, GatewayError> {
        let calls = selected.iter().map(|&i| self.call(i, req));
        let results = futures_util::future::join_all(calls).await;
        let task = &self.cfg.router.task;
        let mut usage = Usage::default();
        let mut answers: Vec<Option<Answer>> = Vec::with_capacity(selected.len());
        for (k, (&i, r)) in selected.iter().zip(&results).enumerate() {
            let name = &self.cfg.members[i].name;
            let rep = match expl.members.iter_mut().find(|r| &r.name == name) {
                Some(r) => r,
                None => {
                    expl.members.push(MemberReport {
                        name: name.clone(),
                        selected: true,
                        ..MemberReport::default()
                    });
                    expl.members.last_mut().expect("just pushed")
                }
            };
            match r {
                Ok(reply) => {
                    let c = &reply.completion;
                    usage.add(c.prompt_tokens, c.completion_tokens);
                    let a = task.extract(&c.text);
                    rep.answer = a.as_ref().map(|a| a.0.clone());
                    rep.weight = Some(weights.and_then(|w| w.get(k).copied()).unwrap_or(1.0));
                    rep.latency_s = Some(c.latency_s);
                    rep.prompt_tokens = c.prompt_tokens;
                    rep.completion_tokens = c.completion_tokens;
                    rep.cost = c.cost;
                    rep.attempts = Some(c.attempts);
                    answers.push(a);
                }
                Err(f) => {
                    rep.error = Some(f.msg.clone());
                    answers.push(None);
                }
            }
        }
        if results.iter().all(Result::is_err) {
            return Err(all_failed(&self.cfg, selected, &results));
        }
        // the vote: weighted by confidence for weighted policies
        let owned: Vec<(usize, Answer, f32)> = selected
            .iter()
            .enumerate()
            .filter_map(|(k, &i)| {
                let a = answers[k].clone()?;
                Some((i, a, weights.and_then(|w| w.get(k).copied()).unwrap_or(1.0)))
            })
            .collect();
        let ballots: Vec<Ballot<'_>> = owned
            .iter()
            .map(|(i, a, w)| Ballot {
                member: *i,
                answers: std::slice::from_ref(a),
                weight: *w,
            })
            .collect();
        let latency = vec![1.0; self.members.len()];
        let win = Voter::new(&latency, conf).vote(&ballots, VoteMode::PerMember);
        let p = |i: usize| conf.get(i).copied().unwrap_or(0.0);
        let most_confident = |cands: &mut dyn Iterator<Item = usize>| {
            cands.fold(None::<usize>, |best, i| match best {
                Some(b) if p(b) >= p(i) => Some(b),
                _ => Some(i),
            })
        };
        let answered = || {
            selected
                .iter()
                .enumerate()
                .filter(|(k, _)| results[*k].is_ok())
                .map(|(_, &i)| i)
        };
        let (winner, agreement) = match &win {
            Some(w) => {
                let mut backers = owned.iter().filter(|(_, a, _)| a == w).map(|(i, _, _)| *i);
                let unanimous = answers
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| r.is_ok())
                    .all(|(a, _)| a.as_ref() == Some(w));
                let agreement = if unanimous {
                    Agreement::Unanimous
                } else {
                    Agreement::Split
                };
                (most_confident(&mut backers), agreement)
            }
            None => (most_confident(&mut answered()), Agreement::NoAnswer),
        };
        let winner = winner.ok_or_else(|| GatewayError::Internal("no winner".into()))?;
        if selected.len() > 1 {
            self.metrics.vote(agreement);
        }
        let k = selected.iter().position(|&i| i == winner).unwrap_or(0);
        let reply = results[k]
            .as_ref()
            .map_err(|_| GatewayError::Internal("winner failed".into()))?;
        let wname = self.cfg.members[winner].name.clone();
        expl.winner = Some(wname.clone());
        expl.answer = win.map(|a| a.0);
        expl.unanimous = matches!(agreement, Agreement::Unanimous);
        decision.winner = Some(wname);
        let mut body = match &reply.body {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        body.insert("id".into(), Value::String(self.next_id()));
        body.insert("object".into(), "chat.completion".into());
        body.entry("created").or_insert_with(|| unix_now().into());
        body.insert("model".into(), Value::String(model.to_string()));
        body.insert(
            "usage".into(),
            serde_json::to_value(usage).unwrap_or_default(),
        );
        body.insert(
            "selectllm".into(),
            serde_json::to_value(&expl).unwrap_or_default(),
        );
        Ok(Reply::Complete {
            body: Value::Object(body),
            decision,
        })
    }
}

/// Frees a half-open probe when a call is dropped before its outcome is recorded.
pub(crate) struct ProbeGuard<'a>(pub &'a Breaker, pub bool);

impl ProbeGuard<'_> {
    pub(crate) fn record(mut self, healthy: bool) {
        self.0.record(healthy, Instant::now());
        self.1 = false;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.release();
        }
    }
}

/// The error when every member called failed: 400 when all rejected the request, 504 when
/// the failures were timeouts, else 502.
pub(crate) fn all_failed<T>(
    cfg: &Config,
    idx: &[usize],
    results: &[Result<T, Failure>],
) -> GatewayError {
    let fails: Vec<&Failure> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let detail = idx
        .iter()
        .zip(&fails)
        .map(|(&i, f)| format!("{}: {}", cfg.members[i].name, f.msg))
        .collect::<Vec<_>>()
        .join("; ");
    if fails.iter().all(|f| f.kind == FailKind::Rejected) {
        return GatewayError::RejectedByMembers(format!(
            "every member rejected the request: {detail}"
        ));
    }
    let msg = format!("all {} member(s) called failed: {detail}", fails.len());
    let timeouts = fails.iter().filter(|f| f.kind == FailKind::Timeout).count();
    let others = fails
        .iter()
        .filter(|f| !matches!(f.kind, FailKind::Timeout | FailKind::Rejected))
        .count();
    if timeouts > 0 && others == 0 {
        GatewayError::MembersTimedOut(msg)
    } else {
        GatewayError::MembersFailed(msg)
    }
}

/// Parses and validates a body: the object as sent (to forward) and the fields read.
fn parse(body: &[u8]) -> Result<(Map<String, Value>, ChatRequest), GatewayError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad("body", format!("invalid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(GatewayError::bad("body", "must be a JSON object"));
    };
    let value = Value::Object(map);
    let req: ChatRequest = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." {
            "body".to_string()
        } else {
            path
        };
        GatewayError::BadRequest {
            msg: format!("{param}: {}", e.inner()),
            param: Some(param),
        }
    })?;
    req.validate()
        .map_err(|(field, msg)| GatewayError::bad(&field, msg))?;
    let map = match value {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok((map, req))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
