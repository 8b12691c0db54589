//! The pool config: one TOML file, parsed raw with unknown fields rejected, then validated
//! once into [`Pool`], whose fields are all present and checked.
//!
//! ```toml
//! [[member]]
//! name = "qwen2.5-coder-0.5b"          # required: [A-Za-z0-9._-]+, unique
//! base_url = "http://127.0.0.1:18082/v1" # required: http(s), the part before /chat/completions
//! model = "qwen2.5-coder-0.5b"          # required: the `model` field sent
//! prompt = "chat-cot"                   # required: chat-cot | chat-direct | few-shot
//! api_key_env = "OPENAI_API_KEY"        # optional: the NAME of the variable holding the key
//! max_concurrency = 4                   # optional, default 4
//! timeout_s = 120.0                     # optional, default 120
//! retries = 3                           # optional, default 3 (after the first try)
//! backoff_ms = 200                      # optional, default 200 (doubles per retry, with jitter)
//! stream = false                        # optional, default false (true measures time to first token)
//! price_in = 0.0                        # optional, USD per million input tokens
//! price_out = 0.0                       # optional, USD per million output tokens
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::PoolError;

/// How a member is prompted (see `prompt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptStyle {
    /// Chat, zero-shot, "let's think step by step" (the paper's chat models).
    ChatCot,
    /// Chat, zero-shot, answer only (a letter for MMLU, a number for GSM8K).
    ChatDirect,
    /// Completion endpoint, few-shot exemplars, stop at `<END_ANSWER>` (the paper's base models).
    FewShot,
}

impl PromptStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptStyle::ChatCot => "chat-cot",
            PromptStyle::ChatDirect => "chat-direct",
            PromptStyle::FewShot => "few-shot",
        }
    }
}

impl FromStr for PromptStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat-cot" => Ok(PromptStyle::ChatCot),
            "chat-direct" => Ok(PromptStyle::ChatDirect),
            "few-shot" => Ok(PromptStyle::FewShot),
            _ => Err(format!(
                "unknown prompt style `{s}` (expected chat-cot, chat-direct or few-shot)"
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    #[serde(default)]
    member: Vec<RawMember>,
}

/// One `[[member]]` table as written (unknown fields rejected); [`validate_members`] checks it.
/// Public so other files that embed `[[member]]` tables (the gateway's) share schema and checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    name: String,
    base_url: String,
    model: String,
    prompt: PromptStyle,
    api_key_env: Option<String>,
    max_concurrency: Option<i64>,
    timeout_s: Option<f64>,
    retries: Option<i64>,
    backoff_ms: Option<i64>,
    stream: Option<bool>,
    price_in: Option<f64>,
    price_out: Option<f64>,
}

/// One validated member.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberConfig {
    pub name: String,
    /// Without a trailing slash, e.g. `http://127.0.0.1:18081/v1`.
    pub base_url: String,
    pub model: String,
    pub prompt: PromptStyle,
    /// The name of the environment variable holding the API key (never the key).
    pub api_key_env: Option<String>,
    pub max_concurrency: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub stream: bool,
    pub price_in: Option<f64>,
    pub price_out: Option<f64>,
}

impl MemberConfig {
    /// `base_url` fit to print: user info and key-like query values replaced by `<redacted>`.
    pub fn display_url(&self) -> String {
        redacted_url(&self.base_url)
    }

    /// USD for a call, when prices and token counts are known.
    pub fn cost(&self, prompt_tokens: Option<u64>, completion_tokens: Option<u64>) -> Option<f64> {
        let (pi, po) = (self.price_in?, self.price_out?);
        Some((prompt_tokens? as f64 * pi + completion_tokens? as f64 * po) / 1e6)
    }
}

/// Query parameters whose values are credentials (matched case-insensitively, as substrings).
const SECRET_PARAMS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "auth",
    "sig",
    "pass",
    "pwd",
    "credential",
];

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|p| name.contains(p))
}

/// The credentials written into a URL: its user name and password, and the values of its
/// key-like query parameters (`api_key=`, `key=`, `token=`, ...). Empty for an invalid URL.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Ok(u) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let mut out: Vec<String> = [u.username(), u.password().unwrap_or("")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(q) = u.query() {
        for pair in q.split('&') {
            if let Some((k, v)) = pair.split_once('=')
                && is_secret_param(k)
                && !v.is_empty()
            {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// `url` with every credential [`url_secrets`] finds replaced by `<redacted>`; an invalid URL
/// is not shown at all.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return "<invalid URL>".into();
    };
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("<redacted>");
        let _ = u.set_password(None);
    }
    if let Some(q) = u.query().map(str::to_string) {
        let q: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_secret_param(k) && !v.is_empty() => format!("{k}=<redacted>"),
                _ => pair.to_string(),
            })
            .collect();
        u.set_query(Some(&q.join("&")));
    }
    // The URL type percent-encodes `<` and `>`; show them plainly.
    u.to_string()
        .replace("%3Credacted%3E", "<redacted>")
        .trim_end_matches('/')
        .to_string()
}

