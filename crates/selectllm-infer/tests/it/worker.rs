//! The classifier worker: batching, overload, shutdown, errors and reply order, on test
//! classifiers (no model needed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_infer::{BATCH_SIZE_BUCKETS, ClassifierWorker, InferError, WorkerConfig};

/// Returns the text length as the probability of member 0 and the batch size as member 1.
struct Echo(Vec<String>);

impl Classifier for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn members(&self) -> &[String] {
        &self.0
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(texts
            .iter()
            .map(|t| vec![t.len() as f32, texts.len() as f32])
            .collect())
    }
}

/// Like `Echo`, but each batch first announces itself on `entered` and waits for `release`.
struct Gated {
    members: Vec<String>,
    entered: Mutex<mpsc::Sender<usize>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Gated {
    fn new() -> (Arc<Self>, mpsc::Receiver<usize>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let clf = Arc::new(Self {
            members: vec!["a".into(), "b".into()],
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        });
        (clf, entered_rx, release_tx)
    }
}

impl Classifier for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let _ = self.entered.lock().unwrap().send(texts.len());
        self.release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| ClassifierError::Model("the test never released the batch".into()))?;
        Echo(self.members.clone()).predict_batch(texts)
    }
}

/// Fails any batch holding a question with "bad"; records the batch sizes it saw.
struct FailsOnBad {
    members: Vec<String>,
    calls: AtomicUsize,
}

