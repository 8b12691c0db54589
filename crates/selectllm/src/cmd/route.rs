//! `selectllm route`: one question through a checkpoint and a policy.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use selectllm_core::policy::{Policy, PoolInfo, confidence_order};
use selectllm_infer::{LoadOptions, load_checkpoint};

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The question text.
    pub question: String,
    /// Checkpoint folder written by `selectllm train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Selection policy: maxconf:S, labelledmaxconf:S, weightedmaxconf:S, threshold:TAU, budget:calls=N,latency=SEC,cost=USD.
    #[arg(long, default_value = "weightedmaxconf:3")]
    pub policy: String,
    /// Seconds per call of a member, NAME=SECONDS (repeatable; default 1 s each).
    #[arg(long = "latency", value_name = "NAME=SECONDS")]
    pub latency: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: RouteArgs) -> anyhow::Result<()> {
    let policy = Policy::parse(&a.policy).map_err(anyhow::Error::msg)?;
    let clf = load_checkpoint(&a.checkpoint, &LoadOptions::default())?.classifier;
    if a.question.trim().is_empty() {
        anyhow::bail!("the question is empty");
    }
    let members = clf.members().to_vec();
    let mut pool = PoolInfo::uniform(members.len());
    for kv in &a.latency {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--latency `{kv}`: expected NAME=SECONDS"))?;
        let i = members.iter().position(|m| m == k).with_context(|| {
            format!(
                "--latency: unknown member `{k}` (checkpoint members: {})",
                members.join(", ")
            )
        })?;
        pool.latency[i] = v
            .parse()
            .with_context(|| format!("--latency `{kv}`: `{v}` is not a number"))?;
    }
    let conf = clf.predict(&a.question)?;
    let sel = policy.select(&conf, &pool);
    if a.json {
        let out = serde_json::json!({
            "policy": policy.to_string(),
            "probabilities": members
                .iter()
                .zip(&conf)
                .map(|(m, p)| (m.clone(), serde_json::json!(p)))
                .collect::<serde_json::Map<_, _>>(),
            "selected": sel.members.iter().map(|&m| members[m].clone()).collect::<Vec<_>>(),
            "weights": sel.weights,
            "reason": sel.reason,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{:<50} {:>6}  selected", "member", "P(ok)");
    for m in confidence_order(&conf, &pool.latency) {
        let mark = if sel.members.contains(&m) { "  *" } else { "" };
        println!("{:<50} {:>6.3}{mark}", members[m], conf[m]);
    }
    println!(
        "\npolicy {policy}: {} ({})",
        sel.members
            .iter()
            .map(|&m| members[m].as_str())
            .collect::<Vec<_>>()
            .join(", "),
        sel.reason
    );
    Ok(())
}
