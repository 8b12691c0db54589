//! Prometheus text metrics, names prefixed `selectllm_`: requests by status, per-member calls,
//! failures and latency, request latency, votes with and without agreement, the classifier
//! worker's batch sizes, queue depth and each request's wait for it, and the gateway's own time
//! per answer (less those waits). Counters are atomics; rendering is on demand.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets, seconds: half-millisecond steps up to 8 ms, where a classifier's time falls
/// (so a p99 read off them is within a quarter of a millisecond there), then coarser up to
/// member calls of a minute.
const LATENCY_BOUNDS: [f64; 31] = [
    0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004, 0.0045, 0.005, 0.0055, 0.006,
    0.0065, 0.007, 0.0075, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0, 30.0, 60.0,
];

/// Buckets of the classifier wait, seconds: 50-microsecond steps below half a millisecond,
/// where a lexical classifier's wait falls, then [`LATENCY_BOUNDS`]'.
const WAIT_BOUNDS: [f64; 40] = [
    0.00005, 0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.00035, 0.0004, 0.00045, 0.0005, 0.001,
    0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004, 0.0045, 0.005, 0.0055, 0.006, 0.0065, 0.007,
    0.0075, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    30.0, 60.0,
];

/// Buckets of the gateway's own time per request, seconds: 50-microsecond steps up to 1 ms,
/// where it falls, then coarser.
const OVERHEAD_BOUNDS: [f64; 31] = [
    0.00005, 0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.00035, 0.0004, 0.00045, 0.0005, 0.00055,
    0.0006, 0.00065, 0.0007, 0.00075, 0.0008, 0.00085, 0.0009, 0.00095, 0.001, 0.0015, 0.002,
    0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    /// Latency buckets (`LATENCY_BOUNDS`: half-millisecond steps to 8 ms, then coarser).
    fn default() -> Self {
        Histogram::with_bounds(&LATENCY_BOUNDS)
    }
}

