//! Would Q8_0 dense layers help? Times candle's quantized `QMatMul` (Q8_0 weights) against the
//! f32 matmul on MiniLM's feed-forward shape at GSM8K batch size (32 questions x 57 tokens =
//! 1,824 rows, 384 -> 1,536), with the real weights of layer 0 when ENCODER_DIR is given (else
//! random), and reports the relative error of the output. Both timed in one run, alternating.
//!
//! cargo run --release -p selectllm-neural [--features avx512] --example q8_probe -- [ENCODER_DIR]
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let d = Device::Cpu;
    let w = match std::env::args().nth(1) {
        Some(dir) => {
            let t = candle_core::safetensors::load(
                std::path::Path::new(&dir).join("model.safetensors"),
                &d,
            )?;
            let key = t
                .keys()
                .find(|k| k.ends_with("layer.0.intermediate.dense.weight"))
                .ok_or("no layer.0.intermediate.dense.weight")?
                .clone();
            t[&key].to_dtype(DType::F32)?
        }
        None => (Tensor::randn(0f32, 1.0, (1536, 384), &d)? * 0.05)?,
    };
    let x = Tensor::randn(0f32, 1.0, (1824, 384), &d)?;
    let w_t = w.t()?;
    let q = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?;
    let reference = x.matmul(&w_t)?;
    let approx = q.forward(&x)?;
    let err = (&approx - &reference)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f32>()?
        .sqrt()
        / reference.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt();
    let (mut f32_s, mut q8_s) = (0.0, 0.0);
    for _ in 0..10 {
        let t = Instant::now();
        let _ = x.matmul(&w_t)?;
        f32_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = q.forward(&x)?;
        q8_s += t.elapsed().as_secs_f64();
    }
    let gflop = 2.0 * 1824.0 * 384.0 * 1536.0 / 1e9;
    println!(
        "{{\"shape\": \"1824x384x1536\", \"f32_ms\": {:.2}, \"q8_0_ms\": {:.2}, \"q8_over_f32\": {:.2}, \"f32_gflops\": {:.1}, \"q8_gflops\": {:.1}, \"q8_relative_error\": {err:.2e}}}",
        f32_s * 100.0,
        q8_s * 100.0,
        q8_s / f32_s,
        gflop * 10.0 / f32_s,
        gflop * 10.0 / q8_s
    );
    Ok(())
}
