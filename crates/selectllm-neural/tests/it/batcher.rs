use std::sync::Arc;
use std::time::Duration;

use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_neural::DynamicBatcher;
use selectllm_neural::batcher::BatcherConfig;

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

#[test]
fn batches_concurrent_requests_and_answers_each() {
    let clf = Arc::new(Echo(vec!["a".into(), "b".into()]));
    let cfg = BatcherConfig {
        max_batch: 8,
        max_wait: Duration::from_millis(50),
        queue: 64,
    };
    let b = DynamicBatcher::new(clf, cfg);
    let pending: Vec<_> = (1..=20)
        .map(|i| b.enqueue(&"x".repeat(i)).expect("enqueue"))
        .collect();
    let mut max_batch = 0.0f32;
    for (i, p) in pending.into_iter().enumerate() {
        let r = p.wait().expect("answer");
        assert_eq!(r[0], (i + 1) as f32, "answers must go to their own request");
        max_batch = max_batch.max(r[1]);
    }
    assert!(
        max_batch > 1.0 && max_batch <= 8.0,
        "batch size {max_batch}"
    );
    assert!(b.submit("").is_err());
    assert_eq!(b.submit("abc").expect("single")[0], 3.0);
}

#[test]
fn full_queue_is_refused_at_once() {
    let clf = Arc::new(Echo(vec!["a".into()]));
    let cfg = BatcherConfig {
        max_batch: 1,
        max_wait: Duration::from_millis(0),
        queue: 1,
    };
    let b = DynamicBatcher::new(clf, cfg);
    let results: Vec<_> = (0..200).map(|_| b.enqueue("q")).collect();
    assert!(
        results.iter().any(|r| r.is_err()),
        "a 1-slot queue must overflow under 200 requests"
    );
    for r in results.into_iter().flatten() {
        r.wait().expect("accepted requests are answered");
    }
}
