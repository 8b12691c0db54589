//! The gateway's state: its configuration, the members (client, circuit breaker, last sign
//! of life), the classifier worker and the metrics, and the types a request's answer is made
//! of. What a request does lives beside it: `pipeline` (one request end to end), `behaviour`
//! (what the request's `model` asks for), `execute` and `call` (calling members), `stream`
//! and `health` (readiness); each of them adds to `impl Gateway` and none is imported here.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::Stream;
use selectllm_core::{Classifier, VoteMode};
use selectllm_infer::{BATCH_SIZE_BUCKETS, ClassifierWorker, WorkerConfig};
use selectllm_pool::MemberClient;
use serde_json::Value;

use crate::breaker::{Breaker, BreakerState};
use crate::config::Config;
use crate::member::Member;
use crate::metrics::{ClassifierFigures, MemberGauges, Metrics};

/// Model names that mean "let selectllm choose".
pub const AUTO_MODEL: &str = "selectllm/auto";
pub(crate) const MODEL_PREFIX: &str = "selectllm/";
/// The gateway votes each member's one answer.
pub(crate) const PER_MEMBER: VoteMode = VoteMode::PerMember;

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

/// Where a completed request's time went outside the gateway's own work: waiting for the
/// classifier and waiting on member calls (the HTTP layer subtracts both from the request's
/// time for `selectllm_gateway_overhead_seconds`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Waited {
    pub classifier: std::time::Duration,
    pub members: std::time::Duration,
}

/// The answer to a chat request.
pub enum Reply {
    Complete {
        body: Value,
        decision: Decision,
        waited: Waited,
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

/// The gateway: members, their breakers, the classifier worker and the metrics.
pub struct Gateway {
    pub(crate) cfg: Config,
    pub(crate) members: Vec<Member>,
    /// For pool member `i`, its column in the classifier's output.
    pub(crate) conf_index: Vec<usize>,
    pub(crate) worker: ClassifierWorker,
    pub(crate) metrics: Metrics,
    pub(crate) ids: AtomicU64,
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
        let members = cfg
            .members
            .iter()
            .map(|m| {
                Member::new(
                    MemberClient::new(m).map_err(|e| e.to_string())?,
                    cfg.server.runtimes,
                    Breaker::new(cfg.router.breaker_failures, cfg.router.breaker_cooldown),
                )
            })
            .collect::<Result<Vec<_>, String>>()?;
        let worker = ClassifierWorker::spawn(
            classifier,
            WorkerConfig {
                max_batch: cfg.router.batch_max,
                max_wait: cfg.router.batch_wait,
                queue_capacity: cfg.router.queue_capacity,
                inline_max: cfg.router.inline_max,
            },
        )
        .map_err(|e| format!("cannot start the classifier worker: {e}"))?;
        let warm = worker
            .warm_up()
            .map_err(|e| format!("the classifier failed its warm-up: {e}"))?;
        tracing::info!(
            ms = warm.took.as_secs_f64() * 1e3,
            one_question_us = warm.one_question.as_secs_f64() * 1e6,
            inline = warm.inline,
            "classifier warmed up (one question, then a batch); inline: short questions are \
             classified on the request's own thread (router.inline_max_us)"
        );
        let metrics = Metrics::new(cfg.members.iter().map(|m| m.name.clone()).collect());
        Ok(Gateway {
            cfg,
            members,
            conf_index,
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
            busy_seconds: s.busy_seconds,
            failed_batches: s.failed_batches,
            overloaded: s.overloaded,
            inline: s.inline,
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

    /// A completed answer's own time in the gateway (see [`Waited`]).
    pub fn record_overhead(&self, secs: f64) {
        self.metrics.overhead.observe(secs);
    }

    pub(crate) fn next_id(&self) -> String {
        format!(
            "chatcmpl-selectllm-{}",
            self.ids.fetch_add(1, Ordering::Relaxed)
        )
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
