//! The answer-level GSM8K pool: `gsm8k-solutions` (4 GPT-3 variants) and `routellm-gsm8k`
//! (Mixtral-8x7B-Instruct, GPT-4-1106) joined by question text with the GSM8K test gold
//! answers: 6 members with real extracted answers on the 1,319 test questions.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Member, Outcome, RoutingDataset, Split};
use selectllm_core::label::label_samples;

use super::{DataError, raw, read_to_string};

const SOLUTION_MODELS: [&str; 4] = [
    "6b_finetuning",
    "6b_verification",
    "175b_finetuning",
    "175b_verification",
];
const ROUTELLM_MODELS: [&str; 2] = ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"];

#[derive(Deserialize)]
struct Solution {
    solution: String,
}

/// Builds the 6-member pool from the data folder. Every question is in the test split (train
/// on it with k-fold cross-validation).
pub fn gsm8k_answers(data_dir: &Path) -> Result<RoutingDataset, DataError> {
    let gold_path = data_dir.join("gsm8k/test.jsonl");
    let gold_qs = raw::gsm8k(&gold_path, Split::Test)?;

    let sol_path = data_dir.join("gsm8k-solutions/example_model_solutions.jsonl");
    let text = read_to_string(&sol_path)?;
    let mut solutions: HashMap<String, Vec<String>> = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| DataError::line(&sol_path, i + 1, e.to_string()))?;
        let q = v
            .get("question")
            .and_then(|q| q.as_str())
            .ok_or_else(|| DataError::line(&sol_path, i + 1, "missing field `question`"))?;
        let mut texts = Vec::with_capacity(4);
        for m in SOLUTION_MODELS {
            let s: Solution = v
                .get(m)
                .cloned()
                .ok_or_else(|| DataError::line(&sol_path, i + 1, format!("missing field `{m}`")))
                .and_then(|x| {
                    serde_json::from_value(x)
                        .map_err(|e| DataError::line(&sol_path, i + 1, format!("field `{m}`: {e}")))
                })?;
            texts.push(s.solution);
        }
        solutions.insert(q.trim().to_string(), texts);
    }

    let rl_path = data_dir.join("routellm-gsm8k/gsm8k_responses.csv");
    let mut rdr =
        csv::Reader::from_path(&rl_path).map_err(|e| DataError::file(&rl_path, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| DataError::file(&rl_path, e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::file(&rl_path, format!("missing column `{name}`")))
    };
    let prompt_col = col("prompt")?;
    let resp_cols: Vec<usize> = ROUTELLM_MODELS
        .iter()
        .map(|m| col(&format!("{m}_response")))
        .collect::<Result<_, _>>()?;
    let mut routellm: HashMap<String, Vec<String>> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| DataError::line(&rl_path, i + 2, e.to_string()))?;
        let q = rec.get(prompt_col).unwrap_or("").trim().to_string();
        let resps = resp_cols
            .iter()
            .map(|&c| rec.get(c).unwrap_or("").to_string())
            .collect();
        routellm.insert(q, resps);
    }

    let members: Vec<Member> = SOLUTION_MODELS
        .iter()
        .map(|m| format!("gpt3-{}", m.replace('_', "-")))
        .chain(ROUTELLM_MODELS.iter().map(|m| m.to_string()))
        .map(Member::named)
        .collect();
    let mut ds = RoutingDataset {
        name: "gsm8k-answers".into(),
        members,
        questions: Vec::new(),
        outcomes: Vec::new(),
        benchmarks: Default::default(),
    };
    for q in gold_qs {
        let key = q.text.trim();
        let (Some(sol), Some(rl)) = (solutions.get(key), routellm.get(key)) else {
            continue;
        };
        let gold = q.gold.clone().unwrap_or_else(|| Answer::new(""));
        let row = sol
            .iter()
            .chain(rl.iter())
            .map(|resp| {
                let l = label_samples(Task::Gsm8k, &[Task::Gsm8k.extract(resp)], &gold);
                Outcome {
                    answers: l.answers,
                    success_rate: l.success_rate,
                    label: l.label,
                    ..Outcome::default()
                }
            })
            .collect();
        ds.questions.push(q);
        ds.outcomes.push(row);
    }
    if ds.questions.is_empty() {
        return Err(DataError::Other(format!(
            "no GSM8K test question of {} is in both {} and {}",
            gold_path.display(),
            sol_path.display(),
            rl_path.display()
        )));
    }
    Ok(ds)
}
