//! The queue between the webhook edge and dispatch: SQS in the cloud, a durable SQLite queue on
//! one machine.

#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "aws-edge")]
pub mod sqs;

use async_trait::async_trait;

use crate::model::error::ErrorKind;
use crate::model::event::QueuedEvent;

/// An enqueue (or, on one machine, a receive or ack) that failed; the text is for the log.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQS or the local queue's database failed; `kind` says whether trying again can help.
    #[error("{source}")]
    Backend {
        kind: ErrorKind,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An event that does not convert to or from its JSON message.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl QueueError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueueError::Backend { kind, .. } => *kind,
            QueueError::Json(_) => ErrorKind::Permanent,
        }
    }
}

#[cfg(feature = "local")]
impl From<crate::state::db::DbError> for QueueError {
    fn from(error: crate::state::db::DbError) -> QueueError {
        QueueError::Backend {
            kind: error.kind(),
            source: Box::new(error),
        }
    }
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Durably enqueue one event; when this returns `Ok` the event will be dispatched.
    async fn enqueue(&self, event: &QueuedEvent) -> Result<(), QueueError>;
}
