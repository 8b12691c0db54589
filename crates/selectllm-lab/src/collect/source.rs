//! Which questions to collect on: `gsm8k` / `gsm8k-train` / `mmlu` / `mmlu-dev` from the data
//! folder, or a path (a GSM8K jsonl, our routing JSONL with gold answers, an MMLU folder of csv).

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use selectllm_core::dataset::{Question, Split};

use super::CollectError;
use crate::data::{DataError, jsonl, raw};

/// Loads the questions of `spec` (a name resolved in `data_dir`, or a path).
pub fn load(spec: &str, data_dir: Option<&Path>) -> Result<Vec<Question>, CollectError> {
    let named = |rel: &str| -> Result<std::path::PathBuf, CollectError> {
        let dir = selectllm_fs::locate::data_dir(data_dir).map_err(DataError::from)?;
        Ok(dir.join(rel))
    };
    match spec {
        "gsm8k" | "gsm8k-test" => Ok(raw::gsm8k(&named("gsm8k/test.jsonl")?, Split::Test)?),
        "gsm8k-train" => Ok(raw::gsm8k(&named("gsm8k/train.jsonl")?, Split::Train)?),
        "mmlu" | "mmlu-test" => mmlu(&named("mmlu/test")?, Split::Test),
        "mmlu-dev" => mmlu(&named("mmlu/dev")?, Split::Val),
        path => from_path(Path::new(path)),
    }
}

fn mmlu(dir: &Path, split: Split) -> Result<Vec<Question>, CollectError> {
    Ok(raw::mmlu_dir(dir, split)?
        .into_iter()
        .map(|m| m.question)
        .collect())
}

fn from_path(p: &Path) -> Result<Vec<Question>, CollectError> {
    if p.is_dir() {
        return mmlu(p, Split::Test);
    }
    let text = crate::data::read_to_string(p)?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.contains(&format!("\"{}\"", jsonl::FORMAT)) {
        return Ok(jsonl::parse(p, &text)?.questions);
    }
    if first.contains("\"question\"") && first.contains("\"answer\"") {
        return Ok(raw::gsm8k(p, Split::Test)?);
    }
    Err(DataError::line(
        p,
        1,
        "not a GSM8K jsonl ({question, answer}) nor our routing JSONL (a selectllm-routing header)",
    )
    .into())
}

/// Shuffles with a seed when given (ChaCha8, Fisher-Yates), then keeps the first `limit`.
pub fn select(mut qs: Vec<Question>, shuffle: Option<u64>, limit: Option<usize>) -> Vec<Question> {
    if let Some(seed) = shuffle {
        qs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    if let Some(n) = limit {
        qs.truncate(n);
    }
    qs
}
