//! The trained neural classifier: encoder + head (+ optional kNN evidence) + per-member
//! temperatures. Implements the core `Classifier` trait.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use selectllm_core::classifier::{Classifier, ClassifierError, Probabilities, sigmoid};

use selectllm_core::metrics::{CALIBRATION_BINS, CalibrationBin, ece, reliability};

use crate::calibrate::fit_log_temperature;
use crate::config::{NeuralMode, TrainExample, check_examples};
use crate::encoder::{Encoder, Packing};
use crate::error::NeuralError;
use crate::fit::FitReport;
use crate::head::Head;
use crate::knn::Knn;
use crate::relative::Shrink;

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
    /// Logit each member's temperature scales around: its training label rate's logit, so a
    /// large temperature moves a member toward its base rate rather than toward 0.5.
    pub(crate) temperature_center: Vec<f32>,
    pub(crate) knn: Option<Knn>,
    pub(crate) shrink: Option<Shrink>,
    /// The training settings, recorded in the manifest.
    pub(crate) settings: serde_json::Value,
    pub(crate) finetuned: Option<FineTunedFiles>,
    /// Learning curve and best epoch of the training run (absent after `load`).
    pub report: Option<FitReport>,
    /// Embedding cache used by `predict_batch` for batches of [`CACHED_BATCH`] or more.
    pub(crate) cache_dir: Option<PathBuf>,
    /// How `predict_batch` runs the encoder (packed by default).
    pub(crate) packing: Packing,
    /// Whether temperatures were fitted or set (then evaluation also reports the
    /// uncalibrated probabilities, even when the fit kept every temperature at 1).
    pub(crate) calibrated: bool,
}

/// Smallest batch for which `predict_batch` goes through the embedding cache (when set).
pub const CACHED_BATCH: usize = 16;

/// What calibration did, measured on the examples it was fitted on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Calibration {
    pub temperatures: Vec<f32>,
    pub ece_before: f64,
    pub ece_after: f64,
    pub bins_before: Vec<CalibrationBin>,
    pub bins_after: Vec<CalibrationBin>,
}

impl NeuralClassifier {
    /// A freshly trained classifier: no calibration, kNN or shrinkage yet (they are attached
    /// after), temperatures centred on the members' training label rates, packed inference.
    pub(crate) fn trained(
        mode: NeuralMode,
        members: &[String],
        (encoder, head): (Encoder, Head),
        train_rates: &[f32],
        settings: serde_json::Value,
        report: FitReport,
    ) -> Self {
        Self {
            mode,
            members: members.to_vec(),
            encoder: Arc::new(encoder),
            head,
            temperatures: vec![1.0; members.len()],
            temperature_center: crate::train::rate_logits(train_rates),
            knn: None,
            shrink: None,
            settings,
            finetuned: None,
            report: Some(report),
            cache_dir: None,
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

    /// Embeddings of `texts` with this classifier's encoder.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NeuralError> {
        self.encoder.embed(texts)
    }

    /// Chooses how `predict` / `predict_batch` run the encoder (for benchmarks: packed is
    /// the default and gives the same embeddings as padded within float rounding).
    pub fn set_packing(&mut self, packing: Packing) {
        self.packing = packing;
    }

    /// Makes `predict_batch` read and fill the on-disk embedding cache in `dir` (batches of
    /// [`CACHED_BATCH`] or more), so a second evaluation does not re-encode.
    pub fn set_cache_dir(&mut self, dir: Option<PathBuf>) {
        self.cache_dir = dir;
    }

    /// Embeddings for `predict_batch` (through the cache for large enough batches).
    fn embed_for_prediction(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(ClassifierError::EmptyInput);
        }
        Ok(match &self.cache_dir {
            Some(dir) if texts.len() >= CACHED_BATCH => {
                crate::train::embed_cached(&self.encoder, Some(dir), texts, &|_| ())?
            }
            _ => self.encoder.embed_with(texts, self.packing)?,
        })
    }

    /// Calibrated logits (head + kNN evidence, temperatures, shrinkage) for embeddings.
    pub fn logits_from_embeddings(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        let mut z = self.raw_logits(emb)?;
        let d = self.difficulties(emb);
        for (row, d) in z.iter_mut().zip(d) {
            self.finish(row, &self.temperatures, d);
        }
        Ok(z)
    }

    /// Each question's difficulty for the shrinkage's conditional prior (`None` without one).
    fn difficulties(&self, emb: &[Vec<f32>]) -> Vec<Option<f32>> {
        let cond = self.shrink.as_ref().and_then(|s| s.conditional.as_ref());
        crate::relative::difficulties(self.knn.as_ref(), cond, emb)
    }

