//! Tests of the gateway file: defaults, paths, and errors naming the field.

use super::*;

const OK: &str = r#"
[server]
listen = "127.0.0.1:0"

[router]
checkpoint = "ckpt"
task = "regex:ANSWER: (\\w+)"

[[member]]
name = "a"
base_url = "http://127.0.0.1:1/v1"
model = "m"
prompt = "chat-cot"
"#;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("dir/gw.toml"), s)
}

#[test]
fn defaults_and_relative_checkpoint() {
    let c = parse(OK).expect("valid");
    assert_eq!(c.router.checkpoint, Path::new("dir/ckpt"));
    assert_eq!(c.router.encoder, None);
    assert_eq!(c.router.encoder_precision, Precision::F32);
    let int8 = parse(&OK.replace("[router]", "[router]\nencoder_precision = \"int8\""));
    assert_eq!(
        int8.expect("valid").router.encoder_precision,
        Precision::Int8
    );
    let with_encoder = OK.replace("[router]", "[router]\nencoder = \"../models/mini\"");
    let c2 = parse(&with_encoder).expect("valid");
    assert_eq!(
        c2.router.encoder.as_deref(),
        Some(Path::new("dir/../models/mini"))
    );
    assert_eq!(c.router.plan.short_name(), "weightedmaxconf:3");
    assert_eq!(c.router.cascade.to_string(), DEFAULT_CASCADE);
    assert_eq!((c.server.max_in_flight, c.server.runtimes), (512, 0));
    let two = parse(&OK.replace("[server]", "[server]\nruntimes = 2"));
    assert_eq!(two.expect("valid").server.runtimes, 2);
    let a = c.router.task.extract("ANSWER: x then ANSWER: yes");
    assert_eq!(a.map(|a| a.0), Some("yes".to_string()));
    assert!(Config::is_gateway_file(OK));
    assert!(c.check_members(&["a".into()]).is_ok());
    let e = c.check_members(&["a".into(), "b".into()]).unwrap_err();
    assert!(e.contains("not in the pool: b"), "{e}");
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (OK.replace("127.0.0.1:0", "nowhere"), "server.listen"),
        (
            OK.replace("ckpt\"", "ckpt\"\npolicy = \"best:9\""),
            "router.policy",
        ),
        (OK.replace("regex:ANSWER", "regex:(ANSWER"), "router.task"),
        (
            OK.replace("[router]", "[router]\ncascade = \"early:maxconf:3\""),
            "router.cascade",
        ),
        (
            OK.replace("[router]", "[router]\npolicy = \"cascade:a=3,max=2\""),
            "router.policy",
        ),
        (
            OK.replace("[router]", "[router]\nbatch_max = 0"),
            "router.batch_max",
        ),
        (
            OK.replace("[server]", "[server]\nruntimes = 1000"),
            "server.runtimes",
        ),
        (
            OK.replace("[server]", "[server]\ncolour = 1"),
            "unknown field `colour`",
        ),
        (
            OK.replace("[router]", "[router]\nextra = 1"),
            "unknown field `extra`",
        ),
        (
            OK.replace("name = \"a\"", "name = \"a b\""),
            "member[0].name",
        ),
        (
            OK.replace("[server]", "[server]\napi_keys_env = \"sk-1 2\""),
            "server.api_keys_env",
        ),
        (
            OK.replace("checkpoint = \"ckpt\"", ""),
            "missing field `checkpoint`",
        ),
        (
            OK.replace("[router]", "[router]\nencoder = \" \""),
            "router.encoder",
        ),
        (
            OK.replace("[router]", "[router]\nencoder_precision = \"fp8\""),
            "router.encoder_precision",
        ),
    ];
    for (text, want) in cases {
        let e = parse(&text).expect_err(want).to_string();
        assert!(e.contains(want), "{e} should mention {want}");
        assert!(e.starts_with("dir/gw.toml"), "{e}");
    }
}
