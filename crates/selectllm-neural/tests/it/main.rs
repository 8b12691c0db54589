//! Integration tests of selectllm-neural. The real all-MiniLM-L6-v2 encoder is loaded once
//! (`encoder()`) and shared, so the suite stays fast on 2 cores.

use std::path::PathBuf;
use std::sync::OnceLock;

use selectllm_neural::Encoder;

mod calibrate;
mod encoder;
mod portable;
mod train;

/// The shared model folder (`SELECTLLM_ENCODER` overrides it).
pub fn encoder_dir() -> PathBuf {
    if let Ok(p) = std::env::var("SELECTLLM_ENCODER") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/all-MiniLM-L6-v2")
}

pub fn encoder() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| match Encoder::load(&encoder_dir(), 128) {
        Ok(e) => e,
        Err(e) => panic!("the test encoder must load: {e}"),
    })
}
