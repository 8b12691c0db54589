//! Task detection by nearest centroid: each task's training questions, as the L2-normalised
//! TF-IDF vectors of [`crate::lexical`], averaged and normalised into one direction per task;
//! a question belongs to the task whose direction is closest (cosine). On RouterDC's mixed
//! protocol this tells MMLU from ARC-Challenge where the nearest questions do not (their topics
//! overlap; their formats do not, and a centroid weighs format features every question of a
//! task shares). [`crate::neighbour::Neighbourhood`] holds one when its training questions
//! carry two or more tasks, and answers with the detected task's success rates.

use crate::lexical::SparseVec;

/// One dense unit vector per task and each task's mean success rate per member.
#[derive(Debug, Clone)]
pub struct TaskCentroids {
    /// `tasks x dim`, each row of norm 1 (or all zero for a task without features).
    directions: Vec<Vec<f32>>,
    /// `tasks x members`: mean success of the task's questions.
    rates: Vec<Vec<f32>>,
    /// Tasks with training questions (the others never win).
    present: Vec<bool>,
}

impl TaskCentroids {
    /// Centroids of `vectors` (each question's features) grouped by `task_of` (task index per
    /// question, below `n_tasks`), in a feature space of `dim`, with the mean of each group's
    /// `success` rows. `None` when fewer than two tasks have questions or the lengths differ.
    pub fn build(
        dim: usize,
        n_tasks: usize,
        vectors: &[SparseVec],
        task_of: &[u32],
        success: &[Vec<f32>],
    ) -> Option<Self> {
        if vectors.len() != task_of.len() || success.len() != task_of.len() {
            return None;
        }
        let members = success.first().map_or(0, Vec::len);
        let mut directions = vec![vec![0f32; dim]; n_tasks];
        let mut sums = vec![vec![0f64; members]; n_tasks];
        let mut counts = vec![0usize; n_tasks];
        for ((x, &t), row) in vectors.iter().zip(task_of).zip(success) {
            let t = t as usize;
            if t >= n_tasks || row.len() != members {
                return None;
            }
            for (&j, &v) in x.idx.iter().zip(&x.val) {
                if let Some(d) = directions[t].get_mut(j as usize) {
                    *d += v;
                }
            }
            sums[t]
                .iter_mut()
                .zip(row)
                .for_each(|(s, r)| *s += f64::from(*r));
            counts[t] += 1;
        }
        if counts.iter().filter(|&&c| c > 0).count() < 2 {
            return None;
        }
        for d in &mut directions {
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                d.iter_mut().for_each(|v| *v /= norm);
            }
        }
        let rates = sums
            .iter()
            .zip(&counts)
            .map(|(s, &n)| s.iter().map(|v| (v / n.max(1) as f64) as f32).collect())
            .collect();
        let present = counts.iter().map(|&c| c > 0).collect();
        Some(TaskCentroids {
            directions,
            rates,
            present,
        })
    }

    /// The task whose direction is closest to `x` (ties to the lower index); tasks without
    /// training questions never win.
    pub fn nearest(&self, x: &SparseVec) -> usize {
        let mut best = (0usize, f32::NEG_INFINITY);
        for (t, d) in self.directions.iter().enumerate() {
            if !self.present[t] {
                continue;
            }
            let s: f32 = x
                .idx
                .iter()
                .zip(&x.val)
                .map(|(&j, &v)| v * d.get(j as usize).copied().unwrap_or(0.0))
                .sum();
            if s > best.1 {
                best = (t, s);
            }
        }
        best.0
    }

    /// The detected task's mean success rate per member.
    pub fn rates(&self, x: &SparseVec) -> &[f32] {
        &self.rates[self.nearest(x)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVec {
        let norm = pairs.iter().map(|p| p.1 * p.1).sum::<f32>().sqrt();
        SparseVec {
            idx: pairs.iter().map(|p| p.0).collect(),
            val: pairs.iter().map(|p| p.1 / norm).collect(),
        }
    }

    #[test]
    fn the_shared_format_feature_decides_where_the_topics_overlap() {
        // task 0's questions share feature 0 (its format), task 1's share feature 1; topics
        // (features 2..6) are spread over both
        let mut vectors = Vec::new();
        let mut task_of = Vec::new();
        let mut success = Vec::new();
        for i in 0..20u32 {
            let t = i % 2;
            vectors.push(sv(&[(t, 1.0), (2 + i % 4, 0.5)]));
            task_of.push(t);
            success.push(if t == 0 {
                vec![1.0, 0.0]
            } else {
                vec![0.25, 0.75]
            });
        }
        let c = TaskCentroids::build(8, 2, &vectors, &task_of, &success).unwrap();
        // a task-1 question about task 0's favourite topic: its own task's format wins
        let q = sv(&[(1, 1.0), (2, 0.5)]);
        assert_eq!(c.nearest(&q), 1);
        assert_eq!(c.rates(&q), &[0.25, 0.75]);
        assert_eq!(c.nearest(&sv(&[(0, 1.0), (3, 0.5)])), 0);
        // no shared feature at all: ties to the lower index
        assert_eq!(c.nearest(&sv(&[(7, 1.0)])), 0);
    }

    #[test]
    fn one_task_or_mismatched_lengths_build_nothing() {
        let v = vec![sv(&[(0, 1.0)]), sv(&[(1, 1.0)])];
        let s = vec![vec![1.0], vec![0.0]];
        assert!(TaskCentroids::build(4, 2, &v, &[0, 0], &s).is_none());
        assert!(TaskCentroids::build(4, 2, &v, &[0], &s).is_none());
        assert!(TaskCentroids::build(4, 1, &v, &[0, 1], &s).is_none());
        assert!(TaskCentroids::build(4, 2, &v, &[0, 1], &s).is_some());
        // a task without questions never wins, not even a tie
        let c = TaskCentroids::build(4, 3, &v, &[1, 2], &s).unwrap();
        assert_eq!(c.nearest(&sv(&[(3, 1.0)])), 1);
    }
}
