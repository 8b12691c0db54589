//! The classifier behind the async runtime. TEMPORARY stand-in with the API of
//! `selectllm_infer::ClassifierWorker` (branch `router`), replaced by it on merge: each
//! question runs on tokio's blocking pool, at most `queue_capacity` at once (more: Overloaded
//! at once). No batching.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use selectllm_core::{Classifier, ClassifierError};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub max_batch: usize,
    pub max_wait: Duration,
    pub queue_capacity: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("classifier queue full")]
    Overloaded,
    #[error("classifier worker stopped")]
    Closed,
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
}

#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub queue_depth: usize,
    pub questions: u64,
}

#[derive(Clone)]
pub struct ClassifierWorker {
    clf: Arc<dyn Classifier>,
    slots: Arc<Semaphore>,
    capacity: usize,
    questions: Arc<AtomicU64>,
}

impl ClassifierWorker {
    pub fn spawn(classifier: Arc<dyn Classifier>, cfg: WorkerConfig) -> Self {
        ClassifierWorker {
            clf: classifier,
            slots: Arc::new(Semaphore::new(cfg.queue_capacity)),
            capacity: cfg.queue_capacity,
            questions: Arc::new(AtomicU64::new(0)),
        }
    }

    pub async fn classify(&self, text: String) -> Result<Vec<f32>, InferError> {
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| InferError::Overloaded)?;
        let clf = self.clf.clone();
        let questions = self.questions.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            questions.fetch_add(1, Ordering::Relaxed);
            clf.predict(&text).map_err(InferError::from)
        })
        .await
        .map_err(|_| InferError::Closed)?
    }

    pub fn members(&self) -> &[String] {
        self.clf.members()
    }

    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            queue_depth: self.capacity - self.slots.available_permits(),
            questions: self.questions.load(Ordering::Relaxed),
        }
    }
}
