//! How datasets are read: the flags `eval` and `train` share.

use clap::Args;

use selectllm_lab::data::mixed::TaskCap;
use selectllm_lab::data::registry::LoadOptions;
use selectllm_lab::data::routerdc::ScoreKind;

use super::values;

/// Dataset reading.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reading datasets")]
pub struct LoadArgs {
    /// Label threshold of RouterDC multi-attempt scores (GSM8K, HumanEval, MBPP, HumanEval-JS):
    /// a member is correct when its score (share of correct samples) is at least this.
    #[arg(long, default_value_t = 0.5, value_parser = values::share)]
    pub label_threshold: f64,
    /// What the scores of every RouterDC file mean, overriding the task's own kind:
    /// `probability` (correct iff score > 0) or `multi-attempt` (correct iff score >=
    /// --label-threshold). Default: by task (MMLU, CMMLU, ARC, C-Eval, MATH prealgebra are
    /// probability tasks; GSM8K, HumanEval, MBPP, HumanEval-JS multi-attempt).
    #[arg(long, value_name = "KIND", value_parser = parse_score_kind)]
    pub score_kind: Option<ScoreKind>,
    /// Training questions per task of `routerdc-mixed*` (0: every question).
    #[arg(long, default_value_t = 1000, value_parser = values::count::<0, 10_000_000>)]
    pub task_cap: usize,
    /// Repeat tasks with fewer training questions than --task-cap up to it (RouterDC's setting).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub repeat_small_tasks: bool,
}

fn parse_score_kind(s: &str) -> Result<ScoreKind, String> {
    s.parse()
}

impl LoadArgs {
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            threshold: self.label_threshold,
            score_kind: self.score_kind,
            task_cap: TaskCap {
                per_task: (self.task_cap > 0).then_some(self.task_cap),
                repeat_small: self.repeat_small_tasks,
            },
        }
    }
}
