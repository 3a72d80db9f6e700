//! DynamoDB state: one table, `pk`/`sk` string keys, `expires_at` as its TTL attribute.
//!
//! Runs are items `RUN#<id>`/`RUN` holding the run as JSON, found by pull request through the
//! `by_pr` index (`pr_key`, `created_at`) and, while unfinished, through the sparse `unfinished`
//! index (`unfinished`, `created_at`): finished runs drop the attribute and leave the index.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{
    environment_key, pr_key, unix_secs, Records, StateError, StateStore, UNCONFIRMED_GRACE,
};
use crate::model::deploy::DeploymentRecord;
use crate::model::event::RunId;
use crate::model::event::{CommitSha, DeliveryId, ForgeKind, PrNumber, RepoId};
use crate::model::run::Run;
use crate::model::status::RunStatus;

/// A change's runs: a pull request's (`PR#…`), or a commit's that no pull request carries
/// (`COMMIT#…`).
pub const BY_PR_INDEX: &str = "by_pr";
pub const UNFINISHED_INDEX: &str = "unfinished";
/// Runs and deployments by time (`kind`, `created_at`), for the dashboard's lists.
pub const RECENT_INDEX: &str = "recent";
const RUN_KIND: &str = "RUN";
const DEPLOY_KIND: &str = "DEPLOY";

