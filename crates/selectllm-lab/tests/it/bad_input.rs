//! Bad input: errors that name the file, line or field; never a panic.

use std::path::Path;

use selectllm_lab::data::jsonl;
use selectllm_lab::data::registry::{LoadOptions, load};

use super::synthetic;

fn err_of(path: &Path) -> String {
    load(
        path.to_str().unwrap(),
        path.parent().unwrap(),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn malformed_jsonl_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    let mut text = jsonl::to_string(&synthetic(5, true));
    text.push_str("{not json\n");
    std::fs::write(&path, text).unwrap();
    let e = err_of(&path);
    assert!(e.contains("d.jsonl:7:"), "{e}");
}

#[test]
fn unknown_member_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    let text = jsonl::to_string(&synthetic(3, true)).replace("\"gamma\":{", "\"delta\":{");
    std::fs::write(&path, text).unwrap();
    let e = err_of(&path);
    assert!(e.contains("d.jsonl:2:") && e.contains("gamma"), "{e}");
}

#[test]
fn empty_dataset_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    let header = jsonl::to_string(&synthetic(1, true));
    std::fs::write(&path, header.lines().next().unwrap()).unwrap();
    let e = err_of(&path);
    assert!(e.contains("no questions"), "{e}");
    std::fs::write(&path, "").unwrap();
    assert!(err_of(&path).contains("empty file"));
}

#[test]
fn routerdc_shape_errors_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.json");
    std::fs::write(
        &path,
        r#"[{"question":"a","scores":{"m1":0.5,"m2":1}},{"question":"b","scores":{"m1":0.5}}]"#,
    )
    .unwrap();
    let e = err_of(&path);
    assert!(
        e.contains("x.json") && e.contains("entry 1") && e.contains("m2"),
        "{e}"
    );
    std::fs::write(&path, r#"[{"question":"a","scores":{"m1":1.5}}]"#).unwrap();
    assert!(err_of(&path).contains("outside [0, 1]"));
    std::fs::write(&path, "[{\"question\": 3}]").unwrap();
    assert!(err_of(&path).contains("x.json:1"));
}

#[test]
fn missing_data_folder_is_clear() {
    let e =
        selectllm_fs::locate::data_dir(Some(Path::new("/nonexistent/selectllm-data"))).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/selectllm-data"), "{e}");
    let e = load("no-such-dataset", Path::new("."), &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("unknown dataset `no-such-dataset`"),
        "{e}"
    );
}

#[test]
fn mmlu_bad_answer_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x_test.csv");
    std::fs::write(
        &path,
        "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,1\nq2,a,b,c,d,7\n",
    )
    .unwrap();
    let e = selectllm_lab::data::raw::mmlu_csv(&path, selectllm_core::Split::Test, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x_test.csv:3") && e.contains("answer"), "{e}");
}

/// Each bad value of our JSONL gets an error naming the file, the line and the question.
#[test]
fn jsonl_values_are_checked_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    let good = jsonl::to_string(&synthetic(3, true));
    // Line 2 is q0 (every member right: gold "0"), line 3 is q1 (only beta right).
    let cases: Vec<(String, &str)> = vec![
        (
            good.replacen("\"success_rate\":1.0", "\"success_rate\":1.5", 1),
            "d.jsonl:2: question `q0`: member `alpha`: success_rate 1.5 is outside [0, 1]",
        ),
        (
            good.replacen("\"label\":true", "\"label\":false", 1),
            "d.jsonl:2: question `q0`: member `alpha`: label false contradicts the majority answer `0` and the gold answer `0`",
        ),
        (
            good.replacen("\"label\":true}", "\"label\":true,\"latency_s\":-1.0}", 1),
            "d.jsonl:2: question `q0`: member `alpha`: latency_s -1 is not a finite number >= 0",
        ),
        (
            good.replace("\"id\":\"q1\"", "\"id\":\"q0\""),
            "d.jsonl:3: question `q0`: the id appears twice",
        ),
        (
            good.replacen(
                "\"text\":\"A fractions question number 1 about fractions things\"",
                "\"text\":\"  \"",
                1,
            ),
            "d.jsonl:3: question `q1`: the question text is empty",
        ),
        (
            good.replacen("{\"name\":\"beta\"}", "{\"name\":\"alpha\"}", 1),
            "d.jsonl:1: member `alpha` appears twice in the header",
        ),
        (
            good.replacen(
                "{\"name\":\"beta\"}",
                "{\"name\":\"beta\",\"latency_s\":1e999}",
                1,
            ),
            "d.jsonl:1:",
        ),
    ];
    for (text, want) in cases {
        assert_ne!(text, good, "the case changed nothing: {want}");
        std::fs::write(&path, &text).unwrap();
        let e = err_of(&path);
        assert!(e.contains(want), "expected `{want}` in: {e}");
    }
    let mut bytes = good.into_bytes();
    let at = bytes.iter().rposition(|&b| b == b'q').unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    let e = err_of(&path);
    assert!(e.contains("d.jsonl:4: invalid UTF-8"), "{e}");
}
