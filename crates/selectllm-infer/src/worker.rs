//! The classifier worker: one OS thread runs the classifier over dynamically formed batches,
//! fed by a bounded queue; callers await their reply on a `tokio::sync::oneshot`.
//!
//! Flow: [`ClassifierWorker::classify`] checks the question, `try_send`s it (a full queue is
//! refused at once with [`InferError::Overloaded`]) and awaits the reply. The thread takes
//! the first queued question, waits up to `max_wait` for more (at most `max_batch`), drops
//! the requests whose caller has gone, runs one `predict_batch` and sends each row to its own
//! caller; a failure of that call goes to every caller of the batch. Shutdown refuses new
//! requests, answers every request queued before it, then stops the thread.
//!
//! A classifier cheap enough (one question measured at warm-up at most
//! [`WorkerConfig::inline_max`], e.g. the lexical one in tens of microseconds) skips the hop:
//! short questions are classified on the caller's own thread, where handing the question to
//! another thread and waking the caller again would cost more than the classifier itself.
//! Long questions, and every question of a slower classifier, still go through the queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use selectllm_core::classifier::{Classifier, ClassifierError};
use tokio::sync::oneshot;

use crate::error::InferError;
use crate::stats::{Counters, WorkerStats};

/// Batching and admission settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Most questions per classifier call (at least 1).
    pub max_batch: usize,
    /// Longest wait for more questions after the first of a batch arrived.
    pub max_wait: Duration,
    /// Most questions waiting; one more is refused with `Overloaded` (at least 1).
    pub queue_capacity: usize,
    /// Classify questions of at most [`INLINE_MAX_BYTES`] on the caller's thread when the
    /// warm-up measured one question at most this long; `Duration::ZERO`: never.
    pub inline_max: Duration,
}

/// The longest question classified on the caller's thread (when the classifier qualifies):
/// the warm-up measured a question of about 150 bytes, and featurizing grows with the text.
pub const INLINE_MAX_BYTES: usize = 2048;

/// How many times the warm-up times one question; the median decides whether to inline.
const INLINE_TIMINGS: usize = 7;

/// What [`ClassifierWorker::warm_up`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    /// The whole warm-up, from the caller's side.
    pub took: Duration,
    /// The median time of one question alone, on the worker thread, after warming.
    pub one_question: Duration,
    /// Whether short questions are classified on the caller's thread from now on.
    pub inline: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_batch: 32,
            max_wait: Duration::from_millis(5),
            queue_capacity: 1024,
            inline_max: Duration::ZERO,
        }
    }
}

/// What the worker answers for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// P(correct) per member, in [`ClassifierWorker::members`] order.
    pub probs: Vec<f32>,
    /// The member order the classifier ranks this question by (`Classifier::rankings`);
    /// `None`: rank by `probs`.
    pub ranking: Option<Vec<usize>>,
}

type Reply = Result<Classified, InferError>;

struct Request {
    text: String,
    reply: oneshot::Sender<Reply>,
}

enum Message {
    Classify(Request),
    /// Run the classifier on [`WARM_UP`] (not counted in the stats), then time its first
    /// question alone, and answer the median time.
    WarmUp(SyncSender<Result<Duration, ClassifierError>>),
    /// Sent by shutdown, behind every request already queued.
    Stop,
}

/// What [`ClassifierWorker::warm_up`] classifies: one question alone, then a small batch of
/// different kinds and lengths, so the first real request finds the weights paged in, the
/// thread pools started and the buffers sized.
const WARM_UP: [&str; 4] = [
    "Natalia sold clips to 48 of her friends in April, and then half as many clips in May. How many clips did Natalia sell altogether in April and May?",
    "Which of the following is a prime number? A. 21 B. 27 C. 29 D. 33",
    "Write a Python function that returns the sum of the squares of a list of integers.",
    "What is the capital of France?",
];

/// What the thread does with one message.
enum Next {
    Request(Request),
    Stop,
    /// Handled on the spot (a warm-up).
    Done,
}

struct Inner {
    tx: SyncSender<Message>,
    closed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    members: Vec<String>,
    queue_capacity: usize,
    /// The classifier, for questions classified on the caller's thread.
    classifier: Arc<dyn Classifier>,
    inline_max: Duration,
    /// Set by a warm-up that measured the classifier at most `inline_max` per question.
    inline: AtomicBool,
}

