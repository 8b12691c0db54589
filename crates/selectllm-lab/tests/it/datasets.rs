//! Readers against the real public data: facts of the data that prove readers and labels right.

use selectllm_lab::data::jsonl;
use selectllm_lab::data::registry::{LoadOptions, load};

use super::{data_dir, synthetic};

fn accuracy(ds: &selectllm_core::RoutingDataset, idx: &[usize], m: usize) -> f64 {
    idx.iter().filter(|&&q| ds.outcomes[q][m].label).count() as f64 / idx.len() as f64
}

#[test]
fn routerdc_gsm8k_facts() {
    let ds = load("routerdc-gsm8k", &data_dir(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.members.len(), 7);
    let test = ds.split_indices(selectllm_core::Split::Test);
    let train = ds.split_indices(selectllm_core::Split::Train);
    assert_eq!((train.len(), test.len()), (1000, 1319));
    let oracle = test
        .iter()
        .filter(|&&q| ds.outcomes[q].iter().any(|o| o.label))
        .count() as f64
        / test.len() as f64;
    assert_eq!(format!("{:.1}", 100.0 * oracle), "86.1");
    let best = (0..7).map(|m| accuracy(&ds, &test, m)).fold(0.0, f64::max);
    assert_eq!(format!("{:.1}", 100.0 * best), "72.0");
    // gold answers joined from the raw GSM8K files by text
    assert!(ds.questions.iter().all(|q| q.gold.is_some()));
}

fn pct(ds: &selectllm_core::RoutingDataset, idx: &[usize], m: &str) -> String {
    let m = ds.member_index(m).unwrap();
    format!("{:.2}", 100.0 * accuracy(ds, idx, m))
}

fn mean_score(ds: &selectllm_core::RoutingDataset, idx: &[usize], m: &str) -> String {
    let m = ds.member_index(m).unwrap();
    let s: f64 = idx
        .iter()
        .map(|&q| ds.outcomes[q][m].success_rate as f64)
        .sum();
    format!("{:.2}", 100.0 * s / idx.len() as f64)
}

/// RouterDC's MMLU scores are probabilities of the gold option (correct iff > 0), so a correct
/// answer given with probability 0.3 counts as correct.
#[test]
fn routerdc_mmlu_is_a_probability_task() {
    let ds = load("routerdc-mmlu", &data_dir(), &LoadOptions::default()).unwrap();
    let test = ds.split_indices(selectllm_core::Split::Test);
    assert_eq!(test.len(), 4213);
    assert_eq!(pct(&ds, &test, "meta-llama/Meta-Llama-3-8B"), "64.59");
    assert_eq!(pct(&ds, &test, "mistralai/Mistral-7B-v0.1"), "62.14");
    assert_eq!(
        pct(&ds, &test, "cognitivecomputations/dolphin-2.9-llama3-8b"),
        "59.46"
    );
    let oracle = test
        .iter()
        .filter(|&&q| ds.outcomes[q].iter().any(|o| o.label))
        .count() as f64
        / test.len() as f64;
    assert_eq!(format!("{:.2}", 100.0 * oracle), "85.26");
    // success rates are 1/0 on a probability task
    assert!(
        ds.outcomes
            .iter()
            .flatten()
            .all(|o| o.success_rate == if o.label { 1.0 } else { 0.0 })
    );
    let info = &ds.benchmarks["mmlu"];
    assert!(!info.multi_attempt && info.label_rule.contains("score > 0"));
}

/// GSM8K scores are shares of 10 samples: label = majority right (>= 0.5), success rate = score.
#[test]
fn routerdc_gsm8k_is_a_multi_attempt_task() {
    let ds = load("routerdc-gsm8k", &data_dir(), &LoadOptions::default()).unwrap();
    let test = ds.split_indices(selectllm_core::Split::Test);
    let dolphin = "cognitivecomputations/dolphin-2.9-llama3-8b";
    let metamath = "meta-math/MetaMath-Mistral-7B";
    assert_eq!(pct(&ds, &test, dolphin), "72.02");
    assert_eq!(mean_score(&ds, &test, dolphin), "69.81");
    assert_eq!(pct(&ds, &test, metamath), "71.19");
    assert_eq!(mean_score(&ds, &test, metamath), "69.63");
    let info = &ds.benchmarks["gsm8k"];
    assert!(info.multi_attempt && info.label_rule.contains("score >= 0.5"));
    assert!(
        ds.questions
            .iter()
            .all(|q| q.benchmark.as_deref() == Some("gsm8k"))
    );
}

/// Every RouterDC file of the data folder, read by path: its label rule follows its task.
#[test]
fn every_routerdc_file_is_labelled_by_its_task() {
    let dir = data_dir().join("routerdc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 16, "{files:?}");
    let probability = [
        "mmlu",
        "cmmlu",
        "arc_challenge",
        "arc_easy",
        "ceval",
        "math_prealgebra",
    ];
    let multi = ["gsm8k", "humaneval", "mbpp", "javascript"];
    for path in files {
        let ds = load(path.to_str().unwrap(), &data_dir(), &LoadOptions::default()).unwrap();
        let raw: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (task, info) = ds.benchmarks.iter().next().unwrap();
        let is_prob = probability.contains(&task.as_str());
        assert!(
            is_prob || multi.contains(&task.as_str()),
            "{}: task `{task}`",
            path.display()
        );
        assert_eq!(info.multi_attempt, !is_prob, "{}", path.display());
        assert!(!info.label_rule.contains("assumed"), "{}", path.display());
        for (q, entry) in raw.iter().enumerate() {
            for (m, member) in ds.members.iter().enumerate() {
                let score = entry["scores"][&member.name].as_f64().unwrap();
                let o = &ds.outcomes[q][m];
                let want = if is_prob { score > 0.0 } else { score >= 0.5 };
                assert_eq!(
                    o.label,
                    want,
                    "{} entry {q} {}",
                    path.display(),
                    member.name
                );
                let rate = if is_prob {
                    want as u8 as f32
                } else {
                    score as f32
                };
                assert_eq!(o.success_rate, rate, "{} entry {q}", path.display());
            }
        }
    }
}

/// The score kind is a setting: reading MMLU as multi-attempt gives the old (wrong) labels.
#[test]
fn score_kind_override() {
    let opts = LoadOptions {
        score_kind: Some(selectllm_lab::data::routerdc::ScoreKind::MultiAttempt),
        ..LoadOptions::default()
    };
    let ds = load("routerdc-mmlu", &data_dir(), &opts).unwrap();
    let test = ds.split_indices(selectllm_core::Split::Test);
    assert_eq!(pct(&ds, &test, "meta-llama/Meta-Llama-3-8B"), "52.01");
    assert!(ds.benchmarks["mmlu"].multi_attempt);
}

#[test]
fn routerdc_mixed_protocol() {
    use selectllm_core::Split;
    let ds = load("routerdc-mixed", &data_dir(), &LoadOptions::default()).unwrap();
    let tasks = ["gsm8k", "mmlu", "cmmlu", "arc_challenge", "humaneval"];
    assert_eq!(ds.benchmark_names(), tasks);
    let count = |t: &str, s: Split| {
        ds.questions
            .iter()
            .filter(|q| q.benchmark.as_deref() == Some(t) && q.split == s)
            .count()
    };
    for t in tasks {
        // 1,000 per task: 900 training (small tasks repeated) + distinct validation
        assert_eq!(count(t, Split::Train) + count(t, Split::Val), 1000, "{t}");
    }
    assert_eq!(count("humaneval", Split::Val), 11);
    assert_eq!(count("humaneval", Split::Test), 49);
    assert_eq!(count("mmlu", Split::Test), 4213);
    assert_eq!(count("cmmlu", Split::Test), 3475);
    // no validation or test text is a training text
    let train: std::collections::HashSet<&str> = ds
        .questions
        .iter()
        .filter(|q| q.split == Split::Train)
        .map(|q| q.text.as_str())
        .collect();
    assert!(
        ds.questions
            .iter()
            .filter(|q| q.split == Split::Val)
            .all(|q| !train.contains(q.text.as_str()))
    );
    // each question keeps its task's label rule and extractor
    assert!(!ds.benchmarks["mmlu"].multi_attempt);
    assert!(ds.benchmarks["humaneval"].multi_attempt);
    let q = ds
        .questions
        .iter()
        .find(|q| q.benchmark.as_deref() == Some("gsm8k"))
        .unwrap();
    assert_eq!(q.task, selectllm_core::Task::Gsm8k);
    let ood = load("routerdc-mixed-ood", &data_dir(), &LoadOptions::default()).unwrap();
    let test_tasks: std::collections::BTreeSet<&str> = ood
        .questions
        .iter()
        .filter(|q| q.split == Split::Test)
        .filter_map(|q| q.benchmark.as_deref())
        .collect();
    assert_eq!(
        test_tasks.into_iter().collect::<Vec<_>>(),
        ["ceval", "math_prealgebra", "mbpp"]
    );
    assert_eq!(ood.split_indices(Split::Test).len(), 871 + 500 + 1346);
}

#[test]
fn routerdc_mmlu_joins_gold() {
    let ds = load("routerdc-mmlu", &data_dir(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.questions.len(), 2000 + 4213);
    assert!(
        ds.questions.iter().all(|q| q.gold.is_some()),
        "every RouterDC MMLU question is in the raw MMLU files"
    );
}

#[test]
fn label_threshold_is_a_setting() {
    let lo = load(
        "routerdc-gsm8k",
        &data_dir(),
        &LoadOptions {
            threshold: 0.1,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let hi = load(
        "routerdc-gsm8k",
        &data_dir(),
        &LoadOptions {
            threshold: 0.9,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let count = |ds: &selectllm_core::RoutingDataset| {
        ds.outcomes.iter().flatten().filter(|o| o.label).count()
    };
    assert!(count(&lo) > count(&hi));
}

#[test]
fn answer_level_pool_is_real() {
    let ds = load("gsm8k-answers", &data_dir(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.members.len(), 6);
    assert_eq!(ds.questions.len(), 1319);
    assert!(ds.answer_level());
    let all: Vec<usize> = (0..ds.questions.len()).collect();
    // GPT-4 is the strongest member and far above the 6B models
    let gpt4 = ds.member_index("gpt-4-1106-preview").unwrap();
    let small = ds.member_index("gpt3-6b-finetuning").unwrap();
    assert!(
        accuracy(&ds, &all, gpt4) > 0.85,
        "{}",
        accuracy(&ds, &all, gpt4)
    );
    assert!(accuracy(&ds, &all, small) < 0.4);
}

#[test]
fn jsonl_roundtrip() {
    let ds = synthetic(12, true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    jsonl::write(&path, &ds).unwrap();
    let back = jsonl::read(&path).unwrap();
    assert_eq!(back, ds);
    // and through the registry, by path
    let via = load(path.to_str().unwrap(), dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(via, ds);
}

#[test]
fn committed_local3_datasets_have_measured_latency() {
    for (name, n) in [("local-3-mmlu", 500), ("local-3-gsm8k", 300)] {
        let ds = load(name, &data_dir(), &LoadOptions::default()).unwrap();
        assert_eq!((ds.questions.len(), ds.members.len()), (n, 3), "{name}");
        assert!(ds.answer_level(), "{name}");
        assert!(
            ds.members
                .iter()
                .all(|m| m.latency_s.is_some_and(|l| l > 0.0)),
            "{name}"
        );
        assert!(
            ds.questions.iter().all(|q| q.gold.is_some()),
            "{name}: every question has its gold answer"
        );
    }
}
