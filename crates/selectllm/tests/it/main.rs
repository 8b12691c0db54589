//! The `selectllm` binary end to end: exit codes, messages, and the commands' outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_selectllm"));
    c.env_remove("SELECTLLM_DATA").env("NO_COLOR", "1");
    c
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Bad input: exit code 2 and a one-line error naming the culprit; never a panic.
fn check_error(args: &[&str], cwd: &Path, expect: &str) {
    let (code, _, err) = run(bin().args(args).current_dir(cwd));
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected `{expect}` in: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    check_error(
        &[
            "eval",
            "--classifier",
            "lexical",
            "--data",
            "/nonexistent/dir",
        ],
        d,
        "/nonexistent/dir",
    );
    let data = data_dir();
    let data = data.to_str().unwrap();
    check_error(
        &[
            "--data",
            data,
            "eval",
            "--classifier",
            "lexical",
            "--dataset",
            "nope",
        ],
        d,
        "unknown dataset `nope`",
    );
    std::fs::write(d.join("bad.jsonl"), "{\"format\":\"selectllm-routing\",\"version\":1,\"name\":\"x\",\"members\":[{\"name\":\"a\"}]}\n{oops\n").unwrap();
    check_error(
        &[
            "--data",
            data,
            "eval",
            "--classifier",
            "lexical",
            "--dataset",
            "bad.jsonl",
        ],
        d,
        "bad.jsonl:2:",
    );
    check_error(
        &[
            "--data",
            data,
            "train",
            "--classifier",
            "minilm",
            "--preset",
            "paper",
            "--out",
            "ck",
        ],
        d,
        "--preset paper is the paper's fine-tuning recipe",
    );
    check_error(
        &["route", "hello", "--checkpoint", "missing-ckpt"],
        d,
        "missing-ckpt",
    );
    check_error(
        &[
            "route",
            "hello",
            "--checkpoint",
            "x",
            "--policy",
            "maxconf:0",
        ],
        d,
        "subset size",
    );
    check_error(
        &[
            "--data",
            data,
            "eval",
            "--classifier",
            "lexical",
            "--latency",
            "a=fast",
        ],
        d,
        "for '--latency <NAME=SECONDS>': `a=fast`: `fast` is not a number",
    );
}

#[test]
fn train_route_and_eval_with_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path().join("ck");
    let data = data_dir();
    let (code, out, err) = run(bin().args([
        "--data",
        data.to_str().unwrap(),
        "train",
        "--classifier",
        "lexical",
        "--dataset",
        "routerdc-gsm8k",
        "--out",
        ck.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote"), "{out}");
    // bagged heads train on the validation questions in turn: no in-sample AUC is claimed
    assert!(
        out.contains("validation mean ROC-AUC not measured (its 5 bagged heads"),
        "{out}"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ck.join("manifest.json")).unwrap()).unwrap();
    assert!(m["metrics"]["val_mean_auc"].is_null(), "{m}");
    assert_eq!(m["metrics"]["bags"], 5);
    let (code, out, err) = run(bin().args([
        "route",
        "Natalia sold clips to 48 of her friends in April. How many clips did she sell?",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--policy",
        "maxconf:2",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["selected"].as_array().unwrap().len(), 2);
    assert_eq!(v["probabilities"].as_object().unwrap().len(), 7);
    // the checkpoint's members do not match another dataset's
    let (code, _, err) = run(bin().args([
        "--data",
        data.to_str().unwrap(),
        "eval",
        "--classifier",
        "lexical",
        "--dataset",
        "gsm8k-answers",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("trained for members"), "{err}");
    // and matching data evaluates with it
    let out_dir = tmp.path().join("o2");
    let (code, out, err) = run(bin().args([
        "--data",
        data.to_str().unwrap(),
        "eval",
        "--classifier",
        "lexical",
        "--dataset",
        "routerdc-gsm8k",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--random-seeds",
        "5",
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("| weightedmaxconf:3 |") && out.contains("| oracle | 86.1 |"),
        "{out}"
    );
    assert!(out_dir.join("routerdc-gsm8k/report.json").is_file());
}

mod architecture;
mod hostile;
