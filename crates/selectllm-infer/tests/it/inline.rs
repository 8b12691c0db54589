//! Questions classified on the caller's thread: only after a warm-up found the classifier
//! cheap enough, only short ones, counted like a batch of one, refused like queued ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_infer::{ClassifierWorker, INLINE_MAX_BYTES, InferError};

use super::worker::{cfg, runtime};

/// Records the name of the thread each batch ran on; sleeps `delay` per batch.
struct WhereRun {
    members: Vec<String>,
    threads: Mutex<Vec<String>>,
    delay: Duration,
}

impl WhereRun {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            members: vec!["a".into()],
            threads: Mutex::new(Vec::new()),
            delay,
        })
    }
    /// The threads of the calls since the last look.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.threads.lock().unwrap())
    }
}

impl Classifier for WhereRun {
    fn name(&self) -> &str {
        "where-run"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        std::thread::sleep(self.delay);
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        if texts.iter().any(|t| t.contains("panic")) {
            panic!("asked to");
        }
        Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
    }
}

fn threads_of(worker: &ClassifierWorker, clf: &WhereRun, text: String) -> Vec<String> {
    clf.take();
    let rt = runtime();
    rt.block_on(worker.classify(text)).expect("answer");
    clf.take()
}

#[test]
fn a_cheap_classifier_runs_short_questions_on_the_callers_thread_after_warm_up() {
    let clf = WhereRun::new(Duration::ZERO);
    let mut c = cfg(4, 0, 16);
    c.inline_max = Duration::from_secs(1);
    let worker = ClassifierWorker::spawn(clf.clone(), c).expect("spawn");
    // before the warm-up measured it, every question goes to the worker
    assert_eq!(
        threads_of(&worker, &clf, "short".into()),
        ["selectllm-classifier"]
    );
    let warm = worker.warm_up().expect("warm-up");
    assert!(warm.inline && warm.one_question <= Duration::from_secs(1));
    let here = threads_of(&worker, &clf, "short".into());
    assert_eq!(here.len(), 1);
    assert_ne!(
        here[0], "selectllm-classifier",
        "ran on the caller's thread"
    );
    // a long question still takes the queue
    assert_eq!(
        threads_of(&worker, &clf, "x".repeat(INLINE_MAX_BYTES + 1)),
        ["selectllm-classifier"]
    );
    let s = worker.stats();
    assert_eq!((s.inline, s.questions, s.batches), (1, 3, 3));
    // the same refusals as the queue: empty input, a panic, and after shutdown
    let rt = runtime();
    let empty = rt.block_on(worker.classify("  ".into()));
    assert!(matches!(
        empty,
        Err(InferError::Classifier(ClassifierError::EmptyInput))
    ));
    let panicked = rt
        .block_on(worker.classify("panic".into()))
        .expect_err("a panic is an error");
    assert!(panicked.to_string().contains("panicked"), "{panicked}");
    assert_eq!(worker.stats().failed_batches, 1);
    worker.clone().shutdown();
    let closed = rt.block_on(worker.classify("short".into()));
    assert!(matches!(closed, Err(InferError::Closed)));
}

#[test]
fn a_classifier_slower_than_inline_max_keeps_the_worker_thread() {
    let clf = WhereRun::new(Duration::from_millis(2));
    let mut c = cfg(4, 0, 16);
    c.inline_max = Duration::from_micros(500);
    let worker = ClassifierWorker::spawn(clf.clone(), c).expect("spawn");
    let warm = worker.warm_up().expect("warm-up");
    assert!(!warm.inline, "{warm:?}");
    assert!(warm.one_question >= Duration::from_millis(2));
    assert_eq!(
        threads_of(&worker, &clf, "short".into()),
        ["selectllm-classifier"]
    );
    assert_eq!(worker.stats().inline, 0);
}
