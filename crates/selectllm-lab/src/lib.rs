//! SelectLLM lab: everything offline around the method.
//!
//! - [`collect`]: run a pool over a benchmark into a resumable SQLite store; export to our JSONL.
//! - [`data`]: dataset readers (RouterDC, GSM8K, MMLU, answer-level GSM8K, our JSONL), the data folder setting, `data pull`.
//! - [`train`]: classifier training (lexical here; neural via `selectllm-neural`) and checkpoints.
//! - [`eval`]: metrics, baselines, policies over a test split, the report (markdown, JSON, CSV).
//! - [`plot`]: accuracy-vs-cost plots as SVG and PNG.
//! - [`run`]: the `eval` and `train` commands as library calls (evaluation with its reports and
//!   plots; a checkpoint trained on a dataset).

pub mod collect;
pub mod data;
pub mod eval;
pub mod plot;
pub mod run;
pub mod train;
