//! Hostile use of the CLI: every bad input gets exit code 2 and one line naming the flag, file,
//! line or field at fault; secrets are never printed.

use super::{bin, check_error, run};

#[test]
fn config_check_never_prints_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let member = "[[member]]\nname = \"a\"\nmodel = \"m\"\nprompt = \"chat-cot\"\n";
    std::fs::write(
        d.join("inline.toml"),
        format!("{member}base_url = \"http://127.0.0.1:1/v1\"\napi_key = \"sk-inline-0042\"\n"),
    )
    .unwrap();
    check_error(
        &["config", "check", "inline.toml"],
        d,
        "line 6, column 1: unknown field `api_key`",
    );
    let (_, _, err) = run(bin()
        .args(["config", "check", "inline.toml"])
        .current_dir(d));
    assert!(!err.contains("sk-inline"), "{err}");
    std::fs::write(
        d.join("url.toml"),
        format!("{member}base_url = \"https://me:sk-pw-0042@api.example/v1?key=sk-q-0042\"\n"),
    )
    .unwrap();
    let (code, out, err) = run(bin().args(["config", "check", "url.toml"]).current_dir(d));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("https://<redacted>@api.example/v1?key=<redacted>"),
        "{out}"
    );
    assert!(!out.contains("sk-"), "{out}");
}

/// A routing JSONL of `n` correctness-only questions (task gsm8k, all in the test split) for
/// members a, b, c; `right(i, m)` says whether member m was right on question i.
fn routing_jsonl(name: &str, n: usize, right: impl Fn(usize, usize) -> bool) -> String {
    let mut s = format!(
        "{{\"format\":\"selectllm-routing\",\"version\":1,\"name\":\"{name}\",\"members\":[{{\"name\":\"a\"}},{{\"name\":\"b\"}},{{\"name\":\"c\"}}]}}\n"
    );
    let topics = ["apples and pears", "trains and speed", "money and change"];
    for i in 0..n {
        let outcomes: Vec<String> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let r = right(i, m);
                format!(
                    "\"{name}\":{{\"success_rate\":{},\"label\":{r}}}",
                    if r { "1.0" } else { "0.0" }
                )
            })
            .collect();
        s.push_str(&format!(
            "{{\"id\":\"q{i}\",\"text\":\"Question {i} about {}?\",\"task\":\"gsm8k\",\"split\":\"test\",\"outcomes\":{{{}}}}}\n",
            topics[i % 3],
            outcomes.join(",")
        ));
    }
    s
}

