//! Temperature scaling: the temperature that minimises a validation loss. (Reliability bins
//! and the expected calibration error are core's `metrics`; the diagram is the lab's plot.)

use selectllm_core::classifier::sigmoid;

/// Mean binary cross-entropy of sigmoid(z / t) against targets `y`.
fn nll(z: &[f32], y: &[f32], t: f32) -> f64 {
    let mut s = 0.0f64;
    for (&z, &y) in z.iter().zip(y) {
        let p = sigmoid(z / t).clamp(1e-7, 1.0 - 1e-7) as f64;
        s -= y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln();
    }
    s / z.len().max(1) as f64
}

/// The temperature T in [e^-3, e^3] minimising the validation NLL of sigmoid(z / T)
/// (golden-section search on log T). 1.0 when there is nothing to fit on.
pub fn fit_temperature(z: &[f32], y: &[f32]) -> f32 {
    if z.is_empty() {
        return 1.0;
    }
    let t = fit_log_temperature(|t| nll(z, y, t));
    // Keep the identity when scaling does not help (flat or degenerate data).
    if nll(z, y, t) < nll(z, y, 1.0) {
        t
    } else {
        1.0
    }
}

/// The T in [e^-3, e^3] minimising `loss(T)`, by golden-section search on log T.
pub fn fit_log_temperature(loss: impl Fn(f32) -> f64) -> f32 {
    let f = |lt: f64| loss(lt.exp() as f32);
    let (mut a, mut b) = (-3.0f64, 3.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}
