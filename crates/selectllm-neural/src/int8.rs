//! Int8 dense layers for the packed inference path (encoder precision `int8`).
//!
//! Weights are quantized once, symmetrically per output (`w ≈ s_n · q`, q in [-127, 127]);
//! each input row is quantized on the fly (`x ≈ s_t · q`, per token). The product of the two
//! integer matrices is exact in i32, so every machine computes the same integers: on CPUs with
//! AVX-512 VNNI one `vpdpbusd` does 64 multiply-adds, elsewhere a portable loop does the same
//! sums (slower than the f32 path; the precision is a choice, never picked by the hardware).
//! The float epilogue `(acc · s_t) · s_n` is one expression shared by both paths.
//!
//! `vpdpbusd` multiplies *unsigned* bytes by signed ones, so activations are stored as
//! `q + 128` and the extra `128 · Σ_k q_w` of each output is subtracted afterwards.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
use rayon::prelude::*;

use crate::kernels::f32_slice;

/// Outputs per packed panel (four vectors of 16 i32 lanes).
const PANEL: usize = 64;
/// Rows computed together by the VNNI micro-kernel (6 rows x 4 vectors = 24 accumulators).
const ROWS: usize = 6;
/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 18;

/// One dense layer's weights, quantized and packed for [`QuantDense::matmul`].
pub(crate) struct QuantDense {
    /// Input features, and the same rounded up to a multiple of 4.
    k: usize,
    k4: usize,
    /// Outputs, and the same rounded up to whole panels.
    n: usize,
    n_pad: usize,
    /// `[panel][k4 / 4][64 outputs][4 inputs]`, zero beyond `k` and `n`.
    packed: Vec<i8>,
    /// Per output: its scale, and `128 · Σ_k q` (the unsigned-activation offset).
    scale: Vec<f32>,
    offset: Vec<i32>,
}

/// The shape only (the packed weights are megabytes).
impl std::fmt::Debug for QuantDense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantDense")
            .field("outputs", &self.n)
            .field("inputs", &self.k)
            .finish_non_exhaustive()
    }
}

/// The shared float epilogue: an exact integer sum back to the float scale.
#[inline(always)]
fn dequant(acc: i32, offset: i32, row_scale: f32, col_scale: f32) -> f32 {
    ((acc - offset) as f32 * row_scale) * col_scale
}

impl QuantDense {
    /// Quantizes `w` given row-major as `(n outputs, k inputs)`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "weight shape");
        let k4 = k.div_ceil(4) * 4;
        let n_pad = n.div_ceil(PANEL) * PANEL;
        let steps = k4 / 4;
        let mut packed = vec![0i8; n_pad * k4];
        let mut scale = vec![0f32; n];
        let mut offset = vec![0i32; n];
        let mut q = vec![0i8; k];
        for (o, row) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            scale[o] = quantize_row(row, &mut q);
            offset[o] = 128 * q.iter().map(|&v| v as i32).sum::<i32>();
            let (panel, j) = (o / PANEL, o % PANEL);
            for (i, &v) in q.iter().enumerate() {
                let (step, b) = (i / 4, i % 4);
                packed[((panel * steps + step) * PANEL + j) * 4 + b] = v;
            }
        }
        Self {
            k,
            k4,
            n,
            n_pad,
            packed,
            scale,
            offset,
        }
    }

    /// `x w^T` for row-major `x` of `(rows, k)`: row-major `(rows, n)`, no bias. Row blocks run
    /// in parallel, each quantizing its rows and writing its own output rows.
    pub(crate) fn matmul(&self, x: &[f32]) -> Vec<f32> {
        let rows = x.len().checked_div(self.k).unwrap_or(0);
        let mut out = vec![0f32; rows * self.n];
        if rows == 0 || self.n == 0 {
            return out;
        }
        let block = if rows * self.k4 * self.n_pad < PARALLEL_MIN {
            rows
        } else {
            let tasks = 4 * rayon::current_num_threads();
            rows.div_ceil(tasks).div_ceil(ROWS) * ROWS
        };
        let run = |(b, out): (usize, &mut [f32])| {
            let r0 = b * block;
            let r = out.len() / self.n;
            let (xq, xs) = self.quantize_input(&x[r0 * self.k..(r0 + r) * self.k], r);
            for p in 0..self.n_pad / PANEL {
                self.panel(p, &xq, &xs, out);
            }
        };
        if block == rows {
            run((0, &mut out));
        } else {
            out.par_chunks_mut(block * self.n).enumerate().for_each(run);
        }
        out
    }

    /// Rows quantized to `q + 128` (bytes, rows of `k4`, padded with 128 = zero) and their scales.
    fn quantize_input(&self, x: &[f32], rows: usize) -> (Vec<u8>, Vec<f32>) {
        let mut xq = vec![128u8; rows * self.k4];
        let mut xs = vec![0f32; rows];
        for (t, dst) in xq.chunks_exact_mut(self.k4).enumerate() {
            let row = &x[t * self.k..(t + 1) * self.k];
            #[cfg(target_arch = "x86_64")]
            if let Some(s) = vnni::quantize_input_row(row, &mut dst[..self.k]) {
                xs[t] = s;
                continue;
            }
            xs[t] = quantize_input_row(row, &mut dst[..self.k]);
        }
        (xq, xs)
    }

    /// Columns `64 p ..` of every row of `out` (rows of `n`): the panel's integer sums,
    /// dequantized with the row scales `xs`.
    fn panel(&self, p: usize, xq: &[u8], xs: &[f32], out: &mut [f32]) {
        let job = self.panel_job(p, xq, xs);
        #[cfg(target_arch = "x86_64")]
        if vnni::panel(&job, out) {
            return;
        }
        portable_panel(&job, out);
    }

    /// What computing panel `p` of the quantized rows `xq` (scales `xs`) reads.
    fn panel_job<'a>(&'a self, p: usize, xq: &'a [u8], xs: &'a [f32]) -> Panel<'a> {
        let steps = self.k4 / 4;
        let cols = p * PANEL..((p + 1) * PANEL).min(self.n);
        Panel {
            w: &self.packed[p * steps * PANEL * 4..(p + 1) * steps * PANEL * 4],
            xq,
            k4: self.k4,
            xs,
            offset: &self.offset[cols.clone()],
            scale: &self.scale[cols.clone()],
            first: cols.start,
            stride: self.n,
        }
    }
}

