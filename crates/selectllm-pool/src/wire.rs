//! OpenAI wire types, apart from domain types. Requests are strict; responses are lenient:
//! unknown fields are ignored and `finish_reason`, `usage`, `message` may be absent.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct ChatMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<ChatMessage<'a>>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

#[derive(Debug, Serialize)]
pub struct CompletionRequest<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    pub stop: &'a [String],
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// A (chat) completion response, or one streamed chunk of it.
#[derive(Debug, Default, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// Chat responses.
    #[serde(default)]
    pub message: Option<Content>,
    /// Chat stream chunks.
    #[serde(default)]
    pub delta: Option<Content>,
    /// Completion responses and chunks.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Content {
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

impl Choice {
    /// The text of this choice or chunk, whichever field the server used.
    pub fn text(&self) -> Option<&str> {
        self.message
            .as_ref()
            .and_then(|m| m.content.as_deref())
            .or_else(|| self.delta.as_ref().and_then(|d| d.content.as_deref()))
            .or(self.text.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_about_real_servers() {
        let r: Response = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":null}}],"extra":1}"#,
        )
        .expect("parses");
        assert_eq!(r.choices[0].text(), Some("hi"));
        assert!(r.usage.is_none() && r.choices[0].finish_reason.is_none());
        let r: Response = serde_json::from_str(
            r#"{"choices":[{"text":"4","finish_reason":null}],"usage":{"prompt_tokens":3}}"#,
        )
        .expect("parses");
        assert_eq!(r.choices[0].text(), Some("4"));
        assert_eq!(r.usage.and_then(|u| u.completion_tokens), None);
    }
}
