//! Collection against the in-process fake server: error rows, resume, retries, export.

use std::path::Path;

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Question, Split};
use selectllm_lab::collect::export::ExportOptions;
use selectllm_lab::collect::store::Store;
use selectllm_lab::collect::{CollectSettings, collect, export};
use selectllm_pool::fake::{self, FakeServer, Fault};
use selectllm_pool::prompt::{self, Prompt};
use selectllm_pool::{Pool, PromptStyle, Sampling};

fn pool(server: &FakeServer, members: &[&str], extra: &str) -> Pool {
    let mut t = String::new();
    for m in members {
        t.push_str(&format!(
            "[[member]]\nname = \"{m}\"\nbase_url = \"{}\"\nmodel = \"{m}\"\nprompt = \"chat-cot\"\nbackoff_ms = 1\nprice_in = 0.5\nprice_out = 1.5\n{extra}\n",
            server.base_url()
        ));
    }
    Pool::parse(Path::new("pool.toml"), &t).expect("valid pool")
}

fn questions() -> Vec<Question> {
    let mut qs = Vec::new();
    for i in 0..6 {
        let marker = match i {
            4 => " [[fake:500]]",
            5 => " [[fake:malformed]]",
            _ => "",
        };
        qs.push(Question {
            id: format!("g{i}"),
            text: format!("How many apples, case {i}?{marker}"),
            task: Task::Gsm8k,
            gold: Some(Answer::new((i % 5).to_string())),
            split: Split::Test,
            benchmark: None,
        });
    }
    for i in 0..4 {
        qs.push(Question {
            id: format!("m{i}"),
            text: format!("Which one, case {i}?\nA. a\nB. b\nC. c\nD. d"),
            task: Task::Mmlu,
            gold: Some(Answer::new("B")),
            split: Split::Test,
            benchmark: None,
        });
    }
    qs
}

fn settings(samples: u32) -> CollectSettings {
    CollectSettings {
        samples,
        sampling: Sampling {
            temperature: 0.7,
            top_p: 1.0,
            max_tokens: 16,
            seed: Some(7),
        },
        prompt: None,
        dry_run: false,
        progress: false,
    }
}

#[test]
fn records_errors_resumes_and_exports() {
    let server = FakeServer::start().expect("server");
    let p = pool(
        &server,
        &["alpha", "beta"],
        "retries = 1\nmax_concurrency = 3",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("c.sqlite");
    let qs = questions();

    let s = collect(&p, &qs, &db, &settings(3)).expect("first run");
    assert_eq!(s.recorded(), 60);
    for m in &s.members {
        assert_eq!((m.ok, m.errors), (24, 6), "{m:?}");
    }
    let store = Store::open(&db).expect("store");
    assert_eq!(store.counts().expect("counts"), (60, 60, 12));

    // A second run retries only the error rows and duplicates nothing.
    let dry = CollectSettings {
        dry_run: true,
        ..settings(3)
    };
    let d = collect(&p, &qs, &db, &dry).expect("dry run");
    assert_eq!(d.members[0].pending, 6);
    assert_eq!(d.members[0].already_done, 24);
    let s = collect(&p, &qs, &db, &settings(3)).expect("second run");
    assert_eq!(s.recorded(), 12);
    assert_eq!(store.counts().expect("counts"), (60, 60, 12));
    let other = CollectSettings {
        sampling: Sampling {
            max_tokens: 99,
            ..settings(3).sampling
        },
        ..settings(3)
    };
    let e = collect(&p, &qs, &db, &other).expect_err("mixed settings");
    assert!(e.to_string().contains("max tokens 16"), "{e}");

    // Good rows hold what the server said, scored against gold.
    for r in store.samples().expect("rows") {
        if r.error.is_some() {
            assert!(r.raw.is_none() && r.answer.is_none());
            continue;
        }
        let q = qs.iter().find(|q| q.id == r.question_id).expect("question");
        let raw = r.raw.as_deref().expect("raw");
        let Prompt::Chat { user, .. } = prompt::build(PromptStyle::ChatCot, q.task, &q.text) else {
            panic!("chat prompt")
        };
        assert_eq!(raw, fake::answer(&r.member, &user));
        let ans = q.task.extract(raw);
        assert_eq!(r.answer, ans.as_ref().map(|a| a.0.clone()));
        assert_eq!(r.correct, Some(ans.as_ref() == q.gold.as_ref()));
        assert!(r.latency_s.is_some_and(|l| l >= 0.0));
        assert!(r.cost.is_some_and(|c| c > 0.0));
        assert_eq!(r.prompt_style, "chat-cot");
    }

    let out = dir.path().join("c.jsonl");
    let e = export(
        &db,
        Some(&out),
        &ExportOptions {
            name: "fake".into(),
            ..Default::default()
        },
    )
    .expect("export");
    assert_eq!((e.samples, e.incomplete, e.no_gold), (3, 2, 0));
    let ds = selectllm_lab::data::jsonl::read(&out).expect("reads back");
    assert_eq!(ds.questions, e.dataset.questions);
    for (a, b) in ds
        .outcomes
        .iter()
        .flatten()
        .zip(e.dataset.outcomes.iter().flatten())
    {
        assert_eq!((&a.answers, a.label), (&b.answers, b.label));
    }
    assert_eq!(ds.questions.len(), 8);
    assert!(ds.members.iter().all(|m| m.latency_s.is_some()));
    assert_eq!(ds.member_names(), ["alpha", "beta"]);
    for (q, row) in ds.questions.iter().zip(&ds.outcomes) {
        for o in row {
            assert_eq!(o.answers.len(), 3);
            let right = o
                .answers
                .iter()
                .filter(|a| Some(*a) == q.gold.as_ref())
                .count();
            assert!((o.success_rate - right as f32 / 3.0).abs() < 1e-6);
            assert!(o.latency_s.is_some() && o.completion_tokens.is_some());
        }
    }
    assert!(ds.answer_level());
    let mmlu = export(
        &db,
        None,
        &ExportOptions {
            name: "fake-mmlu".into(),
            task: Some(Task::Mmlu),
            ..Default::default()
        },
    )
    .expect("mmlu export");
    assert_eq!(mmlu.dataset.questions.len(), 4);
}

#[test]
fn retries_scripted_429s_until_done() {
    let server = FakeServer::with_script(vec![Fault::Status(429), Fault::Ok]).expect("server");
    let p = pool(&server, &["solo"], "retries = 2\nmax_concurrency = 1");
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("c.sqlite");
    let qs: Vec<_> = questions().into_iter().take(4).collect();
    let s = collect(&p, &qs, &db, &settings(2)).expect("run");
    assert_eq!((s.members[0].ok, s.members[0].errors), (8, 0));
    assert_eq!(server.requests(), 16, "each call: one 429, then the answer");
}

#[test]
fn bad_settings_are_errors() {
    let server = FakeServer::start().expect("server");
    let p = pool(&server, &["a"], "");
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("c.sqlite");
    assert!(collect(&p, &[], &db, &settings(1)).is_err());
    assert!(collect(&p, &questions(), &db, &settings(0)).is_err());
    let mut dup = questions();
    dup.push(dup[0].clone());
    let e = collect(&p, &dup, &db, &settings(1)).expect_err("duplicate id");
    assert!(e.to_string().contains("`g0`"), "{e}");
}