/// `x w^T` (no bias) as a candle op on a contiguous 2-D f32 `x`, read in place.
impl CustomOp1 for QuantDense {
    fn name(&self) -> &'static str {
        "int8-matmul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let dims = l.dims();
        if dims.len() != 2 || dims[1] != self.k {
            return Err(candle_core::Error::Msg(format!(
                "int8 matmul of a {dims:?} input by a {} x {} weight",
                self.n, self.k
            )));
        }
        Ok((
            CpuStorage::F32(self.matmul(x)),
            Shape::from((dims[0], self.n)),
        ))
    }
}

/// One panel's work: its packed weights (`k4 / 4` steps of 256 bytes), the quantized input
/// rows (`k4` bytes each) and their scales; where its sums go: its columns' offsets and scales,
/// its first column and the output's row length.
struct Panel<'a> {
    w: &'a [i8],
    xq: &'a [u8],
    k4: usize,
    xs: &'a [f32],
    offset: &'a [i32],
    scale: &'a [f32],
    first: usize,
    stride: usize,
}

impl Panel<'_> {
    /// Writes one row's 64 sums (only the panel's real columns).
    #[inline(always)]
    fn write(&self, sums: &[i32; PANEL], row_scale: f32, out: &mut [f32], row: usize) {
        let dst = &mut out[row * self.stride + self.first..][..self.offset.len()];
        for (j, d) in dst.iter_mut().enumerate() {
            *d = dequant(sums[j], self.offset[j], row_scale, self.scale[j]);
        }
    }
}

/// One input row as `q + 128` bytes (portable); returns its scale.
fn quantize_input_row(row: &[f32], dst: &mut [u8]) -> f32 {
    let mut q = vec![0i8; row.len()];
    let s = quantize_row(row, &mut q);
    for (d, v) in dst.iter_mut().zip(q) {
        *d = (v as u8) ^ 0x80;
    }
    s
}

/// Round to nearest, ties to even, for |x| < 2^22 (adding and removing 1.5 * 2^23).
#[inline(always)]
fn round_even(x: f32) -> f32 {
    (x + 12_582_912.0) - 12_582_912.0
}

