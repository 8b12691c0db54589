//! RouterDC's own protocol as datasets: one router trained on the union of five tasks.
//!
//! - `routerdc-mixed`: trains on `gsm8k-train`, `mmlu_train`, `cmmlu_train`,
//!   `arc_challenge_train`, `humaneval_train`; tests on each task's test file (in-distribution).
//! - `routerdc-mixed-ood`: the same training questions; tests on `MATH_prealgebra`, `mbpp`
//!   and `ceval`, whose tasks contribute no training question (out-of-distribution).
//!
//! Every question carries its task (`Question::benchmark`), labelled by that task's score
//! kind and read with its own answer extractor. Training questions are capped per task as
//! RouterDC's code does (`--training_samples_per_dataset 1000`: the first 1,000 of the file, a
//! smaller file repeated whole until 1,000); see [`TaskCap`]. A tenth of each task's distinct
//! training questions (every tenth, in file order) is held out for validation and never
//! repeated, so no validation question is also a training question.

use std::path::Path;

use selectllm_core::dataset::{RoutingDataset, Split};

use super::raw::attach_gold;
use super::routerdc::Labelling;
use super::{DataError, routerdc};

/// In-distribution: train on five tasks, test on the same five.
pub const MIXED: &str = "routerdc-mixed";
/// Out-of-distribution: the same router, tested on three unseen tasks.
pub const MIXED_OOD: &str = "routerdc-mixed-ood";

/// The training files (stems under `routerdc/`).
pub const TRAIN_FILES: [&str; 5] = [
    "gsm8k-train",
    "mmlu_train",
    "cmmlu_train",
    "arc_challenge_train",
    "humaneval_train",
];
/// The in-distribution test files.
pub const TEST_FILES: [&str; 5] = [
    "gsm8k-test",
    "mmlu_test",
    "cmmlu_test",
    "arc_challenge_test",
    "humaneval_test",
];
/// The out-of-distribution test files.
pub const OOD_FILES: [&str; 3] = ["MATH_prealgebra", "mbpp", "ceval"];

/// How many training questions each task contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCap {
    /// At most this many per task (`None`: every question of the file).
    pub per_task: Option<usize>,
    /// Repeat the questions of a task with fewer than `per_task` until it has that many
    /// (RouterDC's code does), so every task weighs the same in training.
    pub repeat_small: bool,
}

impl Default for TaskCap {
    /// RouterDC's setting: 1,000 per task, small tasks repeated.
    fn default() -> Self {
        TaskCap {
            per_task: Some(1000),
            repeat_small: true,
        }
    }
}

impl TaskCap {
    /// The setting in words, for the report.
    pub fn describe(&self) -> String {
        match self.per_task {
            None => "every training question of each task, no repetition".into(),
            Some(n) if self.repeat_small => format!(
                "{n} training questions per task (the first {n} in file order; smaller tasks repeated whole up to {n}, RouterDC's setting)"
            ),
            Some(n) => format!(
                "at most {n} training questions per task (the first {n} in file order; smaller tasks not repeated)"
            ),
        }
    }

    /// Indices into a file of `n` questions: `(train, val)`, train possibly with repeats.
    /// Validation takes every tenth distinct question kept by the cap.
    pub fn pick(&self, n: usize) -> (Vec<usize>, Vec<usize>) {
        let kept = self.per_task.map_or(n, |c| c.min(n));
        let (val, distinct): (Vec<usize>, Vec<usize>) = (0..kept).partition(|i| i % 10 == 9);
        let mut train = distinct.clone();
        if let (Some(cap), true) = (self.per_task, self.repeat_small) {
            // the training part fills the cap minus what validation took
            let want = cap - val.len();
            if !distinct.is_empty() {
                while train.len() < want {
                    let room = want - train.len();
                    train.extend(distinct.iter().copied().take(room));
                }
            }
        }
        (train, val)
    }
}

/// Loads `routerdc-mixed` or `routerdc-mixed-ood`: each RouterDC file labelled as
/// `labelling` says for its task, `cap` training questions per task.
pub fn load(
    name: &str,
    data_dir: &Path,
    labelling: &dyn Fn(&str) -> Labelling,
    cap: &TaskCap,
) -> Result<RoutingDataset, DataError> {
    let dir = data_dir.join("routerdc");
    let tests: &[&str] = if name == MIXED_OOD {
        &OOD_FILES
    } else {
        &TEST_FILES
    };
    let mut ds = RoutingDataset {
        name: name.to_string(),
        members: Vec::new(),
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: Default::default(),
    };
    let add = |stem: &str, split: Split, ds: &mut RoutingDataset| -> Result<(), DataError> {
        let path = dir.join(format!("{stem}.json"));
        if !path.is_file() {
            return Err(DataError::Other(format!(
                "dataset `{name}`: {} is missing (run `selectllm data pull`)",
                path.display()
            )));
        }
        let labelling = labelling(&routerdc::task_name(stem));
        let f = routerdc::read(
            &path,
            &labelling,
            Split::Test,
            &format!("{}-{}", labelling.task, split.as_str()),
        )?;
        if ds.members.is_empty() {
            ds.members = f.members.clone();
        } else if ds.members != f.members {
            return Err(DataError::file(
                &path,
                format!(
                    "members differ from {}'s: {:?}",
                    TRAIN_FILES[0],
                    f.members.iter().map(|m| &m.name).collect::<Vec<_>>()
                ),
            ));
        }
        ds.benchmarks
            .insert(labelling.task.clone(), labelling.info());
        let picks: Vec<(usize, Split, usize)> = if split == Split::Train {
            let (train, val) = cap.pick(f.questions.len());
            let mut seen = vec![0usize; f.questions.len()];
            let mut v: Vec<(usize, Split, usize)> = Vec::with_capacity(train.len() + val.len());
            for i in train {
                v.push((i, Split::Train, seen[i]));
                seen[i] += 1;
            }
            v.extend(val.into_iter().map(|i| (i, Split::Val, 0)));
            v
        } else {
            (0..f.questions.len()).map(|i| (i, split, 0)).collect()
        };
        for (i, s, copy) in picks {
            let mut q = f.questions[i].clone();
            q.split = s;
            if copy > 0 {
                q.id = format!("{}-r{copy}", q.id);
            }
            ds.questions.push(q);
            ds.outcomes.push(f.outcomes[i].clone());
        }
        Ok(())
    };
    for stem in TRAIN_FILES {
        add(stem, Split::Train, &mut ds)?;
    }
    for stem in tests {
        add(stem, Split::Test, &mut ds)?;
    }
    attach_gold(&mut ds.questions, data_dir);
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_repeats_small_tasks_and_keeps_validation_distinct() {
        let cap = TaskCap::default();
        let (train, val) = cap.pick(2000);
        assert_eq!((train.len(), val.len()), (900, 100));
        assert!(train.iter().all(|&i| i < 1000 && i % 10 != 9));
        let (train, val) = cap.pick(115);
        assert_eq!(val.len(), 11);
        assert_eq!(train.len(), 1000 - 11);
        assert!(train.iter().all(|i| !val.contains(i)));
        let no_repeat = TaskCap {
            per_task: Some(1000),
            repeat_small: false,
        };
        assert_eq!(no_repeat.pick(115).0.len(), 104);
        let all = TaskCap {
            per_task: None,
            repeat_small: true,
        };
        assert_eq!(all.pick(2000).0.len(), 1800);
    }
}
