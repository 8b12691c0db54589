//! OpenAI server-side wire types, apart from domain types. Requests are read leniently where
//! clients are sloppy (content as a string or as parts, unknown sampling fields passed on) and
//! strictly where a wrong value would only fail later at a member (types and ranges of the
//! well-known parameters, the `selectllm` extension object).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields of a chat request the gateway reads; the request itself is forwarded as sent.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub selectllm: Option<Extension>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
}

/// A message: `role` and `content`; other fields (name, tool_calls, ...) are forwarded as sent.
#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// Message content: a string or a list of parts (only text parts carry text).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// The request's `selectllm` object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Only these members may be selected.
    #[serde(default)]
    pub members: Option<Vec<String>>,
    /// A policy for this request (`maxconf:1`, `budget:calls=2`, ...).
    #[serde(default)]
    pub policy: Option<String>,
    /// A plan for this request (`early:weightedmaxconf:3`, `cascade:a=2,k=2,max=3`, or a
    /// policy); not together with `policy`.
    #[serde(default)]
    pub plan: Option<String>,
    /// Return the decision without calling any member.
    #[serde(default)]
    pub route_only: bool,
}

impl Content {
    /// The text of the content (text parts joined by newlines).
    pub fn text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(p) => p
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl ChatRequest {
    /// Range checks serde cannot express; `Err((field, message))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: String| Err((f.to_string(), m));
        if self.model.trim().is_empty() {
            return bad("model", "must not be empty".into());
        }
        if self.messages.is_empty() {
            return bad("messages", "must not be empty".into());
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.role.trim().is_empty() {
                return bad(&format!("messages[{i}].role"), "must not be empty".into());
            }
        }
        let ranges = [
            ("temperature", self.temperature, 0.0, 2.0),
            ("top_p", self.top_p, 0.0, 1.0),
            ("presence_penalty", self.presence_penalty, -2.0, 2.0),
            ("frequency_penalty", self.frequency_penalty, -2.0, 2.0),
        ];
        for (name, v, lo, hi) in ranges {
            if let Some(v) = v
                && !(lo..=hi).contains(&v)
            {
                return bad(name, format!("{v} is not in [{lo}, {hi}]"));
            }
        }
        for (name, v) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if v == Some(0) {
                return bad(name, "must be at least 1".into());
            }
        }
        if let Some(n) = self.n
            && n != 1
        {
            return bad("n", format!("{n}: only n = 1 is supported"));
        }
        if let Some(Stop::Many(v)) = &self.stop
            && v.len() > 4
        {
            return bad("stop", "at most 4 stop sequences".into());
        }
        Ok(())
    }

    /// The text of the last user message (what the classifier reads).
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_ref().map(Content::text).unwrap_or_default())
    }
}

/// `{"error": {...}}`, OpenAI's error envelope.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// What one member did for a request, in the response's `selectllm` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemberReport {
    pub name: String,
    /// P(correct) from the classifier (absent for passthrough).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f32>,
    pub selected: bool,
    /// The extracted answer, when the member answered and one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The member's vote weight (1 for unweighted policies), when it voted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why the member failed (it dropped out of the vote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The plan cancelled the call (its answer could no longer change the outcome);
    /// `latency_s` is then how long it ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// The response's `selectllm` object: why this answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Explanation {
    /// `passthrough` or the policy (`weightedmaxconf:3`, ...).
    pub policy: String,
    pub task: String,
    pub reason: String,
    pub selected: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    /// The winning answer of the vote; absent when nobody gave an extractable answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Whether every member that answered gave the winning answer.
    pub unanimous: bool,
    /// Set when the winning answer's vote weight tied another's: which answers tied and the
    /// rule that broke the tie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<String>,
    pub route_only: bool,
    pub members: Vec<MemberReport>,
    /// The plan that ran (`parallel:weightedmaxconf:3`, `early:...`, `cascade:...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The members each wave of calls started, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<Vec<String>>,
    /// Calls cancelled once they could no longer change the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<String>,
    /// Why the plan stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Seconds from the first call to the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_after_s: Option<f64>,
    /// Estimated seconds the cancellations saved: how much later the cancelled calls would
    /// have finished, at their members' mean observed latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_saved_s: Option<f64>,
}

/// Usage summed over every member called.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, prompt: Option<u64>, completion: Option<u64>) {
        self.prompt_tokens += prompt.unwrap_or(0);
        self.completion_tokens += completion.unwrap_or(0);
        self.total_tokens = self.prompt_tokens + self.completion_tokens;
    }
}

/// A `chat.completion.chunk` object.
pub fn chunk(id: &str, model: &str, created: u64, delta: Value, finish: Option<&str>) -> Value {
    serde_json::json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// `GET /v1/models`.
pub fn model_list(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "selectllm"}))
        .collect();
    serde_json::json!({"object": "list", "data": data})
}

/// Removes the gateway's own fields from a request before it goes to a member.
pub fn forwarded(mut body: Map<String, Value>) -> Map<String, Value> {
    body.remove("selectllm");
    body
}
