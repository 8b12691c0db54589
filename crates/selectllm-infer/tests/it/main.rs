//! Integration tests of selectllm-infer.

mod worker;
