//! Integration tests of selectllm-infer.

mod checkpoint;
mod inline;
mod neural;
mod worker;