impl Histogram {
    /// A histogram over the given upper bounds (ascending), plus `+Inf`.
    pub fn with_bounds(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, secs: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| secs <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us
            .fetch_add((secs.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Mean of the observed values; `None` before the first.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count.load(Ordering::Relaxed);
        (n > 0).then(|| self.sum_us.load(Ordering::Relaxed) as f64 / 1e6 / n as f64)
    }

    /// The `q` quantile estimated from the buckets as Prometheus' `histogram_quantile` does
    /// (linear within the bucket; the last finite bound past it); `None` before the first.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * n as f64;
        let (mut cum, mut lower) = (0u64, 0.0f64);
        for (&b, c) in self.bounds.iter().zip(&self.counts) {
            let c = c.load(Ordering::Relaxed);
            if c > 0 && (cum + c) as f64 >= rank {
                return Some(lower + (b - lower) * ((rank - cum as f64) / c as f64).max(0.0));
            }
            cum += c;
            lower = b;
        }
        Some(lower)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {n}");
    }
}

/// Counters of one member.
#[derive(Debug, Default)]
pub struct MemberMetrics {
    pub calls: AtomicU64,
    /// Calls a plan cancelled because they could no longer change the answer.
    pub cancelled: AtomicU64,
    /// Micro-USD of answered calls whose cost is known, and how many they were.
    cost_micro_usd: AtomicU64,
    costed: AtomicU64,
    /// Failures by reason (`timeout`, `status`, `transport`, `malformed`, `circuit_open`).
    failures: Mutex<BTreeMap<&'static str, u64>>,
    pub latency: Histogram,
}

impl MemberMetrics {
    pub fn cost(&self, usd: f64) {
        self.cost_micro_usd
            .fetch_add((usd.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.costed.fetch_add(1, Ordering::Relaxed);
    }

    /// Mean USD of a call whose cost was known; 0 before the first.
    pub fn mean_cost(&self) -> f64 {
        let n = self.costed.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        self.cost_micro_usd.load(Ordering::Relaxed) as f64 / 1e6 / n as f64
    }

    pub fn failure(&self, reason: &'static str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *f.entry(reason).or_default() += 1;
    }
}

/// How a vote went.
#[derive(Debug, Clone, Copy)]
pub enum Agreement {
    /// Every member that answered gave the winning answer.
    Unanimous,
    /// Some answered differently (or gave no extractable answer).
    Split,
    /// Nobody gave an extractable answer (the free-text fallback).
    NoAnswer,
}

/// The classifier worker's figures at render time.
#[derive(Debug, Clone, Default)]
pub struct ClassifierFigures {
    pub queue_depth: u64,
    pub questions: u64,
    /// `(batch size upper bound, batches of at most that size)`, cumulative, ascending.
    pub batch_size_buckets: Vec<(u64, u64)>,
    pub batches: u64,
    pub batch_size_sum: u64,
    /// Seconds spent in the classifier (its utilisation is this counter's rate).
    pub busy_seconds: f64,
    /// Batches whose classifier call failed.
    pub failed_batches: u64,
    /// Questions refused because the queue was full (answered 429).
    pub overloaded: u64,
    /// Questions classified on the request's own thread, without the queue.
    pub inline: u64,
}

#[derive(Debug)]
pub struct Metrics {
    names: Vec<String>,
    requests: Mutex<BTreeMap<u16, u64>>,
    pub request_latency: Histogram,
    /// Per request: from handing its question to the classifier worker until the
    /// probabilities came back (queue + batch), or the classifier call itself when inline.
    pub classifier_wait: Histogram,
    /// Per completed, non-streamed answer: its time in the handler less its wait for the
    /// classifier and its waits on member calls (parsing, selection, sending, voting, the reply).
    pub overhead: Histogram,
    pub members: Vec<MemberMetrics>,
    votes: [AtomicU64; 3],
}

/// A member's gauges at the time of a scrape.
#[derive(Debug, Clone, Copy)]
pub struct MemberGauges {
    pub circuit_open: bool,
    /// Reachable by the last probe or call; `None`: not known yet (no sample written).
    pub up: Option<bool>,
}

impl Metrics {
    pub fn new(member_names: Vec<String>) -> Metrics {
        Metrics {
            members: member_names
                .iter()
                .map(|_| MemberMetrics::default())
                .collect(),
            names: member_names,
            requests: Mutex::new(BTreeMap::new()),
            request_latency: Histogram::default(),
            classifier_wait: Histogram::with_bounds(&WAIT_BOUNDS),
            overhead: Histogram::with_bounds(&OVERHEAD_BOUNDS),
            votes: Default::default(),
        }
    }

    pub fn request(&self, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
        self.request_latency.observe(secs);
    }

    pub fn vote(&self, a: Agreement) {
        self.votes[a as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, clf: &ClassifierFigures, gauges: &[MemberGauges]) -> String {
        let mut o = String::with_capacity(8192);
        o.push_str("# TYPE selectllm_requests_total counter\n");
        for (s, n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "selectllm_requests_total{{status=\"{s}\"}} {n}");
        }
        o.push_str("# TYPE selectllm_request_duration_seconds histogram\n");
        self.request_latency
            .render(&mut o, "selectllm_request_duration_seconds", "");
        o.push_str("# TYPE selectllm_classifier_wait_seconds histogram\n");
        self.classifier_wait
            .render(&mut o, "selectllm_classifier_wait_seconds", "");
        o.push_str("# TYPE selectllm_gateway_overhead_seconds histogram\n");
        self.overhead
            .render(&mut o, "selectllm_gateway_overhead_seconds", "");
        o.push_str("# TYPE selectllm_member_calls_total counter\n");
        for (name, m) in self.names.iter().zip(&self.members) {
            let n = m.calls.load(Ordering::Relaxed);
            let _ = writeln!(o, "selectllm_member_calls_total{{member=\"{name}\"}} {n}");
        }
        o.push_str("# TYPE selectllm_member_cancelled_total counter\n");
        for (name, m) in self.names.iter().zip(&self.members) {
            let n = m.cancelled.load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "selectllm_member_cancelled_total{{member=\"{name}\"}} {n}"
            );
        }
        o.push_str("# TYPE selectllm_member_failures_total counter\n");
        for (name, m) in self.names.iter().zip(&self.members) {
            for (r, n) in m.failures.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = writeln!(
                    o,
                    "selectllm_member_failures_total{{member=\"{name}\",reason=\"{r}\"}} {n}"
                );
            }
        }
        o.push_str("# TYPE selectllm_member_circuit_open gauge\n");
        for (name, g) in self.names.iter().zip(gauges) {
            let _ = writeln!(
                o,
                "selectllm_member_circuit_open{{member=\"{name}\"}} {}",
                u8::from(g.circuit_open)
            );
        }
        o.push_str("# TYPE selectllm_member_up gauge\n");
        for (name, g) in self.names.iter().zip(gauges) {
            if let Some(up) = g.up {
                let _ = writeln!(
                    o,
                    "selectllm_member_up{{member=\"{name}\"}} {}",
                    u8::from(up)
                );
            }
        }
        o.push_str("# TYPE selectllm_member_latency_seconds histogram\n");
        for (name, m) in self.names.iter().zip(&self.members) {
            m.latency.render(
                &mut o,
                "selectllm_member_latency_seconds",
                &format!("member=\"{name}\""),
            );
        }
        o.push_str("# TYPE selectllm_votes_total counter\n");
        for (i, label) in ["unanimous", "split", "no_answer"].iter().enumerate() {
            let n = self.votes[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "selectllm_votes_total{{agreement=\"{label}\"}} {n}");
        }
        o.push_str("# TYPE selectllm_classifier_queue_depth gauge\n");
        let _ = writeln!(o, "selectllm_classifier_queue_depth {}", clf.queue_depth);
        o.push_str("# TYPE selectllm_classifier_questions_total counter\n");
        let _ = writeln!(o, "selectllm_classifier_questions_total {}", clf.questions);
        o.push_str("# TYPE selectllm_classifier_inline_total counter\n");
        let _ = writeln!(o, "selectllm_classifier_inline_total {}", clf.inline);
        o.push_str("# TYPE selectllm_classifier_batch_size histogram\n");
        for (le, n) in &clf.batch_size_buckets {
            let _ = writeln!(
                o,
                "selectllm_classifier_batch_size_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "selectllm_classifier_batch_size_bucket{{le=\"+Inf\"}} {}",
            clf.batches
        );
        let _ = writeln!(
            o,
            "selectllm_classifier_batch_size_sum {}",
            clf.batch_size_sum
        );
        let _ = writeln!(o, "selectllm_classifier_batch_size_count {}", clf.batches);
        o.push_str("# TYPE selectllm_classifier_busy_seconds_total counter\n");
        let _ = writeln!(
            o,
            "selectllm_classifier_busy_seconds_total {:.6}",
            clf.busy_seconds
        );
        o.push_str("# TYPE selectllm_classifier_failed_batches_total counter\n");
        let _ = writeln!(
            o,
            "selectllm_classifier_failed_batches_total {}",
            clf.failed_batches
        );
        o.push_str("# TYPE selectllm_classifier_overloaded_total counter\n");
        let _ = writeln!(
            o,
            "selectllm_classifier_overloaded_total {}",
            clf.overloaded
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..50 {
            h.observe(0.3); // (0.25, 0.5]
        }
        for _ in 0..50 {
            h.observe(0.7); // (0.5, 1.0]
        }
        assert!((h.quantile(0.5).unwrap() - 0.5).abs() < 1e-9);
        assert!((h.quantile(0.95).unwrap() - 0.95).abs() < 1e-9);
        h.observe(100.0); // past the last bound
        assert_eq!(h.quantile(1.0), Some(60.0));
        assert!((h.mean().unwrap() - (15.0 + 35.0 + 100.0) / 101.0).abs() < 1e-6);
    }
}
