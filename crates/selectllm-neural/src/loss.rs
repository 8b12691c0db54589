//! Training losses over logits (batch, members).

use candle_core::{Result, Tensor};

/// What the head is trained to predict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LossKind {
    /// Binary cross-entropy per (question, member): learns P(correct).
    Bce,
    /// BCE plus `weight` x a pairwise logistic loss over member pairs of the same question where
    /// one member's target is higher: teaches which member is better, not only how hard.
    BcePairwise { weight: f32 },
}

/// The per-(question, member) target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The 0/1 label.
    Label,
    /// The success rate (soft label).
    Success,
}

use serde::{Deserialize, Serialize};

/// log(1 + exp(x)), stable and differentiable.
fn softplus(x: &Tensor) -> Result<Tensor> {
    let pos = x.relu()?;
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    pos + tail
}

/// Mean binary cross-entropy with logits.
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    // max(z,0) - z*y + log(1 + exp(-|z|)) == softplus(z) - z*y
    (softplus(z)? - (z * y)?)?.mean_all()
}

/// Mean of softplus(-(z_i - z_j)) over pairs with y_i > y_j of the same row (0 when none).
pub fn pairwise(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let (_, m) = z.dims2()?;
    let zd = z.unsqueeze(2)?.broadcast_sub(&z.unsqueeze(1)?)?; // (b, m, m): z_i - z_j
    let yd = y.unsqueeze(2)?.broadcast_sub(&y.unsqueeze(1)?)?;
    let w = yd.relu()?; // weight = how much better i is than j
    let total = w.sum_all()?.to_scalar::<f32>()?;
    if total <= 0.0 || m < 2 {
        return z.zeros_like()?.sum_all();
    }
    (softplus(&zd.neg()?)? * w)?.sum_all()? / total as f64
}

/// The configured training loss.
pub fn loss(kind: LossKind, z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let bce = bce_with_logits(z, y)?;
    match kind {
        LossKind::Bce => Ok(bce),
        LossKind::BcePairwise { weight } => bce + (pairwise(z, y)? * weight as f64)?,
    }
}