#[derive(Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn from_sdk(sdk: &aws_types::SdkConfig, table: impl Into<String>) -> Self {
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
    ) -> Result<bool, StateError> {
        let (pk, sk) = Self::delivery_key(forge, id);
        let now = unix_secs(now);
        let expires_at = now + ttl.as_secs() as i64;
        let unconfirmed_until = now + UNCONFIRMED_GRACE.as_secs() as i64;
        // TTL deletion lags by up to days, so an expired item still present counts as absent;
        // so does one its edge never confirmed (items from before confirmation have no mark).
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk)
            .item("sk", sk)
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .item(
                "unconfirmed_until",
                AttributeValue::N(unconfirmed_until.to_string()),
            )
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now \
                 OR (unconfirmed_until <> :confirmed AND unconfirmed_until <= :now)",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":confirmed", AttributeValue::N("0".into()))
            .send()
            .await;
        written_unless_present(result)
    }

    async fn confirm_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError> {
        let (pk, sk) = Self::delivery_key(forge, id);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET unconfirmed_until = :confirmed")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":confirmed", AttributeValue::N("0".into()))
            .send()
            .await?;
        Ok(())
    }

    async fn forget_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError> {
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

    async fn insert_run(&self, run: &Run) -> Result<bool, StateError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run_item(run)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written_unless_present(result)
    }

    async fn save_run(&self, run: &Run, from: RunStatus) -> Result<bool, StateError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run_item(run)?))
            // Items from before the attribute carry no status to compare: taken as matching.
            .condition_expression("#status = :from OR attribute_not_exists(#status)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", AttributeValue::S(from.as_str().into()))
            .send()
            .await;
        written_unless_present(result)
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<Run>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("RUN#{}", id.0)))
            .key("sk", AttributeValue::S("RUN".into()))
            .consistent_read(true)
            .send()
            .await?;
        out.item().map(run_of).transpose()
    }

    async fn runs_for_pr(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Vec<Run>, StateError> {
        self.query_index(BY_PR_INDEX, "pr_key", pr_key(forge, repo, pr))
            .await
    }

    async fn unfinished_runs(&self) -> Result<Vec<Run>, StateError> {
        self.query_index(UNFINISHED_INDEX, "unfinished", "1".into())
            .await
    }

    async fn set_trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<(), StateError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "pk",
                AttributeValue::S(format!("TRUST#{}", pr_key(forge, repo, pr))),
            )
            .item("sk", AttributeValue::S("TRUST".into()))
            .item("sha", AttributeValue::S(sha.to_string()))
            .send()
            .await?;
        Ok(())
    }

    async fn record_head_seen(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
        seen_at: u64,
    ) -> Result<(), StateError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                "pk",
                AttributeValue::S(format!("HEAD#{}", pr_key(forge, repo, pr))),
            )
            .item("sk", AttributeValue::S(sha.to_string()))
            .item("seen_at", AttributeValue::N(seen_at.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Seen before: the first time stands.
        written_unless_present(put).map(drop)
    }

    async fn head_seen_at(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<Option<u64>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("HEAD#{}", pr_key(forge, repo, pr))),
            )
            .key("sk", AttributeValue::S(sha.to_string()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out
            .item()
            .and_then(|i| i.get("seen_at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    async fn trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Option<CommitSha>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("TRUST#{}", pr_key(forge, repo, pr))),
            )
            .key("sk", AttributeValue::S("TRUST".into()))
            .consistent_read(true)
            .send()
            .await?;
        let sha = out
            .item()
            .and_then(|i| i.get("sha"))
            .and_then(|v| v.as_s().ok());
        Ok(sha.and_then(|s| CommitSha::parse(s).ok()))
    }

    async fn save_deployment(&self, deployment: &DeploymentRecord) -> Result<(), StateError> {
        let key = environment_key(
            deployment.forge,
            &deployment.repo.id,
            &deployment.environment,
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key))
            .item(
                "sk",
                AttributeValue::S(format!(
                    "DEPLOY#{:016}#{}",
                    deployment.created_ms, deployment.id
                )),
            )
            .item(
                "data",
                AttributeValue::S(serde_json::to_string(deployment)?),
            )
            .item("kind", AttributeValue::S(DEPLOY_KIND.into()))
            // Milliseconds, as deployments are ordered everywhere (their own index partition:
            // never compared with a run's seconds).
            .item(
                "created_at",
                AttributeValue::N(deployment.created_ms.to_string()),
            )
            .send()
            .await?;
        Ok(())
    }

    async fn deployments(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        environment: &str,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :deploy)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(environment_key(forge, repo, environment)),
            )
            .expression_attribute_values(":deploy", AttributeValue::S("DEPLOY#".into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let items: Vec<_> = pages.collect::<Result<_, _>>().await?;
        items.iter().map(deployment_of).collect()
    }

    async fn acquire_lock(
        &self,
        key: &str,
        holder: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Option<String>, StateError> {
        let now = unix_secs(now);
        let pk = AttributeValue::S(format!("LOCK#{key}"));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk.clone())
            .item("sk", AttributeValue::S("LOCK".into()))
            .item("holder", AttributeValue::S(holder.to_owned()))
            .item(
                "expires_at",
                AttributeValue::N((now + ttl.as_secs() as i64).to_string()),
            )
            // Free, expired (TTL deletion lags), or already ours.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now OR holder = :holder",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .send()
            .await;
        if written_unless_present(result)? {
            return Ok(None);
        }
        let current = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", AttributeValue::S("LOCK".into()))
            .consistent_read(true)
            .send()
            .await?;
        let holder = current
            .item()
            .and_then(|i| i.get("holder"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        Ok(Some(holder))
    }

    async fn release_lock(&self, key: &str, holder: &str) -> Result<(), StateError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("LOCK#{key}")))
            .key("sk", AttributeValue::S("LOCK".into()))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else's now (ours expired): theirs to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl Records for DynamoState {
    async fn recent_runs(&self, limit: u32) -> Result<Vec<Run>, StateError> {
        self.newest(RUN_KIND, limit)
            .await?
            .iter()
            .map(run_of)
            .collect()
    }

    async fn recent_deployments(&self, limit: u32) -> Result<Vec<DeploymentRecord>, StateError> {
        self.newest(DEPLOY_KIND, limit)
            .await?
            .iter()
            .map(deployment_of)
            .collect()
    }

    async fn lock_holder(&self, key: &str, now: i64) -> Result<Option<String>, StateError> {
        let current = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("LOCK#{key}")))
            .key("sk", AttributeValue::S("LOCK".into()))
            .send()
            .await?;
        let Some(item) = current.item() else {
            return Ok(None);
        };
        // TTL deletion lags: an expired lock may still be there, held by no one.
        let expires_at = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        Ok((expires_at > now)
            .then(|| item.get("holder").and_then(|v| v.as_s().ok()).cloned())
            .flatten())
    }

    async fn runs_for_commit(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        sha: &CommitSha,
    ) -> Result<Vec<Run>, StateError> {
        self.query_index(BY_PR_INDEX, "pr_key", commit_key(forge, repo, sha))
            .await
    }
}

