//! SQS: the cloud queue between the webhook Lambda and the dispatch Lambda.

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Queue, QueueError};
use crate::model::event::QueuedEvent;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn from_sdk(sdk: &aws_types::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), queue_url)
    }

    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, event: &QueuedEvent) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(event)?)
            .send()
            .await?;
        Ok(())
    }
}

impl<E> From<SdkError<E, HttpResponse>> for QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> QueueError {
        let (kind, source) = crate::aws_error::classified(error);
        QueueError::Backend { kind, source }
    }
}
