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
        let heads = self.heads;
        if self.segments.len() >= 2 * rayon::current_num_threads() {
            // Enough texts to keep every thread busy: one text (all heads) per task, written
            // in place.
            let mut parts = Vec::with_capacity(self.segments.len());
            let mut rest = out.as_mut_slice();
            for &(start, len) in self.segments {
                let (mine, tail) = rest.split_at_mut(len * hidden);
                parts.push((start, len, mine));
                rest = tail;
            }
            parts.into_par_iter().for_each(|(start, len, o)| {
                self.run(q, k, v, (start, len), 0..heads, o, hidden);
            });
        } else {
            // Few texts (a single question): one (text, head) per task, so every core works;
            // each task fills a (len, head_dim) block that is then copied into place.
            let hd = self.head_dim;
            let tasks: Vec<((usize, usize), usize)> = self
                .segments
                .iter()
                .flat_map(|&seg| (0..heads).map(move |h| (seg, h)))
                .collect();
            let blocks: Vec<Vec<f32>> = tasks
                .par_iter()
                .map(|&((start, len), h)| {
                    let mut block = vec![0.0f32; len * hd];
                    self.run(q, k, v, (start, len), h..h + 1, &mut block, hd);
                    block
                })
                .collect();
            for (&((start, _), h), block) in tasks.iter().zip(&blocks) {
                for (i, row) in block.chunks_exact(hd).enumerate() {
                    let at = (start + i) * hidden + h * hd;
                    out[at..at + hd].copy_from_slice(row);
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((total, hidden))))
    }
}

impl PackedAttention<'_> {
    /// Attention of heads `heads` of the text at `(start, len)` of the packed `q`, `k`, `v`,
    /// written to `out`: rows of `ostride` floats, head `heads.start` at column 0.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (start, len): (usize, usize),
        heads: std::ops::Range<usize>,
        out: &mut [f32],
        ostride: usize,
    ) {
        let hidden = self.heads * self.head_dim;
        let rows = start * hidden..(start + len) * hidden;
        pulp::Arch::new().dispatch(Attend {
            op: self,
            q: &q[rows.clone()],
            k: &k[rows.clone()],
            v: &v[rows],
            len,
            heads,
            out,
            ostride,
        });
    }
}

/// One text's attention as a `pulp` operation: `with_simd` is inlined into the function that
/// `dispatch` compiles for the CPU's best instruction set, and `attend` (inline(always)) into
/// it, so its loops are vectorized with AVX-512 or AVX2/FMA. (A closure passed to `dispatch`
/// is not inlined when its body is large, and then runs with the baseline SSE2 only: that cost
/// a third of the packed path's time.)
struct Attend<'a, 'b> {
    op: &'a PackedAttention<'b>,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    len: usize,
    heads: std::ops::Range<usize>,
    out: &'a mut [f32],
    ostride: usize,
}

impl pulp::WithSimd for Attend<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Attend {
            op,
            q,
            k,
            v,
            len,
            heads,
            out,
            ostride,
        } = self;
        op.attend(q, k, v, len, heads, out, ostride);
    }
}

impl PackedAttention<'_> {
    /// Attention of heads `heads` of one text: `q`, `k`, `v` are its `(len, hidden)` rows;
    /// `out` has rows of `ostride` floats, with head `heads.start` at column 0.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        len: usize,
        heads: std::ops::Range<usize>,
        out: &mut [f32],
        ostride: usize,
    ) {
        let (hd, hidden) = (self.head_dim, self.heads * self.head_dim);
        let scale = 1.0 / (hd as f32).sqrt();
        let [bq, bk, bv] = &self.bias;
        // k (+ bias) of one head transposed to (head_dim, padded len), so the score loop reads
        // whole LANES-wide blocks; the padding columns stay 0 and their scores are not used.
        let lenp = len.div_ceil(LANES) * LANES;
        let mut kt = vec![0.0f32; hd * lenp];
        // Queries (+ bias, scaled) and scores / probabilities of a block of ROWS query rows.
        let mut qa = vec![0.0f32; ROWS * hd];
        let mut probs = vec![0.0f32; ROWS * lenp];
        let first = heads.start * hd;
        for h in heads {
            let col = h * hd;
            for j in 0..len {
                for d in 0..hd {
                    kt[d * lenp + j] = k[j * hidden + col + d] + bk[col + d];
                }
            }
            let head = Head {
                hd,
                col,
                len,
                lenp,
                hidden,
            };
            let mut i = 0;
            while i < len {
                let rows = (len - i).min(ROWS);
                for r in 0..rows {
                    let qi = &q[(i + r) * hidden + col..][..hd];
                    for ((a, &qd), &b) in qa[r * hd..][..hd].iter_mut().zip(qi).zip(&bq[col..]) {
                        *a = (qd + b) * scale;
                    }
                }
                let at = i * ostride + col - first;
                if rows == ROWS {
                    head.rows::<ROWS>(&qa, &kt, v, &mut probs, bv, &mut out[at..], ostride);
                } else {
                    for r in 0..rows {
                        let at = at + r * ostride;
                        head.rows::<1>(
                            &qa[r * hd..],
                            &kt,
                            v,
                            &mut probs,
                            bv,
                            &mut out[at..],
                            ostride,
                        );
                    }
                }
                i += rows;
            }
        }
    }
}

