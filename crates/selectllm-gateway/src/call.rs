//! One call to a member, with its circuit breaker and metrics around it, and what a failed
//! call means for the reply.

use std::sync::atomic::Ordering;
use std::time::Instant;

use selectllm_pool::{CallError, ChatReply};
use serde_json::{Map, Value};

use crate::breaker::Breaker;
use crate::config::Config;
use crate::error::GatewayError;
use crate::gateway::Gateway;

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

impl Gateway {
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
        let r = tokio::time::timeout(self.cfg.router.request_timeout, m.client().chat(req)).await;
        let r = match r {
            Ok(Ok(reply)) => {
                mm.latency.observe(reply.completion.latency_s);
                m.health.record_call(Ok(()));
                Ok(reply)
            }
            Ok(Err(f)) => {
                m.health.record_call(Err(&f.error));
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
}
