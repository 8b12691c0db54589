//! The multi-label head: standardized embedding -> (optional hidden layer, GELU) -> one logit
//! per member. Weights are candle `Var`s initialised from a seeded ChaCha generator, so training
//! is deterministic for a seed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::NeuralError;

/// Head weights. `hidden == 0` means a linear head.
pub struct Head {
    /// Per-dimension mean and std of the training embeddings (inputs are standardized).
    pub(crate) mean: Tensor,
    pub(crate) std: Tensor,
    pub(crate) w1: Var,
    pub(crate) b1: Var,
    pub(crate) w2: Option<Var>,
    pub(crate) b2: Option<Var>,
}

fn uniform(
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
    dev: &Device,
) -> Result<Var, NeuralError> {
    let a = (6.0 / (rows + cols) as f64).sqrt() as f32;
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-a..a)).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, (rows, cols), dev)?)?)
}

impl Head {
    /// A new head for `dim`-dimensional inputs and `members` outputs. `x_stats` gives the
    /// per-dimension mean and std; `prior` (one rate per member) sets the initial output bias.
    pub fn new(
        dim: usize,
        hidden: usize,
        members: usize,
        (mean, std): (Vec<f32>, Vec<f32>),
        prior: &[f32],
        seed: u64,
        dev: &Device,
    ) -> Result<Self, NeuralError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bias: Vec<f32> = prior
            .iter()
            .map(|p| {
                let p = p.clamp(0.01, 0.99);
                (p / (1.0 - p)).ln()
            })
            .collect();
        let out_bias = Var::from_tensor(&Tensor::from_vec(bias, members, dev)?)?;
        let std: Vec<f32> = std.into_iter().map(|s| s.max(1e-6)).collect();
        let (w1, b1, w2, b2) = if hidden == 0 {
            (uniform(&mut rng, dim, members, dev)?, out_bias, None, None)
        } else {
            (
                uniform(&mut rng, dim, hidden, dev)?,
                Var::zeros(hidden, DType::F32, dev)?,
                Some(uniform(&mut rng, hidden, members, dev)?),
                Some(out_bias),
            )
        };
        Ok(Self {
            mean: Tensor::from_vec(mean, dim, dev)?,
            std: Tensor::from_vec(std, dim, dev)?,
            w1,
            b1,
            w2,
            b2,
        })
    }

    pub fn hidden(&self) -> usize {
        if self.w2.is_some() {
            self.b1.dim(0).unwrap_or(0)
        } else {
            0
        }
    }

    pub fn members(&self) -> usize {
        self.b2.as_ref().unwrap_or(&self.b1).dim(0).unwrap_or(0)
    }

    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.w1.clone(), self.b1.clone()];
        v.extend(self.w2.clone());
        v.extend(self.b2.clone());
        v
    }

    /// Logits (batch, members) for raw embeddings (batch, dim).
    pub fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.broadcast_sub(&self.mean)?.broadcast_div(&self.std)?;
        let h = x
            .matmul(self.w1.as_tensor())?
            .broadcast_add(self.b1.as_tensor())?;
        match (&self.w2, &self.b2) {
            (Some(w2), Some(b2)) => h
                .gelu_erf()?
                .matmul(w2.as_tensor())?
                .broadcast_add(b2.as_tensor()),
            _ => Ok(h),
        }
    }

    /// A detached copy of the current weights (for keeping the best epoch).
    pub fn snapshot(&self) -> Result<Self, NeuralError> {
        let copy =
            |v: &Var| -> Result<Var, NeuralError> { Ok(Var::from_tensor(&v.as_tensor().copy()?)?) };
        Ok(Self {
            mean: self.mean.clone(),
            std: self.std.clone(),
            w1: copy(&self.w1)?,
            b1: copy(&self.b1)?,
            w2: self.w2.as_ref().map(copy).transpose()?,
            b2: self.b2.as_ref().map(copy).transpose()?,
        })
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut m = HashMap::new();
        m.insert("mean".into(), self.mean.clone());
        m.insert("std".into(), self.std.clone());
        m.insert("w1".into(), self.w1.as_tensor().clone());
        m.insert("b1".into(), self.b1.as_tensor().clone());
        if let (Some(w2), Some(b2)) = (&self.w2, &self.b2) {
            m.insert("w2".into(), w2.as_tensor().clone());
            m.insert("b2".into(), b2.as_tensor().clone());
        }
        m
    }

    /// Rebuilds a head from `head.safetensors` tensors.
    pub fn from_tensors(mut m: HashMap<String, Tensor>, path: &Path) -> Result<Self, NeuralError> {
        let mut take = |k: &str| {
            m.remove(k)
                .ok_or_else(|| NeuralError::file(path, format!("missing tensor {k}")))
        };
        let mean = take("mean")?;
        let std = take("std")?;
        let w1 = Var::from_tensor(&take("w1")?)?;
        let b1 = Var::from_tensor(&take("b1")?)?;
        let (w2, b2) = match (take("w2"), take("b2")) {
            (Ok(w), Ok(b)) => (Some(Var::from_tensor(&w)?), Some(Var::from_tensor(&b)?)),
            _ => (None, None),
        };
        let head = Self {
            mean,
            std,
            w1,
            b1,
            w2,
            b2,
        };
        let dim = head.mean.dim(0)?;
        let ok = head.std.dim(0)? == dim
            && head.w1.dims2()?.0 == dim
            && head.w1.dims2()?.1 == head.b1.dim(0)?
            && match (&head.w2, &head.b2) {
                (Some(w2), Some(b2)) => w2.dims2()? == (head.b1.dim(0)?, b2.dim(0)?),
                _ => true,
            };
        if !ok {
            return Err(NeuralError::file(
                path,
                "head tensor shapes do not fit together",
            ));
        }
        Ok(head)
    }
}

/// Per-dimension mean and standard deviation of rows.
pub fn column_stats(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let d = rows.first().map_or(0, |r| r.len());
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64 / n;
        }
    }
    let mut var = vec![0f64; d];
    for r in rows {
        for ((v, m), x) in var.iter_mut().zip(&mean).zip(r) {
            *v += (*x as f64 - m).powi(2) / n;
        }
    }
    (
        mean.into_iter().map(|m| m as f32).collect(),
        var.into_iter().map(|v| v.sqrt() as f32).collect(),
    )
}
