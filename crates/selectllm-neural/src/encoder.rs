//! The sentence encoder: a local BERT-family folder (config.json, model.safetensors,
//! tokenizer.json) -> mean-pooled embeddings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, BertConfig, Exec, mean_pool};
use crate::config::Precision;
use crate::error::NeuralError;

/// Texts longer than this many characters per allowed token are cut before tokenizing, which
/// bounds time and memory on huge inputs; the kept prefix always holds far more than
/// `max_len` tokens of ordinary text.
const CHARS_PER_TOKEN_CAP: usize = 32;
/// Questions per forward pass when embedding a list with padding.
pub const EMBED_BATCH: usize = 32;
/// Most tokens per forward pass when embedding a list packed (bounds memory: the largest
/// intermediate is this many rows of `intermediate_size` floats, 12.6 MB for MiniLM, per pass
/// running; passes run in parallel). With parallel passes 1,024 was no faster. 2,048
/// was 5% faster than 4,096 on 200 GSM8K or MMLU questions and as fast as 512 or 1,024; 8,192
/// was 27% slower (its 50 MB tensors pass glibc's mmap threshold, see [`crate::alloc`]).
pub const PACKED_TOKENS: usize = 2048;

/// How a batch of texts of different lengths goes through the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Packing {
    /// All tokens of the batch in one unpadded matrix, attention per text (CPU); the default.
    #[default]
    Packed,
    /// Texts sorted by length, batches of [`EMBED_BATCH`] padded to their longest text, with an
    /// attention mask (the reference path, and the only one on GPUs).
    Padded,
}

/// The files an encoder folder must hold.
pub const ENCODER_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A loaded encoder. Cheap to share behind an `Arc`, or to clone (the weights are shared);
/// `embed` takes `&self`.
#[derive(Clone)]
pub struct Encoder {
    pub(crate) model: Bert,
    pub(crate) config: BertConfig,
    tokenizer: Tokenizer,
    pub(crate) device: Device,
    max_len: usize,
    hash: String,
    dir: PathBuf,
    /// The id when not the folder's name (a fine-tuned checkpoint's `encoder/`).
    id: Option<String>,
    precision: Precision,
}

/// The raw contents of an encoder folder, read and checked once.
pub(crate) struct EncoderFiles {
    pub config: BertConfig,
    pub config_bytes: Vec<u8>,
    pub tokenizer: Tokenizer,
    pub tokenizer_bytes: Vec<u8>,
    pub tensors: HashMap<String, Tensor>,
    pub hash: String,
}

/// The device the crate computes on: the first CUDA GPU with the `cuda` feature, else the CPU.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        if let Ok(d) = Device::new_cuda(0) {
            return d;
        }
    }
    Device::Cpu
}

