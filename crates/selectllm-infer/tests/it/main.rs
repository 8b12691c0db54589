//! Integration tests of selectllm-infer.

mod checkpoint;
mod worker;
