//! The queue between the webhook edge and dispatch: SQS in the cloud, a durable SQLite queue on
//! one machine.

#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "aws-edge")]
pub mod sqs;

use async_trait::async_trait;

use crate::model::event::QueuedEvent;
use crate::BoxError;

#[async_trait]
pub trait Queue: Send + Sync {
    /// Durably enqueue one event; when this returns `Ok` the event will be dispatched.
    async fn enqueue(&self, event: &QueuedEvent) -> Result<(), BoxError>;
}