impl EncoderFiles {
    pub(crate) fn read(dir: &Path, max_len: usize, device: &Device) -> Result<Self, NeuralError> {
        let bad = |message: String| NeuralError::Encoder {
            dir: dir.to_path_buf(),
            message,
        };
        for f in ENCODER_FILES {
            if !dir.join(f).is_file() {
                return Err(bad(format!(
                    "missing {f} (an encoder folder needs {ENCODER_FILES:?})"
                )));
            }
        }
        let read =
            |f: &str| std::fs::read(dir.join(f)).map_err(|e| NeuralError::file(dir.join(f), e));
        let config_bytes = read("config.json")?;
        let config: BertConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            NeuralError::file(dir.join("config.json"), format!("not a BERT config: {e}"))
        })?;
        if let Some(t) = &config.model_type
            && !matches!(
                t.as_str(),
                "bert" | "roberta" | "xlm-roberta" | "distilbert" | "mpnet"
            )
        {
            return Err(bad(format!(
                "model_type {t:?} is not a BERT-family encoder"
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(bad(
                "hidden_size is not a multiple of num_attention_heads".into()
            ));
        }
        if max_len < 2 || max_len > config.max_position_embeddings {
            return Err(bad(format!(
                "max length {max_len} must be between 2 and max_position_embeddings ({})",
                config.max_position_embeddings
            )));
        }
        let tokenizer_bytes = read("tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|e| NeuralError::file(dir.join("tokenizer.json"), e))?;
        let tok_vocab = tokenizer.get_vocab_size(true);
        if tok_vocab > config.vocab_size {
            return Err(bad(format!(
                "tokenizer.json has {tok_vocab} tokens but config.json says vocab_size {}: they do not belong together",
                config.vocab_size
            )));
        }
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| NeuralError::Tokenizer(e.to_string()))?;
        let weights = read("model.safetensors")?;
        let hash = files_hash(&config_bytes, &tokenizer_bytes, &weights);
        let tensors = candle_core::safetensors::load_buffer(&weights, device)
            .map_err(|e| NeuralError::file(dir.join("model.safetensors"), e))?;
        let tensors = tensors
            .into_iter()
            .map(|(k, t)| {
                Ok((
                    k,
                    if t.dtype() == DType::F32 {
                        t
                    } else {
                        t.to_dtype(DType::F32)?
                    },
                ))
            })
            .collect::<Result<HashMap<_, _>, candle_core::Error>>()?;
        check_finite(&tensors, &dir.join("model.safetensors"))?;
        Ok(Self {
            config,
            config_bytes,
            tokenizer,
            tokenizer_bytes,
            tensors,
            hash,
        })
    }
}

/// The encoder hash: sha256 over the three files (each prefixed by its length), hex.
pub(crate) fn files_hash(config: &[u8], tokenizer: &[u8], weights: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [config, tokenizer, weights] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Encoder {
    /// [`Self::load`], read from disk once per process for the last folder and length asked for
    /// and cloned after (the weights are shared): evaluation trains a frozen-encoder classifier
    /// per fold and per cross-validation fold, and reading, hashing and checking 90 MB of
    /// weights each time was an eighth of a warm `selectllm eval`. Only for frozen use: the
    /// clones share the weights.
    pub fn load_shared(dir: &Path, max_len: usize) -> Result<Self, NeuralError> {
        static LAST: std::sync::Mutex<Option<(PathBuf, usize, Encoder)>> =
            std::sync::Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, n, enc)) = last.as_ref()
            && d == dir
            && *n == max_len
        {
            return Ok(enc.clone());
        }
        let enc = Self::load(dir, max_len)?;
        *last = Some((dir.to_path_buf(), max_len, enc.clone()));
        Ok(enc)
    }

    /// Loads an encoder folder; `max_len` caps the tokens per text (128 in the paper).
    pub fn load(dir: &Path, max_len: usize) -> Result<Self, NeuralError> {
        let device = default_device();
        let files = EncoderFiles::read(dir, max_len, &device)?;
        let vb = VarBuilder::from_tensors(files.tensors, DType::F32, &device);
        Self::from_parts(
            dir,
            files.config,
            files.tokenizer,
            files.hash,
            vb,
            device,
            max_len,
        )
    }

    pub(crate) fn from_parts(
        dir: &Path,
        config: BertConfig,
        tokenizer: Tokenizer,
        hash: String,
        vb: VarBuilder,
        device: Device,
        max_len: usize,
    ) -> Result<Self, NeuralError> {
        let model = Bert::load(vb, &config).map_err(|e| NeuralError::Encoder {
            dir: dir.to_path_buf(),
            message: format!("weights do not match config.json: {e}"),
        })?;
        Ok(Self {
            model,
            config,
            tokenizer,
            device,
            max_len,
            hash,
            dir: dir.to_path_buf(),
            id: None,
            precision: Precision::F32,
        })
    }

    /// The same encoder computing its dense layers at `precision` (packed CPU inference;
    /// the padded path and fine-tuning stay f32).
    pub fn with_precision(mut self, precision: Precision) -> Result<Self, NeuralError> {
        if precision == self.precision {
            return Ok(self);
        }
        match precision {
            Precision::Int8 => self.model.quantize_int8()?,
            Precision::F32 => {
                return Err(NeuralError::Encoder {
                    dir: self.dir.clone(),
                    message: "an int8 encoder cannot go back to f32: load it again".into(),
                });
            }
        }
        self.precision = precision;
        Ok(self)
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// sha256 over config.json, tokenizer.json and model.safetensors: the embedding-cache key.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    pub fn max_len(&self) -> usize {
        self.max_len
    }
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The model's id, what a checkpoint names it by: the folder name (e.g.
    /// `all-MiniLM-L6-v2`, also for a folder given as `.`), or the id it was loaded under.
    pub fn model_id(&self) -> Option<String> {
        if let Some(id) = &self.id {
            return Some(id.clone());
        }
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        name(&self.dir).or_else(|| {
            std::fs::canonicalize(&self.dir)
                .ok()
                .as_deref()
                .and_then(name)
        })
    }
    pub(crate) fn set_model_id(&mut self, id: Option<String>) {
        self.id = id;
    }
    pub(crate) fn set_hash(&mut self, hash: String) {
        self.hash = hash;
    }

    /// Token ids per text, truncated to `max_len` (with the special tokens).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, NeuralError> {
        let cap = self.max_len.saturating_mul(CHARS_PER_TOKEN_CAP).max(4096);
        texts
            .iter()
            .map(|t| {
                let t = match t.char_indices().nth(cap) {
                    Some((i, _)) => &t[..i],
                    None => t,
                };
                let enc = self
                    .tokenizer
                    .encode(t, true)
                    .map_err(|e| NeuralError::Tokenizer(e.to_string()))?;
                Ok(enc.get_ids().to_vec())
            })
            .collect()
    }

    /// Pads a batch of token ids into (ids, mask) tensors.
    pub(crate) fn batch_tensors(&self, ids: &[&[u32]]) -> Result<(Tensor, Tensor), NeuralError> {
        let len = ids.iter().map(|i| i.len()).max().unwrap_or(1).max(1);
        let mut flat = Vec::with_capacity(ids.len() * len);
        let mut mask = Vec::with_capacity(ids.len() * len);
        for row in ids {
            flat.extend_from_slice(row);
            flat.extend(std::iter::repeat_n(0u32, len - row.len()));
            mask.extend(std::iter::repeat_n(1f32, row.len()));
            mask.extend(std::iter::repeat_n(0f32, len - row.len()));
        }
        let ids = Tensor::from_vec(flat, (ids.len(), len), &self.device)?;
        let mask = Tensor::from_vec(mask, (ids.dim(0)?, len), &self.device)?;
        Ok((ids, mask))
    }

    /// Mean-pooled states (batch, hidden) for already tokenized texts.
    pub(crate) fn pooled(&self, ids: &[&[u32]], exec: Exec) -> Result<Tensor, NeuralError> {
        let (ids, mask) = self.batch_tensors(ids)?;
        let states = self.model.forward(&ids, &mask, exec)?;
        Ok(mean_pool(&states, &mask)?)
    }

    /// Mean-pooled embeddings, one per text, in input order ([`Packing::Packed`] on the CPU).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NeuralError> {
        self.embed_with(texts, Packing::default())
    }

    /// [`Self::embed`] with a chosen [`Packing`]; packed falls back to padded off the CPU.
    pub fn embed_with(
        &self,
        texts: &[&str],
        packing: Packing,
    ) -> Result<Vec<Vec<f32>>, NeuralError> {
        let ids = self.tokenize(texts)?;
        self.embed_tokens(&ids, packing)
    }

    /// Embeddings of already tokenized texts (see [`Self::tokenize`]), in input order.
    pub fn embed_tokens(
        &self,
        ids: &[Vec<u32>],
        packing: Packing,
    ) -> Result<Vec<Vec<f32>>, NeuralError> {
        // The passes run on one of rayon's workers: every parallel kernel inside them (gemm,
        // attention) then forks from a worker, instead of each operation being handed over
        // from this thread, which blocks until it is done (measured: single questions 18-25%
        // faster).
        rayon::scope(|_| match packing {
            Packing::Packed if self.device.is_cpu() => self.embed_packed(ids),
            _ => self.embed_padded(ids),
        })
    }

    /// Packed passes of at most [`PACKED_TOKENS`] tokens (at least one text), run in parallel,
    /// results in input order.
    fn embed_packed(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        let mut passes = Vec::new();
        let mut start = 0;
        while start < ids.len() {
            let mut end = start + 1;
            let mut tokens = ids[start].len();
            while end < ids.len() && tokens + ids[end].len() <= PACKED_TOKENS {
                tokens += ids[end].len();
                end += 1;
            }
            passes.push(start..end);
            start = end;
        }
        let run = |r: &std::ops::Range<usize>| -> Result<Vec<Vec<f32>>, NeuralError> {
            let batch: Vec<&[u32]> = ids[r.clone()].iter().map(Vec::as_slice).collect();
            Ok(self.model.embed_packed(&batch, &self.device)?)
        };
        // passes in parallel too: the kernels inside one pass fork and join at every layer, and
        // two passes side by side keep both cores busier (routerdc-mmlu, 512 questions batched:
        // 9.7 -> 8.7 ms per question; the embeddings are the same to the bit)
        let done: Vec<Vec<Vec<f32>>> = passes.par_iter().map(run).collect::<Result<_, _>>()?;
        Ok(done.into_iter().flatten().collect())
    }

    /// Texts sorted by length and embedded in padded batches of [`EMBED_BATCH`].
    fn embed_padded(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, NeuralError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); ids.len()];
        for chunk in order.chunks(EMBED_BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let rows = self.pooled(&batch, Exec::Infer)?.to_vec2::<f32>()?;
            for (&i, row) in chunk.iter().zip(rows) {
                out[i] = row;
            }
        }
        Ok(out)
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot = crate::kernels::dot(a, b);
    let na = crate::kernels::dot(a, a).sqrt();
    let nb = crate::kernels::dot(b, b).sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Refuses weights holding NaN or infinity (a model that would predict NaN and select every
/// member), naming the first such tensor (in name order, so the message is stable).
pub(crate) fn check_finite(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), NeuralError> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &tensors[name];
        if !t.dtype().is_float() {
            continue;
        }
        let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(NeuralError::file(
                path,
                format!("tensor `{name}` holds a non-finite value ({v})"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_weights_are_refused_naming_the_tensor() {
        let dev = candle_core::Device::Cpu;
        let mut m = HashMap::new();
        m.insert(
            "b1".to_string(),
            Tensor::new(&[0.5f32, -1.0], &dev).unwrap(),
        );
        m.insert("ids".to_string(), Tensor::new(&[3u32, 4], &dev).unwrap());
        let path = Path::new("ck/head.safetensors");
        check_finite(&m, path).expect("finite weights pass");
        m.insert(
            "w1".to_string(),
            Tensor::new(&[1.0f32, f32::NAN], &dev).unwrap(),
        );
        let e = check_finite(&m, path).unwrap_err().to_string();
        assert!(
            e.contains("ck/head.safetensors") && e.contains("tensor `w1`") && e.contains("NaN"),
            "{e}"
        );
        m.insert(
            "a".to_string(),
            Tensor::new(&[f32::INFINITY], &dev).unwrap(),
        );
        let e = check_finite(&m, path).unwrap_err().to_string();
        assert!(e.contains("tensor `a`") && e.contains("inf"), "{e}");
    }
}
