//! The evaluation pipeline on synthetic and real data.

use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_core::vote::VoteMode;
use selectllm_lab::data::registry::{LoadOptions, load};
use selectllm_lab::eval::{EvalConfig, Report, RowKind, evaluate};
use selectllm_lab::train::{LexicalTrainer, TrainError, TrainSet, Trainer};

use super::{data_dir, synthetic};

/// A classifier that predicts each member's training label rate for every question.
struct Prior {
    members: Vec<String>,
    rate: Vec<f32>,
}

impl Classifier for Prior {
    fn name(&self) -> &str {
        "prior"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(texts.iter().map(|_| self.rate.clone()).collect())
    }
}

struct PriorTrainer;

impl Trainer for PriorTrainer {
    fn name(&self) -> String {
        "prior".into()
    }
    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        _val: &TrainSet<'_>,
        _seed: u64,
    ) -> Result<Box<dyn Classifier>, TrainError> {
        let n = train.len().max(1) as f32;
        let rate = (0..members.len())
            .map(|m| train.labels.iter().filter(|l| l[m]).count() as f32 / n)
            .collect();
        Ok(Box::new(Prior {
            members: members.to_vec(),
            rate,
        }))
    }
}

pub(super) fn quick() -> EvalConfig {
    EvalConfig {
        random_seeds: 10,
        bootstrap: 100,
        ..EvalConfig::default()
    }
}