impl Inner {
    /// Refuses new requests, lets the thread answer the queued ones, and joins it. Idempotent.
    fn stop(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = handle {
            // Blocks while the queue is full; the thread is draining it.
            let _ = self.tx.send(Message::Stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cheap, cloneable handle to the classifier thread. The thread stops when
/// [`ClassifierWorker::shutdown`] is called or the last handle is dropped; both block until
/// the queued requests are answered, so from async code call them on a blocking thread.
#[derive(Clone)]
pub struct ClassifierWorker {
    inner: Arc<Inner>,
}

impl ClassifierWorker {
    /// Starts the worker thread. Fails only if the OS refuses a new thread.
    pub fn spawn(classifier: Arc<dyn Classifier>, cfg: WorkerConfig) -> std::io::Result<Self> {
        let queue_capacity = cfg.queue_capacity.max(1);
        let max_batch = cfg.max_batch.max(1);
        let (tx, rx) = sync_channel::<Message>(queue_capacity);
        let counters = Arc::new(Counters::default());
        let members = classifier.members().to_vec();
        let thread = {
            let counters = counters.clone();
            let classifier = classifier.clone();
            std::thread::Builder::new()
                .name("selectllm-classifier".into())
                .spawn(move || run(classifier.as_ref(), &rx, max_batch, cfg.max_wait, &counters))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                closed: AtomicBool::new(false),
                thread: Mutex::new(Some(thread)),
                counters,
                members,
                queue_capacity,
                classifier,
                inline_max: cfg.inline_max,
                inline: AtomicBool::new(false),
            }),
        })
    }

    /// Runs the classifier on a few fixed questions on the worker's thread (not counted in the
    /// stats) and waits for it, so that one-time costs (paging the weights in, starting thread
    /// pools, sizing buffers) are paid before the first request, not by it. Then times one
    /// question alone and, when it takes at most [`WorkerConfig::inline_max`], classifies short
    /// questions on the caller's thread from then on. A classifier that fails here is an error
    /// at start-up. Blocking: call it before serving, or from a blocking thread.
    pub fn warm_up(&self) -> Result<WarmUp, InferError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(InferError::Closed);
        }
        let started = Instant::now();
        let (tx, rx) = sync_channel(1);
        self.inner
            .tx
            .send(Message::WarmUp(tx))
            .map_err(|_| InferError::Closed)?;
        match rx.recv() {
            Ok(Ok(one_question)) => {
                let max = self.inner.inline_max;
                let inline = !max.is_zero() && one_question <= max;
                self.inner.inline.store(inline, Ordering::Release);
                Ok(WarmUp {
                    took: started.elapsed(),
                    one_question,
                    inline,
                })
            }
            Ok(Err(e)) => Err(InferError::Classifier(e)),
            Err(_) => Err(InferError::Closed),
        }
    }

    /// Member order of the probabilities.
    pub fn members(&self) -> &[String] {
        &self.inner.members
    }

    /// P(correct) per member for one question. Refused at once with `Overloaded` when the
    /// queue is full and `Closed` after shutdown; an empty question is a `Classifier` error.
    pub async fn classify(&self, text: String) -> Result<Vec<f32>, InferError> {
        self.classify_ranked(text).await.map(|c| c.probs)
    }

    /// [`Self::classify`] with the member order the classifier ranks the question by, both
    /// computed on the worker thread (a per-question order, e.g. a neighbourhood one, is
    /// classifier work too: it stays off the caller's runtime), or on the caller's thread for
    /// a short question when the warm-up found the classifier cheap enough.
    pub async fn classify_ranked(&self, text: String) -> Result<Classified, InferError> {
        if text.len() <= INLINE_MAX_BYTES && self.inner.inline.load(Ordering::Acquire) {
            return self.classify_here(&text);
        }
        let rx = self.submit(text)?;
        // A dropped sender means the thread stopped before answering.
        rx.await.unwrap_or(Err(InferError::Closed))
    }

    /// One question classified on the caller's thread, counted as a batch of one.
    fn classify_here(&self, text: &str) -> Result<Classified, InferError> {
        self.admit(text)?;
        let inner = &*self.inner;
        let result = classify_counted(inner.classifier.as_ref(), &[text], &inner.counters);
        inner.counters.inline.fetch_add(1, Ordering::Relaxed);
        let mut rows = result?;
        rows.pop()
            .ok_or_else(|| InferError::Classifier(ClassifierError::Model("no row".into())))
    }

    /// The refusals common to both paths: an empty question, a closed worker.
    fn admit(&self, text: &str) -> Result<(), InferError> {
        if text.trim().is_empty() {
            return Err(ClassifierError::EmptyInput.into());
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(InferError::Closed);
        }
        Ok(())
    }

    /// Queues a question without waiting: every refusal happens here, synchronously.
    fn submit(&self, text: String) -> Result<oneshot::Receiver<Reply>, InferError> {
        self.admit(&text)?;
        let inner = &*self.inner;
        let (reply, rx) = oneshot::channel();
        // Counted before sending so the thread's decrement never comes first.
        inner.counters.queue_depth.fetch_add(1, Ordering::Relaxed);
        match inner
            .tx
            .try_send(Message::Classify(Request { text, reply }))
        {
            Ok(()) => Ok(rx),
            Err(e) => {
                inner.counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        inner.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                        Err(InferError::Overloaded)
                    }
                    TrySendError::Disconnected(_) => Err(InferError::Closed),
                }
            }
        }
    }

    /// A snapshot of the counters (lock-free).
    pub fn stats(&self) -> WorkerStats {
        self.inner.counters.snapshot(self.inner.queue_capacity)
    }

    /// Stops taking requests, answers those already queued, then stops the thread (blocking).
    /// Every handle, clones included, answers `Closed` from then on.
    pub fn shutdown(self) {
        self.inner.stop();
    }
}

