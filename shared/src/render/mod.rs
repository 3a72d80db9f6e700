//! Every text a person reads: webhook answers (more to come: checks, comments, replies, help).
//!
//! Nothing here ever includes a secret or a value a sender presented as one.

use std::fmt;

use serde_json::json;

use crate::model::event::DeliveryId;
use crate::webhook::{AuthFailure, IgnoreReason, Rejection};

mod build;
mod chatops;
#[cfg(any(feature = "local", feature = "aws-pages"))]
pub mod dashboard;
mod deploy;
mod metrics;
mod pages;
mod sandbox;
pub use build::*;
pub use chatops::*;
pub use deploy::*;
pub use metrics::*;
pub use pages::*;
pub use sandbox::*;

#[cfg(test)]
mod tests;

/// An HTTP answer to a webhook delivery: status and a small JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

impl WebhookResponse {
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

pub fn accepted(delivery: &DeliveryId, event: &str) -> WebhookResponse {
    WebhookResponse {
        status: 202,
        body: json!({ "status": "accepted", "delivery": delivery.0, "event": event }),
    }
}

pub fn duplicate(delivery: &DeliveryId) -> WebhookResponse {
    WebhookResponse {
        status: 200,
        body: json!({
            "status": "duplicate",
            "delivery": delivery.0,
            "reason": "this delivery was already received; it is not acted on twice",
        }),
    }
}

pub fn ignored(delivery: &DeliveryId, reason: &IgnoreReason) -> WebhookResponse {
    WebhookResponse {
        status: 200,
        body: json!({ "status": "ignored", "delivery": delivery.0, "reason": reason.to_string() }),
    }
}

pub fn pong(delivery: &DeliveryId) -> WebhookResponse {
    WebhookResponse {
        status: 200,
        body: json!({ "status": "pong", "delivery": delivery.0 }),
    }
}

pub fn rejected(rejection: &Rejection) -> WebhookResponse {
    WebhookResponse {
        status: rejection.status(),
        body: json!({ "status": "rejected", "error": rejection.to_string() }),
    }
}

/// Our storage or queue failed: the sender should redeliver later. Never used for bad input.
pub fn unavailable(delivery: &DeliveryId) -> WebhookResponse {
    WebhookResponse {
        status: 503,
        body: json!({
            "status": "unavailable",
            "delivery": delivery.0,
            "error": "Slipway could not record this delivery; nothing was done. Redeliver it later.",
        }),
    }
}

/// The answer to a run page or artifact that is missing — or not asked for with a valid link,
/// which must look the same.
pub const NO_SUCH_RUN: &str = "no such run\n";
pub const NO_SUCH_ARTIFACT: &str = "no such artifact\n";

pub fn not_found() -> WebhookResponse {
    WebhookResponse {
        status: 404,
        body: json!({
            "status": "rejected",
            "error": "no such endpoint: POST /webhooks/github or /webhooks/gitlab",
        }),
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::NotActedOn(name) => write!(f, "ignored: {name}"),
            IgnoreReason::CommentOnIssue => {
                f.write_str("ignored: a comment on an issue, not on a pull or merge request")
            }
            IgnoreReason::CommentNotNew => f.write_str(
                "ignored: only new comments are read for commands, not edits or deletions",
            ),
            IgnoreReason::CommentByBot => f.write_str("ignored: a comment by a bot"),
            IgnoreReason::SystemNote => f.write_str("ignored: a system note"),
            IgnoreReason::TagPush => f.write_str("ignored: a push of a tag, not a branch"),
            IgnoreReason::BranchDeleted => f.write_str("ignored: a branch was deleted"),
            IgnoreReason::MergeRequestUpdateWithoutCommits => {
                f.write_str("ignored: merge request updated without new commits")
            }
            IgnoreReason::CheckSuiteRequested => f.write_str(
                "ignored: check_suite.requested (builds start from pull request and push events)",
            ),
            IgnoreReason::StaleComment => f.write_str(
                "ignored: stale comment (written too long ago to be acted on; a replay?)",
            ),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unauthorized(why) => write!(f, "unauthorized: {why}"),
            Rejection::Malformed(why) => write!(f, "bad request: {why}"),
            Rejection::TooLarge { limit } => {
                write!(f, "payload too large: the limit is {limit} bytes")
            }
            Rejection::UnsupportedMediaType(content_type) => write!(
                f,
                "unsupported content type {content_type:?}: send application/json \
                 (GitHub may also send application/x-www-form-urlencoded)"
            ),
            Rejection::TooSlow { limit } => write!(
                f,
                "request timeout: the body did not arrive within {}",
                humantime::format_duration(*limit)
            ),
            Rejection::Busy => {
                f.write_str("too many requests: other deliveries are being received; retry shortly")
            }
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            AuthFailure::NotConfigured(forge) => {
                return write!(f, "no {forge} webhook secret is configured on this Slipway")
            }
            AuthFailure::MissingSignature => "missing X-Hub-Signature-256 header",
            AuthFailure::OnlyLegacySha1Signature => {
                "only the SHA-1 X-Hub-Signature header was sent; X-Hub-Signature-256 is required"
            }
            AuthFailure::MalformedSignature => {
                "X-Hub-Signature-256 must be sha256= followed by 64 hexadecimal digits"
            }
            AuthFailure::SignatureMismatch => "the signature does not match the body",
            AuthFailure::MissingToken => "missing X-Gitlab-Token header",
            AuthFailure::TokenMismatch => "X-Gitlab-Token does not match",
            AuthFailure::MissingSigningHeaders => {
                "a signed webhook needs webhook-id, webhook-timestamp and webhook-signature headers"
            }
            AuthFailure::MalformedTimestamp => "webhook-timestamp must be Unix seconds",
            AuthFailure::TimestampOutOfTolerance => {
                "webhook-timestamp is more than 5 minutes away from the current time"
            }
        };
        f.write_str(text)
    }
}

/// Appended to a comment cut to the forge's size limit.
pub fn comment_cut_note(full_text_url: Option<&str>) -> String {
    match full_text_url {
        Some(url) => format!("\n_This comment was cut to fit; [read it in full]({url})._\n"),
        None => "\n_This comment was cut to fit the forge's size limit._\n".to_owned(),
    }
}

/// Text placed inside a ``` fence: any fence in it is broken up so it cannot close ours.
pub(crate) fn fence_safe(text: &str) -> String {
    text.replace("```", "`\u{200b}``")
}