fn row<'a>(r: &'a Report, name: &str) -> &'a selectllm_lab::eval::Row {
    r.row(name).unwrap_or_else(|| {
        panic!(
            "row {name} missing from {:?}",
            r.rows.iter().map(|r| &r.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn report_has_every_row_and_the_schema() {
    let ds = synthetic(120, true);
    let r = evaluate(&ds, &quick(), &LexicalTrainer::default(), &|_| {}).unwrap();
    let mut names: Vec<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|m| format!("single:{m}"))
        .collect();
    names.push("all".into());
    for s in 1..=3 {
        for k in [
            "best-fixed",
            "random",
            "maxconf",
            "labelledmaxconf",
            "weightedmaxconf",
        ] {
            names.push(format!("{k}:{s}"));
        }
    }
    names.extend([
        "threshold:0.5".to_string(),
        "budget:calls=3".into(),
        "oracle".into(),
    ]);
    for n in &names {
        row(&r, n);
    }
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["dataset"], "synthetic");
    for k in [
        "name",
        "mean_auc",
        "auc",
        "f1_micro",
        "f1_macro",
        "f1_weighted",
        "ece",
        "pair_acc",
        "pair_acc_prior",
    ] {
        assert!(json["classifier"].get(k).is_some(), "classifier.{k}");
    }
    for k in [
        "name",
        "accuracy",
        "calls",
        "latency_sum",
        "latency_max",
        "ci_low",
        "ci_high",
    ] {
        assert!(json["rows"][0].get(k).is_some(), "rows[].{k}");
    }
    // a real vote: no bounds
    assert!(
        r.rows
            .iter()
            .all(|r| !r.simulated && r.accuracy_low.is_none())
    );
    // the topic decides who is right, so the classifier must beat every single member
    let best_single = r
        .rows
        .iter()
        .filter(|r| r.kind == RowKind::Single)
        .map(|r| r.accuracy)
        .fold(0.0, f64::max);
    assert!(
        row(&r, "maxconf:1").accuracy > best_single + 0.2,
        "{}",
        r.markdown()
    );
    assert!(r.classifier.mean_auc.expect("defined") > 0.9);
    assert!(r.classifier.pair_acc.unwrap() > r.classifier.pair_acc_prior.unwrap());
    assert_eq!(row(&r, "oracle").accuracy, 1.0);
    assert_eq!(row(&r, "all").calls, 3.0);
    // files
    let dir = tempfile::tempdir().unwrap();
    r.write(dir.path()).unwrap();
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(back["rows"].as_array().unwrap().len(), r.rows.len());
    let csv = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    // the CSV holds the table's rows and the plans' sweep
    assert_eq!(csv.lines().count(), r.rows.len() + r.sweep.len() + 1);
    assert_eq!(back["sweep"].as_array().unwrap().len(), r.sweep.len());
}

#[test]
fn simulated_bounds_contain_the_real_vote() {
    // Real answer-level data: strip the answers, and the simulated bounds must contain the real vote.
    let real = load("gsm8k-answers", &data_dir(), &LoadOptions::default()).unwrap();
    let mut sim = real.clone();
    for row in &mut sim.outcomes {
        for o in row {
            o.answers.clear();
        }
    }
    for mode in [VoteMode::PerMember, VoteMode::Pooled] {
        let cfg = EvalConfig {
            vote: mode,
            ..quick()
        };
        let a = evaluate(&real, &cfg, &PriorTrainer, &|_| {}).unwrap();
        let b = evaluate(&sim, &cfg, &PriorTrainer, &|_| {}).unwrap();
        assert!(b.vote.starts_with("simulated") && a.vote.starts_with("real"));
        let mut checked = 0;
        // plan rows need answers: only the real data has them
        assert!(b.rows.iter().all(|r| r.kind != RowKind::Plan) && b.sweep.is_empty());
        for ra in a.rows.iter().filter(|r| r.kind != RowKind::Plan) {
            let rb = row(&b, &ra.name);
            if let (Some(lo), Some(hi)) = (rb.accuracy_low, rb.accuracy_high) {
                // per-question bounds hold, so the means do
                assert!(
                    lo <= ra.accuracy + 1e-9 && ra.accuracy <= hi + 1e-9,
                    "{}: {lo} <= {} <= {hi}",
                    ra.name,
                    ra.accuracy
                );
                checked += 1;
            } else {
                assert!(
                    (rb.accuracy - ra.accuracy).abs() < 1e-9,
                    "{} exact rows agree",
                    ra.name
                );
            }
        }
        assert!(checked >= 5, "{checked}");
        // fixed baselines break vote ties with training accuracy: a 2-member vote that holds
        // the best member is as good as that member alone
        let b1 = row(&a, "best-fixed:1").accuracy;
        assert!(
            row(&a, "best-fixed:2").accuracy >= b1 - 0.005,
            "{}",
            a.markdown()
        );
    }
}

#[test]
fn test_only_data_uses_kfold() {
    let mut ds = synthetic(60, true);
    for q in &mut ds.questions {
        q.split = selectllm_core::Split::Test;
    }
    let r = evaluate(&ds, &quick(), &PriorTrainer, &|_| {}).unwrap();
    assert!(r.protocol.starts_with("5-fold"), "{}", r.protocol);
    assert_eq!(r.n_test, 60);
}

#[test]
fn latency_settings_drive_the_latency_columns() {
    let ds = synthetic(40, true);
    let mut cfg = quick();
    cfg.latency.insert("alpha".into(), 3.0);
    let r = evaluate(&ds, &cfg, &PriorTrainer, &|_| {}).unwrap();
    assert_eq!(row(&r, "single:alpha").latency_sum, 3.0);
    assert_eq!(row(&r, "all").latency_sum, 5.0);
    assert_eq!(row(&r, "all").latency_max, 3.0);
    assert!(
        r.latency_source.contains("1 configured"),
        "{}",
        r.latency_source
    );
}

#[test]
fn per_task_figures_and_macro_average() {
    use selectllm_core::dataset::BenchmarkInfo;
    let mut ds = synthetic(120, false);
    for (i, q) in ds.questions.iter_mut().enumerate() {
        // test questions are every fourth: alternate the task by blocks of four
        q.benchmark = Some(if (i / 4) % 2 == 0 { "even" } else { "odd" }.to_string());
    }
    // "odd" is multi-attempt: its success rates are shares of samples
    for (q, row) in ds.outcomes.iter_mut().enumerate() {
        if (q / 4) % 2 == 1 {
            for o in row.iter_mut() {
                o.success_rate = if o.label { 0.7 } else { 0.2 };
            }
        }
    }
    ds.benchmarks.insert(
        "even".into(),
        BenchmarkInfo {
            label_rule: "even rule".into(),
            multi_attempt: false,
        },
    );
    ds.benchmarks.insert(
        "odd".into(),
        BenchmarkInfo {
            label_rule: "odd rule".into(),
            multi_attempt: true,
        },
    );
    let r = evaluate(&ds, &quick(), &LexicalTrainer::default(), &|_| {}).unwrap();
    assert_eq!(r.tasks.len(), 2);
    let test: Vec<usize> = ds.split_indices(selectllm_core::Split::Test);
    let m = 0;
    let single = r.row(&format!("single:{}", ds.members[m].name)).unwrap();
    let of = |t: usize| test.iter().copied().filter(move |q| (q / 4) % 2 == t);
    let n_odd = of(1).count() as f64;
    let even_acc = of(0).filter(|&q| ds.outcomes[q][m].label).count() as f64 / of(0).count() as f64;
    let odd_sample = of(1)
        .map(|q| ds.outcomes[q][m].success_rate as f64)
        .sum::<f64>()
        / n_odd;
    assert!((single.tasks["even"].accuracy - even_acc).abs() < 1e-9);
    assert_eq!(single.tasks["even"].sample_accuracy, None);
    assert!((single.tasks["odd"].sample_accuracy.unwrap() - odd_sample).abs() < 1e-6);
    let want = (even_acc + odd_sample) / 2.0;
    assert!((single.macro_accuracy.unwrap() - want).abs() < 1e-6);
    // every row carries both tasks; the oracle's sample figure is the best member's score
    assert!(r.rows.iter().all(|row| row.tasks.len() == 2));
    let oracle = r.row("oracle").unwrap();
    assert!(oracle.tasks["odd"].sample_accuracy.unwrap() <= 0.7 + 1e-9);
    // told the task: per task, the member with the best mean success on the training
    // questions (the fold's validation part included; ties to the lower index)
    let fit = ds.split_indices(selectllm_core::Split::Train);
    let task_best = r.row("task-best").expect("tasks mix");
    for (t, name) in [(0, "even"), (1, "odd")] {
        let rate = |m: usize| -> f64 {
            fit.iter()
                .filter(|&&q| (q / 4) % 2 == t)
                .map(|&q| ds.outcomes[q][m].success_rate as f64)
                .sum()
        };
        let best = (0..3).fold(0, |b, m| if rate(m) > rate(b) { m } else { b });
        let alone = r.row(&format!("single:{}", ds.members[best].name)).unwrap();
        assert_eq!(task_best.tasks[name], alone.tasks[name], "{name}");
    }
    let plain = evaluate(
        &synthetic(120, false),
        &quick(),
        &LexicalTrainer::default(),
        &|_| {},
    );
    assert!(
        plain.unwrap().row("task-best").is_none(),
        "no tasks, no row"
    );
    // the vote of all members is simulated (no answers): its macro average carries bounds,
    // a single member's is exact
    let all = r.row("all").unwrap();
    let (lo, hi) = (
        all.macro_accuracy_low.unwrap(),
        all.macro_accuracy_high.unwrap(),
    );
    assert!(lo < hi, "{lo} {hi}");
    assert!((all.macro_accuracy.unwrap() - (lo + hi) / 2.0).abs() < 1e-9);
    assert_eq!(
        (single.macro_accuracy_low, single.macro_accuracy_high),
        (None, None)
    );
    let md = r.markdown();
    assert!(md.contains("### Per task") && md.contains("odd rule") && md.contains("odd sample %"));
    assert!(
        md.contains("| macro % | macro low–high % | micro % |"),
        "{md}"
    );
    assert!(md.contains(&format!("{:.2}–{:.2}", 100.0 * lo, 100.0 * hi)));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["rows"][0]["tasks"]["odd"]["sample_accuracy"].is_number());
    assert!(json["rows"][0]["macro_accuracy"].is_number());
    let all_json = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "all");
    assert!(all_json.unwrap()["macro_accuracy_high"].is_number());
}

