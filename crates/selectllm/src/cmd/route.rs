//! `selectllm route`: one question through a checkpoint and a policy.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use selectllm_core::policy::{Policy, PoolInfo, ranked_order};
use selectllm_infer::{LoadOptions, load_checkpoint};

use super::values::{self, MemberSeconds};

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The question text; `-` reads it from stdin, `@PATH` from a file.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub question: Option<String>,
    /// Read the question from this file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Checkpoint folder written by `selectllm train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Encoder folder of a frozen MiniLM checkpoint (default: $SELECTLLM_ENCODER, else
    /// models/ID beside the data folder or in the user cache folder).
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Arithmetic of a MiniLM checkpoint's encoder: f32 (as trained) or int8 (faster on CPUs
    /// with AVX-512 VNNI; embeddings within quantization error, see BENCHMARKS.md).
    #[arg(long, value_name = "f32|int8", default_value = "f32")]
    pub encoder_precision: selectllm_neural::Precision,
    /// Selection policy: maxconf:S, labelledmaxconf:S, weightedmaxconf:S, threshold:TAU, budget:calls=N,latency=SEC,cost=USD.
    #[arg(long, default_value = "weightedmaxconf:3", value_parser = values::policy)]
    pub policy: Policy,
    /// Seconds per call of a member, NAME=SECONDS (repeatable; default 1 s each).
    #[arg(long = "latency", value_name = "NAME=SECONDS")]
    pub latency: Vec<MemberSeconds>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The question: the argument, stdin for `-`, or the file of `@PATH` or `--file`.
fn question(a: &RouteArgs) -> anyhow::Result<String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("question file {}", p.display()))
    };
    let (text, from) = match (&a.file, a.question.as_deref()) {
        (Some(p), _) => (read(p)?, p.display().to_string()),
        (None, Some("-")) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the question from stdin")?;
            (s, "stdin".into())
        }
        (None, Some(q)) => match q.strip_prefix('@') {
            Some(p) => (read(Path::new(p))?, p.to_string()),
            None => (q.to_string(), "the argument".into()),
        },
        (None, None) => anyhow::bail!("no question: give it as an argument, `-` or --file"),
    };
    if text.trim().is_empty() {
        anyhow::bail!("the question (from {from}) is empty");
    }
    Ok(text)
}

pub fn run(a: RouteArgs) -> anyhow::Result<()> {
    let text = question(&a)?;
    let policy = a.policy;
    let opts = LoadOptions {
        encoder_dir: a.encoder.clone(),
        encoder_precision: a.encoder_precision,
    };
    let clf = load_checkpoint(&a.checkpoint, &opts)?.classifier;
    let members = clf.members().to_vec();
    let mut pool = PoolInfo::uniform(members.len());
    for (i, seconds) in values::member_latencies(&a.latency, &members)? {
        pool.latency[i] = seconds;
    }
    let conf = clf.predict(&text)?;
    // the checkpoint's own member order for this question (constant or neighbourhood), if any
    let ranking = clf
        .rankings(&[text.as_str()], std::slice::from_ref(&conf))?
        .pop()
        .flatten();
    let sel = policy.select_ranked(&conf, &pool, ranking.as_deref());
    if a.json {
        let out = serde_json::json!({
            "policy": policy.to_string(),
            "probabilities": members
                .iter()
                .zip(&conf)
                .map(|(m, p)| (m.clone(), serde_json::json!(p)))
                .collect::<serde_json::Map<_, _>>(),
            "selected": sel.members.iter().map(|&m| members[m].clone()).collect::<Vec<_>>(),
            "ranking": ranking.as_ref().map(|r| r.iter().map(|&m| members[m].clone()).collect::<Vec<_>>()),
            "weights": sel.weights,
            "reason": sel.reason,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if ranking.is_some() {
        println!("members in the checkpoint's order for this question (not by P(ok)):");
    }
    println!("{:<50} {:>6}  selected", "member", "P(ok)");
    let order = ranked_order(&conf, &pool.latency, ranking.as_deref());
    for m in order {
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
