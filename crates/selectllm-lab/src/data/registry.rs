//! Named datasets and dataset paths: what `--dataset` accepts.
//!
//! - `routerdc-gsm8k`, `routerdc-mmlu`: RouterDC's 7-LLM scores, official train/test files.
//! - `routerdc-<stem>`: any other RouterDC file pair `<stem>_train.json` + `<stem>_test.json`
//!   (or a single `<stem>.json`, evaluated with k-fold).
//! - `gsm8k-answers`: the answer-level 6-member GSM8K pool (test only: k-fold).
//! - `local-3-gsm8k`, `local-3-mmlu`: our own data under `data/` (three local LLMs, measured
//!   latency; k-fold).
//! - `routerdc-mixed`, `routerdc-mixed-ood`: RouterDC's own protocol, one router trained on
//!   five tasks (see `data::mixed`).
//! - a path to our `.jsonl` format, or to a RouterDC-shaped `.json` file (k-fold).
//!
//! RouterDC files are labelled by their task's score kind (`data::routerdc::ScoreKind`).

use std::path::{Path, PathBuf};

use selectllm_core::dataset::{RoutingDataset, Split};

use super::mixed::{self, TaskCap};
use super::raw::attach_gold;
use super::routerdc::{Labelling, ScoreKind};
use super::{DataError, answer_level, jsonl, routerdc};

/// The datasets `selectllm eval` runs when none is named.
pub const DEFAULT_DATASETS: [&str; 6] = [
    "routerdc-gsm8k",
    "routerdc-mmlu",
    "routerdc-mixed",
    "gsm8k-answers",
    "local-3-gsm8k",
    "local-3-mmlu",
];

/// Settings that change how a dataset is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Label threshold of RouterDC multi-attempt scores: correct when score >= this.
    pub threshold: f64,
    /// The score kind of every RouterDC file read, overriding the one its task implies
    /// (`None`: by task; unknown tasks are read as multi-attempt, which the report says).
    pub score_kind: Option<ScoreKind>,
    /// Training questions per task of the mixed datasets.
    pub task_cap: TaskCap,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            threshold: 0.5,
            score_kind: None,
            task_cap: TaskCap::default(),
        }
    }
}

impl LoadOptions {
    /// How to label the RouterDC file of `task`.
    pub fn labelling(&self, task: &str) -> Labelling {
        Labelling::for_task(task, self.score_kind, self.threshold)
    }
}

/// Loads a dataset by name or path.
pub fn load(spec: &str, data_dir: &Path, opts: &LoadOptions) -> Result<RoutingDataset, DataError> {
    let as_path = PathBuf::from(spec);
    let ds = if spec.ends_with(".jsonl") {
        jsonl::read(&as_path)?
    } else if spec.ends_with(".json") {
        let labelling = opts.labelling(&routerdc::task_name(&stem_of(&as_path)));
        let f = routerdc::read(&as_path, &labelling, Split::Test, &stem_of(&as_path))?;
        RoutingDataset {
            name: stem_of(&as_path),
            members: f.members,
            questions: f.questions,
            outcomes: f.outcomes,
            benchmarks: [(labelling.task.clone(), labelling.info())].into(),
        }
    } else if spec == "gsm8k-answers" {
        answer_level::gsm8k_answers(data_dir)?
    } else if let Some(path) = committed_dataset(spec) {
        jsonl::read(&path)?
    } else if spec == mixed::MIXED || spec == mixed::MIXED_OOD {
        mixed::load(spec, data_dir, &|task| opts.labelling(task), &opts.task_cap)?
    } else if let Some(stem) = spec.strip_prefix("routerdc-") {
        routerdc_named(spec, stem, data_dir, opts)?
    } else {
        return Err(DataError::Other(format!(
            "unknown dataset `{spec}`: expected one of routerdc-gsm8k, routerdc-mmlu, routerdc-mixed, routerdc-mixed-ood, routerdc-<file stem>, gsm8k-answers, local-3-mmlu, local-3-gsm8k, or a path to a .jsonl / RouterDC .json file"
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
    let labelling = opts.labelling(&routerdc::task_name(stem));
    let mut ds = RoutingDataset {
        name: name.to_string(),
        members: Vec::new(),
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: [(labelling.task.clone(), labelling.info())].into(),
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
            &labelling,
            split,
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
    attach_gold(&mut ds.questions, data_dir);
    Ok(ds)
}
