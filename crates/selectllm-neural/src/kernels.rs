//! Elementwise CPU kernels of the packed inference path, written as plain loops that the
//! compiler vectorizes for the best instruction set found at run time (`pulp` dispatch:
//! AVX-512 when built with the `avx512` feature, else AVX2/FMA, else scalar).
//!
//! - [`exp`]: Cephes-style `expf` (range reduction to |r| <= ln2/2, degree-6 polynomial), about
//!   1 ulp on the range used here; libm's `expf` is a scalar call per element.
//! - [`erf`]: Abramowitz & Stegun 7.1.26, absolute error <= 1.5e-7.
//! - [`BiasGeluErf`]: `gelu(y + b)` with the exact (erf) GELU in one pass, fusing the bias add
//!   of the feed-forward layer; candle's `gelu_erf` calls libm's scalar `erf` per element.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape};
use rayon::prelude::*;

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x for finite x (clamped to [-87, 88], where f32 neither overflows nor goes subnormal).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let scale = f32::from_bits((((n as i32) + 127) as u32) << 23);
    er * scale
}

/// The error function, |error| <= 1.5e-7 (Abramowitz & Stegun 7.1.26).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// `y = 0.5 x (1 + erf(x / sqrt 2))`, vectorized.
pub(crate) fn gelu_erf_in_place(xs: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for x in xs.iter_mut() {
            *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    });
}

/// Dot product in 16 independent partial sums, so the compiler vectorizes it (a single running
/// sum is a dependency chain it may not reorder).
#[inline(always)]
fn dot16(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The dot product of `q` with each row of `rows` (row-major, rows of `q.len()`), vectorized.
pub(crate) fn dots(rows: &[f32], q: &[f32]) -> Vec<f32> {
    let dim = q.len().max(1);
    pulp::Arch::new().dispatch(|| rows.chunks_exact(dim).map(|r| dot16(r, q)).collect())
}

/// The dot product of two vectors, vectorized.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    pulp::Arch::new().dispatch(|| dot16(a, b))
}

/// `gelu_erf(y + b)` for `y` of shape (rows, n) and a bias `b` of shape (n), both contiguous f32.
pub(crate) struct BiasGeluErf;

pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => Err(candle_core::Error::Msg(
            "packed kernels need contiguous f32 inputs".into(),
        )),
    }
}

impl CustomOp2 for BiasGeluErf {
    fn name(&self) -> &'static str {
        "bias-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let n = b.len();
        if n == 0 || l1.shape().dims().last() != Some(&n) {
            return Err(candle_core::Error::Msg(format!(
                "bias-gelu-erf: input {:?} and bias ({n}) do not match",
                l1.shape()
            )));
        }
        let mut out = y.to_vec();
        // Blocks of 64 rows on rayon's threads (the matmuls around it use both cores too).
        out.par_chunks_mut(n * 64).for_each(|block| {
            for row in block.chunks_exact_mut(n) {
                for (x, bi) in row.iter_mut().zip(b) {
                    *x += bi;
                }
            }
            gelu_erf_in_place(block);
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `y + b + x` for `y`, `x` of shape (rows, n) and a bias `b` of shape (n): a dense layer's bias
/// add and its residual connection in one pass.
pub(crate) struct BiasResidual;

impl CustomOp3 for BiasResidual {
    fn name(&self) -> &'static str {
        "bias-residual"
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
        let (y, b, x) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let n = b.len();
        if n == 0 || l1.shape().dims().last() != Some(&n) || l1.shape() != l3.shape() {
            return Err(candle_core::Error::Msg(format!(
                "bias-residual: inputs {:?} and {:?}, bias ({n}) do not match",
                l1.shape(),
                l3.shape()
            )));
        }
        let mut out = y.to_vec();
        out.par_chunks_mut(n * 64)
            .zip(x.par_chunks(n * 64))
            .for_each(|(block, xb)| {
                pulp::Arch::new().dispatch(|| {
                    for (row, xr) in block.chunks_exact_mut(n).zip(xb.chunks_exact(n)) {
                        for ((o, bi), xi) in row.iter_mut().zip(b).zip(xr) {
                            *o += bi + xi;
                        }
                    }
                });
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::{dot, dots, erf, exp};

    #[test]
    fn exp_and_erf_match_f64_references() {
        let mut worst_exp = 0.0f64;
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let want = (x as f64).exp();
            worst_exp = worst_exp.max((exp(x) as f64 - want).abs() / want);
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        let mut worst_erf = 0.0f64;
        for i in -300..=300 {
            let x = i as f32 * 0.01;
            worst_erf = worst_erf.max((erf(x) as f64 - erf_series(x as f64)).abs());
        }
        assert!(worst_erf < 3e-7, "erf absolute error {worst_erf}");
        assert!((erf(10.0) - 1.0).abs() < 1e-6 && (erf(-10.0) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn dots_match_f64_sums_at_every_tail_length() {
        for dim in [1usize, 15, 16, 17, 384, 391] {
            let row = |r: usize| -> Vec<f32> {
                (0..dim)
                    .map(|i| ((i * 7 + r * 13) % 23) as f32 / 23.0 - 0.5)
                    .collect()
            };
            let q = row(99);
            let rows: Vec<f32> = (0..5).flat_map(row).collect();
            let got = dots(&rows, &q);
            assert_eq!(got.len(), 5);
            for (r, g) in got.iter().enumerate() {
                let want: f64 = row(r)
                    .iter()
                    .zip(&q)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                assert!(
                    (*g as f64 - want).abs() < 1e-4,
                    "dim {dim} row {r}: {g} vs {want}"
                );
                assert_eq!(dot(&row(r), &q), *g);
            }
        }
    }

    /// erf by its Taylor series in f64: good to about 1e-13 for |x| <= 3.
    fn erf_series(x: f64) -> f64 {
        let (mut sum, mut term) = (0.0, x);
        for n in 0..120 {
            let n = n as f64;
            sum += term / (2.0 * n + 1.0);
            term *= -x * x / (n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