    /// Per-member temperature (around the member's base-rate logit), then the relative
    /// shrinkage (which keeps the members' order close to the prior's whatever the
    /// temperatures) for a question of difficulty `d`.
    fn finish(&self, row: &mut [f32], temperatures: &[f32], d: Option<f32>) {
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

    /// Head logits plus kNN evidence, before temperature and shrinkage.
    fn raw_logits(&self, emb: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
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
            .map(|row| row.into_iter().map(sigmoid).collect())
            .collect())
    }

    /// Fits one temperature per member on `val` (labels as targets) and reports the ECE
    /// before and after on those same examples (embeddings through the cache when set).
    pub fn calibrate(&mut self, val: &[TrainExample]) -> Result<Calibration, NeuralError> {
        check_examples(&self.members, "calibration", val)?;
        let texts: Vec<&str> = val.iter().map(|x| x.text.as_str()).collect();
        let emb =
            crate::train::embed_cached(&self.encoder, self.cache_dir.as_deref(), &texts, &|_| ())?;
        self.calibrate_embedded(&emb, val)
    }

    /// [`Self::calibrate`] with embeddings already computed (e.g. from the cache).
    pub fn calibrate_embedded(
        &mut self,
        emb: &[Vec<f32>],
        val: &[TrainExample],
    ) -> Result<Calibration, NeuralError> {
        let raw = self.raw_logits(emb)?;
        let d = self.difficulties(emb);
        let m = self.members.len();
        let labels: Vec<Vec<f32>> = val.iter().map(|x| x.labels.clone()).collect();
        self.temperatures = vec![1.0; m];
        let before = self.probs_from_embeddings(emb)?;
        // NLL of the final probabilities of the questions `idx` for a set of temperatures.
        let nll = |ts: &[f32], idx: &[usize]| -> f64 {
            let mut s = 0.0f64;
            for &i in idx {
                let mut row = raw[i].clone();
                self.finish(&mut row, ts, d[i]);
                for (z, y) in row.iter().zip(&labels[i]) {
                    let p = sigmoid(*z).clamp(1e-7, 1.0 - 1e-7) as f64;
                    s -= *y as f64 * p.ln() + (1.0 - *y as f64) * (1.0 - p).ln();
                }
            }
            s
        };
        // Coordinate descent over members (members are coupled only through the shrinkage).
        let sweeps = if self.shrink.is_some() { 3 } else { 1 };
        let fit = |idx: &[usize]| -> Vec<f32> {
            let mut ts = vec![1.0f32; m];
            for _ in 0..sweeps {
                for j in 0..m {
                    ts[j] = fit_log_temperature(|t| {
                        let mut trial = ts.clone();
                        trial[j] = t;
                        nll(&trial, idx)
                    });
                }
            }
            ts
        };
        let shared =
            |idx: &[usize]| -> Vec<f32> { vec![fit_log_temperature(|t| nll(&vec![t; m], idx)); m] };
        // Choose among no temperature, one shared temperature and one per member by 2-fold
        // cross-validation over the calibration questions: with few questions, fitted
        // temperatures lower their own NLL and can raise the test ECE.
        let (even, odd): (Vec<usize>, Vec<usize>) = (0..val.len()).partition(|i| i % 2 == 0);
        let all: Vec<usize> = (0..val.len()).collect();
        let held_out =
            |f: &dyn Fn(&[usize]) -> Vec<f32>| nll(&f(&even), &odd) + nll(&f(&odd), &even);
        let none = |_: &[usize]| vec![1.0f32; m];
        if !odd.is_empty() {
            let scores = [held_out(&none), held_out(&shared), held_out(&fit)];
            let best = (0..3)
                .min_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap_or(0);
            self.temperatures = match best {
                1 => shared(&all),
                2 => fit(&all),
                _ => none(&all),
            };
        }
        self.calibrated = true;
        let after = self.probs_from_embeddings(emb)?;
        Ok(Calibration {
            temperatures: self.temperatures.clone(),
            ece_before: ece(&before, &labels),
            ece_after: ece(&after, &labels),
            bins_before: reliability(&before, &labels, CALIBRATION_BINS),
            bins_after: reliability(&after, &labels, CALIBRATION_BINS),
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
        let emb = self.embed_for_prediction(texts)?;
        Ok(self.probs_from_embeddings(&emb)?)
    }

    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        let emb = self.embed_for_prediction(texts)?;
        let raw = self.raw_logits(&emb)?;
        let d = self.difficulties(&emb);
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
}
