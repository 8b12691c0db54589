//! The member order check: fallback to the constant order, the neighbourhood order, and the
//! nearest task centroid when the training questions carry tasks.

use selectllm_core::classifier::{Classifier, ClassifierError};
use selectllm_core::dataset::RoutingDataset;
use selectllm_lab::eval::evaluate;
use selectllm_lab::train::order::{OrderCheckConfig, OrderChecked, check};
use selectllm_lab::train::{LexicalTrainer, TrainError, TrainSet, Trainer};

use super::eval::quick;
use super::synthetic;

/// A classifier whose probabilities invert the truth of its training data: its member order
/// is worse than the constant one, so the order check must fall back.
struct Contrarian {
    members: Vec<String>,
}

impl Classifier for Contrarian {
    fn name(&self) -> &str {
        "contrarian"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        // member m claims topic (m + 1) % 3: always the wrong one on the synthetic data
        Ok(texts
            .iter()
            .map(|t| {
                let topic = ["geometry", "fractions", "money"]
                    .iter()
                    .position(|k| t.contains(k))
                    .unwrap_or(0);
                (0..self.members.len())
                    .map(|m| if (m + 1) % 3 == topic { 0.9 } else { 0.1 })
                    .collect()
            })
            .collect())
    }
}

struct ContrarianTrainer;

impl Trainer for ContrarianTrainer {
    fn name(&self) -> String {
        "contrarian".into()
    }
    fn fit(
        &self,
        members: &[String],
        _train: &TrainSet<'_>,
        _val: &TrainSet<'_>,
        _seed: u64,
    ) -> Result<Box<dyn Classifier>, TrainError> {
        Ok(Box::new(Contrarian {
            members: members.to_vec(),
        }))
    }
}

/// A dataset's training questions, its member names, and the check's settings with
/// `neighbours` per question (0: the neighbourhood order is not tried).
fn setup(ds: &RoutingDataset, neighbours: usize) -> (TrainSet<'_>, Vec<String>, OrderCheckConfig) {
    let idx = ds.split_indices(selectllm_core::Split::Train);
    let cfg = OrderCheckConfig {
        neighbours,
        ..OrderCheckConfig::default()
    };
    (TrainSet::from_dataset(ds, &idx), ds.member_names(), cfg)
}

#[test]
fn order_check_falls_back_only_when_the_learned_order_is_not_better() {
    let ds = synthetic(240, false);
    // the neighbourhood order is not tried here (the next test does)
    let (train, members, cfg) = setup(&ds, 0);
    let bad = check(&ContrarianTrainer, &members, &train, &cfg, 1).unwrap();
    assert!(bad.fallback, "{bad:?}");
    assert!(bad.learned_pair_accuracy < bad.constant_pair_accuracy);
    let good = check(&LexicalTrainer::default(), &members, &train, &cfg, 1).unwrap();
    assert!(!good.fallback, "{good:?}");
    assert!(good.z >= cfg.min_z);
    // wrapped: the fallback classifier ranks by the constant order, probabilities kept
    let wrapped = OrderChecked::new(Box::new(ContrarianTrainer), cfg);
    let clf = wrapped
        .fit(&members, &train, &TrainSet::default(), 1)
        .unwrap();
    assert_eq!(clf.ranking(), Some(bad.constant_order.as_slice()));
    assert_eq!(
        clf.predict("a money question").unwrap(),
        Contrarian {
            members: members.clone()
        }
        .predict("a money question")
        .unwrap()
    );
    let r = evaluate(&ds, &quick(), &wrapped, &|_| {}).unwrap();
    assert!(r.classifier.member_order[0].contains("not shown better"));
    // maxconf:1 now calls the constant order's first member on every question
    let first = &ds.members[bad.constant_order[0]].name;
    let single = r.row(&format!("single:{first}")).unwrap().accuracy;
    assert_eq!(r.row("maxconf:1").unwrap().accuracy, single);
}

