//! Unpadded ("packed") inference. The tokens of all texts of a batch are concatenated into one
//! `(tokens, hidden)` matrix, which goes through the embeddings, every dense layer, the layer
//! norms and GELU as one matrix (these are almost all the FLOPs); attention runs per text on
//! its own rows (a CPU kernel, texts in parallel, no mask); mean pooling is per text. No
//! padding anywhere, so a batch of texts of mixed lengths costs the sum of their lengths.
//!
//! Inference only (no backward pass): fine-tuning keeps the padded [`Exec::Train`] path.

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::bert::{Bert, Exec, Layer};
use crate::kernels::f32_slice;

/// Where each text's tokens sit in the packed matrix: `(first row, length)`, in order, adjacent.
type Segments = Vec<(usize, usize)>;

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

/// Multi-head self-attention of each segment over its own rows: `softmax(q k^T / sqrt(d)) v`
/// per text and head, with `q`, `k`, `v` given before their biases (`bias`, in that order).
/// Inputs and output are `(total tokens, hidden)`.
struct PackedAttention<'a> {
    segments: &'a Segments,
    heads: usize,
    head_dim: usize,
    bias: [Vec<f32>; 3],
}

impl CustomOp3 for PackedAttention<'_> {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (q, k, v) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let hidden = self.heads * self.head_dim;
        let total: usize = self.segments.iter().map(|s| s.1).sum();
        if self.bias.iter().any(|b| b.len() != hidden) {
            return Err(candle_core::Error::Msg(
                "packed attention: bias length differs from hidden size".into(),
            ));
        }
        for l in [l1, l2, l3] {
            if l.shape().dims() != [total, hidden] {
                return Err(candle_core::Error::Msg(format!(
                    "packed attention: input shape {:?}, expected ({total}, {hidden})",
                    l.shape()
                )));
            }
        }
        let mut out = vec![0.0f32; total * hidden];
        let mut parts = Vec::with_capacity(self.segments.len());
        let mut rest = out.as_mut_slice();
        for &(start, len) in self.segments {
            let (mine, tail) = rest.split_at_mut(len * hidden);
            parts.push((start, len, mine));
            rest = tail;
        }
        parts.into_par_iter().for_each(|(start, len, o)| {
            let rows = start * hidden..(start + len) * hidden;
            let (q, k, v) = (&q[rows.clone()], &k[rows.clone()], &v[rows]);
            pulp::Arch::new().dispatch(|| self.attend(q, k, v, len, o));
        });
        Ok((CpuStorage::F32(out), Shape::from((total, hidden))))
    }
}

impl PackedAttention<'_> {
    /// Attention of one text: `q`, `k`, `v`, `out` are its `(len, hidden)` rows.
    #[inline(always)]
    fn attend(&self, q: &[f32], k: &[f32], v: &[f32], len: usize, out: &mut [f32]) {
        let (hd, hidden) = (self.head_dim, self.heads * self.head_dim);
        let scale = 1.0 / (hd as f32).sqrt();
        let [bq, bk, bv] = &self.bias;
        // k (+ bias) of one head transposed to (head_dim, len), so the score loop is contiguous.
        let mut kt = vec![0.0f32; hd * len];
        let mut scores = vec![0.0f32; len];
        for h in 0..self.heads {
            let col = h * hd;
            for j in 0..len {
                for d in 0..hd {
                    kt[d * len + j] = k[j * hidden + col + d] + bk[col + d];
                }
            }
            for i in 0..len {
                let qi = &q[i * hidden + col..i * hidden + col + hd];
                scores.fill(0.0);
                for (d, (&qd, &b)) in qi.iter().zip(&bq[col..col + hd]).enumerate() {
                    let a = (qd + b) * scale;
                    for (s, kd) in scores.iter_mut().zip(&kt[d * len..(d + 1) * len]) {
                        *s += a * kd;
                    }
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for s in scores.iter_mut() {
                    *s = crate::kernels::exp(*s - max);
                    sum += *s;
                }
                let inv = 1.0 / sum;
                let oi = &mut out[i * hidden + col..i * hidden + col + hd];
                // The probabilities sum to 1, so v's bias adds once to each output.
                oi.copy_from_slice(&bv[col..col + hd]);
                for (j, &p) in scores.iter().enumerate() {
                    let p = p * inv;
                    let vj = &v[j * hidden + col..j * hidden + col + hd];
                    for (o, x) in oi.iter_mut().zip(vj) {
                        *o += p * x;
                    }
                }
            }
        }
    }
}
