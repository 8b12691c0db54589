//! Temperature scaling per member, expected calibration error and a reliability diagram (SVG).

use selectllm_core::classifier::sigmoid;

/// Bins of the ECE and of the reliability diagram (equal width over [0, 1]).
pub const ECE_BINS: usize = 10;

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

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bin {
    pub confidence: f64,
    pub accuracy: f64,
    pub count: usize,
}

/// Reliability bins over all (probability, 0/1 outcome) pairs.
pub fn reliability(p: &[f32], y: &[f32], bins: usize) -> Vec<Bin> {
    let mut sum_p = vec![0f64; bins];
    let mut sum_y = vec![0f64; bins];
    let mut n = vec![0usize; bins];
    for (&p, &y) in p.iter().zip(y) {
        let b = ((p.clamp(0.0, 1.0) as f64 * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p as f64;
        sum_y[b] += y as f64;
        n[b] += 1;
    }
    (0..bins)
        .map(|b| Bin {
            confidence: if n[b] > 0 {
                sum_p[b] / n[b] as f64
            } else {
                0.0
            },
            accuracy: if n[b] > 0 {
                sum_y[b] / n[b] as f64
            } else {
                0.0
            },
            count: n[b],
        })
        .collect()
}

/// Expected calibration error: sum over bins of |accuracy - confidence| x share of pairs
/// ([`ECE_BINS`] equal-width bins, every (question, member) pair counted once).
pub fn ece(p: &[f32], y: &[f32]) -> f64 {
    let total = p.len().max(1) as f64;
    reliability(p, y, ECE_BINS)
        .iter()
        .map(|b| (b.accuracy - b.confidence).abs() * b.count as f64 / total)
        .sum()
}

/// An SVG reliability diagram with one polyline per named series (e.g. before / after).
pub fn reliability_svg(title: &str, series: &[(&str, Vec<Bin>)]) -> String {
    let (w, h, m) = (420.0, 420.0, 50.0);
    let sx = |v: f64| m + v * (w - 2.0 * m);
    let sy = |v: f64| h - m - v * (h - 2.0 * m);
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" text-anchor=\"middle\">{}</text>\n",
        w / 2.0,
        escape(title)
    );
    s += &format!(
        "<rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"gray\" stroke-dasharray=\"4\"/>\n",
        w - 2.0 * m,
        h - 2.0 * m,
        sx(0.0),
        sy(0.0),
        sx(1.0),
        sy(1.0)
    );
    for t in 0..=5 {
        let v = t as f64 / 5.0;
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{v:.1}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.1}</text>\n",
            sx(v),
            h - m + 16.0,
            m - 6.0,
            sy(v) + 4.0
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted probability</text>\n<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">observed accuracy</text>\n",
        w / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    for (i, (name, bins)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        let pts: Vec<String> = bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| format!("{:.1},{:.1}", sx(b.confidence), sy(b.accuracy)))
            .collect();
        s += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>\n<text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>\n",
            pts.join(" "),
            m + 8.0,
            m + 16.0 + 16.0 * i as f64,
            escape(name)
        );
    }
    s + "</svg>\n"
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
