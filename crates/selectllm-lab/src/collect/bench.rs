//! `selectllm bench collect`: samples recorded per second by the real collector (client, extraction,
//! SQLite writer) against the in-process fake server answering instantly, on synthetic
//! GSM8K-style questions. Server and collector share the machine, as they would not in use.

use std::path::PathBuf;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Question, Split};
use selectllm_pool::fake::FakeServer;
use selectllm_pool::{Pool, Sampling};

use super::CollectError;
use super::runner::{CollectSettings, collect};
use super::store::Store;

/// Bench settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    pub questions: usize,
    pub members: usize,
    pub samples: u32,
    /// Per-member concurrency.
    pub concurrency: usize,
}

/// What the bench measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub settings: BenchSettings,
    /// Rows in the store after the run (every one committed).
    pub recorded: u64,
    pub http_requests: u64,
    pub elapsed_s: f64,
    pub per_second: f64,
}

/// Runs the bench in a fresh temporary store.
pub fn run(s: &BenchSettings) -> Result<BenchReport, CollectError> {
    let server = FakeServer::start().map_err(|e| CollectError::Io("127.0.0.1:0".into(), e))?;
    let mut toml = String::new();
    for i in 0..s.members.max(1) {
        toml.push_str(&format!(
            "[[member]]\nname = \"fake-{i}\"\nbase_url = \"{}\"\nmodel = \"fake-{i}\"\nprompt = \"chat-cot\"\nmax_concurrency = {}\nretries = 0\n\n",
            server.base_url(),
            s.concurrency
        ));
    }
    let pool = Pool::parse(&PathBuf::from("<bench>"), &toml)?;
    let questions: Vec<Question> = (0..s.questions)
        .map(|i| Question {
            id: format!("bench-{i}"),
            text: format!("Bench question {i}: what is {i} plus {}?", i % 7),
            task: Task::Gsm8k,
            gold: Some(Answer::new((i % 5).to_string())),
            split: Split::Test,
            benchmark: None,
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("selectllm-bench-{}", std::process::id()));
    let db = dir.join("bench.sqlite");
    let _ = std::fs::remove_dir_all(&dir);
    let settings = CollectSettings {
        samples: s.samples,
        sampling: Sampling {
            temperature: 0.7,
            top_p: 1.0,
            max_tokens: 64,
            seed: None,
        },
        prompt: None,
        dry_run: false,
        progress: false,
    };
    let summary = collect(&pool, &questions, &db, &settings);
    let recorded = Store::open(&db).and_then(|st| st.counts()).map(|c| c.0);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = summary?;
    let recorded = recorded?;
    Ok(BenchReport {
        settings: s.clone(),
        recorded,
        http_requests: server.requests(),
        elapsed_s: summary.elapsed_s,
        per_second: recorded as f64 / summary.elapsed_s.max(1e-9),
    })
}