/// A validated pool: at least one member, names unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub path: PathBuf,
    pub members: Vec<MemberConfig>,
}

impl Pool {
    /// Reads and validates a pool file.
    pub fn load(path: &Path) -> Result<Pool, PoolError> {
        let text = std::fs::read_to_string(path).map_err(|source| PoolError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Pool::parse(path, &text)
    }

    /// Parses and validates TOML text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Pool, PoolError> {
        let raw: RawPool = toml::from_str(text).map_err(|e| PoolError::Parse {
            path: path.to_path_buf(),
            msg: toml_error_message(text, &e),
        })?;
        let members = validate_members(path, raw.member)?;
        Ok(Pool {
            path: path.to_path_buf(),
            members,
        })
    }

    /// Keeps only the named members, in the given order; an unknown name is an error.
    pub fn select(&self, names: &[String]) -> Result<Pool, PoolError> {
        let mut members = Vec::with_capacity(names.len());
        for n in names {
            let m = self.members.iter().find(|m| &m.name == n).ok_or_else(|| {
                PoolError::UnknownMember {
                    path: self.path.clone(),
                    name: n.clone(),
                    known: self
                        .members
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            members.push(m.clone());
        }
        Ok(Pool {
            path: self.path.clone(),
            members,
        })
    }
}

/// A TOML parse error of `text` as `line L, column C: message`, on one line. The message and
/// position only: toml's own Display quotes the offending line, which may hold a key someone
/// wrote inline (`api_key = "sk-..."`). Every TOML file that holds members uses it.
pub fn toml_error_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {}", e.message().trim_end())
        }
        None => e.message().trim_end().to_string(),
    }
    .replace('\n', " ")
}

/// Validates `[[member]]` tables: at least one, names unique, every field in range. `path`
/// names the file in errors; fields are named `member[i].field`.
pub fn validate_members(path: &Path, raw: Vec<RawMember>) -> Result<Vec<MemberConfig>, PoolError> {
    let err = |field: String, msg: String| PoolError::Field {
        path: path.to_path_buf(),
        field,
        msg,
    };
    if raw.is_empty() {
        return Err(err("member".into(), "no [[member]] entries".into()));
    }
    let mut members: Vec<MemberConfig> = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let f = |name: &str| format!("member[{i}].{name}");
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(err(
                f("name"),
                format!(
                    "`{}` must be non-empty and use only A-Z a-z 0-9 . _ -",
                    m.name
                ),
            ));
        }
        if members.iter().any(|o| o.name == m.name) {
            return Err(err(f("name"), format!("`{}` appears twice", m.name)));
        }
        // The text is not quoted: it may carry credentials.
        let url = reqwest::Url::parse(&m.base_url)
            .map_err(|e| err(f("base_url"), format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err(f("base_url"), "must be http:// or https://".into()));
        }
        if m.model.trim().is_empty() {
            return Err(err(f("model"), "must not be empty".into()));
        }
        if let Some(v) = &m.api_key_env {
            let ok = !v.is_empty()
                && !v.starts_with(|c: char| c.is_ascii_digit())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(err(
                    f("api_key_env"),
                    "must be an environment variable NAME ([A-Za-z_][A-Za-z0-9_]*), never the key"
                        .into(),
                ));
            }
        }
        let max_concurrency = m.max_concurrency.unwrap_or(4);
        if !(1..=1024).contains(&max_concurrency) {
            return Err(err(
                f("max_concurrency"),
                format!("{max_concurrency} is not in 1..=1024"),
            ));
        }
        let timeout_s = m.timeout_s.unwrap_or(120.0);
        if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 86_400.0) {
            return Err(err(
                f("timeout_s"),
                format!("{timeout_s} is not in (0, 86400]"),
            ));
        }
        let retries = m.retries.unwrap_or(3);
        if !(0..=20).contains(&retries) {
            return Err(err(f("retries"), format!("{retries} is not in 0..=20")));
        }
        let backoff_ms = m.backoff_ms.unwrap_or(200);
        if !(0..=600_000).contains(&backoff_ms) {
            return Err(err(
                f("backoff_ms"),
                format!("{backoff_ms} is not in 0..=600000"),
            ));
        }
        for (name, v) in [("price_in", m.price_in), ("price_out", m.price_out)] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(err(f(name), format!("{v} must be a finite number >= 0")));
            }
        }
        members.push(MemberConfig {
            name: m.name,
            base_url: m.base_url.trim_end_matches('/').to_string(),
            model: m.model,
            prompt: m.prompt,
            api_key_env: m.api_key_env,
            max_concurrency: max_concurrency as usize,
            timeout: Duration::from_secs_f64(timeout_s),
            retries: retries as u32,
            backoff: Duration::from_millis(backoff_ms as u64),
            stream: m.stream.unwrap_or(false),
            price_in: m.price_in,
            price_out: m.price_out,
        });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
