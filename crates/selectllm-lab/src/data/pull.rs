//! `selectllm data pull`: downloads the public data from its upstream sources into a folder
//! laid out like `../shared/data`. Fails with a clear message when offline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{DataError, write_atomic};

const ROUTERDC: &str = "https://raw.githubusercontent.com/shuhao02/RouterDC/dadb87299f65fb8f1c1dddc30967a3907d0132dd/datasets/split2_model7";
const GSM8K: &str =
    "https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data";
const ROUTELLM: &str =
    "https://raw.githubusercontent.com/lm-sys/RouteLLM/main/routellm/evals/gsm8k";
const MMLU: &str = "https://raw.githubusercontent.com/HaeChan0305/MLILAB-FedLLM/d92730e8bacd7b3a61e551e015e40588e10234b4/data/mmlu";

const ROUTERDC_FILES: [&str; 6] = [
    "gsm8k-train.json",
    "gsm8k-test.json",
    "mmlu_train.json",
    "mmlu_test.json",
    "arc_challenge_train.json",
    "arc_challenge_test.json",
];

const MMLU_SUBJECTS: [&str; 57] = [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
];

/// Every (url, relative destination) the pull fetches.
pub fn manifest() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = Vec::new();
    for f in ROUTERDC_FILES {
        v.push((format!("{ROUTERDC}/{f}"), Path::new("routerdc").join(f)));
    }
    for f in ["train.jsonl", "test.jsonl", "example_model_solutions.jsonl"] {
        let dir = if f.starts_with("example") {
            "gsm8k-solutions"
        } else {
            "gsm8k"
        };
        v.push((format!("{GSM8K}/{f}"), Path::new(dir).join(f)));
    }
    v.push((
        format!("{ROUTELLM}/gsm8k_responses.csv"),
        Path::new("routellm-gsm8k").join("gsm8k_responses.csv"),
    ));
    for s in MMLU_SUBJECTS {
        for split in ["test", "dev"] {
            let f = format!("{s}_{split}.csv");
            v.push((
                format!("{MMLU}/{split}/{f}"),
                Path::new("mmlu").join(split).join(f),
            ));
        }
    }
    v
}

/// Downloads every file of [`manifest`] missing from `dest`. Returns how many were fetched.
pub fn pull(dest: &Path, progress: &dyn Fn(usize, usize, &str)) -> Result<usize, DataError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .build();
    let files = manifest();
    let total = files.len();
    let mut fetched = 0;
    for (i, (url, rel)) in files.into_iter().enumerate() {
        let path = dest.join(&rel);
        progress(i, total, &rel.display().to_string());
        if path.is_file() {
            continue;
        }
        let resp = agent.get(&url).call().map_err(|e| {
            DataError::Other(format!(
                "downloading {url} failed ({e}). Are you offline? Copy the data folder by hand and point --data or SELECTLLM_DATA at it"
            ))
        })?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes)
            .map_err(|e| DataError::Other(format!("downloading {url}: {e}")))?;
        write_atomic(&path, &bytes)?;
        fetched += 1;
    }
    Ok(fetched)
}
