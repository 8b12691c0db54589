//! One member as the gateway holds it: its clients, its circuit breaker and its last sign of
//! life (what `/ready` and the `selectllm_member_up` gauge report; `health` reads it).

use std::cell::Cell;
use std::sync::Mutex;
use std::time::Instant;

use selectllm_pool::{CallError, MemberClient};

use crate::breaker::Breaker;

pub(crate) struct Member {
    /// One client per runtime (`server.runtimes`; one with the shared runtime): each
    /// runtime calls the member on connections it drives itself. They share one set of
    /// `max_concurrency` permits.
    pub clients: Vec<MemberClient>,
    pub breaker: Breaker,
    pub health: Health,
}

thread_local! {
    /// Which of the gateway's runtimes this thread runs (0 outside them).
    static RUNTIME: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as the one running runtime `i` (`runtimes::Runtimes`).
pub(crate) fn enter_runtime(i: usize) {
    RUNTIME.with(|r| r.set(i));
}

impl Member {
    /// Builds the member's clients, `runtimes` of them (at least one).
    pub(crate) fn new(
        client: MemberClient,
        runtimes: usize,
        breaker: Breaker,
    ) -> Result<Member, String> {
        let mut clients = vec![client];
        for _ in 1..runtimes {
            let own = clients[0].with_own_connections();
            clients.push(own.map_err(|e| e.to_string())?);
        }
        Ok(Member {
            clients,
            breaker,
            health: Health::default(),
        })
    }

    /// The client of the runtime running the caller.
    pub(crate) fn client(&self) -> &MemberClient {
        let i = RUNTIME.with(Cell::get);
        &self.clients[i % self.clients.len()]
    }
}

/// When a member last showed whether it is reachable, and what went wrong if not.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub reachable: bool,
    pub at: Instant,
    pub error: Option<String>,
}

/// A member's last sign of life.
#[derive(Debug, Default)]
pub(crate) struct Health {
    last: Mutex<Option<Seen>>,
}

impl Health {
    pub(crate) fn set(&self, reachable: bool, error: Option<String>) {
        let seen = Seen {
            reachable,
            at: Instant::now(),
            error,
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
    }

    pub(crate) fn get(&self) -> Option<Seen> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What an outcome says about reachability, one rule for probes and real calls: an
    /// answer says the server is there, and so does a status that only rejects this request
    /// (4xx other than 401/403) or a malformed body; a refused or broken connection, a key
    /// the member refuses (401/403) or a server error (5xx) say it cannot serve now. A
    /// timeout says nothing on a real call (a long generation) and "not answering" on a probe
    /// (`timeout_means_down`).
    pub(crate) fn record(&self, outcome: Result<(), &CallError>, timeout_says_nothing: bool) {
        match outcome {
            Ok(()) | Err(CallError::Malformed(_)) => self.set(true, None),
            Err(CallError::Status { status, .. })
                if *status < 500 && !matches!(status, 401 | 403) =>
            {
                self.set(true, None)
            }
            Err(CallError::Timeout(_)) if timeout_says_nothing => {}
            Err(e) => self.set(false, Some(e.to_string())),
        }
    }

    /// A real call's outcome ([`Self::record`]; its timeouts say nothing).
    pub(crate) fn record_call(&self, outcome: Result<(), &CallError>) {
        self.record(outcome, true);
    }

    /// The error of the last outcome that said "unreachable".
    pub(crate) fn error(&self) -> Option<String> {
        self.get().and_then(|s| s.error)
    }

    /// Reachable or not, `None` not known yet (for the `selectllm_member_up` gauge).
    pub(crate) fn up(&self) -> Option<bool> {
        self.get().map(|s| s.reachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> CallError {
        CallError::Status {
            status: s,
            body: String::new(),
        }
    }

    #[test]
    fn one_reachability_rule_for_probes_and_calls() {
        let h = Health::default();
        assert_eq!(h.up(), None);
        for (e, up) in [
            (status(404), true), // a proxy that lists no models is up
            (status(400), true), // only this request was rejected
            (status(401), false),
            (status(503), false),
            (CallError::Malformed("x".into()), true),
            (CallError::Refused("x".into()), false),
        ] {
            h.record(Err(&e), true);
            assert_eq!(h.up(), Some(up), "{e}");
        }
        h.record(Ok(()), true);
        // a call's timeout says nothing; a probe's says the member is not answering
        h.record_call(Err(&CallError::Timeout(1.0)));
        assert_eq!(h.up(), Some(true));
        h.record(Err(&CallError::Timeout(1.0)), false);
        assert_eq!(h.up(), Some(false));
        assert!(h.error().is_some_and(|e| e.contains("timeout")));
    }
}