#[test]
fn plan_rows_keep_their_policy_answers_and_decide_sooner() {
    let ds = load("gsm8k-answers", &data_dir(), &LoadOptions::default()).unwrap();
    let mut cfg = quick();
    // distinct latency settings, so that deciding early saves time
    for (i, m) in ds.members.iter().enumerate() {
        cfg.latency.insert(m.name.clone(), 1.0 + i as f64);
    }
    let r = evaluate(&ds, &cfg, &PriorTrainer, &|_| {}).unwrap();
    let all: Vec<&selectllm_lab::eval::Row> = r.rows.iter().chain(&r.sweep).collect();
    let find = |n: &str| {
        *all.iter()
            .find(|x| x.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let mut sooner = 0;
    for e in all.iter().filter(|x| x.name.starts_with("early:")) {
        let policy = &e.name["early:".len()..];
        let (p, par) = (find(policy), find(&format!("parallel:{policy}")));
        assert!((e.accuracy - p.accuracy).abs() < 1e-12, "{}", e.name);
        assert!((e.calls - p.calls).abs() < 1e-12, "{}", e.name);
        assert!((par.accuracy - p.accuracy).abs() < 1e-12, "{}", e.name);
        assert!(e.latency_max <= par.latency_max + 1e-12, "{}", e.name);
        sooner += (e.latency_max < par.latency_max - 1e-9) as usize;
    }
    assert!(sooner >= 3, "{sooner}");
    // cascades spend fewer calls than the vote of all and are in the table and the sweep
    let c = find("cascade:a=2,k=2,max=3");
    assert!(c.calls <= 3.0 && c.calls > 1.0 && c.kind == RowKind::Plan);
    assert!(r.sweep.len() > 50);
    assert!(r.csv().contains("\"cascade:a=2,k=2,max=3\""));
    assert!(
        r.notes.iter().any(|n| n.contains("latency settings")),
        "{:?}",
        r.notes
    );
}
