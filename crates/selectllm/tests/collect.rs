//! The real `selectllm` binary against the in-process fake server: SIGKILLed at seeded random
//! points and restarted, the store ends with exactly one row per (question, member, sample);
//! API keys never reach logs or the store; `config check` names the field at fault.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use selectllm_lab::collect::store::Store;
use selectllm_pool::fake::{FakeServer, Fault};

const BIN: &str = env!("CARGO_BIN_EXE_selectllm");

fn write_pool(dir: &Path, server: &FakeServer, extra: &str) -> PathBuf {
    let mut t = String::new();
    for m in ["left", "right"] {
        t.push_str(&format!(
            "[[member]]\nname = \"{m}\"\nbase_url = \"{}\"\nmodel = \"{m}\"\nprompt = \"chat-cot\"\nmax_concurrency = 1\nretries = 1\nbackoff_ms = 1\n{extra}\n",
            server.base_url()
        ));
    }
    let p = dir.join("pool.toml");
    std::fs::write(&p, t).expect("write pool");
    p
}

fn write_gsm8k(dir: &Path, n: usize, text: impl Fn(usize) -> String) -> PathBuf {
    let mut s = String::new();
    for i in 0..n {
        let line = serde_json::json!({"question": text(i), "answer": format!("so #### {}", i % 5)});
        s.push_str(&format!("{line}\n"));
    }
    let p = dir.join("q.jsonl");
    std::fs::write(&p, s).expect("write questions");
    p
}

fn collect_cmd(pool: &Path, data: &Path, db: &Path, samples: u32) -> Command {
    let mut c = Command::new(BIN);
    c.args(["collect", "--pool"])
        .arg(pool)
        .arg("--dataset")
        .arg(data)
        .arg("--db")
        .arg(db)
        .args(["--samples", &samples.to_string(), "--max-tokens", "16"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn sigkill_and_restart_never_loses_or_duplicates() {
    // Every answer takes 8 ms, so a full run takes about 1.5 s: kills land mid-run.
    let server =
        FakeServer::with_script(vec![Fault::Slow(Duration::from_millis(8))]).expect("server");
    let dir = tempfile::tempdir().expect("tmp");
    let pool = write_pool(dir.path(), &server, "");
    let data = write_gsm8k(dir.path(), 60, |i| format!("Question number {i}?"));
    let db = dir.path().join("c.sqlite");
    let expected = 60 * 2 * 3;
    let mut rng: u64 = 0x5EED_0004;
    let mut seen = Vec::new();
    for _ in 0..6 {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = 60 + (rng >> 33) % 300;
        let mut child = collect_cmd(&pool, &data, &db, 3).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let (rows, keys, _) = Store::open(&db).expect("store").counts().expect("counts");
        assert_eq!(rows, keys, "a duplicated key after a kill");
        assert!(rows <= expected);
        seen.push(rows);
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "rows lost: {seen:?}");
    let status = collect_cmd(&pool, &data, &db, 3)
        .status()
        .expect("final run");
    assert!(status.success());
    let store = Store::open(&db).expect("store");
    assert_eq!(store.counts().expect("counts"), (expected, expected, 0));
    eprintln!("rows after each SIGKILL: {seen:?}, then {expected}");
}

#[test]
fn keys_never_reach_logs_or_the_store() {
    let server = FakeServer::start().expect("server");
    let dir = tempfile::tempdir().expect("tmp");
    let pool = write_pool(dir.path(), &server, "api_key_env = \"SELECTLLM_TEST_KEY\"");
    let data = write_gsm8k(dir.path(), 4, |i| {
        if i == 0 {
            "Echo my key [[fake:echo-auth]]".into()
        } else {
            format!("Plain question {i}?")
        }
    });
    let db = dir.path().join("c.sqlite");
    let secret = "sk-test-7f3a9c1e5b";
    let out = collect_cmd(&pool, &data, &db, 1)
        .env("SELECTLLM_TEST_KEY", secret)
        .arg("-vv")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("<redacted>"),
        "the echoed key is redacted: {text}"
    );
    assert!(!text.contains(secret));
    let store = Store::open(&db).expect("store");
    assert_eq!(store.counts().expect("counts"), (8, 8, 2));
    drop(store);
    for f in ["c.sqlite", "c.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f}"
            );
        }
    }
    let missing = collect_cmd(&pool, &data, &db, 1)
        .env_remove("SELECTLLM_TEST_KEY")
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("`SELECTLLM_TEST_KEY`"));
}

#[test]
fn config_check_example_and_bad_field() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pool.toml");
    let ok = Command::new(BIN)
        .args(["config", "check"])
        .arg(&root)
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[member]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\nprompt = \"chat-cot\"\nmax_concurrency = 0\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("member[0].max_concurrency"), "{err}");
}
