//! The request pipeline, free of HTTP types: body -> behaviour (from `model`: a plan, or a
//! member's name) -> classify the last user message -> the plan's [`Execution`] over the
//! candidates -> `execute.rs` calls the members wave by wave, the client's messages and
//! parameters as sent, and cancels what can no longer change the answer -> the winner's full
//! response with the explanation. Streaming lives in `stream.rs`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::Stream;
use selectllm_core::plan::{Execution, Plan, PlanKind};
use selectllm_core::policy::{PoolInfo, confidence_order};
use selectllm_core::{Classifier, ClassifierError, Policy, VoteMode};
use selectllm_infer::{BATCH_SIZE_BUCKETS, ClassifierWorker, InferError, WorkerConfig};
use selectllm_pool::MemberClient;
use serde_json::{Map, Value};

use crate::behaviour::Behaviour;
use crate::breaker::{Breaker, BreakerState};
use crate::config::Config;
use crate::error::GatewayError;
use crate::health::Health;
use crate::metrics::{ClassifierFigures, MemberGauges, Metrics};
use crate::wire::{self, ChatRequest, Explanation, Usage};

/// Model names that mean "let selectllm choose".
pub const AUTO_MODEL: &str = "selectllm/auto";
pub(crate) const MODEL_PREFIX: &str = "selectllm/";
/// The gateway votes each member's one answer.
const PER_MEMBER: VoteMode = VoteMode::PerMember;

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

pub(crate) struct Member {
    pub client: MemberClient,
    pub breaker: Breaker,
    pub health: Health,
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
                    health: Health::default(),
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
            format!("{MODEL_PREFIX}{}", self.cfg.router.plan.short_name()),
            format!("{MODEL_PREFIX}cascade"),
        ];
        ids.extend(self.cfg.members.iter().map(|m| m.name.clone()));
        ids
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
        let gauges: Vec<MemberGauges> = self
            .members
            .iter()
            .map(|m| MemberGauges {
                circuit_open: m.breaker.state(now) == BreakerState::Open,
                up: m.health.up(),
            })
            .collect();
        self.metrics.render(&figures, &gauges)
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
                let one = Plan::new(PlanKind::Parallel(Policy::MaxConf { s: 1 }));
                let exec = Execution::new(&one, &[1.0], &PoolInfo::uniform(1), None, PER_MEMBER);
                let run = self.execute(exec, &[i], &forwarded).await;
                self.reply(run, None, &[i], &[], &req.model, decision, expl)
            }
            Behaviour::Select(plan) => self.select(&req, plan, &forwarded, stream).await,
        }
    }

    async fn select(
        self: &Arc<Self>,
        req: &ChatRequest,
        plan: Plan,
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
        let pool = self.pool_info(&plan, &cand);
        let exec = Execution::ranked(
            &plan,
            &sub_conf,
            &pool,
            sub_rank.as_deref(),
            self.cfg.router.task.options(),
            PER_MEMBER,
        );
        let first: Vec<usize> = exec.first_wave().iter().map(|&j| cand[j]).collect();
        if first.is_empty() {
            return Err(GatewayError::bad(
                "model",
                format!("plan `{plan}` calls no member within its ceiling"),
            ));
        }
        let names = |v: &[usize]| -> Vec<String> {
            v.iter()
                .map(|&i| self.cfg.members[i].name.clone())
                .collect()
        };
        let decision = Decision {
            policy: plan.short_name(),
            selected: names(&first),
            winner: None,
        };
        let mut expl = Explanation {
            policy: plan.short_name(),
            task: self.cfg.router.task.to_string(),
            reason: exec.selection_reason().to_string(),
            selected: decision.selected.clone(),
            route_only: req.selectllm.as_ref().is_some_and(|e| e.route_only),
            members: self.reports(&conf, &first, &cand),
            ..Explanation::default()
        };
        if expl.route_only {
            expl.plan = Some(plan.to_string());
            expl.waves = vec![decision.selected.clone()];
            let body = serde_json::json!({
                "id": self.next_id(), "object": "chat.completion", "created": unix_now(),
                "model": req.model, "choices": [], "usage": Usage::default(), "selectllm": expl,
            });
            return Ok(Reply::Complete { body, decision });
        }
        if stream && first.len() == 1 && matches!(plan.kind, PlanKind::Parallel(_)) {
            // failover, before the first byte, to the next most confident candidates
            let mut order = first.clone();
            order.extend(
                confidence_order(&sub_conf, &pool.latency)
                    .into_iter()
                    .map(|j| cand[j])
                    .filter(|i| !first.contains(i)),
            );
            return self
                .stream_single(order, forwarded, &req.model, decision, expl, &conf)
                .await;
        }
        let run = self.execute(exec, &cand, forwarded).await;
        let reply = self.reply(run, Some(&plan), &cand, &conf, &req.model, decision, expl)?;
        Ok(if stream {
            crate::stream::replay(reply)
        } else {
            reply
        })
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