#[test]
fn the_neighbourhood_order_recovers_each_topic_s_expert_when_the_learned_order_cannot() {
    // every member has the same overall rate, so the constant order cannot tell them apart;
    // each is the expert of one topic, and the contrarian classifier claims the wrong one
    let ds = synthetic(240, false);
    let (train, members, cfg) = setup(&ds, 20);
    let c = check(&ContrarianTrainer, &members, &train, &cfg, 1).unwrap();
    assert!(c.fallback, "learned order not used: {c:?}");
    let n = c.neighbourhood.clone().expect("tried");
    assert!(n.used && n.z >= cfg.min_z, "{n:?}");
    assert!(n.pair_accuracy > c.constant_pair_accuracy.max(c.learned_pair_accuracy));
    assert_eq!(n.lambda, 0.0, "the contrarian's probabilities only hurt");
    let wrapped = OrderChecked::new(Box::new(ContrarianTrainer), cfg);
    let clf = wrapped
        .fit(&members, &train, &TrainSet::default(), 1)
        .unwrap();
    assert_eq!(clf.ranking(), None, "no constant order");
    let texts = [
        "A geometry question number 1000 about geometry things",
        "A money question number 1001 about money things",
    ];
    let probs = clf.predict_batch(&texts).unwrap();
    let r = clf.rankings(&texts, &probs).unwrap();
    assert_eq!(r[0].as_ref().unwrap()[0], 0, "alpha is the geometry expert");
    assert_eq!(r[1].as_ref().unwrap()[0], 2, "gamma is the money expert");
    // evaluation ranks per question: maxconf:1 calls each topic's expert
    let rep = evaluate(&ds, &quick(), &wrapped, &|_| {}).unwrap();
    assert!(
        rep.classifier.member_order[0].contains("nearest training questions"),
        "{:?}",
        rep.classifier.member_order
    );
    let maxconf = rep.row("maxconf:1").unwrap().accuracy;
    for m in &ds.members {
        let single = rep.row(&format!("single:{}", m.name)).unwrap().accuracy;
        assert!(maxconf > single, "{maxconf} vs {} {single}", m.name);
    }
    assert_eq!(maxconf, rep.row("oracle").unwrap().accuracy);
}

#[test]
fn with_tasks_the_check_tries_the_nearest_task_centroid_and_keeps_the_simplest() {
    use selectllm_core::neighbour::Search;
    // the same topics as tasks: each task's centroid finds its expert as well as the nearest
    // questions do, and it is the simpler candidate (no neighbour count)
    let mut ds = synthetic(240, false);
    for q in &mut ds.questions {
        let topic = ["geometry", "fractions", "money"]
            .into_iter()
            .find(|t| q.text.contains(t))
            .unwrap();
        q.benchmark = Some(topic.to_string());
    }
    let (train, members, cfg) = setup(&ds, 20);
    let c = check(&ContrarianTrainer, &members, &train, &cfg, 1).unwrap();
    let n = c.neighbourhood.clone().expect("tried");
    assert!(n.used, "{n:?}");
    assert_eq!((n.search, n.lambda), (Search::TaskCentroid, 0.0), "{n:?}");
    assert!(n.z >= selectllm_lab::train::order::NEIGHBOUR_MIN_Z_WITH_TASKS);
    let wrapped = OrderChecked::new(Box::new(ContrarianTrainer), cfg);
    let clf = wrapped
        .fit(&members, &train, &TrainSet::default(), 1)
        .unwrap();
    let texts = ["geometry again, number 5000", "how much money, number 5001"];
    let probs = clf.predict_batch(&texts).unwrap();
    let r = clf.rankings(&texts, &probs).unwrap();
    assert_eq!(r[0].as_ref().unwrap()[0], 0, "alpha is the geometry expert");
    assert_eq!(r[1].as_ref().unwrap()[0], 2, "gamma is the money expert");
    // without tasks the centroid is not a candidate
    let plain = check(
        &ContrarianTrainer,
        &members,
        &TrainSet {
            tasks: vec![None; train.len()],
            ..train.clone()
        },
        &cfg,
        1,
    )
    .unwrap();
    assert_eq!(plain.neighbourhood.unwrap().search, Search::Nearest);
}
