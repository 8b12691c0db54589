//! The multi-label classifier interface: question text -> P(member answers correctly), one per member.

/// Why a classifier could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("empty question")]
    EmptyInput,
    #[error("classifier model error: {0}")]
    Model(String),
}

/// Calibrated probabilities per text, and the uncalibrated ones when they differ.
pub type Probabilities = (Vec<Vec<f32>>, Option<Vec<Vec<f32>>>);

/// A trained multi-label classifier. Implementations: the lexical model in this crate, the
/// MiniLM encoder models in `selectllm-neural`. Inference only; training lives in the lab.
pub trait Classifier: Send + Sync {
    /// A short name for reports (`lexical`, `minilm`, ...).
    fn name(&self) -> &str;

    /// Member names, in the order of the probabilities returned.
    fn members(&self) -> &[String];

    /// Probabilities for a batch of questions: `out[i][m]` = P(member m correct on text i).
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError>;

    /// [`Self::predict_batch`], plus the same probabilities before post-hoc calibration when
    /// the classifier has one (e.g. per-member temperatures), so evaluation can report both.
    /// `None` for classifiers without a separate calibration step.
    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        Ok((self.predict_batch(texts)?, None))
    }

    /// Probabilities for one question.
    fn predict(&self, text: &str) -> Result<Vec<f32>, ClassifierError> {
        let mut v = self.predict_batch(&[text])?;
        v.pop()
            .ok_or_else(|| ClassifierError::Model("classifier returned no rows".into()))
    }

    /// A fixed member order the policies rank by instead of the probabilities, when the
    /// classifier's own order was not shown to beat it (see [`crate::order::Ordered`]). `None`: rank by
    /// the probabilities.
    fn ranking(&self) -> Option<&[usize]> {
        None
    }

    /// The member order of each question (best first), given the probabilities `probs[i]`
    /// this classifier returned for `texts[i]`; `None` for a question: rank by its
    /// probabilities. Default: [`Self::ranking`] for every question. A classifier whose order
    /// depends on the question (`order::Ordered` with a neighbourhood) overrides it; callers that rank
    /// (evaluation, the gateway) use this method, never `ranking` alone.
    fn rankings(
        &self,
        texts: &[&str],
        probs: &[Vec<f32>],
    ) -> Result<Vec<Option<Vec<usize>>>, ClassifierError> {
        let _ = probs;
        Ok(vec![self.ranking().map(<[usize]>::to_vec); texts.len()])
    }
}

/// Members by a constant score (e.g. training accuracy), best first; ties to the lower index.
pub fn constant_order(score: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order
}

/// The log-odds of a rate, the inverse of [`sigmoid`]; the rate is clamped to
/// [1e-4, 1 - 1e-4] so that 0 and 1 give finite values.
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Numerically stable logistic function.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// A shared classifier is a classifier (a loaded checkpoint is shared by whoever serves it).
impl<C: Classifier + ?Sized> Classifier for std::sync::Arc<C> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn members(&self) -> &[String] {
        (**self).members()
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        (**self).predict_batch(texts)
    }
    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        (**self).predict_batch_with_uncalibrated(texts)
    }
    fn predict(&self, text: &str) -> Result<Vec<f32>, ClassifierError> {
        (**self).predict(text)
    }
    fn ranking(&self) -> Option<&[usize]> {
        (**self).ranking()
    }
    fn rankings(
        &self,
        texts: &[&str],
        probs: &[Vec<f32>],
    ) -> Result<Vec<Option<Vec<usize>>>, ClassifierError> {
        (**self).rankings(texts, probs)
    }
}
