//! The weight-free lexical classifier: hashed word and character n-grams, TF-IDF weighted and
//! L2-normalised, into a multi-label head (linear, or one hidden ReLU layer). Inference only;
//! `selectllm-lab` trains it and reads/writes its checkpoints.

use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, ClassifierError, sigmoid};

/// Featurizer and head shape. Stored in the checkpoint manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexicalConfig {
    /// log2 of the hashed feature space.
    pub dim_bits: u32,
    /// Word n-gram orders, inclusive (e.g. 1..=2).
    pub word_ngrams: (usize, usize),
    /// Character n-gram orders within word boundaries, inclusive; (0, 0) disables them.
    pub char_ngrams: (usize, usize),
    /// 1 + ln(tf) instead of raw counts.
    pub sublinear_tf: bool,
    /// Hidden units of the head; 0 for a linear (logistic) head.
    pub hidden: usize,
}

impl Default for LexicalConfig {
    fn default() -> Self {
        LexicalConfig {
            dim_bits: 18,
            word_ngrams: (1, 2),
            char_ngrams: (2, 4),
            sublinear_tf: true,
            hidden: 0,
        }
    }
}

impl LexicalConfig {
    pub fn dim(&self) -> usize {
        1usize << self.dim_bits
    }
}

/// A sparse feature vector, indices sorted and unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

/// Hashed term counts of a text, before IDF weighting.
pub fn term_counts(cfg: &LexicalConfig, text: &str) -> SparseVec {
    let mask = (cfg.dim() - 1) as u64;
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut hashes: Vec<u32> = Vec::with_capacity(words.len() * 8);
    // Word n-grams; digits of a number are also seen as a shape token (`<num3>` for 3 digits).
    let shaped: Vec<String> = words
        .iter()
        .map(|w| {
            if w.chars().all(|c| c.is_ascii_digit()) {
                format!("<num{}>", w.len().min(6))
            } else {
                (*w).to_string()
            }
        })
        .collect();
    let (lo, hi) = cfg.word_ngrams;
    for n in lo.max(1)..=hi {
        for win in shaped.windows(n) {
            let mut h = Fnv::new(b'w' ^ n as u8);
            for w in win {
                h.write(w.as_bytes());
                h.write(b" ");
            }
            hashes.push((h.finish() & mask) as u32);
        }
    }
    for w in &words {
        if w.chars().all(|c| c.is_ascii_digit()) {
            let mut h = Fnv::new(b'd');
            h.write(w.as_bytes());
            hashes.push((h.finish() & mask) as u32);
        }
    }
    let (clo, chi) = cfg.char_ngrams;
    if clo > 0 {
        let mut buf: Vec<char> = Vec::new();
        for w in &words {
            buf.clear();
            buf.push(' ');
            buf.extend(w.chars());
            buf.push(' ');
            for n in clo..=chi {
                if n > buf.len() {
                    break;
                }
                for win in buf.windows(n) {
                    let mut h = Fnv::new(b'c' ^ (n as u8).wrapping_mul(7));
                    for c in win {
                        h.write(&(*c as u32).to_le_bytes());
                    }
                    hashes.push((h.finish() & mask) as u32);
                }
            }
        }
    }
    hashes.sort_unstable();
    let mut out = SparseVec::default();
    for h in hashes {
        if out.idx.last() == Some(&h) {
            *out.val.last_mut().expect("val follows idx") += 1.0;
        } else {
            out.idx.push(h);
            out.val.push(1.0);
        }
    }
    out
}

/// FNV-1a, 64 bit: stable across platforms and versions (checkpoints depend on it).
struct Fnv(u64);

impl Fnv {
    fn new(ns: u8) -> Self {
        let mut f = Fnv(0xcbf2_9ce4_8422_2325);
        f.write(&[ns]);
        f
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        // final avalanche so that the low bits used by the mask are well mixed
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// The multi-label head's parameters, row-major with the input dimension outermost so a
/// sparse input touches contiguous rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub d_in: usize,
    /// 0 for linear.
    pub hidden: usize,
    pub n_out: usize,
    /// Linear: d_in x n_out. MLP: d_in x hidden.
    pub w1: Vec<f32>,
    /// Linear: n_out. MLP: hidden.
    pub b1: Vec<f32>,
    /// MLP only: hidden x n_out.
    pub w2: Vec<f32>,
    /// MLP only: n_out.
    pub b2: Vec<f32>,
}

impl Head {
    pub fn zeros(d_in: usize, hidden: usize, n_out: usize) -> Self {
        if hidden == 0 {
            Head {
                d_in,
                hidden,
                n_out,
                w1: vec![0.0; d_in * n_out],
                b1: vec![0.0; n_out],
                w2: Vec::new(),
                b2: Vec::new(),
            }
        } else {
            Head {
                d_in,
                hidden,
                n_out,
                w1: vec![0.0; d_in * hidden],
                b1: vec![0.0; hidden],
                w2: vec![0.0; hidden * n_out],
                b2: vec![0.0; n_out],
            }
        }
    }

