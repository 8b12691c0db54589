//! Integration tests of selectllm-infer.

mod checkpoint;
mod neural;
mod worker;
