//! The trained neural classifier: encoder + head (+ optional kNN evidence) + per-member
//! temperatures. Implements the core `Classifier` trait.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use selectllm_core::classifier::{Classifier, ClassifierError, Probabilities, sigmoid};

use crate::config::NeuralMode;
use crate::config::Precision;
use crate::encoder::{Encoder, Packing};
use crate::error::NeuralError;
use crate::head::Head;
use crate::knn::Knn;
use crate::relative::{Conditional, Shrink};

/// Per question: the logits before temperatures and shrinkage, and the difficulty the
/// shrinkage's conditional prior reads (`None` without one).
pub(crate) type RawLogits = (Vec<Vec<f32>>, Vec<Option<f32>>);

/// What [`NeuralClassifier::logit_parts`] computes from one kNN similarity pass per question.
pub(crate) struct LogitParts {
    /// The head's logits.
    pub head: Vec<Vec<f32>>,
    /// Each question's kNN shift (unweighted: the logits add `beta` times it); empty when not
    /// asked for or without a kNN index.
    pub shift: Vec<Vec<f32>>,
    /// Each question's difficulty under the conditional prior asked for, else `None`.
    pub difficulty: Vec<Option<f32>>,
}

/// A trained MiniLM classifier (frozen or fine-tuned): what serving needs and nothing else.
/// How it was trained (settings, seed, a fine-tuned encoder's files) travels beside it in a
/// [`crate::checkpoint::NeuralCheckpoint`]; evaluation reads embeddings through the on-disk
/// cache with [`crate::cache::CachedClassifier`].
pub struct NeuralClassifier {
    pub(crate) mode: NeuralMode,
    pub(crate) members: Vec<String>,
    pub(crate) encoder: Arc<Encoder>,
    pub(crate) head: Head,
    pub(crate) temperatures: Vec<f32>,
    /// Logit each member's temperature scales around: its training label rate's logit, so a
    /// large temperature moves a member toward its base rate rather than toward 0.5.
    pub(crate) temperature_center: Vec<f32>,
    pub(crate) knn: Option<Knn>,
    pub(crate) shrink: Option<Shrink>,
    /// How `predict_batch` runs the encoder (packed by default).
    pub(crate) packing: Packing,
    /// Whether temperatures were fitted or set (then evaluation also reports the
    /// uncalibrated probabilities, even when the fit kept every temperature at 1).
    pub(crate) calibrated: bool,
}

/// Logits of rates (clamped away from 0 and 1 as the shrinkage's prior is).
fn rate_logits(rates: &[f32]) -> Vec<f32> {
    rates
        .iter()
        .map(|&r| selectllm_core::classifier::logit(r))
        .collect()
}

impl NeuralClassifier {
    /// A freshly trained classifier: no calibration, kNN or shrinkage yet (they are attached
    /// after), temperatures centred on the members' training label rates, packed inference.
    pub(crate) fn trained(
        mode: NeuralMode,
        members: &[String],
        (encoder, head): (Encoder, Head),
        train_rates: &[f32],
    ) -> Self {
        Self {
            mode,
            members: members.to_vec(),
            encoder: Arc::new(encoder),
            head,
            temperatures: vec![1.0; members.len()],
            temperature_center: rate_logits(train_rates),
            knn: None,
            shrink: None,
            packing: Packing::default(),
            calibrated: false,
        }
    }

