//! The inner loop of packed attention: `R` query rows of one head of one text at a time
//! (scores, a softmax and the weighted values), written so the compiler keeps the
//! accumulators in vector registers.

/// Query rows processed together: their scores and outputs are accumulated in registers at
/// once, so each key or value row loaded serves all of them and the FMA chains are
/// independent (one row at a time is bound by the FMA latency).
pub(super) const ROWS: usize = 4;

/// The shape of one head of one text, for [`Head::rows`].
pub(super) struct Head {
    pub hd: usize,
    pub col: usize,
    pub len: usize,
    pub lenp: usize,
    pub hidden: usize,
}

impl Head {
    /// Attention of `R` consecutive query rows of one head: `qa` holds their `R` queries
    /// (`hd` each, biased and scaled), `kt` the head's transposed keys, `v` the text's value
    /// rows (`hidden` wide, before their bias `bv`); `probs` is scratch of `R * lenp`. Writes
    /// the `hd` outputs of row `r` at `out[r * ostride..]`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn rows<const R: usize>(
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
pub(super) const LANES: usize = 16;

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