/// Exit code 2 and one line on stderr containing each of `expect`.
fn check_error_all(args: &[&str], cwd: &std::path::Path, expect: &[&str]) -> String {
    let (code, _, err) = run(bin().args(args).current_dir(cwd));
    assert_eq!(code, 2, "{args:?}: {err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: expected `{e}` in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err
}

/// `selectllm --data . eval --classifier lexical` followed by `extra`.
fn eval_lexical<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--data", ".", "eval", "--classifier", "lexical"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn flags_are_checked_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--hidden", "100000"],
            &["'--hidden <HIDDEN>'", "not in 0..=512"],
        ),
        (&["--folds", "1"], &["'--folds <FOLDS>'", "not in 2..=100"]),
        (&["--folds", "0"], &["'--folds <FOLDS>'"]),
        (&["--tau", "NaN"], &["'--tau <TAU>'", "not a finite number"]),
        (&["--tau", "2"], &["'--tau <TAU>'", "not in [0, 1]"]),
        (
            &["--label-threshold", "NaN"],
            &["'--label-threshold <LABEL_THRESHOLD>'"],
        ),
        (
            &["--label-threshold", "0"],
            &["'--label-threshold <LABEL_THRESHOLD>'", "not in (0, 1]"],
        ),
        (
            &["--order-check-folds", "1"],
            &["'--order-check-folds <ORDER_CHECK_FOLDS>'", "use 0 (off)"],
        ),
        (
            &["--task-cap", "x"],
            &["'--task-cap <TASK_CAP>'", "not a whole number"],
        ),
        (&["--lr=-1"], &["'--lr <LR>'", "not above 0"]),
        (&["--lr", "-1"], &["unexpected argument '-1'"]),
        (&["--lr", "NaN"], &["'--lr <LR>'"]),
        (
            &["--random-seeds", "0"],
            &["'--random-seeds <RANDOM_SEEDS>'"],
        ),
        (
            &["--latency", "a=-1"],
            &["'--latency <NAME=SECONDS>'", "negative"],
        ),
        (&["--latency", "a=NaN"], &["'--latency <NAME=SECONDS>'"]),
        (
            &["--default-latency", "inf"],
            &["'--default-latency <DEFAULT_LATENCY>'"],
        ),
        (
            &["--budget", "latency=-2"],
            &["'--budget <BUDGET>'", "latency -2"],
        ),
        (
            &["--budget", "speed=1"],
            &["'--budget <BUDGET>'", "unknown budget key"],
        ),
        (
            &["--char-ngrams", "4-2"],
            &["'--char-ngrams <CHAR_NGRAMS>'"],
        ),
    ];
    for (extra, expect) in cases {
        check_error_all(&eval_lexical(extra), d, expect);
    }
    // train shares the parsers: a NaN learning rate never reaches a checkpoint.
    check_error_all(
        &[
            "train",
            "--classifier",
            "lexical",
            "--lr",
            "NaN",
            "--out",
            "ck",
        ],
        d,
        &["'--lr <LR>'"],
    );
    assert!(!d.join("ck").exists());
    check_error_all(
        &["fake-server", "--chunk-delay-ms", "99999999"],
        d,
        &["'--chunk-delay-ms <CHUNK_DELAY_MS>'", "not in 0..=600000"],
    );
    let collect = [
        "collect",
        "--pool",
        "p.toml",
        "--dataset",
        "q.jsonl",
        "--db",
        "c.sqlite",
    ];
    for (extra, expect) in [
        (["--top-p=-5", "--limit=1"], "'--top-p <TOP_P>'"),
        (["--max-tokens", "0"], "'--max-tokens <MAX_TOKENS>'"),
        (["--samples", "0"], "'--samples <SAMPLES>'"),
        (["--limit", "0"], "'--limit <LIMIT>'"),
    ] {
        let args: Vec<&str> = collect.iter().chain(extra.iter()).copied().collect();
        check_error_all(&args, d, &[expect]);
    }
    check_error_all(
        &[
            "route",
            "q",
            "--checkpoint",
            "x",
            "--policy",
            "threshold:NaN",
        ],
        d,
        &["'--policy <POLICY>'"],
    );
}

#[test]
fn eval_rejects_unknown_latency_members_and_keeps_reports_inside_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Every member always right: no ROC-AUC is defined.
    std::fs::write(d.join("dots.jsonl"), routing_jsonl("..", 12, |_, _| true)).unwrap();
    let base = eval_lexical(&[
        "--dataset",
        "dots.jsonl",
        "--folds",
        "2",
        "--random-seeds",
        "2",
        "--max-s",
        "2",
    ]);
    let mut args = base.clone();
    args.extend(["--latency", "zz=3"]);
    check_error_all(&args, d, &["`zz`", "not a member", "a, b, c"]);
    let mut args = base.clone();
    args.extend(["--out", "out/inner"]);
    let (code, out, err) = run(bin().args(&args).current_dir(d));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mean ROC-AUC n/a"), "{out}");
    assert!(d.join("out/inner/_./report.json").is_file(), "{out}");
    assert!(!d.join("out/report.json").exists());
}

#[test]
fn bad_files_get_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let err = check_error_all(
        &["export", "--db", "missing.sqlite", "--out", "x.jsonl"],
        d,
        &["missing.sqlite: no such collection store"],
    );
    assert!(
        !d.join("missing.sqlite").exists(),
        "export created the store: {err}"
    );
    std::fs::write(
        d.join("text.sqlite"),
        "just some text, not SQLite at all\n".repeat(20),
    )
    .unwrap();
    let err = check_error_all(
        &["export", "--db", "text.sqlite", "--out", "x.jsonl"],
        d,
        &["text.sqlite", "file is not a database"],
    );
    assert_eq!(err.matches("file is not a database").count(), 1, "{err}");
    let err = check_error_all(
        &eval_lexical(&["--dataset", "nothere.jsonl"]),
        d,
        &["nothere"],
    );
    assert!(err.matches("(os error 2)").count() <= 1, "{err}");
    let mut dup = routing_jsonl("dup", 6, |i, m| (i + m) % 2 == 0);
    dup = dup.replace("\"id\":\"q3\"", "\"id\":\"q1\"");
    std::fs::write(d.join("dup.jsonl"), dup).unwrap();
    check_error_all(
        &eval_lexical(&["--dataset", "dup.jsonl"]),
        d,
        &["dup.jsonl:5: question `q1`: the id appears twice"],
    );
}