/// Whether int8 arithmetic runs on this CPU's VNNI instructions (else on the portable loop,
/// which gives the same numbers more slowly than f32).
pub fn accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    return vnni::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Symmetric int8 quantization of `row` into `q` (values in [-127, 127]); returns the scale.
#[inline(always)]
fn quantize_row(row: &[f32], q: &mut [i8]) -> f32 {
    let amax = row
        .iter()
        .fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    if amax == 0.0 || !amax.is_finite() {
        q.fill(0);
        return 0.0;
    }
    let inv = 127.0 / amax;
    for (d, v) in q.iter_mut().zip(row) {
        *d = round_even(v * inv).clamp(-127.0, 127.0) as i8;
    }
    amax / 127.0
}

/// The same sums as the VNNI kernel, in portable code.
fn portable_panel(job: &Panel, out: &mut [f32]) {
    let Panel { w, xq, k4, xs, .. } = *job;
    let steps = k4 / 4;
    for (t, x) in xq.chunks_exact(k4).enumerate() {
        let mut sums = [0i32; PANEL];
        for s in 0..steps {
            let wb = &w[s * PANEL * 4..(s + 1) * PANEL * 4];
            let xb = &x[s * 4..s * 4 + 4];
            for (j, o) in sums.iter_mut().enumerate() {
                let wj = &wb[j * 4..j * 4 + 4];
                *o += (0..4).map(|b| xb[b] as i32 * wj[b] as i32).sum::<i32>();
            }
        }
        job.write(&sums, xs[t], out, t);
    }
}

