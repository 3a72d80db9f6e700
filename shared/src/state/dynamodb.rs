//! DynamoDB state: one table, `pk`/`sk` string keys, `expires_at` as its TTL attribute.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{unix_secs, StateStore};
use crate::event::{DeliveryId, ForgeKind};
use crate::BoxError;

#[derive(Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoState {
            client,
            table: table.into(),
        }
    }

    fn delivery_key(forge: ForgeKind, id: &DeliveryId) -> (AttributeValue, AttributeValue) {
        (
            AttributeValue::S(format!("DELIVERY#{forge}#{}", id.0)),
            AttributeValue::S("DELIVERY".into()),
        )
    }
}

#[async_trait]
impl StateStore for DynamoState {
    async fn record_delivery(
        &self,
        forge: ForgeKind,
        id: &DeliveryId,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<bool, BoxError> {
        let (pk, sk) = Self::delivery_key(forge, id);
        let now = unix_secs(now);
        let expires_at = now + ttl.as_secs() as i64;
        // TTL deletion lags by up to days, so an expired item still present counts as absent.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk)
            .item("sk", sk)
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => {
                let service_error = err.into_service_error();
                if service_error.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(service_error.into())
                }
            }
        }
    }

    async fn forget_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), BoxError> {
        let (pk, sk) = Self::delivery_key(forge, id);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .send()
            .await?;
        Ok(())
    }
}
