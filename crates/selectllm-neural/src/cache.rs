//! On-disk embedding cache for frozen mode: one file per (encoder hash, max length), holding
//! sha256(text) -> embedding. A second run with the same encoder does not re-encode.
//!
//! File layout (little endian): magic `SLEMB1\n\0`, u32 dim, then records of 32 key bytes
//! followed by `dim` f32 values. Written atomically and durably (`selectllm_fs::write_atomic`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use selectllm_core::classifier::{Classifier, ClassifierError, Probabilities};

use crate::classifier::NeuralClassifier;
use crate::config::Precision;
use crate::encoder::Encoder;
use crate::error::NeuralError;

const MAGIC: &[u8; 8] = b"SLEMB1\n\0";
/// Texts encoded between two progress reports.
const PROGRESS_CHUNK: usize = 256;

type Key = [u8; 32];

/// Embeddings of one encoder, loaded from and saved to one file.
pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    map: HashMap<Key, Vec<f32>>,
}

fn key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

impl EmbeddingCache {
    /// The cache file for `encoder` inside `dir` (created when missing).
    pub fn open(dir: &Path, encoder: &Encoder) -> Result<Self, NeuralError> {
        // f32 keeps the name it always had; other precisions give other embeddings
        let precision = match encoder.precision() {
            Precision::F32 => String::new(),
            p => format!("-{}", p.name()),
        };
        let name = format!(
            "emb-{}-L{}{precision}.bin",
            &encoder.hash()[..16],
            encoder.max_len()
        );
        let path = dir.join(name);
        let dim = encoder.dim();
        let mut map = HashMap::new();
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| NeuralError::file(&path, e))?;
            let corrupt = |why: &str| {
                NeuralError::file(
                    &path,
                    format!("corrupt embedding cache ({why}); delete the file"),
                )
            };
            if bytes.len() < 12 || &bytes[..8] != MAGIC {
                return Err(corrupt("bad header"));
            }
            let file_dim = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
            if file_dim != dim {
                return Err(corrupt("dimension differs from the encoder"));
            }
            let rec = 32 + 4 * dim;
            let body = &bytes[12..];
            if body.len() % rec != 0 {
                return Err(corrupt("truncated record"));
            }
            for r in body.chunks_exact(rec) {
                let mut k = [0u8; 32];
                k.copy_from_slice(&r[..32]);
                let v = r[32..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                map.insert(k, v);
            }
        }
        Ok(Self { path, dim, map })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Embeddings for `texts`, encoding only the ones not cached yet, then saving the file.
    pub fn embed(
        &mut self,
        encoder: &Encoder,
        texts: &[&str],
        progress: &dyn Fn(&str),
    ) -> Result<Vec<Vec<f32>>, NeuralError> {
        let keys: Vec<Key> = texts.iter().map(|t| key(t)).collect();
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !self.map.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            let total = missing.len();
            for (n, chunk) in missing.chunks(PROGRESS_CHUNK).enumerate() {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
                let vecs = encoder.embed(&batch)?;
                for (&i, v) in chunk.iter().zip(vecs) {
                    self.map.insert(keys[i], v);
                }
                progress(&format!(
                    "encoded {}/{total} texts",
                    (n * PROGRESS_CHUNK + chunk.len()).min(total)
                ));
            }
            self.save()?;
        }
        keys.iter()
            .map(|k| {
                self.map
                    .get(k)
                    .cloned()
                    .ok_or_else(|| NeuralError::Data("embedding missing after encoding".into()))
            })
            .collect()
    }

    /// Writes the whole cache atomically.
    pub fn save(&self) -> Result<(), NeuralError> {
        let mut buf = Vec::with_capacity(12 + self.map.len() * (32 + 4 * self.dim));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(self.dim as u32).to_le_bytes());
        let mut keys: Vec<&Key> = self.map.keys().collect();
        keys.sort();
        for k in keys {
            buf.extend_from_slice(k);
            for x in &self.map[k] {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        Ok(selectllm_fs::write_atomic(&self.path, &buf)?)
    }
}

/// Embeddings of `texts`, through the on-disk cache when `cache_dir` is set.
pub fn embed_cached(
    encoder: &Encoder,
    cache_dir: Option<&Path>,
    texts: &[&str],
    progress: &dyn Fn(&str),
) -> Result<Vec<Vec<f32>>, NeuralError> {
    match cache_dir {
        Some(dir) => EmbeddingCache::open(dir, encoder)?.embed(encoder, texts, progress),
        None => {
            let mut out = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(256) {
                out.extend(encoder.embed(chunk)?);
                progress(&format!("encoded {}/{} texts", out.len(), texts.len()));
            }
            Ok(out)
        }
    }
}

/// Smallest batch that [`CachedClassifier`] reads through the cache (smaller ones are encoded
/// directly: opening the cache file costs more than they do).
pub const CACHED_BATCH: usize = 16;

/// A classifier whose batches of [`CACHED_BATCH`] or more questions read and fill the on-disk
/// embedding cache in `dir`, so a second evaluation does not re-encode. For evaluation and
/// training runs; serving never writes the cache.
pub struct CachedClassifier {
    pub inner: NeuralClassifier,
    pub dir: PathBuf,
}

impl CachedClassifier {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        if texts.len() < CACHED_BATCH || texts.iter().any(|t| t.trim().is_empty()) {
            return self.inner.embed_for_prediction(texts);
        }
        Ok(embed_cached(
            self.inner.encoder(),
            Some(&self.dir),
            texts,
            &|_| (),
        )?)
    }
}

impl Classifier for CachedClassifier {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn members(&self) -> &[String] {
        self.inner.members()
    }

    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(self.inner.predict_embedded(&self.embed(texts)?)?.0)
    }

    fn predict_batch_with_uncalibrated(
        &self,
        texts: &[&str],
    ) -> Result<Probabilities, ClassifierError> {
        Ok(self.inner.predict_embedded(&self.embed(texts)?)?)
    }
}
