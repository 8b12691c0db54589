//! The packed attention op: multi-head self-attention of each text over its own rows of the
//! packed matrix, texts (or text and head pairs) in parallel, each under `pulp`'s run-time
//! dispatch to the CPU's best instruction set.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape};
use rayon::prelude::*;

use super::head_rows::{Head, LANES, ROWS};
use crate::kernels::f32_slice;

/// Where each text's tokens sit in the packed matrix: `(first row, length)`, in order, adjacent.
pub(super) type Segments = Vec<(usize, usize)>;

/// Multi-head self-attention of each segment over its own rows: `softmax(q k^T / sqrt(d)) v`
/// per text and head, with `q`, `k`, `v` given before their biases (`bias`, in that order).
/// Inputs and output are `(total tokens, hidden)`.
pub(super) struct PackedAttention<'a> {
    pub segments: &'a Segments,
    pub heads: usize,
    pub head_dim: usize,
    pub bias: [Vec<f32>; 3],
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
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