    pub fn mode(&self) -> NeuralMode {
        self.mode
    }
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }
    pub fn temperatures(&self) -> &[f32] {
        &self.temperatures
    }
    pub fn knn(&self) -> Option<&Knn> {
        self.knn.as_ref()
    }
    pub fn shrink(&self) -> Option<&Shrink> {
        self.shrink.as_ref()
    }

    /// Sets the per-member temperatures (e.g. fitted elsewhere on a larger calibration set).
    pub fn set_temperatures(&mut self, temperatures: Vec<f32>) -> Result<(), NeuralError> {
        if temperatures.len() != self.members.len() {
            return Err(NeuralError::Config(format!(
                "{} temperatures for {} members",
                temperatures.len(),
                self.members.len()
            )));
        }
        if let Some(t) = temperatures.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(NeuralError::Config(format!(
                "temperature {t} is not a positive number"
            )));
        }
        self.temperatures = temperatures;
        self.calibrated = true;
        Ok(())
    }

    /// The same classifier with its encoder computing at `precision` (see [`Precision`]).
    pub fn with_encoder_precision(mut self, precision: Precision) -> Result<Self, NeuralError> {
        if self.encoder.precision() != precision {
            let encoder = (*self.encoder).clone().with_precision(precision)?;
            self.encoder = Arc::new(encoder);
        }
        Ok(self)
    }

    /// Embeddings of `texts` with this classifier's encoder.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NeuralError> {
        self.encoder.embed(texts)
    }

    /// Chooses how `predict` / `predict_batch` run the encoder (for benchmarks: packed is
    /// the default and gives the same embeddings as padded within float rounding).
    pub fn set_packing(&mut self, packing: Packing) {
        self.packing = packing;
    }

    /// Embeddings for prediction (an empty question is an error, not an embedding).
    pub(crate) fn embed_for_prediction(
        &self,
        texts: &[&str],
    ) -> Result<Vec<Vec<f32>>, ClassifierError> {
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(ClassifierError::EmptyInput);
        }
        Ok(self.encoder.embed_with(texts, self.packing)?)
    }

    /// Calibrated probabilities of embedded questions, and the uncalibrated ones when the
    /// classifier was calibrated (for evaluation's before/after figures).
    pub fn predict_embedded(&self, emb: &[Vec<f32>]) -> Result<Probabilities, NeuralError> {
        let (raw, d) = self.raw_logits(emb)?;
        let probs = |temperatures: &[f32]| -> Vec<Vec<f32>> {
            raw.iter()
                .zip(&d)
                .map(|(r, &d)| {
                    let mut row = r.clone();
                    self.finish(&mut row, temperatures, d);
                    row.into_iter().map(sigmoid).collect()
                })
                .collect()
        };
        let calibrated = probs(&self.temperatures);
        let uncalibrated = self
            .calibrated
            .then(|| probs(&vec![1.0; self.temperatures.len()]));
        Ok((calibrated, uncalibrated))
    }

    /// Calibrated logits (head + kNN evidence, temperatures, shrinkage) for embeddings.
    pub fn logits_from_embeddings(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        let (mut z, d) = self.raw_logits(emb)?;
        for (row, d) in z.iter_mut().zip(d) {
            self.finish(row, &self.temperatures, d);
        }
        Ok(z)
    }

    /// Per-member temperature (around the member's base-rate logit), then the relative
    /// shrinkage (which keeps the members' order close to the prior's whatever the
    /// temperatures) for a question of difficulty `d`.
    pub(crate) fn finish(&self, row: &mut [f32], temperatures: &[f32], d: Option<f32>) {
        for ((z, t), c) in row
            .iter_mut()
            .zip(temperatures)
            .zip(&self.temperature_center)
        {
            *z = c + (*z - c) / t;
        }
        if let Some(s) = &self.shrink {
            s.apply(row, d);
        }
    }

    /// Head logits plus kNN evidence, before temperature and shrinkage, and each question's
    /// difficulty for the shrinkage's conditional prior (`None` without one). The kNN
    /// similarities of a question are computed once for both.
    pub(crate) fn raw_logits(&self, emb: &[Vec<f32>]) -> Result<RawLogits, NeuralError> {
        let cond = self.shrink.as_ref().and_then(|s| s.conditional.as_ref());
        let beta = self.knn.as_ref().map_or(0.0, |k| k.beta);
        let parts = self.logit_parts(emb, beta != 0.0, cond)?;
        Ok((add_shift(parts.head, &parts.shift, beta), parts.difficulty))
    }

    /// The head's logits and, from one kNN similarity pass per question (none when neither is
    /// asked for, or without a kNN index), its kNN shift (`shift`) and its difficulty under
    /// `cond`.
    pub(crate) fn logit_parts(
        &self,
        emb: &[Vec<f32>],
        shift: bool,
        cond: Option<&Conditional>,
    ) -> Result<LogitParts, NeuralError> {
        let mut parts = LogitParts {
            head: Vec::new(),
            shift: Vec::new(),
            difficulty: vec![None; emb.len()],
        };
        if emb.is_empty() {
            return Ok(parts);
        }
        let dim = emb[0].len();
        let flat: Vec<f32> = emb.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (emb.len(), dim), &Device::Cpu)?
            .to_device(self.head.mean.device())?;
        parts.head = self.head.logits(&x)?.to_vec2::<f32>()?;
        if let Some(knn) = &self.knn
            && (shift || cond.is_some())
        {
            for (e, d) in emb.iter().zip(&mut parts.difficulty) {
                let sims = knn.similarities(e);
                if shift {
                    parts.shift.push(knn.shift_from(&sims, None));
                }
                *d = cond.map(|c| knn.difficulty_from(&sims, c.k));
            }
        }
        Ok(parts)
    }

    /// Calibrated probabilities for embeddings.
    pub fn probs_from_embeddings(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        Ok(self
            .logits_from_embeddings(emb)?
            .into_iter()
            .map(|row| row.into_iter().map(sigmoid).collect())
            .collect())
    }
}

/// `head + beta * shift`, row by row (`head` alone when `shift` is empty).
pub(crate) fn add_shift(mut head: Vec<Vec<f32>>, shift: &[Vec<f32>], beta: f32) -> Vec<Vec<f32>> {
    for (row, s) in head.iter_mut().zip(shift) {
        for (l, s) in row.iter_mut().zip(s) {
            *l += beta * s;
        }
    }
    head
}

impl Classifier for NeuralClassifier {
    fn name(&self) -> &str {
        self.mode.kind()
    }

    fn members(&self) -> &[String] {
        &self.members
    }

    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let emb = self.embed_for_prediction(texts)?;
        Ok(self.probs_from_embeddings(&emb)?)
    }

    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        let emb = self.embed_for_prediction(texts)?;
        Ok(self.predict_embedded(&emb)?)
    }
}