impl DynamoState {
    /// The newest `limit` items of one kind (runs or deployments), newest first.
    async fn newest(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, StateError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(RECENT_INDEX)
            .key_condition_expression("#kind = :kind")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":kind", AttributeValue::S(kind.into()))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while items.len() < limit as usize {
            match pages.next().await {
                Some(item) => items.push(item?),
                None => break,
            }
        }
        Ok(items)
    }

    async fn query_index(
        &self,
        index: &str,
        key: &str,
        value: String,
    ) -> Result<Vec<Run>, StateError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":v", AttributeValue::S(value))
            .into_paginator()
            .items()
            .send();
        let items: Vec<_> = pages.collect::<Result<_, _>>().await?;
        items.iter().map(run_of).collect()
    }
}

fn run_item(run: &Run) -> Result<std::collections::HashMap<String, AttributeValue>, StateError> {
    let mut item = std::collections::HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("RUN#{}", run.id.0)),
        ),
        ("sk".to_owned(), AttributeValue::S("RUN".into())),
        // Compare-and-set conditions read it (the JSON in `data` cannot be matched).
        (
            "status".to_owned(),
            AttributeValue::S(run.status.as_str().into()),
        ),
        (
            "created_at".to_owned(),
            AttributeValue::N(run.created_at.to_string()),
        ),
        (
            "data".to_owned(),
            AttributeValue::S(serde_json::to_string(run)?),
        ),
        ("kind".to_owned(), AttributeValue::S(RUN_KIND.into())),
    ]);
    let change = match run.pr {
        Some(pr) => pr_key(run.forge, &run.repo.id, pr),
        None => commit_key(run.forge, &run.repo.id, &run.sha),
    };
    item.insert("pr_key".into(), AttributeValue::S(change));
    if !run.status.is_finished() {
        item.insert("unfinished".into(), AttributeValue::S("1".into()));
    }
    Ok(item)
}

/// The key that groups the runs of a commit no pull request carries (in the `by_pr` index).
fn commit_key(forge: ForgeKind, repo: &RepoId, sha: &CommitSha) -> String {
    format!("COMMIT#{forge}#{}#{}", repo.0, sha.as_str())
}

fn deployment_of(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<DeploymentRecord, StateError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or(StateError::Corrupt("a deployment item without its data"))?;
    Ok(serde_json::from_str(data)?)
}

fn run_of(item: &std::collections::HashMap<String, AttributeValue>) -> Result<Run, StateError> {
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or(StateError::Corrupt("a run item without its data"))?;
    Ok(serde_json::from_str(data)?)
}

/// A conditional put's outcome: `true` when written, `false` when the condition (the item is
/// absent) failed; any other error is an error.
fn written_unless_present(
    result: Result<
        aws_sdk_dynamodb::operation::put_item::PutItemOutput,
        SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, HttpResponse>,
    >,
) -> Result<bool, StateError> {
    match result {
        Ok(_) => Ok(true),
        Err(err) => {
            let kind = crate::aws_error::kind(&err);
            let service_error = err.into_service_error();
            if service_error.is_conditional_check_failed_exception() {
                Ok(false)
            } else {
                Err(StateError::Backend {
                    kind,
                    source: Box::new(service_error),
                })
            }
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> StateError {
        let (kind, source) = crate::aws_error::classified(error);
        StateError::Backend { kind, source }
    }
}
