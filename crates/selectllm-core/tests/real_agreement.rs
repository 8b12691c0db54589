//! Agreement of our GSM8K extractor with the `is_correct` flags shipped with two public
//! answer-level data sets (`gsm8k-solutions`: 4 GPT-3 variants; `routellm-gsm8k`: Mixtral and
//! GPT-4). Reads the data folder (`SELECTLLM_DATA`, else `../shared/data` from the workspace
//! root) and is skipped, with a note, when it is absent: the data is never committed.
//!
//! Prints one line per model: agreement with the flags; accuracy against the GSM8K gold with
//! our extractor, with the strict last-number rule (markers ignored), and by the flags; and
//! how often a "last run of digits, commas deleted" grader reproduces the flags (our
//! reconstruction of the RouteLLM grader). `SHOW_DISAGREE=N` prints the first N disagreements.
//! Run: `cargo test -p selectllm-core --test real_agreement -- --nocapture`.

use std::collections::HashMap;
use std::path::PathBuf;

use selectllm_core::answer::{Answer, Task};

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SELECTLLM_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    dir.join("gsm8k").is_dir().then_some(dir)
}

/// One graded response: the model's text, its gold answer, the data's own verdict.
struct Graded {
    model: String,
    question: String,
    response: String,
    gold: Answer,
    is_correct: bool,
}

fn gold_by_question(dir: &std::path::Path) -> HashMap<String, Answer> {
    let text = std::fs::read_to_string(dir.join("gsm8k/test.jsonl")).expect("gsm8k test.jsonl");
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("gsm8k json line");
        let q = v["question"].as_str().expect("question").to_string();
        let a = v["answer"].as_str().expect("answer");
        let gold = Task::Gsm8k.canonical_gold(a).expect("gold number");
        out.insert(q, gold);
    }
    out
}

fn load(dir: &std::path::Path) -> Vec<Graded> {
    let golds = gold_by_question(dir);
    let mut out = Vec::new();
    let sol = std::fs::read_to_string(dir.join("gsm8k-solutions/example_model_solutions.jsonl"))
        .expect("example_model_solutions.jsonl");
    for line in sol.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("solutions json line");
        let q = v["question"].as_str().expect("question").to_string();
        let gold = golds.get(&q).cloned().expect("question joins gsm8k test");
        for m in [
            "6b_finetuning",
            "6b_verification",
            "175b_finetuning",
            "175b_verification",
        ] {
            out.push(Graded {
                model: m.to_string(),
                question: q.clone(),
                response: v[m]["solution"].as_str().expect("solution").to_string(),
                gold: gold.clone(),
                is_correct: v[m]["is_correct"].as_bool().expect("is_correct"),
            });
        }
    }
    let mut rdr = csv::Reader::from_path(dir.join("routellm-gsm8k/gsm8k_responses.csv"))
        .expect("gsm8k_responses.csv");
    let models = ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"];
    let headers = rdr.headers().expect("csv header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("csv column");
    for rec in rdr.records() {
        let rec = rec.expect("csv record");
        let q = rec[col("prompt")].to_string();
        let Some(gold) = golds.get(&q).cloned() else {
            panic!("routellm question does not join gsm8k test: {q}");
        };
        for m in models {
            out.push(Graded {
                model: m.to_string(),
                question: q.clone(),
                response: rec[col(&format!("{m}_response"))].to_string(),
                gold: gold.clone(),
                is_correct: &rec[col(m)] == "True",
            });
        }
    }
    out
}

/// The strict "last number" rule of the original code: our extractor with its markers
/// (`####`, `\boxed{`, "answer is") neutralised.
fn last_number_only(response: &str) -> Option<Answer> {
    let plain = response
        .to_ascii_lowercase()
        .replace("####", " ")
        .replace("\\boxed{", " {")
        .replace("answer is", "answer, ");
    Task::Gsm8k.extract(&plain)
}

/// What a grader taking the last run of ASCII digits after deleting commas (no sign, no
/// decimals) would read: our reconstruction of how the `routellm-gsm8k` flags were made.
fn last_digit_run(response: &str) -> Option<String> {
    let plain = response.replace(',', "");
    let end = plain.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = plain[..end]
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let run = plain[start..end].trim_start_matches('0');
    Some(if run.is_empty() { "0" } else { run }.to_string())
}

#[test]
fn gsm8k_extractor_agrees_with_published_flags() {
    let Some(dir) = data_dir() else {
        eprintln!("skipped: data folder not found (set SELECTLLM_DATA)");
        return;
    };
    let rows = load(&dir);
    // per model: agree with flag, total, correct (ours), correct (last number only),
    // agree with the flag of a "last run of ASCII digits" grader
    let mut per_model: Vec<(String, [usize; 6])> = Vec::new();
    let mut disagreements = Vec::new();
    let mut explained = 0;
    for r in &rows {
        let ours = Task::Gsm8k.extract(&r.response);
        let right = ours.as_ref() == Some(&r.gold);
        let agree = right == r.is_correct;
        let last = last_number_only(&r.response).as_ref() == Some(&r.gold);
        let digits = last_digit_run(&r.response).as_deref() == Some(r.gold.as_str());
        let idx = match per_model.iter().position(|(m, _)| *m == r.model) {
            Some(i) => i,
            None => {
                per_model.push((r.model.clone(), [0; 6]));
                per_model.len() - 1
            }
        };
        let c = &mut per_model[idx].1;
        for (slot, hit) in [
            agree,
            true,
            right,
            last,
            digits == r.is_correct,
            r.is_correct,
        ]
        .into_iter()
        .enumerate()
        {
            c[slot] += usize::from(hit);
        }
        if !agree {
            explained += usize::from(digits == r.is_correct);
            disagreements.push((r, ours));
        }
    }
    let (mut agree_all, mut total_all) = (0, 0);
    println!(
        "{:38} {:>16} {:>9} {:>9} {:>9} {:>14}",
        "model", "agree w/ flag", "acc ours", "acc last", "acc flag", "digit-grader"
    );
    for (m, [a, t, ours, last, dig, flag]) in &per_model {
        let pct = |x: &usize| 100.0 * *x as f64 / *t as f64;
        println!(
            "{m:38} {a:>5}/{t} {:>6.2}% {:>8.2}% {:>8.2}% {:>8.2}% {:>13.2}%",
            pct(a),
            pct(ours),
            pct(last),
            pct(flag),
            pct(dig)
        );
        agree_all += a;
        total_all += t;
    }
    let share = agree_all as f64 / total_all as f64;
    println!("all: {agree_all}/{total_all} ({:.2}%)", 100.0 * share);
    println!(
        "disagreements where the flag equals the digit-run grader's verdict: {explained}/{}",
        disagreements.len()
    );
    let show: usize = std::env::var("SHOW_DISAGREE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for (r, ours) in disagreements.iter().take(show) {
        println!(
            "--- {} flag={} gold={} ours={:?}\nQ: {}\n{}\n",
            r.model,
            r.is_correct,
            r.gold,
            ours.as_ref().map(Answer::as_str),
            r.question,
            r.response
        );
    }
    assert!(share > 0.99, "agreement fell to {share:.4}");
}
