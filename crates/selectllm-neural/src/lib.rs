//! Neural classifiers on candle: a BERT-family sentence encoder (all-MiniLM-L6-v2 by
//! default) and a multi-label head that predicts, per pool member, P(member answers correctly).
//!
//! - [`Encoder`]: local folder -> mean-pooled embeddings (CPU by default, `cuda` feature opt-in).
//! - [`EmbeddingCache`]: on-disk cache keyed by encoder hash + text hash (frozen mode).
//! - [`train`](mod@train): frozen (cached embeddings + MLP head) or fine-tuned (encoder + head end to end).
//! - [`NeuralClassifier`]: the trained model, what serving needs; implements
//!   [`selectllm_core::Classifier`]. Serving it off the async runtime with dynamic batching is
//!   `selectllm-infer`'s job. [`NeuralCheckpoint`] adds how it was trained (what a checkpoint
//!   saves); [`CachedClassifier`] reads evaluation batches through the embedding cache.
//! - [`hub::download`]: fetches an encoder from the Hugging Face hub (`hub` feature).

pub mod alloc;
pub mod bert;
pub mod cache;
pub mod calibrate;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod encoder;
pub mod error;
mod evidence;
mod finetune;
pub mod fit;
mod frozen;
pub mod head;
pub mod hub;
pub mod int8;
mod kernels;
pub mod knn;
pub mod loss;
mod manifest;
mod packed;
pub mod relative;
pub mod threads;
pub mod train;

pub use cache::{CachedClassifier, EmbeddingCache, embed_cached};
pub use calibrate::Calibration;
pub use checkpoint::{NeuralCheckpoint, TrainingRecord};
pub use classifier::NeuralClassifier;
pub use config::{LrSchedule, NeuralMode, NeuralTrainConfig, Precision, TrainExample};
pub use encoder::{Encoder, Packing, cosine};
pub use error::NeuralError;
pub use fit::FitReport;
pub use loss::{LossKind, Target};
pub use train::{Trained, train};
