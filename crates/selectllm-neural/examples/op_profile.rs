//! Times the encoder's main CPU operations at GSM8K batch size (32 x 100 tokens).
use candle_core::{D, Device, Tensor};
use std::time::Instant;
fn main() -> candle_core::Result<()> {
    let d = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (3200, 384), &d)?;
    let w = Tensor::randn(0f32, 1.0, (384, 1536), &d)?;
    let h = x.matmul(&w)?;
    let t = Instant::now();
    for _ in 0..5 {
        let _ = x.matmul(&w)?;
    }
    println!(
        "matmul 3200x384x1536: {:.2} ms",
        t.elapsed().as_secs_f64() * 200.0
    );
    let t = Instant::now();
    for _ in 0..5 {
        let _ = h.gelu_erf()?;
    }
    println!(
        "gelu_erf 3200x1536: {:.2} ms",
        t.elapsed().as_secs_f64() * 200.0
    );
    let t = Instant::now();
    for _ in 0..5 {
        let _ = h.gelu()?;
    }
    println!("gelu tanh: {:.2} ms", t.elapsed().as_secs_f64() * 200.0);
    let q = Tensor::randn(0f32, 1.0, (32, 12, 100, 32), &d)?;
    let k = q.t()?.contiguous()?;
    let t = Instant::now();
    for _ in 0..5 {
        let _ = q.matmul(&k)?;
    }
    println!(
        "attn scores 32x12x100x32x100: {:.2} ms",
        t.elapsed().as_secs_f64() * 200.0
    );
    let s = q.matmul(&k)?;
    let t = Instant::now();
    for _ in 0..5 {
        let _ = candle_nn::ops::softmax_last_dim(&s)?;
    }
    println!("softmax: {:.2} ms", t.elapsed().as_secs_f64() * 200.0);
    let t = Instant::now();
    for _ in 0..5 {
        let _ = s.matmul(&q)?;
    }
    println!("attn ctx: {:.2} ms", t.elapsed().as_secs_f64() * 200.0);
    let t = Instant::now();
    for _ in 0..5 {
        let _ = q.transpose(1, 2)?.contiguous()?;
    }
    println!("transpose: {:.2} ms", t.elapsed().as_secs_f64() * 200.0);
    let _ = D::Minus1;
    Ok(())
}
