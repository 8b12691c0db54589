//! Dynamic batching for serving: single requests are queued, and a worker thread runs the
//! classifier on up to `max_batch` of them at once, waiting at most `max_wait` after the
//! first one. The queue is bounded: `enqueue` answers `Overloaded` at once when it is full.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use selectllm_core::classifier::Classifier;

use crate::error::NeuralError;

/// Batching settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Most questions per classifier call.
    pub max_batch: usize,
    /// Longest wait for more questions after the first of a batch arrived.
    pub max_wait: Duration,
    /// Most questions waiting (admission control).
    pub queue: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_batch: 32,
            max_wait: Duration::from_millis(5),
            queue: 1024,
        }
    }
}

type Reply = Result<Vec<f32>, String>;

struct Request {
    text: String,
    reply: mpsc::Sender<Reply>,
}

/// A request in flight; `wait` blocks until its probabilities are ready.
pub struct Pending(Receiver<Reply>);

impl Pending {
    pub fn wait(self) -> Result<Vec<f32>, NeuralError> {
        match self.0.recv() {
            Ok(r) => r.map_err(NeuralError::Batcher),
            Err(_) => Err(NeuralError::Batcher("the batching thread stopped".into())),
        }
    }
}

/// Runs a classifier on its own thread over dynamically formed batches.
pub struct DynamicBatcher {
    tx: Option<SyncSender<Request>>,
    worker: Option<JoinHandle<()>>,
    members: Vec<String>,
}

impl DynamicBatcher {
    pub fn new(classifier: Arc<dyn Classifier>, cfg: BatcherConfig) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Request>(cfg.queue.max(1));
        let members = classifier.members().to_vec();
        let max_batch = cfg.max_batch.max(1);
        let worker = std::thread::Builder::new()
            .name("selectllm-batcher".into())
            .spawn(move || run(classifier.as_ref(), &rx, max_batch, cfg.max_wait))
            .ok();
        Self {
            tx: Some(tx),
            worker,
            members,
        }
    }

    /// Member order of the probabilities.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Queues a question; fails at once on an empty question or a full queue.
    pub fn enqueue(&self, text: &str) -> Result<Pending, NeuralError> {
        if text.trim().is_empty() {
            return Err(NeuralError::Batcher("empty question".into()));
        }
        let (reply, rx) = mpsc::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| NeuralError::Batcher("batcher is shut down".into()))?;
        match tx.try_send(Request {
            text: text.to_string(),
            reply,
        }) {
            Ok(()) => Ok(Pending(rx)),
            Err(TrySendError::Full(_)) => {
                Err(NeuralError::Batcher("overloaded: queue is full".into()))
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(NeuralError::Batcher("the batching thread stopped".into()))
            }
        }
    }

    /// Classifies one question (blocking): P(correct) per member.
    pub fn submit(&self, text: &str) -> Result<Vec<f32>, NeuralError> {
        self.enqueue(text)?.wait()
    }
}

impl Drop for DynamicBatcher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn run(clf: &dyn Classifier, rx: &Receiver<Request>, max_batch: usize, max_wait: Duration) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + max_wait;
        while batch.len() < max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
        match clf.predict_batch(&texts) {
            Ok(rows) if rows.len() == batch.len() => {
                for (r, p) in batch.iter().zip(rows) {
                    let _ = r.reply.send(Ok(p));
                }
            }
            Ok(_) => {
                for r in &batch {
                    let _ = r
                        .reply
                        .send(Err("classifier returned a wrong number of rows".into()));
                }
            }
            Err(e) => {
                for r in &batch {
                    let _ = r.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
