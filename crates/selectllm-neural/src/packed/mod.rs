//! Unpadded ("packed") inference. The tokens of all texts of a batch are concatenated into one
//! `(tokens, hidden)` matrix, which goes through the embeddings, every dense layer, the layer
//! norms and GELU as one matrix (these are almost all the FLOPs); attention runs per text on
//! its own rows (a CPU kernel, texts in parallel, no mask); mean pooling is per text. No
//! padding anywhere, so a batch of texts of mixed lengths costs the sum of their lengths.
//!
//! Inference only (no backward pass): fine-tuning keeps the padded [`Exec::Train`] path.

mod attention;
mod head_rows;

use candle_core::{Device, Result, Tensor};

use crate::bert::{Bert, Exec, Layer};
use attention::{PackedAttention, Segments};

impl Bert {
    /// Mean-pooled embeddings of already tokenized texts, computed without padding.
    /// Only the CPU has the attention kernel; other devices return an error (use the padded
    /// path there).
    pub fn embed_packed(&self, ids: &[&[u32]], device: &Device) -> Result<Vec<Vec<f32>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut segments = Segments::with_capacity(ids.len());
        let mut start = 0;
        for row in ids {
            segments.push((start, row.len()));
            start += row.len();
        }
        let hidden = self.word.dim(1)?;
        if start == 0 {
            return Ok(vec![vec![0.0; hidden]; ids.len()]);
        }
        let states = self.forward_packed(ids, &segments, device)?;
        let flat = states.flatten_all()?.to_vec1::<f32>()?;
        Ok(segments
            .iter()
            .map(|&(s, len)| mean_rows(&flat[s * hidden..(s + len) * hidden], hidden))
            .collect())
    }

    /// Token states `(total tokens, hidden)` of the packed texts.
    fn forward_packed(
        &self,
        ids: &[&[u32]],
        segments: &Segments,
        device: &Device,
    ) -> Result<Tensor> {
        let flat: Vec<u32> = ids.concat();
        let total = flat.len();
        let positions: Vec<u32> = ids.iter().flat_map(|r| 0..r.len() as u32).collect();
        let flat = Tensor::from_vec(flat, total, device)?;
        let positions = Tensor::from_vec(positions, total, device)?;
        let tt = self.token_type.narrow(0, 0, 1)?;
        let x = (self.word.index_select(&flat, 0)? + self.position.index_select(&positions, 0)?)?
            .broadcast_add(&tt)?;
        let mut x = self.emb_norm.forward(&x, Exec::Infer)?;
        for layer in &self.layers {
            x = layer.forward_packed(&x, segments)?;
        }
        Ok(x)
    }
}

impl Layer {
    /// One transformer layer on packed rows `x` (total tokens, hidden).
    fn forward_packed(&self, x: &Tensor, segments: &Segments) -> Result<Tensor> {
        // Projections without their biases: the attention kernel adds them as it reads.
        let q = self.q.matmul_2d(x)?.contiguous()?;
        let k = self.k.matmul_2d(x)?.contiguous()?;
        let v = self.v.matmul_2d(x)?.contiguous()?;
        let op = PackedAttention {
            segments,
            heads: self.heads,
            head_dim: self.head_dim,
            bias: [
                self.q.b.to_vec1::<f32>()?,
                self.k.b.to_vec1::<f32>()?,
                self.v.b.to_vec1::<f32>()?,
            ],
        };
        let ctx = q.apply_op3_no_bwd(&k, &v, &op)?;
        self.after_attention(&ctx, x, Exec::Infer, true)
    }
}

/// Mean of the rows of a row-major `(rows, dim)` slice (zeros when there are no rows).
fn mean_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; dim];
    let n = rows.len() / dim.max(1);
    for row in rows.chunks_exact(dim) {
        for (s, x) in sum.iter_mut().zip(row) {
            *s += x;
        }
    }
    if n > 0 {
        let inv = 1.0 / n as f32;
        sum.iter_mut().for_each(|s| *s *= inv);
    }
    sum
}
