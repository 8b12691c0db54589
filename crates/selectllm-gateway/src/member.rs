//! One member as the gateway holds it: its client, its circuit breaker and its last sign of
//! life (what `/ready` and the `selectllm_member_up` gauge report; `health` reads it).

use std::sync::Mutex;
use std::time::Instant;

use selectllm_pool::{CallError, MemberClient};

use crate::breaker::Breaker;

pub(crate) struct Member {
    pub client: MemberClient,
    pub breaker: Breaker,
    pub health: Health,
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

    /// A real call's outcome: an answer (or any HTTP status) says the server is there; a
    /// refused or broken connection says it is not; a timeout says nothing either way.
    pub(crate) fn record_call(&self, outcome: Result<(), &CallError>) {
        match outcome {
            Ok(()) | Err(CallError::Status { .. } | CallError::Malformed(_)) => {
                self.set(true, None)
            }
            Err(e @ (CallError::Refused(_) | CallError::Transport(_))) => {
                self.set(false, Some(e.to_string()))
            }
            Err(CallError::Timeout(_)) => {}
        }
    }

    /// Reachable or not, `None` not known yet (for the `selectllm_member_up` gauge).
    pub(crate) fn up(&self) -> Option<bool> {
        self.get().map(|s| s.reachable)
    }
}
