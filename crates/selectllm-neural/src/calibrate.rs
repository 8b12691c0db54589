//! Temperature scaling: the temperature that minimises a validation loss, and the
//! classifier's per-member temperatures fitted on calibration questions. (Reliability bins
//! and the expected calibration error are core's `metrics`; the diagram is the lab's plot.)

use std::path::Path;

use selectllm_core::classifier::sigmoid;
use selectllm_core::metrics::{CALIBRATION_BINS, CalibrationBin, ece, reliability};

use crate::cache::embed_cached;
use crate::classifier::NeuralClassifier;
use crate::config::{TrainExample, check_examples};
use crate::error::NeuralError;

/// Mean binary cross-entropy of sigmoid(z / t) against targets `y`.
fn nll(z: &[f32], y: &[f32], t: f32) -> f64 {
    let mut s = 0.0f64;
    for (&z, &y) in z.iter().zip(y) {
        let p = sigmoid(z / t).clamp(1e-7, 1.0 - 1e-7) as f64;
        s -= y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln();
    }
    s / z.len().max(1) as f64
}

/// The temperature T in [e^-3, e^3] minimising the validation NLL of sigmoid(z / T)
/// (golden-section search on log T). 1.0 when there is nothing to fit on.
pub fn fit_temperature(z: &[f32], y: &[f32]) -> f32 {
    if z.is_empty() {
        return 1.0;
    }
    let t = fit_log_temperature(|t| nll(z, y, t));
    // Keep the identity when scaling does not help (flat or degenerate data).
    if nll(z, y, t) < nll(z, y, 1.0) {
        t
    } else {
        1.0
    }
}

/// The T in [e^-3, e^3] minimising `loss(T)`, by golden-section search on log T.
pub fn fit_log_temperature(loss: impl Fn(f32) -> f64) -> f32 {
    let f = |lt: f64| loss(lt.exp() as f32);
    let (mut a, mut b) = (-3.0f64, 3.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

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
    /// Fits one temperature per member on `val` (labels as targets) and reports the ECE
    /// before and after on those same examples (embeddings through the cache in `cache_dir`
    /// when given).
    pub fn calibrate(
        &mut self,
        val: &[TrainExample],
        cache_dir: Option<&Path>,
    ) -> Result<Calibration, NeuralError> {
        check_examples(&self.members, "calibration", val)?;
        let texts: Vec<&str> = val.iter().map(|x| x.text.as_str()).collect();
        let emb = embed_cached(&self.encoder, cache_dir, &texts, &|_| ())?;
        self.calibrate_embedded(&emb, val)
    }

    /// [`Self::calibrate`] with embeddings already computed (e.g. from the cache).
    pub fn calibrate_embedded(
        &mut self,
        emb: &[Vec<f32>],
        val: &[TrainExample],
    ) -> Result<Calibration, NeuralError> {
        let (raw, d) = self.raw_logits(emb)?;
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