/// Query rows processed together: their scores and outputs are accumulated in registers at
/// once, so each key or value row loaded serves all of them and the FMA chains are
/// independent (one row at a time is bound by the FMA latency).
const ROWS: usize = 4;

/// The shape of one head of one text, for [`Head::rows`].
struct Head {
    hd: usize,
    col: usize,
    len: usize,
    lenp: usize,
    hidden: usize,
}

impl Head {
    /// Attention of `R` consecutive query rows of one head: `qa` holds their `R` queries
    /// (`hd` each, biased and scaled), `kt` the head's transposed keys, `v` the text's value
    /// rows (`hidden` wide, before their bias `bv`); `probs` is scratch of `R * lenp`. Writes
    /// the `hd` outputs of row `r` at `out[r * ostride..]`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn rows<const R: usize>(
        &self,
        qa: &[f32],
        kt: &[f32],
        v: &[f32],
        probs: &mut [f32],
        bv: &[f32],
        out: &mut [f32],
        ostride: usize,
    ) {
        let Head {
            hd,
            col,
            len,
            lenp,
            hidden,
        } = *self;
        // Scores: R rows by four registers of keys at a time, then one.
        let mut j0 = 0;
        while j0 < lenp {
            if j0 + 4 * LANES <= lenp {
                let acc = weighted_rows::<R, { 4 * LANES }>(qa, hd, hd, kt, lenp, j0);
                for (r, a) in acc.iter().enumerate() {
                    probs[r * lenp + j0..][..4 * LANES].copy_from_slice(a);
                }
                j0 += 4 * LANES;
            } else {
                let acc = weighted_rows::<R, LANES>(qa, hd, hd, kt, lenp, j0);
                for (r, a) in acc.iter().enumerate() {
                    probs[r * lenp + j0..][..LANES].copy_from_slice(a);
                }
                j0 += LANES;
            }
        }
        // Softmax without its normalization, which is applied to the outputs.
        let mut inv = [0.0f32; R];
        for (r, inv) in inv.iter_mut().enumerate() {
            let sc = &mut probs[r * lenp..][..len];
            let max = lane_max(sc);
            // exp in its own loop (vectorized); the sum in lanes (a single f32 accumulator
            // would keep the loop scalar: float addition is not reassociated).
            for s in sc.iter_mut() {
                *s = crate::kernels::exp(*s - max);
            }
            *inv = 1.0 / lane_sum(sc);
        }
        // Outputs: the probabilities sum to 1, so v's bias adds once to each output. R rows by
        // two registers of dimensions, then one, then single dimensions.
        let bvh = &bv[col..col + hd];
        let mut c = 0;
        while c < hd {
            if c + 2 * LANES <= hd {
                let acc = weighted_rows::<R, { 2 * LANES }>(probs, lenp, len, v, hidden, col + c);
                for r in 0..R {
                    store_scaled(
                        &mut out[r * ostride + c..][..2 * LANES],
                        &acc[r],
                        inv[r],
                        &bvh[c..],
                    );
                }
                c += 2 * LANES;
            } else if c + LANES <= hd {
                let acc = weighted_rows::<R, LANES>(probs, lenp, len, v, hidden, col + c);
                for r in 0..R {
                    store_scaled(
                        &mut out[r * ostride + c..][..LANES],
                        &acc[r],
                        inv[r],
                        &bvh[c..],
                    );
                }
                c += LANES;
            } else {
                for r in 0..R {
                    let p = &probs[r * lenp..][..len];
                    let x: f32 = p
                        .iter()
                        .enumerate()
                        .map(|(j, p)| p * v[j * hidden + col + c])
                        .sum();
                    out[r * ostride + c] = x * inv[r] + bvh[c];
                }
                c += 1;
            }
        }
    }
}

