//! The one error type of the gateway and its mapping to an HTTP status and OpenAI's error
//! envelope. Messages never carry member API keys (the pool client redacts them) or client keys.

use crate::wire::{ErrorBody, ErrorEnvelope};

/// Why a request was not answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The body is wrong; `param` names the field when there is one.
    #[error("{msg}")]
    BadRequest { msg: String, param: Option<String> },
    /// The `model` is neither `selectllm/...` nor a member.
    #[error(
        "model `{0}` does not exist (use selectllm/auto, selectllm/<policy> or a member's name; see GET /v1/models)"
    )]
    UnknownModel(String),
    #[error("missing or invalid API key (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Too many requests in flight, or the classifier queue is full.
    #[error("{0}")]
    Overloaded(String),
    /// No member can be called now (circuits open) or the server is stopping.
    #[error("{0}")]
    Unavailable(String),
    /// Every member called rejected the request as invalid (a 4xx from each).
    #[error("{0}")]
    RejectedByMembers(String),
    /// Every member called failed.
    #[error("{0}")]
    MembersFailed(String),
    /// Every member called failed and at least one timed out (none failed otherwise).
    #[error("{0}")]
    MembersTimedOut(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn bad(param: &str, msg: impl Into<String>) -> GatewayError {
        GatewayError::BadRequest {
            msg: format!("{param}: {}", msg.into()),
            param: Some(param.to_string()),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            GatewayError::BadRequest { .. } | GatewayError::RejectedByMembers(_) => 400,
            GatewayError::Unauthorized => 401,
            GatewayError::UnknownModel(_) => 404,
            GatewayError::PayloadTooLarge(_) => 413,
            GatewayError::Overloaded(_) => 429,
            GatewayError::Internal(_) => 500,
            GatewayError::MembersFailed(_) => 502,
            GatewayError::Unavailable(_) => 503,
            GatewayError::MembersTimedOut(_) => 504,
        }
    }

    /// Seconds for `Retry-After`, for the statuses where retrying later helps.
    pub fn retry_after_s(&self) -> Option<u32> {
        match self {
            GatewayError::Overloaded(_) => Some(1),
            GatewayError::Unavailable(_) => Some(5),
            _ => None,
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        let (kind, code) = match self {
            GatewayError::BadRequest { .. } | GatewayError::RejectedByMembers(_) => {
                ("invalid_request_error", None)
            }
            GatewayError::UnknownModel(_) => ("invalid_request_error", Some("model_not_found")),
            GatewayError::Unauthorized => ("authentication_error", Some("invalid_api_key")),
            GatewayError::PayloadTooLarge(_) => {
                ("invalid_request_error", Some("payload_too_large"))
            }
            GatewayError::Overloaded(_) => ("rate_limit_error", Some("overloaded")),
            GatewayError::Unavailable(_) => ("server_error", Some("unavailable")),
            GatewayError::MembersFailed(_) => ("server_error", Some("members_failed")),
            GatewayError::MembersTimedOut(_) => ("server_error", Some("members_timed_out")),
            GatewayError::Internal(_) => ("server_error", None),
        };
        let param = match self {
            GatewayError::BadRequest { param, .. } => param.clone(),
            GatewayError::UnknownModel(_) => Some("model".into()),
            _ => None,
        };
        ErrorEnvelope {
            error: ErrorBody {
                message: self.to_string(),
                kind: kind.into(),
                param,
                code: code.map(str::to_string),
            },
        }
    }
}
