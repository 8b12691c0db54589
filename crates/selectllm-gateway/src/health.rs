//! Readiness: is any member reachable now? Each member's last sign of life comes from two
//! sources, whichever is newer: the periodic probe (`GET {base_url}/models`, every
//! `router.probe_interval_s`) and the gateway's own calls, read by one rule
//! (`member::Health::record`). `/ready` is 200 when the classifier is loaded
//! (always, once the gateway exists) and some member is reachable with its circuit not open;
//! before the first probe round has finished it is 503 ("starting").

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::breaker::BreakerState;
use crate::gateway::Gateway;

/// How long one probe may take (capped by the member's own timeout).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One member in the `/ready` body.
#[derive(Debug, Clone, Serialize)]
pub struct MemberReadiness {
    pub name: String,
    /// `closed`, `open` or `half-open`.
    pub circuit: &'static str,
    /// `None` until the first probe or call.
    pub reachable: Option<bool>,
    /// Seconds since the last probe or call said so.
    pub checked_s_ago: Option<f64>,
    /// Why it was unreachable (redacted: no keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/ready` body.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub classifier: &'static str,
    pub members: Vec<MemberReadiness>,
}

impl Gateway {
    /// What `/ready` answers.
    pub fn readiness(&self) -> Readiness {
        let now = Instant::now();
        let members: Vec<MemberReadiness> = self
            .members
            .iter()
            .zip(&self.cfg.members)
            .map(|(m, c)| {
                let seen = m.health.get();
                MemberReadiness {
                    name: c.name.clone(),
                    circuit: match m.breaker.state(now) {
                        BreakerState::Closed => "closed",
                        BreakerState::Open => "open",
                        BreakerState::HalfOpen => "half-open",
                    },
                    reachable: seen.as_ref().map(|s| s.reachable),
                    checked_s_ago: seen
                        .as_ref()
                        .map(|s| now.duration_since(s.at).as_secs_f64()),
                    error: seen.and_then(|s| s.error),
                }
            })
            .collect();
        let usable = |i: usize, r: &MemberReadiness| {
            self.members[i].breaker.available(now)
                && match self.cfg.router.probe_interval {
                    Some(_) => r.reachable == Some(true),
                    None => r.reachable != Some(false),
                }
        };
        let ready = members.iter().enumerate().any(|(i, r)| usable(i, r));
        let reason = (!ready).then(|| {
            if self.cfg.router.probe_interval.is_some()
                && members.iter().all(|r| r.reachable.is_none())
            {
                "starting: the first probe of the members has not finished".to_string()
            } else {
                "no member is reachable with its circuit closed".to_string()
            }
        });
        Readiness {
            ready,
            reason,
            classifier: "loaded",
            members,
        }
    }

    /// Probes every member once, concurrently, and records what each said.
    pub async fn probe_members(&self) {
        let probes = self
            .members
            .iter()
            .zip(&self.cfg.members)
            .map(|(m, c)| async move {
                let before = m.health.up();
                // a probe that times out says the member is not answering
                let r = m.client().probe(PROBE_TIMEOUT).await;
                m.health.record(r.as_ref().map(|_| ()), false);
                match (before, m.health.up()) {
                    (Some(false), Some(true)) => {
                        tracing::info!(member = %c.name, "member reachable again")
                    }
                    (b, Some(false)) if b != Some(false) => {
                        let error = m.health.error().unwrap_or_default();
                        tracing::warn!(member = %c.name, error = %error, "member unreachable")
                    }
                    _ => {}
                }
            });
        futures_util::future::join_all(probes).await;
    }

    /// Probes the members every `router.probe_interval_s`, until the task running it is
    /// aborted (`http::serve` aborts it when it stops); returns at once when probing is off.
    pub async fn run_prober(self: Arc<Self>) {
        let Some(every) = self.cfg.router.probe_interval else {
            return;
        };
        loop {
            self.probe_members().await;
            tokio::time::sleep(every).await;
        }
    }
}
