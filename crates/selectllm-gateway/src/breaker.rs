//! A circuit breaker per member: closed until `threshold` consecutive failures, then open for
//! `cooldown`; then half-open, letting exactly one probe call through: its success closes the
//! circuit, its failure opens it again for another cooldown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What a breaker says now, for `/ready` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call could go through now (does not take the half-open probe).
    pub fn available(&self, now: Instant) -> bool {
        match *self.lock() {
            State::Closed { .. } => true,
            State::Open { until } => now >= until,
            State::HalfOpen { probing } => !probing,
        }
    }

    /// Asks to make a call; in half-open state only the first asker gets through.
    pub fn try_acquire(&self, now: Instant) -> bool {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *s = State::HalfOpen { probing: true };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { probing: false } => {
                *s = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => false,
        }
    }

    pub fn record(&self, success: bool, now: Instant) {
        let mut s = self.lock();
        *s = match (*s, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (_, false) => State::Open {
                until: now + self.cooldown,
            },
        };
    }

    /// A call that was acquired but not made (e.g. cancelled): frees the half-open probe.
    pub fn release(&self) {
        let mut s = self.lock();
        if let State::HalfOpen { probing: true } = *s {
            *s = State::HalfOpen { probing: false };
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_then_probes_once() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        b.record(false, t0);
        b.record(false, t0);
        assert!(b.try_acquire(t0), "2 failures of 3: still closed");
        b.record(true, t0);
        for _ in 0..3 {
            b.record(false, t0);
        }
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.try_acquire(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert!(b.available(later));
        assert!(b.try_acquire(later), "the half-open probe");
        assert!(!b.try_acquire(later), "only one probe");
        b.record(false, later);
        assert!(
            !b.try_acquire(later + Duration::from_secs(1)),
            "failed probe reopens"
        );
        let again = later + Duration::from_secs(10);
        assert!(b.try_acquire(again));
        b.record(true, again);
        assert_eq!(b.state(again), BreakerState::Closed);
        assert!(b.try_acquire(again) && b.try_acquire(again));
    }

    #[test]
    fn released_probe_can_be_taken_again() {
        let b = Breaker::new(1, Duration::ZERO);
        let t = Instant::now();
        b.record(false, t);
        assert!(b.try_acquire(t));
        b.release();
        assert!(b.try_acquire(t));
    }
}