impl std::fmt::Debug for ClassifierWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierWorker")
            .field("members", &self.inner.members)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The thread's loop: one batch per iteration until `Stop` (or every handle is gone).
fn run(
    clf: &dyn Classifier,
    rx: &Receiver<Message>,
    max_batch: usize,
    max_wait: Duration,
    counters: &Counters,
) {
    let take = |m: Message| match m {
        Message::Classify(r) => {
            counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
            Next::Request(r)
        }
        Message::WarmUp(done) => {
            let _ = done.send(warm(clf));
            Next::Done
        }
        Message::Stop => Next::Stop,
    };
    let mut stopping = false;
    while !stopping {
        let first = match rx.recv().map(take) {
            Ok(Next::Request(r)) => r,
            Ok(Next::Done) => continue,
            Ok(Next::Stop) | Err(_) => break,
        };
        let mut batch = vec![first];
        let deadline = Instant::now() + max_wait;
        while batch.len() < max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(m) => match take(m) {
                    Next::Request(r) => batch.push(r),
                    Next::Done => {}
                    Next::Stop => {
                        stopping = true;
                        break;
                    }
                },
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        run_batch(clf, batch, counters);
    }
    // Requests that raced past the closed flag after `Stop`: their callers get `Closed`.
    while let Ok(m) = rx.try_recv() {
        if let Message::Classify(r) = m {
            counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
            drop(r);
        }
    }
}

/// The warm-up: one question, a batch, then the median of [`INLINE_TIMINGS`] timings of the
/// first question alone.
fn warm(clf: &dyn Classifier) -> Result<Duration, ClassifierError> {
    classify_rows(clf, &WARM_UP[..1])?;
    classify_rows(clf, &WARM_UP)?;
    let mut times = Vec::with_capacity(INLINE_TIMINGS);
    for _ in 0..INLINE_TIMINGS {
        let started = Instant::now();
        classify_rows(clf, &WARM_UP[..1])?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[INLINE_TIMINGS / 2])
}

/// Runs the classifier on one batch and answers each caller.
fn run_batch(clf: &dyn Classifier, mut batch: Vec<Request>, counters: &Counters) {
    // Callers that gave up (their future was dropped) are not classified.
    batch.retain(|r| !r.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
    match classify_counted(clf, &texts, counters) {
        Ok(rows) => {
            for (r, row) in batch.into_iter().zip(rows) {
                let _ = r.reply.send(Ok(row));
            }
        }
        Err(e) => {
            for r in batch {
                let _ = r.reply.send(Err(same_error(&e).into()));
            }
        }
    }
}

/// [`classify_rows`], timed and counted as one batch.
fn classify_counted(
    clf: &dyn Classifier,
    texts: &[&str],
    counters: &Counters,
) -> Result<Vec<Classified>, ClassifierError> {
    let started = Instant::now();
    let result = classify_rows(clf, texts);
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    counters.record_batch(texts.len(), result.is_ok(), nanos);
    result
}

/// One classifier call and the members' order of each question: a panic becomes an error,
/// and so does a row count that is not the question count.
fn classify_rows(clf: &dyn Classifier, texts: &[&str]) -> Result<Vec<Classified>, ClassifierError> {
    catch_unwind(AssertUnwindSafe(|| {
        let rows = clf.predict_batch(texts)?;
        if rows.len() != texts.len() {
            return Err(ClassifierError::Model(format!(
                "the classifier returned {} rows for {} questions",
                rows.len(),
                texts.len()
            )));
        }
        let rankings = clf.rankings(texts, &rows)?;
        Ok(rows
            .into_iter()
            .zip(rankings.into_iter().chain(std::iter::repeat(None)))
            .map(|(probs, ranking)| Classified { probs, ranking })
            .collect())
    }))
    .unwrap_or_else(|_| Err(ClassifierError::Model("the classifier panicked".into())))
}

/// A copy of a classifier error for each caller of a failed batch.
fn same_error(e: &ClassifierError) -> ClassifierError {
    match e {
        ClassifierError::EmptyInput => ClassifierError::EmptyInput,
        ClassifierError::Model(m) => ClassifierError::Model(m.clone()),
    }
}
