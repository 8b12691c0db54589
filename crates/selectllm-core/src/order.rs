//! A trained classifier with the member order its check chose: its probabilities are kept as
//! they are (for weights, thresholds, budgets and calibration), and policies rank members by
//! the order instead of by the probabilities. Either a constant order (members by training
//! accuracy, when the classifier's own order was not shown to beat it) or, per question, the
//! neighbourhood order of [`crate::neighbour`] blended with the probabilities.

use crate::classifier::{Classifier, ClassifierError, Probabilities};
use crate::neighbour::{Neighbourhood, blend, order_by};

/// Which order the policies rank by.
pub enum MemberOrder {
    /// Member indices, best first, for every question.
    Constant(Vec<usize>),
    /// Per question: `(1 - lambda) * logit(rate) + lambda * logit(p)`, the rates those the
    /// neighbourhood finds for it (its nearest training questions', or its task's).
    Neighbourhood {
        neighbourhood: Box<Neighbourhood>,
        lambda: f32,
    },
}

/// A classifier ranked by a [`MemberOrder`].
pub struct Ordered {
    pub inner: Box<dyn Classifier>,
    pub order: MemberOrder,
}

impl Classifier for Ordered {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn members(&self) -> &[String] {
        self.inner.members()
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        self.inner.predict_batch(texts)
    }
    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        self.inner.predict_batch_with_uncalibrated(texts)
    }
    fn ranking(&self) -> Option<&[usize]> {
        match &self.order {
            MemberOrder::Constant(order) => Some(order),
            MemberOrder::Neighbourhood { .. } => None,
        }
    }
    fn rankings(
        &self,
        texts: &[&str],
        probs: &[Vec<f32>],
    ) -> Result<Vec<Option<Vec<usize>>>, ClassifierError> {
        let (neighbourhood, lambda) = match &self.order {
            MemberOrder::Constant(order) => return Ok(vec![Some(order.clone()); texts.len()]),
            MemberOrder::Neighbourhood {
                neighbourhood,
                lambda,
            } => (neighbourhood, *lambda),
        };
        if texts.len() != probs.len() {
            return Err(ClassifierError::Model(format!(
                "{} texts but {} rows of probabilities",
                texts.len(),
                probs.len()
            )));
        }
        Ok(texts
            .iter()
            .zip(probs)
            .map(|(t, p)| {
                let r = neighbourhood.rates(t);
                (r.len() == p.len()).then(|| order_by(&blend(&r, p, lambda)))
            })
            .collect())
    }
}
