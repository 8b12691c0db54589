//! The trained neural classifier: encoder + head (+ optional kNN evidence) + per-member
//! temperatures. Implements the core `Classifier` trait.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use selectllm_core::classifier::{Classifier, ClassifierError, sigmoid};

use crate::calibrate::{Bin, ECE_BINS, ece, fit_temperature, reliability};
use crate::config::{NeuralMode, TrainExample, check_examples};
use crate::encoder::Encoder;
use crate::error::NeuralError;
use crate::fit::FitReport;
use crate::head::Head;
use crate::knn::Knn;

/// The raw files of a fine-tuned encoder, kept so the checkpoint is self-contained.
pub(crate) struct FineTunedFiles {
    pub config_bytes: Vec<u8>,
    pub tokenizer_bytes: Vec<u8>,
    pub tensors: HashMap<String, Tensor>,
}

/// A trained MiniLM classifier (frozen or fine-tuned).
pub struct NeuralClassifier {
    pub(crate) mode: NeuralMode,
    pub(crate) members: Vec<String>,
    pub(crate) encoder: Arc<Encoder>,
    pub(crate) head: Head,
    pub(crate) temperatures: Vec<f32>,
    pub(crate) knn: Option<Knn>,
    /// The training settings, recorded in the manifest.
    pub(crate) settings: serde_json::Value,
    pub(crate) finetuned: Option<FineTunedFiles>,
    /// Learning curve and best epoch of the training run (absent after `load`).
    pub report: Option<FitReport>,
}

/// What calibration did, measured on the examples it was fitted on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Calibration {
    pub temperatures: Vec<f32>,
    pub ece_before: f64,
    pub ece_after: f64,
    pub bins_before: Vec<Bin>,
    pub bins_after: Vec<Bin>,
}

impl NeuralClassifier {
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

    /// Embeddings of `texts` with this classifier's encoder.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NeuralError> {
        self.encoder.embed(texts)
    }

    /// Uncalibrated logits (head + kNN evidence) for embeddings.
    pub fn logits_from_embeddings(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        if emb.is_empty() {
            return Ok(Vec::new());
        }
        let dim = emb[0].len();
        let flat: Vec<f32> = emb.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (emb.len(), dim), &Device::Cpu)?
            .to_device(self.head.mean.device())?;
        let mut z = self.head.logits(&x)?.to_vec2::<f32>()?;
        if let Some(knn) = self.knn.as_ref().filter(|k| k.beta != 0.0) {
            for (row, e) in z.iter_mut().zip(emb) {
                for (l, d) in row.iter_mut().zip(knn.shift(e, None)) {
                    *l += knn.beta * d;
                }
            }
        }
        Ok(z)
    }

    /// Calibrated probabilities for embeddings.
    pub fn probs_from_embeddings(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        Ok(self
            .logits_from_embeddings(emb)?
            .into_iter()
            .map(|row| {
                row.iter()
                    .zip(&self.temperatures)
                    .map(|(z, t)| sigmoid(z / t))
                    .collect()
            })
            .collect())
    }

    /// Fits one temperature per member on `val` (labels as targets) and reports the ECE
    /// before and after on those same examples.
    pub fn calibrate(&mut self, val: &[TrainExample]) -> Result<Calibration, NeuralError> {
        check_examples(&self.members, "calibration", val)?;
        let texts: Vec<&str> = val.iter().map(|x| x.text.as_str()).collect();
        let emb = self.encoder.embed(&texts)?;
        self.calibrate_embedded(&emb, val)
    }

    /// [`Self::calibrate`] with embeddings already computed (e.g. from the cache).
    pub fn calibrate_embedded(
        &mut self,
        emb: &[Vec<f32>],
        val: &[TrainExample],
    ) -> Result<Calibration, NeuralError> {
        let z = self.logits_from_embeddings(emb)?;
        let m = self.members.len();
        let col = |rows: &[Vec<f32>], j: usize| rows.iter().map(|r| r[j]).collect::<Vec<f32>>();
        let labels: Vec<Vec<f32>> = val.iter().map(|x| x.labels.clone()).collect();
        let flat_y: Vec<f32> = labels.iter().flatten().copied().collect();
        let before: Vec<f32> = z.iter().flatten().map(|&v| sigmoid(v)).collect();
        self.temperatures = (0..m)
            .map(|j| fit_temperature(&col(&z, j), &col(&labels, j)))
            .collect();
        let after: Vec<f32> = self
            .probs_from_embeddings(emb)?
            .into_iter()
            .flatten()
            .collect();
        Ok(Calibration {
            temperatures: self.temperatures.clone(),
            ece_before: ece(&before, &flat_y),
            ece_after: ece(&after, &flat_y),
            bins_before: reliability(&before, &flat_y, ECE_BINS),
            bins_after: reliability(&after, &flat_y, ECE_BINS),
        })
    }
}

impl Classifier for NeuralClassifier {
    fn name(&self) -> &str {
        self.mode.kind()
    }

    fn members(&self) -> &[String] {
        &self.members
    }

    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(ClassifierError::EmptyInput);
        }
        let emb = self.encoder.embed(texts)?;
        Ok(self.probs_from_embeddings(&emb)?)
    }
}