    /// First layer pre-activations (linear head: the logits).
    pub fn layer1(&self, x: &SparseVec) -> Vec<f32> {
        let width = if self.hidden == 0 {
            self.n_out
        } else {
            self.hidden
        };
        let mut z = self.b1.clone();
        for (&j, &v) in x.idx.iter().zip(&x.val) {
            let row = &self.w1[j as usize * width..(j as usize + 1) * width];
            for (zk, wk) in z.iter_mut().zip(row) {
                *zk += v * wk;
            }
        }
        z
    }

    /// Logits for one sparse input.
    pub fn logits(&self, x: &SparseVec) -> Vec<f32> {
        let z = self.layer1(x);
        if self.hidden == 0 {
            return z;
        }
        let mut out = self.b2.clone();
        for (k, &zk) in z.iter().enumerate() {
            let h = zk.max(0.0);
            if h == 0.0 {
                continue;
            }
            let row = &self.w2[k * self.n_out..(k + 1) * self.n_out];
            for (o, w) in out.iter_mut().zip(row) {
                *o += h * w;
            }
        }
        out
    }
}

/// A trained lexical classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalModel {
    pub members: Vec<String>,
    pub config: LexicalConfig,
    /// Inverse document frequency per hashed feature (length `config.dim()`).
    pub idf: Vec<f32>,
    pub head: Head,
    /// Per-member temperature applied to logits (1.0 = none).
    pub temperature: Vec<f32>,
}

impl LexicalModel {
    /// TF-IDF features of a text, L2-normalised.
    pub fn featurize(&self, text: &str) -> SparseVec {
        featurize_with(&self.config, &self.idf, text)
    }

    pub fn logits(&self, text: &str) -> Vec<f32> {
        let x = self.featurize(text);
        let mut z = self.head.logits(&x);
        for (zi, t) in z.iter_mut().zip(&self.temperature) {
            *zi /= t.max(1e-3);
        }
        z
    }
}

/// Inverse document frequencies, smoothed as scikit-learn: ln((1 + n) / (1 + df)) + 1.
pub fn fit_idf(cfg: &LexicalConfig, texts: &[&str]) -> Vec<f32> {
    let mut df = vec![0u32; cfg.dim()];
    for t in texts {
        for &j in &term_counts(cfg, t).idx {
            df[j as usize] += 1;
        }
    }
    let n = texts.len() as f32;
    df.into_iter()
        .map(|d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
        .collect()
}

/// TF-IDF features given a config and IDF vector, L2-normalised.
pub fn featurize_with(cfg: &LexicalConfig, idf: &[f32], text: &str) -> SparseVec {
    let mut x = term_counts(cfg, text);
    let mut norm = 0.0f32;
    for (j, v) in x.idx.iter().zip(x.val.iter_mut()) {
        let tf = if cfg.sublinear_tf { 1.0 + v.ln() } else { *v };
        *v = tf * idf.get(*j as usize).copied().unwrap_or(1.0);
        norm += *v * *v;
    }
    if norm > 0.0 {
        let inv = norm.sqrt().recip();
        x.val.iter_mut().for_each(|v| *v *= inv);
    }
    x
}

impl Classifier for LexicalModel {
    fn name(&self) -> &str {
        "lexical"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        texts
            .iter()
            .map(|t| {
                if t.trim().is_empty() {
                    return Err(ClassifierError::EmptyInput);
                }
                Ok(self.logits(t).into_iter().map(sigmoid).collect())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_sorted_and_deterministic() {
        let cfg = LexicalConfig::default();
        let a = term_counts(&cfg, "Janet has 16 ducks, Janet sells 9.");
        let b = term_counts(&cfg, "Janet has 16 ducks, Janet sells 9.");
        assert_eq!(a, b);
        assert!(a.idx.windows(2).all(|w| w[0] < w[1]));
        assert!(a.val.iter().any(|&v| v >= 2.0), "janet appears twice");
    }

    #[test]
    fn linear_head_forward() {
        let mut h = Head::zeros(4, 0, 2);
        h.w1[2 * 2 + 1] = 2.0;
        h.b1 = vec![0.5, -0.5];
        let x = SparseVec {
            idx: vec![2],
            val: vec![1.5],
        };
        assert_eq!(h.logits(&x), vec![0.5, 2.5]);
    }
}