#[test]
fn route_reads_the_question_from_stdin_or_a_file() {
    use std::io::Write;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("r.jsonl"),
        routing_jsonl("r", 30, |i, m| (i % 3 == m) || i % 5 == 0),
    )
    .unwrap();
    let (code, _, err) = run(bin()
        .args([
            "--data",
            ".",
            "train",
            "--classifier",
            "lexical",
            "--dataset",
            "r.jsonl",
        ])
        .args(["--out", "ck"])
        .current_dir(d));
    assert_eq!(code, 0, "{err}");
    let route = |question: &[&str], stdin: &str| {
        let mut child = bin()
            .arg("route")
            .args(question)
            .args(["--checkpoint", "ck", "--policy", "maxconf:1", "--json"])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let text = "Question 7 about trains and speed?";
    let (code, direct, err) = route(&[text], "");
    assert_eq!(code, 0, "{err}");
    let (code, piped, err) = route(&["-"], text);
    assert_eq!(code, 0, "{err}");
    assert_eq!(piped, direct);
    std::fs::write(d.join("q.txt"), text).unwrap();
    assert_eq!(route(&["@q.txt"], "").1, direct);
    assert_eq!(route(&["--file", "q.txt"], "").1, direct);
    let (code, _, err) = route(&["-"], "  \n");
    assert_eq!(code, 2);
    assert!(err.contains("the question (from stdin) is empty"), "{err}");
    let (code, _, err) = route(&["@nope.txt"], "");
    assert_eq!(code, 2);
    assert!(err.contains("question file nope.txt"), "{err}");
    // A weights file that is not one: said so, with the file.
    std::fs::write(d.join("ck/weights.safetensors"), b"xx").unwrap();
    let (code, _, err) = route(&[text], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("weights.safetensors: not a valid checkpoint weights file"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A pool whose only member listens nowhere (a port just freed), and two GSM8K questions.
fn dead_pool(d: &std::path::Path) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        d.join("pool.toml"),
        format!(
            "[[member]]\nname = \"dead\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"m\"\nprompt = \"chat-cot\"\nretries = 5\nbackoff_ms = 5000\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("q.jsonl"),
        "{\"question\": \"What is 2+2?\", \"answer\": \"so #### 4\"}\n{\"question\": \"What is 3+3?\", \"answer\": \"so #### 6\"}\n",
    )
    .unwrap();
}

#[test]
fn collect_fails_fast_and_loudly_when_nothing_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    dead_pool(d);
    let args = [
        "collect",
        "--pool",
        "pool.toml",
        "--dataset",
        "q.jsonl",
        "--db",
        "c.sqlite",
        "--samples",
        "2",
    ];
    // A dry run reads and writes nothing.
    let (code, out, err) = run(bin().args(args).arg("--dry-run").current_dir(d));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run: 2 questions x 2 sample(s)"), "{out}");
    assert!(!d.join("c.sqlite").exists(), "a dry run created the store");
    // Refused connections are not retried (5 retries x 5 s backoff would take minutes), and a
    // run where every call failed exits 2. Stderr is not a terminal: no colour codes.
    let start = std::time::Instant::now();
    let (code, _, err) = run(bin()
        .args(args)
        .arg("-v")
        .env_remove("NO_COLOR")
        .current_dir(d));
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("every call failed (4 of them"), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in redirected stderr: {err:?}"
    );
    let unknown_member: Vec<&str> = args[..7]
        .iter()
        .chain(&["--members", "zz"])
        .copied()
        .collect();
    check_error_all(
        &unknown_member,
        d,
        &["--members", "unknown member `zz`", "dead"],
    );
}