impl Classifier for FailsOnBad {
    fn name(&self) -> &str {
        "fails-on-bad"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if texts.iter().any(|t| t.contains("bad")) {
            return Err(ClassifierError::Model("weights are corrupt".into()));
        }
        Ok(texts.iter().map(|_| vec![0.5]).collect())
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
}

pub(crate) fn cfg(max_batch: usize, max_wait_ms: u64, queue_capacity: usize) -> WorkerConfig {
    WorkerConfig {
        max_batch,
        max_wait: Duration::from_millis(max_wait_ms),
        queue_capacity,
        inline_max: Duration::ZERO,
    }
}

fn wait_entered(entered: &mpsc::Receiver<usize>) -> usize {
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker must start a batch")
}

#[test]
fn concurrent_requests_form_batches_and_each_gets_its_own_reply() {
    let rt = runtime();
    let worker = ClassifierWorker::spawn(
        Arc::new(Echo(vec!["a".into(), "b".into()])),
        cfg(8, 200, 256),
    )
    .expect("spawn");
    assert_eq!(worker.members(), ["a", "b"]);
    let replies = rt.block_on(async {
        let tasks: Vec<_> = (1..=100)
            .map(|i| {
                let w = worker.clone();
                tokio::spawn(async move { (i, w.classify("x".repeat(i)).await) })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let mut largest = 0.0f32;
    for (i, r) in replies {
        let row = r.expect("every request is answered");
        assert_eq!(row[0], i as f32, "request {i} got another request's answer");
        largest = largest.max(row[1]);
    }
    assert!(largest > 1.0, "100 concurrent requests must share batches");
    assert!(largest <= 8.0, "a batch of {largest} exceeds max_batch 8");
    let stats = worker.stats();
    assert_eq!(stats.questions, 100);
    assert_eq!(stats.queue_depth, 0);
    assert_eq!(stats.failed_batches, 0);
    assert!(
        stats.batches < 100,
        "{} batches for 100 questions",
        stats.batches
    );
    assert_eq!(*stats.batch_size_buckets.last().unwrap(), stats.batches);
    let le8 = BATCH_SIZE_BUCKETS.iter().position(|&b| b == 8).unwrap();
    assert_eq!(stats.batch_size_buckets[le8], stats.batches);
}

#[test]
fn replies_within_one_batch_follow_the_request_order() {
    // The gate holds the first batch (run alone after max_wait) so that the next eight are
    // queued together, in order, and then fill one batch at once.
    let rt = runtime();
    let (clf, entered, release) = Gated::new();
    let worker = ClassifierWorker::spawn(clf, cfg(8, 300, 64)).expect("spawn");
    let first = rt.spawn({
        let w = worker.clone();
        async move { w.classify("q".into()).await }
    });
    assert_eq!(wait_entered(&entered), 1);
    let pending: Vec<_> = (1..=8)
        .map(|i| {
            let w = worker.clone();
            let rx = rt.spawn(async move { w.classify("y".repeat(i)).await });
            // Queue them one after the other.
            while worker.stats().queue_depth < i {
                std::thread::yield_now();
            }
            rx
        })
        .collect();
    release.send(()).unwrap();
    assert_eq!(wait_entered(&entered), 8, "the queued eight form one batch");
    release.send(()).unwrap();
    rt.block_on(async {
        assert_eq!(first.await.unwrap().unwrap()[0], 1.0);
        for (i, p) in pending.into_iter().enumerate() {
            let row = p.await.unwrap().expect("answered");
            assert_eq!(row, vec![(i + 1) as f32, 8.0]);
        }
    });
}

#[test]
fn a_full_queue_answers_overloaded_at_once() {
    let rt = runtime();
    let (clf, entered, release) = Gated::new();
    let worker = ClassifierWorker::spawn(clf, cfg(1, 0, 2)).expect("spawn");
    // One request in the classifier, two in the queue: the queue is full.
    let busy = rt.spawn({
        let w = worker.clone();
        async move { w.classify("busy".into()).await }
    });
    wait_entered(&entered);
    let queued: Vec<_> = (0..2)
        .map(|_| {
            let w = worker.clone();
            rt.spawn(async move { w.classify("queued".into()).await })
        })
        .collect();
    while worker.stats().queue_depth < 2 {
        std::thread::yield_now();
    }
    // Ready on the first poll: refused without waiting for the worker.
    let refused = worker
        .classify("one too many".into())
        .now_or_never()
        .expect("an overloaded worker must answer without waiting");
    assert!(
        matches!(refused, Err(InferError::Overloaded)),
        "{refused:?}"
    );
    assert_eq!(worker.stats().overloaded, 1);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    rt.block_on(async {
        busy.await
            .unwrap()
            .expect("the running request is answered");
        for q in queued {
            q.await.unwrap().expect("queued requests are answered");
        }
    });
}

#[test]
fn shutdown_answers_the_queued_requests_then_refuses_with_closed() {
    let rt = runtime();
    let (clf, entered, release) = Gated::new();
    let worker = ClassifierWorker::spawn(clf, cfg(1, 0, 16)).expect("spawn");
    let other_handle = worker.clone();
    let pending: Vec<_> = (1..=5)
        .map(|i| {
            let w = worker.clone();
            rt.spawn(async move { w.classify("z".repeat(i)).await })
        })
        .collect();
    wait_entered(&entered);
    while worker.stats().queue_depth < 4 {
        std::thread::yield_now();
    }
    let stopper = std::thread::spawn(move || worker.shutdown());
    // Shutdown refuses new work at once, before the queue has drained.
    loop {
        match other_handle.classify("late".into()).now_or_never() {
            Some(Err(InferError::Closed)) => break,
            Some(Ok(_)) | Some(Err(_)) | None => std::thread::yield_now(),
        }
    }
    for _ in 0..5 {
        release.send(()).unwrap();
    }
    stopper
        .join()
        .expect("shutdown returns once the queue is drained");
    rt.block_on(async {
        for (i, p) in pending.into_iter().enumerate() {
            let row = p.await.unwrap().expect("queued before shutdown: answered");
            assert_eq!(row[0], (i + 1) as f32);
        }
        assert!(matches!(
            other_handle.classify("after".into()).await,
            Err(InferError::Closed)
        ));
    });
    assert_eq!(other_handle.stats().questions, 5);
}

#[test]
fn dropping_the_last_handle_stops_the_thread_after_answering() {
    let rt = runtime();
    let worker =
        ClassifierWorker::spawn(Arc::new(Echo(vec!["a".into()])), cfg(4, 1, 16)).expect("spawn");
    let answer = rt.block_on(worker.classify("abc".into())).expect("answer");
    assert_eq!(answer[0], 3.0);
    drop(worker); // joins the thread; a hang here would be a bug
}

#[test]
fn a_classifier_error_reaches_every_caller_of_its_batch() {
    let rt = runtime();
    let clf = Arc::new(FailsOnBad {
        members: vec!["m".into()],
        calls: AtomicUsize::new(0),
    });
    // Four requests fill one batch (max_batch 4) long before max_wait runs out.
    let worker = ClassifierWorker::spawn(clf.clone(), cfg(4, 10_000, 16)).expect("spawn");
    let results = rt.block_on(async {
        let futs = ["good 1", "bad", "good 2", "good 3"].map(|q| worker.classify(q.into()));
        futures_util::future::join_all(futs).await
    });
    assert_eq!(clf.calls.load(Ordering::SeqCst), 1, "one batch");
    for r in &results {
        match r {
            Err(InferError::Classifier(ClassifierError::Model(m))) => {
                assert_eq!(m, "weights are corrupt")
            }
            other => panic!("expected the batch's classifier error, got {other:?}"),
        }
    }
    let stats = worker.stats();
    assert_eq!((stats.batches, stats.failed_batches), (1, 1));
    // The worker keeps serving after a failed batch (four questions fill the next one).
    let ok = rt.block_on(async {
        let futs = ["fine 1", "fine 2", "fine 3", "fine 4"].map(|q| worker.classify(q.into()));
        futures_util::future::join_all(futs).await
    });
    for r in ok {
        assert_eq!(r.expect("next batch"), vec![0.5]);
    }
}

/// Returns one row whatever the batch: a classifier bug the worker must not pass on.
struct WrongRows;

impl Classifier for WrongRows {
    fn name(&self) -> &str {
        "wrong-rows"
    }
    fn members(&self) -> &[String] {
        &[]
    }
    fn predict_batch(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(vec![vec![]])
    }
}

#[test]
fn wrong_row_counts_and_empty_questions_are_classifier_errors() {
    let rt = runtime();
    let worker = ClassifierWorker::spawn(Arc::new(WrongRows), cfg(2, 10_000, 4)).expect("spawn");
    let results = rt.block_on(async {
        futures_util::future::join(worker.classify("a".into()), worker.classify("b".into())).await
    });
    for r in [results.0, results.1] {
        let err = r.expect_err("two questions, one row");
        assert!(err.to_string().contains("1 rows for 2 questions"), "{err}");
    }
    let empty = worker
        .classify("  \n".into())
        .now_or_never()
        .expect("at once");
    assert!(matches!(
        empty,
        Err(InferError::Classifier(ClassifierError::EmptyInput))
    ));
}

#[test]
fn warm_up_runs_on_the_worker_uncounted_and_a_broken_classifier_fails_it() {
    let clf = Arc::new(FailsOnBad {
        members: vec!["a".into()],
        calls: AtomicUsize::new(0),
    });
    let worker = ClassifierWorker::spawn(clf.clone(), cfg(4, 1, 16)).expect("spawn");
    let warm = worker.warm_up().expect("a working classifier warms up");
    assert_eq!(
        clf.calls.load(Ordering::SeqCst),
        9,
        "one alone, then a batch, then seven timings of one"
    );
    assert!(!warm.inline, "inline_max zero: never inline");
    let s = worker.stats();
    assert_eq!((s.batches, s.questions), (0, 0), "warm-up is not traffic");
    // requests still work afterwards
    let rt = runtime();
    let r = rt.block_on(worker.classify("ok".into())).expect("answer");
    assert_eq!(r, vec![0.5]);
    // a classifier that fails on every call fails its warm-up with its own error
    let broken = ClassifierWorker::spawn(Arc::new(WrongRows), cfg(4, 1, 16)).expect("spawn");
    let err = broken.warm_up().expect_err("wrong row count");
    assert!(err.to_string().contains("1 rows for 4 questions"), "{err}");
    // after shutdown: closed
    worker.clone().shutdown();
    assert!(matches!(worker.warm_up(), Err(InferError::Closed)));
}

/// A classifier with a constant member order of its own.
struct Ranked(Vec<String>);

impl Classifier for Ranked {
    fn name(&self) -> &str {
        "ranked"
    }
    fn members(&self) -> &[String] {
        &self.0
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(texts.iter().map(|_| vec![0.9, 0.1]).collect())
    }
    fn ranking(&self) -> Option<&[usize]> {
        Some(&[1, 0])
    }
}

#[test]
fn the_member_order_comes_from_the_worker_with_the_probabilities() {
    let rt = runtime();
    let worker = ClassifierWorker::spawn(
        Arc::new(Ranked(vec!["a".into(), "b".into()])),
        cfg(4, 1, 16),
    )
    .expect("spawn");
    let c = rt
        .block_on(worker.classify_ranked("q".into()))
        .expect("answer");
    assert_eq!(c.probs, vec![0.9, 0.1]);
    assert_eq!(c.ranking, Some(vec![1, 0]));
    let plain =
        ClassifierWorker::spawn(Arc::new(Echo(vec!["a".into(), "b".into()])), cfg(4, 1, 16))
            .expect("spawn");
    let c = rt
        .block_on(plain.classify_ranked("q".into()))
        .expect("answer");
    assert_eq!(c.ranking, None, "rank by the probabilities");
}
