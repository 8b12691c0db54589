//! Named datasets and dataset paths: what `--dataset` accepts.
//!
//! - `routerdc-gsm8k`, `routerdc-mmlu`: RouterDC's 7-LLM scores, official train/test files.
//! - `routerdc-<stem>`: any other RouterDC file pair `<stem>_train.json` + `<stem>_test.json`
//!   (or a single `<stem>.json`, evaluated with k-fold).
//! - `gsm8k-answers`: the answer-level 6-member GSM8K pool (test only: k-fold).
//! - `local-3-gsm8k`, `local-3-mmlu`: our own data under `data/` (three local LLMs, measured
//!   latency; k-fold).
//! - a path to our `.jsonl` format, or to a RouterDC-shaped `.json` file (k-fold).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Question, RoutingDataset, Split};

use super::{DataError, answer_level, jsonl, raw, routerdc};

/// The datasets `selectllm eval` runs when none is named.
pub const DEFAULT_DATASETS: [&str; 5] = [
    "routerdc-gsm8k",
    "routerdc-mmlu",
    "gsm8k-answers",
    "local-3-gsm8k",
    "local-3-mmlu",
];

/// Settings that change how a dataset is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// RouterDC label threshold: correct when score >= this.
    pub threshold: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { threshold: 0.5 }
    }
}

/// Loads a dataset by name or path.
pub fn load(spec: &str, data_dir: &Path, opts: &LoadOptions) -> Result<RoutingDataset, DataError> {
    let as_path = PathBuf::from(spec);
    let ds = if spec.ends_with(".jsonl") {
        jsonl::read(&as_path)?
    } else if spec.ends_with(".json") {
        let task = guess_task(spec);
        let f = routerdc::read(
            &as_path,
            task,
            Split::Test,
            opts.threshold,
            &stem_of(&as_path),
        )?;
        RoutingDataset {
            name: stem_of(&as_path),
            members: f.members,
            questions: f.questions,
            outcomes: f.outcomes,
        }
    } else if spec == "gsm8k-answers" {
        answer_level::gsm8k_answers(data_dir)?
    } else if let Some(path) = committed_dataset(spec) {
        jsonl::read(&path)?
    } else if let Some(stem) = spec.strip_prefix("routerdc-") {
        routerdc_named(spec, stem, data_dir, opts)?
    } else {
        return Err(DataError::Other(format!(
            "unknown dataset `{spec}`: expected one of routerdc-gsm8k, routerdc-mmlu, routerdc-<file stem>, gsm8k-answers, local-3-mmlu, local-3-gsm8k, or a path to a .jsonl / RouterDC .json file"
        )));
    };
    ds.validate().map_err(DataError::Other)?;
    Ok(ds)
}

/// Our own datasets committed under `data/` (e.g. `local-3-mmlu` ->
/// `data/local-3/local-3-mmlu.jsonl`), looked up from the working directory, then from the
/// source tree this binary was built from.
fn committed_dataset(spec: &str) -> Option<PathBuf> {
    let family = spec.rsplit_once('-').map(|(f, _)| f)?;
    let rel = Path::new("data").join(family).join(format!("{spec}.jsonl"));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(&rel);
    [rel, built_from].into_iter().find(|p| p.is_file())
}

fn stem_of(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dataset")
        .to_string()
}

fn guess_task(name: &str) -> Task {
    let n = name.to_ascii_lowercase();
    if n.contains("gsm8k") || n.contains("math") {
        Task::Gsm8k
    } else if n.contains("mmlu") || n.contains("arc") || n.contains("ceval") {
        Task::Mmlu
    } else {
        Task::Generic
    }
}

fn routerdc_named(
    name: &str,
    stem: &str,
    data_dir: &Path,
    opts: &LoadOptions,
) -> Result<RoutingDataset, DataError> {
    let dir = data_dir.join("routerdc");
    let pairs = [
        (format!("{stem}-train.json"), format!("{stem}-test.json")),
        (format!("{stem}_train.json"), format!("{stem}_test.json")),
    ];
    let task = guess_task(stem);
    let mut ds = RoutingDataset {
        name: name.to_string(),
        members: Vec::new(),
        questions: Vec::new(),
        outcomes: Vec::new(),
    };
    let found = pairs
        .iter()
        .find(|(a, b)| dir.join(a).is_file() && dir.join(b).is_file());
    let parts: Vec<(PathBuf, Split)> = match found {
        Some((a, b)) => vec![(dir.join(a), Split::Train), (dir.join(b), Split::Test)],
        None if dir.join(format!("{stem}.json")).is_file() => {
            vec![(dir.join(format!("{stem}.json")), Split::Test)]
        }
        None => {
            return Err(DataError::Other(format!(
                "dataset `{name}`: no {}/{stem}_train.json + {stem}_test.json (or {stem}.json) in {}",
                "routerdc",
                data_dir.display()
            )));
        }
    };
    for (path, split) in parts {
        let f = routerdc::read(
            &path,
            task,
            split,
            opts.threshold,
            &format!("{stem}-{}", split.as_str()),
        )?;
        if ds.members.is_empty() {
            ds.members = f.members;
        } else if ds.member_names() != f.members.iter().map(|m| m.name.clone()).collect::<Vec<_>>()
        {
            return Err(DataError::file(
                &path,
                "members differ from the train file's",
            ));
        }
        ds.questions.extend(f.questions);
        ds.outcomes.extend(f.outcomes);
    }
    attach_gold(&mut ds.questions, task, data_dir);
    Ok(ds)
}

/// Joins gold answers from the raw GSM8K / MMLU files by question text, where they exist.
fn attach_gold(questions: &mut [Question], task: Task, data_dir: &Path) {
    let mut gold: HashMap<String, Answer> = HashMap::new();
    match task {
        Task::Gsm8k => {
            for f in ["train.jsonl", "test.jsonl"] {
                if let Ok(qs) = raw::gsm8k(&data_dir.join("gsm8k").join(f), Split::Test) {
                    gold.extend(
                        qs.into_iter()
                            .filter_map(|q| Some((q.text.trim().to_string(), q.gold?))),
                    );
                }
            }
        }
        Task::Mmlu => {
            for sub in ["test", "dev"] {
                if let Ok(qs) = raw::mmlu_dir(&data_dir.join("mmlu").join(sub), Split::Test) {
                    gold.extend(qs.into_iter().filter_map(|q| {
                        Some((q.question.text.trim().to_string(), q.question.gold?))
                    }));
                }
            }
        }
        Task::Generic => {}
    }
    let mut matched = 0usize;
    for q in questions.iter_mut() {
        if let Some(g) = gold.get(q.text.trim()) {
            q.gold = Some(g.clone());
            matched += 1;
        }
    }
    tracing::info!(
        "gold answers joined for {matched} of {} questions",
        questions.len()
    );
}
