//! Taking in a verified delivery: remembered under its keys (so a redelivery or a replay is a
//! duplicate) and its event queued, as one step with one answer.
//!
//! Two adapters: [`RecordThenQueue`] over any state store and queue (DynamoDB and SQS in the
//! cloud, where the two cannot share a transaction), and on one machine
//! [`sqlite::GroupCommit`], which writes both in one SQLite transaction shared by every delivery
//! that arrived meanwhile.

#[cfg(feature = "local")]
mod seen;
#[cfg(feature = "local")]
pub mod sqlite;

use std::time::SystemTime;

use async_trait::async_trait;

use crate::model::error::ErrorKind;
use crate::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use crate::queue::{Queue, QueueError};
use crate::state::{StateError, StateStore, DELIVERY_TTL};

/// What became of a delivery offered to the intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Recorded and queued: it will be dispatched, and it survives a crash from now on.
    Queued,
    /// Already recorded under this key (a redelivery, or a replay of the same bytes): nothing
    /// was written.
    Duplicate(DeliveryId),
}

/// The intake could not take the delivery; nothing of it stands, so a redelivery is accepted.
/// The text is for the log.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("recording the delivery failed: {0}")]
    State(#[from] StateError),
    #[error("queueing the delivery failed: {0}")]
    Queue(#[from] QueueError),
    /// The transaction this delivery was committed in failed (the writer logged why).
    #[error("committing the deliveries failed")]
    Commit { kind: ErrorKind },
    /// The one-machine writer has stopped (it panicked): nothing more can be taken in.
    #[error("the delivery writer has stopped")]
    WriterStopped,
}

impl IntakeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            IntakeError::State(error) => error.kind(),
            IntakeError::Queue(error) => error.kind(),
            IntakeError::Commit { kind } => *kind,
            IntakeError::WriterStopped => ErrorKind::Permanent,
        }
    }
}

#[async_trait]
pub trait Intake: Send + Sync {
    /// Record the delivery under each of `keys` (its id, and its body's digest when it has
    /// one) and queue `event`, or nothing when any key is already recorded. Of two concurrent
    /// calls sharing a key, at most one is `Queued`.
    async fn admit(
        &self,
        forge: ForgeKind,
        keys: &[DeliveryId],
        event: &QueuedEvent,
        now: SystemTime,
    ) -> Result<Admission, IntakeError>;
}

/// Record, queue, confirm, on stores that share no transaction: each key is recorded
/// unconfirmed, the event queued, then the records confirmed. Had the edge died in between, a
/// record left unconfirmed past its grace lets the forge's redelivery in; a failure undoes what
/// was recorded.
pub struct RecordThenQueue<S, Q> {
    pub state: S,
    pub queue: Q,
}

#[async_trait]
impl<S: StateStore, Q: Queue> Intake for RecordThenQueue<S, Q> {
    async fn admit(
        &self,
        forge: ForgeKind,
        keys: &[DeliveryId],
        event: &QueuedEvent,
        now: SystemTime,
    ) -> Result<Admission, IntakeError> {
        // Each record is atomic; a replay racing the original gets `false` on one of them.
        for (recorded, key) in keys.iter().enumerate() {
            match self
                .state
                .record_delivery(forge, key, now, DELIVERY_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.forget(forge, &keys[..recorded]).await;
                    return Ok(Admission::Duplicate(key.clone()));
                }
                Err(error) => {
                    self.forget(forge, &keys[..recorded]).await;
                    return Err(error.into());
                }
            }
        }
        if let Err(error) = self.queue.enqueue(event).await {
            self.forget(forge, keys).await;
            return Err(error.into());
        }
        for key in keys {
            if let Err(error) = self.state.confirm_delivery(forge, key).await {
                tracing::warn!(%forge, delivery = %key, %error, "confirming the delivery failed; a redelivery after the grace is queued again (its build is not repeated)");
            }
        }
        Ok(Admission::Queued)
    }
}

impl<S: StateStore, Q: Queue> RecordThenQueue<S, Q> {
    /// Undo what was recorded of a delivery that was not queued, so that a redelivery works.
    async fn forget(&self, forge: ForgeKind, keys: &[DeliveryId]) {
        for key in keys {
            if let Err(error) = self.state.forget_delivery(forge, key).await {
                tracing::error!(%forge, delivery = %key, %error, "forgetting the delivery failed; a redelivery will be taken for a duplicate");
            }
        }
    }
}
