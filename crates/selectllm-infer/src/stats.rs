//! Counters of the classifier worker, kept in atomics so neither callers nor the worker thread
//! take a lock to update them; [`WorkerStats`] is a consistent-enough snapshot for metrics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Upper bounds (inclusive) of the batch-size histogram buckets; a last `+Inf` bucket follows.
pub const BATCH_SIZE_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// Live counters shared by the handles and the worker thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queue_depth: AtomicUsize,
    pub batches: AtomicU64,
    pub questions: AtomicU64,
    pub failed_batches: AtomicU64,
    pub overloaded: AtomicU64,
    pub busy_nanos: AtomicU64,
    /// Questions classified on the caller's thread (also counted as batches of one).
    pub inline: AtomicU64,
    /// Non-cumulative counts per bucket of [`BATCH_SIZE_BUCKETS`], then `+Inf`.
    pub batch_sizes: [AtomicU64; BATCH_SIZE_BUCKETS.len() + 1],
}

impl Counters {
    pub fn record_batch(&self, size: usize, ok: bool, nanos: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.questions.fetch_add(size as u64, Ordering::Relaxed);
        if !ok {
            self.failed_batches.fetch_add(1, Ordering::Relaxed);
        }
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|&le| size as u64 <= le)
            .unwrap_or(BATCH_SIZE_BUCKETS.len());
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, queue_capacity: usize) -> WorkerStats {
        let mut cumulative = 0;
        let mut batch_size_buckets = [0; BATCH_SIZE_BUCKETS.len() + 1];
        for (out, count) in batch_size_buckets.iter_mut().zip(&self.batch_sizes) {
            cumulative += count.load(Ordering::Relaxed);
            *out = cumulative;
        }
        WorkerStats {
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            queue_capacity,
            batches: self.batches.load(Ordering::Relaxed),
            questions: self.questions.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
            overloaded: self.overloaded.load(Ordering::Relaxed),
            busy_seconds: self.busy_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            inline: self.inline.load(Ordering::Relaxed),
            batch_size_buckets,
        }
    }
}

/// A snapshot of the worker's counters, shaped for Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStats {
    /// Questions waiting in the queue now (a gauge).
    pub queue_depth: usize,
    /// Most questions the queue holds before refusing with `Overloaded`.
    pub queue_capacity: usize,
    /// Classifier calls run (one per batch), failed ones included.
    pub batches: u64,
    /// Questions in those batches (the histogram's sum).
    pub questions: u64,
    /// Batches whose classifier call failed.
    pub failed_batches: u64,
    /// Requests refused because the queue was full.
    pub overloaded: u64,
    /// Time spent in the classifier, in seconds.
    pub busy_seconds: f64,
    /// Questions classified on the caller's thread, without the queue (in `questions` too).
    pub inline: u64,
    /// Cumulative batch-size histogram: entry `i` counts the batches of size <=
    /// `BATCH_SIZE_BUCKETS[i]`; the last entry (`+Inf`) equals `batches`.
    pub batch_size_buckets: [u64; BATCH_SIZE_BUCKETS.len() + 1],
}