/// The AVX-512 VNNI kernel (the crate's other unsafe code: `alloc`'s `mallopt`, `threads`'s
/// `set_var`).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod vnni {
    use super::{PANEL, Panel, ROWS};
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub(super) fn available() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
        })
    }

    /// [`super::quantize_input_row`] with AVX-512 (the same bytes and scale: the conversion
    /// rounds to nearest even, as `round_even` does); `None` when the CPU lacks it.
    pub(super) fn quantize_input_row(row: &[f32], dst: &mut [u8]) -> Option<f32> {
        if !available() {
            return None;
        }
        assert_eq!(row.len(), dst.len());
        // SAFETY: AVX-512F/BW available (checked above); equal lengths (asserted above).
        Some(unsafe { quantize_avx512(row, dst) })
    }

    /// # Safety
    /// The CPU must have AVX-512F/BW; `row` and `dst` have the same length.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn quantize_avx512(row: &[f32], dst: &mut [u8]) -> f32 {
        let n = row.len();
        let full = n / 16 * 16;
        let mut m = _mm512_setzero_ps();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n.
            let v = unsafe { _mm512_loadu_ps(row.as_ptr().add(i)) };
            m = _mm512_max_ps(m, _mm512_abs_ps(v));
            i += 16;
        }
        let mut amax = _mm512_reduce_max_ps(m);
        for v in &row[full..] {
            if v.abs() > amax {
                amax = v.abs();
            }
        }
        if amax == 0.0 || !amax.is_finite() {
            dst.fill(128);
            return 0.0;
        }
        let inv = 127.0 / amax;
        let vinv = _mm512_set1_ps(inv);
        let bias = _mm_set1_epi8(-128);
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n for both slices.
            unsafe {
                let v = _mm512_mul_ps(_mm512_loadu_ps(row.as_ptr().add(i)), vinv);
                let q = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v));
                let u = _mm_xor_si128(q, bias);
                _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, u);
            }
            i += 16;
        }
        for (d, v) in dst[full..].iter_mut().zip(&row[full..]) {
            *d = ((super::round_even(v * inv).clamp(-127.0, 127.0) as i8) as u8) ^ 0x80;
        }
        amax / 127.0
    }

    /// One panel with VNNI; false (nothing written) when the CPU lacks it.
    pub(super) fn panel(job: &Panel, out: &mut [f32]) -> bool {
        if !available() {
            return false;
        }
        let Panel { w, xq, k4, xs, .. } = *job;
        assert!(k4.is_multiple_of(4) && w.len() >= k4 / 4 * PANEL * 4 && xq.len() >= xs.len() * k4);
        // SAFETY: the CPU has AVX-512F/BW/VNNI (checked above) and the slices have the shapes
        // the kernel reads (asserted above; the epilogue's writes are bounds-checked).
        unsafe { panel_avx512(job, out) };
        true
    }

    /// # Safety
    /// The CPU must have AVX-512F/BW/VNNI; the job's `w` holds `k4 / 4` steps of 256 bytes and
    /// its `xq` `xs.len()` rows of `k4` bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn panel_avx512(job: &Panel, out: &mut [f32]) {
        let Panel { w, xq, k4, xs, .. } = *job;
        let (steps, rows) = (k4 / 4, xs.len());
        let mut sums = [0i32; PANEL];
        let mut t = 0;
        while t < rows {
            let r = (rows - t).min(ROWS);
            let mut a = [[_mm512_setzero_si512(); 4]; ROWS];
            // SAFETY (loads): indices stay inside `w` and `xq` (see the caller's asserts).
            unsafe {
                let wp = w.as_ptr();
                for s in 0..steps {
                    let wv = [
                        _mm512_loadu_si512(wp.add(s * 256) as *const _),
                        _mm512_loadu_si512(wp.add(s * 256 + 64) as *const _),
                        _mm512_loadu_si512(wp.add(s * 256 + 128) as *const _),
                        _mm512_loadu_si512(wp.add(s * 256 + 192) as *const _),
                    ];
                    for (i, ai) in a.iter_mut().enumerate().take(r) {
                        let x4 =
                            (xq.as_ptr().add((t + i) * k4 + s * 4) as *const i32).read_unaligned();
                        let xb = _mm512_set1_epi32(x4);
                        for v in 0..4 {
                            ai[v] = _mm512_dpbusd_epi32(ai[v], xb, wv[v]);
                        }
                    }
                }
            }
            for (i, ai) in a.iter().enumerate().take(r) {
                for (v, av) in ai.iter().enumerate() {
                    // SAFETY: `sums` has 64 lanes; vector v fills lanes 16 v .. 16 v + 16.
                    unsafe { _mm512_storeu_si512(sums.as_mut_ptr().add(v * 16) as *mut _, *av) };
                }
                job.write(&sums, xs[t + i], out, t + i);
            }
            t += r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    fn reference(w: &[f32], x: &[f32], n: usize, k: usize) -> Vec<f32> {
        let rows = x.len() / k;
        let mut y = vec![0f32; rows * n];
        for t in 0..rows {
            for o in 0..n {
                y[t * n + o] = (0..k).map(|i| x[t * k + i] * w[o * k + i]).sum();
            }
        }
        y
    }

    #[test]
    fn vnni_and_portable_give_identical_outputs_close_to_f32() {
        // Odd shapes: k not a multiple of 4, n not a multiple of 64, rows not of 6.
        for (rows, n, k) in [
            (1, 64, 8),
            (7, 70, 30),
            (13, 384, 384),
            (2, 5, 3),
            (40, 128, 64),
        ] {
            let w = random(n * k, 1);
            let x = random(rows * k, 2);
            let q = QuantDense::new(&w, n, k);
            let (xq, xs) = q.quantize_input(&x, rows);
            let mut portable = vec![0f32; rows * n];
            let mut any = vec![0f32; rows * n];
            for p in 0..q.n_pad / PANEL {
                portable_panel(&q.panel_job(p, &xq, &xs), &mut portable);
                q.panel(p, &xq, &xs, &mut any);
            }
            assert_eq!(portable, any, "rows {rows} n {n} k {k}");
            assert_eq!(q.matmul(&x), any, "rows {rows} n {n} k {k}: matmul");
            let exact = reference(&w, &x, n, k);
            let scale = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = any
                .iter()
                .zip(&exact)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 0.02 * scale,
                "rows {rows} n {n} k {k}: {worst} vs {scale}"
            );
        }
    }

    #[test]
    fn vector_and_portable_quantization_agree() {
        for len in [1, 15, 16, 33, 384] {
            let mut row = random(len, 4);
            row[0] = 0.5; // a tie after scaling by 127 / 1
            row[len - 1] = -1.0;
            let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
            let sa = quantize_input_row(&row, &mut a);
            #[cfg(target_arch = "x86_64")]
            if let Some(sb) = vnni::quantize_input_row(&row, &mut b) {
                assert_eq!((sa, &a), (sb, &b), "len {len}");
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(
            [0.5, 1.5, 2.5, -0.5, -1.5, 126.6].map(round_even),
            [0.0, 2.0, 2.0, -0.0, -2.0, 127.0]
        );
    }

    #[test]
    fn zero_rows_and_zero_inputs_give_zeros() {
        let q = QuantDense::new(&random(64 * 4, 3), 64, 4);
        assert!(q.matmul(&[]).is_empty());
        assert!(q.matmul(&[0.0; 8]).iter().all(|&v| v == 0.0));
    }
}
