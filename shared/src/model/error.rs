//! Whether trying again can help: the one question every port's error answers, so that a caller
//! (the queue's redelivery, a Lambda's error type, a chat reply) can tell a hiccup from a mistake
//! without knowing which adapter failed.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A hiccup (a timeout, a dropped connection, a 5xx, a busy database): the same call may
    /// succeed later.
    Retryable,
    /// The service asked us to slow down; `retry_after` is its hint, when it gave one. Kept
    /// apart from `Retryable` so that a caller can delay rather than fail.
    RateLimited { retry_after: Option<Duration> },
    /// A mistake the same call repeats (bad input, missing resource, denied access, a bug).
    Permanent,
}

impl ErrorKind {
    /// Whether the same call may succeed later (a rate limit included).
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorKind::Permanent)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::RateLimited { .. } => "RateLimited",
            ErrorKind::Permanent => "Permanent",
        })
    }
}
