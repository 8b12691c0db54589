//! Classifier training and checkpoints.

pub mod checkpoint;
pub mod lexical;
pub mod neural;
pub mod order;

use sha2::{Digest, Sha256};

use selectllm_core::dataset::RoutingDataset;

/// Questions per call when a trained classifier predicts many (evaluation's test questions,
/// the order check's held-out ones): large, because a classifier reading the embedding cache
/// opens and saves the whole cache file once per call.
pub const PREDICT_CHUNK: usize = 4096;

/// Texts and per-member targets for training or validation.
#[derive(Debug, Clone, Default)]
pub struct TrainSet<'a> {
    pub texts: Vec<&'a str>,
    pub labels: Vec<Vec<bool>>,
    pub success: Vec<Vec<f32>>,
    /// Each question's benchmark when the dataset mixes several (`Question::benchmark`).
    pub tasks: Vec<Option<&'a str>>,
}

impl<'a> TrainSet<'a> {
    /// The questions `idx` of a dataset.
    pub fn from_dataset(ds: &'a RoutingDataset, idx: &[usize]) -> Self {
        TrainSet {
            texts: idx.iter().map(|&i| ds.questions[i].text.as_str()).collect(),
            labels: idx.iter().map(|&i| ds.labels(i)).collect(),
            success: idx
                .iter()
                .map(|&i| ds.outcomes[i].iter().map(|o| o.success_rate).collect())
                .collect(),
            tasks: idx
                .iter()
                .map(|&i| ds.questions[i].benchmark.as_deref())
                .collect(),
        }
    }