/// `acc[i] = sum_r coef[i * cstride + r] * m[r * stride + at..][..W]` for `i < R` and
/// `r < n`: `W` consecutive columns of the first `n` rows of `m`, weighted and summed, for `R`
/// coefficient vectors at once, in `R * W / LANES` registers (fused multiply-adds). Scores are
/// this with queries as `coef` and the transposed keys as `m` (a block of keys); outputs, with
/// probabilities as `coef` and the values as `m` (a block of dimensions).
#[inline(always)]
fn weighted_rows<const R: usize, const W: usize>(
    coef: &[f32],
    cstride: usize,
    n: usize,
    m: &[f32],
    stride: usize,
    at: usize,
) -> [[f32; W]; R] {
    let mut acc = [[0.0f32; W]; R];
    for r in 0..n {
        if let Some(row) = m[r * stride + at..].first_chunk::<W>() {
            for (i, acc) in acc.iter_mut().enumerate() {
                let c = coef[i * cstride + r];
                for (o, &x) in acc.iter_mut().zip(row) {
                    *o = c.mul_add(x, *o);
                }
            }
        }
    }
    acc
}

/// `out = acc * inv + bias` (the softmax normalization and v's bias).
#[inline(always)]
fn store_scaled(out: &mut [f32], acc: &[f32], inv: f32, bias: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(acc).zip(bias) {
        *o = a * inv + b;
    }
}

/// Lanes of the reductions below: one AVX-512 register of f32.
const LANES: usize = 16;

/// Maximum of `xs` (NEG_INFINITY when empty), reduced in [`LANES`] independent lanes so the
/// compiler vectorizes it.
#[inline(always)]
fn lane_max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    let m = tail.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    acc.iter().copied().fold(m, f32::max)
}

/// Sum of `xs` in [`LANES`] independent lanes (vectorized).
#[inline(always)]
fn lane_sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Reference attention of one segment in f64, the textbook way.
    fn naive(
        x: [&[f32]; 3],
        bias: &[Vec<f32>; 3],
        (start, len): (usize, usize),
        heads: usize,
        hd: usize,
    ) -> Vec<f64> {
        let hidden = heads * hd;
        let at =
            |m: usize, row: usize, c: usize| (x[m][(start + row) * hidden + c] + bias[m][c]) as f64;
        let mut out = vec![0.0; len * hidden];
        for h in 0..heads {
            for i in 0..len {
                let s: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..hd)
                            .map(|d| at(0, i, h * hd + d) * at(1, j, h * hd + d))
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    let c = h * hd + d;
                    out[i * hidden + c] = (0..len).map(|j| e[j] / z * at(2, j, c)).sum();
                }
            }
        }
        out
    }

    /// Head sizes that are not a multiple of the register width and segment lengths around the
    /// block sizes (1, 15-17, 63-65, 130) take every path of the kernel; all eight texts
    /// together run one task per text, one or two texts one task per (text, head).
    #[test]
    fn packed_attention_matches_the_textbook_formula() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (heads, hd) in [(2, 64), (3, 20), (1, 5), (2, 80)] {
            let hidden = heads * hd;
            let lens = [1usize, 15, 16, 17, 63, 64, 65, 130];
            let total: usize = lens.iter().sum();
            let mut rand_vec =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.5..1.5)).collect() };
            let x = [
                rand_vec(total * hidden),
                rand_vec(total * hidden),
                rand_vec(total * hidden),
            ];
            let bias = [rand_vec(hidden), rand_vec(hidden), rand_vec(hidden)];
            for texts in [8, 1, 2] {
                // The first `texts` texts, packed.
                let mut segments = Segments::new();
                let mut n = 0;
                for &l in &lens[..texts] {
                    segments.push((n, l));
                    n += l;
                }
                let t = |m: &Vec<f32>| {
                    Tensor::from_slice(&m[..n * hidden], (n, hidden), &Device::Cpu).unwrap()
                };
                let op = PackedAttention {
                    segments: &segments,
                    heads,
                    head_dim: hd,
                    bias: bias.clone(),
                };
                let got = t(&x[0])
                    .apply_op3_no_bwd(&t(&x[1]), &t(&x[2]), &op)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                assert_eq!(got.len(), n * hidden);
                for &seg in &segments {
                    let want = naive([&x[0], &x[1], &x[2]], &bias, seg, heads, hd);
                    let mine = &got[seg.0 * hidden..(seg.0 + seg.1) * hidden];
                    for (i, (&g, &w)) in mine.iter().zip(&want).enumerate() {
                        assert!(
                            (g as f64 - w).abs() < 1e-4,
                            "{texts} texts, heads {heads} x {hd}, segment {seg:?}, element {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
