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
        &LoadOptions { threshold: 0.1 },
    )
    .unwrap();
    let hi = load(
        "routerdc-gsm8k",
        &data_dir(),
        &LoadOptions { threshold: 0.9 },
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