    /// The questions `idx` of this set.
    pub fn subset(&self, idx: &[usize]) -> TrainSet<'a> {
        TrainSet {
            texts: idx.iter().map(|&i| self.texts[i]).collect(),
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            success: idx.iter().map(|&i| self.success[i].clone()).collect(),
            tasks: idx
                .iter()
                .map(|&i| self.tasks.get(i).copied().flatten())
                .collect(),
        }
    }

    /// This set followed by `other`.
    pub fn chain(&self, other: &TrainSet<'a>) -> TrainSet<'a> {
        let mut out = self.clone();
        out.texts.extend(&other.texts);
        out.labels.extend(other.labels.iter().cloned());
        out.success.extend(other.success.iter().cloned());
        out.tasks.extend(&other.tasks);
        out
    }

    /// Each question's targets for a neighbourhood: on a set that mixes two or more tasks, the
    /// mean success rates of the question's task over this set (one question's own outcome is
    /// noise beside its task's rate: the task's ranking of members is the signal, and a
    /// question's nearest neighbours tell its task); otherwise the question's own success.
    pub fn task_success(&self) -> Vec<Vec<f32>> {
        let mut sums: std::collections::BTreeMap<&str, (Vec<f64>, usize)> = Default::default();
        for (t, row) in self.tasks.iter().zip(&self.success) {
            if let Some(t) = t {
                let (sum, n) = sums.entry(t).or_insert_with(|| (vec![0.0; row.len()], 0));
                sum.iter_mut()
                    .zip(row)
                    .for_each(|(s, r)| *s += f64::from(*r));
                *n += 1;
            }
        }
        if sums.len() < 2 {
            return self.success.clone();
        }
        self.tasks
            .iter()
            .zip(&self.success)
            .map(|(t, row)| match t.and_then(|t| sums.get(t)) {
                Some((sum, n)) => sum.iter().map(|s| (s / *n as f64) as f32).collect(),
                None => row.clone(),
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// 0/1 labels, or success rates when `soft`.
    pub fn targets(&self, soft: bool) -> Vec<Vec<f32>> {
        if soft {
            self.success.clone()
        } else {
            self.labels
                .iter()
                .map(|r| r.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect())
                .collect()
        }
    }

    /// sha256 over texts and labels, hex: identifies the training data in a checkpoint.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (t, l) in self.texts.iter().zip(&self.labels) {
            h.update(t.as_bytes());
            h.update([0u8]);
            h.update(l.iter().map(|&b| b as u8).collect::<Vec<_>>());
            h.update([0xffu8]);
        }
        format!("{:x}", h.finalize())
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training set is empty")]
    Empty,
    #[error("{0}")]
    Other(String),
}

/// Something that turns training data into a classifier (lexical here; neural in `selectllm-neural`).
pub trait Trainer: Sync {
    /// The classifier name for reports (`lexical`, `minilm`, ...).
    fn name(&self) -> String;
    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError>;

    /// The member-order check of the last `fit`, when this trainer runs one (`order`).
    fn order_check(&self) -> Option<selectllm_core::checkpoint::OrderCheck> {
        None
    }
}

/// The lexical trainer.
#[derive(Debug, Clone, Default)]
pub struct LexicalTrainer {
    pub config: lexical::LexicalTrainConfig,
}

impl Trainer for LexicalTrainer {
    fn name(&self) -> String {
        "lexical".into()
    }
    fn fit(
        &self,
        members: &[String],
        train: &TrainSet<'_>,
        val: &TrainSet<'_>,
        seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError> {
        if train.is_empty() {
            return Err(TrainError::Empty);
        }
        let (model, report) = lexical::train(&self.config, members, train, val, seed);
        tracing::info!(?report, "lexical classifier trained");
        Ok(Box::new(model))
    }
}

/// A checkpoint trained earlier (`selectllm train`), used as is on every fold. Its members
/// must be the dataset's, in the same order.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub dir: std::path::PathBuf,
    /// Where its encoder is, when not where the checkpoint says.
    pub options: selectllm_infer::LoadOptions,
}

impl Trainer for Pretrained {
    fn name(&self) -> String {
        selectllm_infer::read_manifest(&self.dir).map_or_else(
            |_| "checkpoint".into(),
            |m| format!("{} (checkpoint)", m.kind),
        )
    }
    fn fit(
        &self,
        members: &[String],
        _train: &TrainSet<'_>,
        _val: &TrainSet<'_>,
        _seed: u64,
    ) -> Result<Box<dyn selectllm_core::Classifier>, TrainError> {
        let other = |e: selectllm_infer::CheckpointError| TrainError::Other(e.to_string());
        let loaded = selectllm_infer::load_checkpoint(&self.dir, &self.options).map_err(other)?;
        loaded
            .check_members(members, "the dataset")
            .map_err(other)?;
        Ok(Box::new(loaded.classifier))
    }
}

#[cfg(test)]
mod tests {
    use super::TrainSet;

    fn set<'a>(tasks: &[Option<&'a str>], success: &[[f32; 2]]) -> TrainSet<'a> {
        TrainSet {
            texts: vec!["q"; tasks.len()],
            labels: success
                .iter()
                .map(|r| r.map(|s| s >= 0.5).to_vec())
                .collect(),
            success: success.iter().map(|r| r.to_vec()).collect(),
            tasks: tasks.to_vec(),
        }
    }

    #[test]
    fn task_success_is_each_task_s_mean_when_tasks_mix() {
        let s = set(
            &[Some("a"), Some("a"), Some("b"), None],
            &[[1.0, 0.0], [0.0, 0.0], [0.2, 1.0], [0.7, 0.3]],
        );
        assert_eq!(
            s.task_success(),
            vec![
                vec![0.5, 0.0],
                vec![0.5, 0.0],
                vec![0.2, 1.0],
                vec![0.7, 0.3]
            ]
        );
        // one task (or none): each question keeps its own success
        let one = set(&[Some("a"), Some("a")], &[[1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(one.task_success(), one.success);
    }

    #[test]
    fn subset_and_chain_keep_tasks_aligned() {
        let s = set(
            &[Some("a"), None, Some("b")],
            &[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],
        );
        let sub = s.subset(&[2, 0]);
        assert_eq!(sub.tasks, vec![Some("b"), Some("a")]);
        assert_eq!(sub.success[0], vec![0.5, 0.5]);
        let both = sub.chain(&s.subset(&[1]));
        assert_eq!(both.tasks, vec![Some("b"), Some("a"), None]);
        assert_eq!(both.len(), 3);
        assert_eq!(both.labels.len(), 3);
    }
}