[[member]]
name = "a"
base_url = "http://127.0.0.1:1/v1/"
model = "m"
prompt = "chat-cot"
price_in = 1.0
price_out = 2.0
"#;

    fn parse(s: &str) -> Result<Pool, PoolError> {
        Pool::parse(Path::new("pool.toml"), s)
    }

    #[test]
    fn defaults_and_trailing_slash() {
        let p = parse(OK).expect("valid");
        let m = &p.members[0];
        assert_eq!(m.base_url, "http://127.0.0.1:1/v1");
        assert_eq!(m.max_concurrency, 4);
        assert_eq!(m.retries, 3);
        assert_eq!(m.cost(Some(1_000_000), Some(500_000)), Some(2.0));
        assert_eq!(m.cost(None, Some(1)), None);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                OK.replace("name = \"a\"", "name = \"a b\""),
                "member[0].name",
            ),
            (OK.replace("http://127", "ftp://127"), "member[0].base_url"),
            (format!("{OK}timeout_s = -1\n"), "member[0].timeout_s"),
            (
                format!("{OK}max_concurrency = 0\n"),
                "member[0].max_concurrency",
            ),
            (format!("{OK}retries = 99\n"), "member[0].retries"),
            (
                format!("{OK}api_key_env = \"sk-123 secret\"\n"),
                "member[0].api_key_env",
            ),
            (format!("{OK}{OK}"), "member[1].name"),
            (format!("{OK}colour = 1\n"), "unknown field `colour`"),
            (
                OK.replace("chat-cot", "chat-zzz"),
                "unknown variant `chat-zzz`",
            ),
            (String::new(), "no [[member]]"),
        ];
        for (text, want) in cases {
            let e = parse(&text).expect_err(want).to_string();
            assert!(e.contains(want), "{e} should mention {want}");
            assert!(e.starts_with("pool.toml"), "{e}");
        }
    }

    #[test]
    fn select_members() {
        let p = parse(&format!("{OK}{}", OK.replace("\"a\"", "\"b\""))).expect("valid");
        let s = p.select(&["b".into()]).expect("b exists");
        assert_eq!(s.members[0].name, "b");
        let e = p
            .select(&["zz".into()])
            .expect_err("zz is unknown")
            .to_string();
        assert!(
            e.contains("unknown member `zz`") && e.contains("a, b"),
            "{e}"
        );
        assert!(!e.contains("--"), "a library error names no CLI flag: {e}");
    }

    #[test]
    fn credentials_never_printed() {
        let inline = format!("{OK}api_key = \"sk-inline-secret-42\"\n");
        let e = parse(&inline).expect_err("unknown field").to_string();
        assert!(e.contains("unknown field `api_key`"), "{e}");
        assert!(e.contains("line 9"), "{e}");
        assert!(!e.contains("sk-inline"), "{e}");
        let p = parse(&OK.replace(
            "http://127.0.0.1:1/v1/",
            "https://user:sk-pass-1@host.example/v1?api_key=sk-q-2&x=1&Key=sk-k-3",
        ))
        .expect("valid");
        let m = &p.members[0];
        let shown = m.display_url();
        assert_eq!(
            shown,
            "https://<redacted>@host.example/v1?api_key=<redacted>&x=1&Key=<redacted>"
        );
        assert_eq!(
            url_secrets(&m.base_url),
            ["user", "sk-pass-1", "sk-q-2", "sk-k-3"]
        );
        assert_eq!(redacted_url("http://h:1/v1"), "http://h:1/v1");
        let bad = parse(&OK.replace("http://127.0.0.1:1/v1/", "http//sk-raw-9@"))
            .expect_err("not a URL")
            .to_string();
        assert!(bad.contains("base_url") && !bad.contains("sk-raw"), "{bad}");
    }
}
