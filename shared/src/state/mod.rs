//! Durable state: deliveries seen (for dedupe, with expiry); later runs, comments and deployments.
//!
//! Two adapters: DynamoDB in the cloud, SQLite on one machine.

#[cfg(feature = "local")]
pub mod db;
#[cfg(feature = "aws-edge")]
pub mod dynamodb;
#[cfg(feature = "local")]
pub mod sqlite;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::model::deploy::DeploymentRecord;
use crate::model::error::ErrorKind;
use crate::model::event::RunId;
use crate::model::event::{CommitSha, DeliveryId, ForgeKind, PrNumber, RepoId};
use crate::model::run::Run;
use crate::model::status::RunStatus;

/// A state store call that failed. The text is the store's own (table names, SQL): for the log.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// DynamoDB or SQLite failed: a throttled or busy store may answer a later call.
    #[error("{source}")]
    Backend {
        kind: ErrorKind,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record that does not convert to or from its stored JSON (a bug, or an edited store).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A stored item missing a part every item of its type has.
    #[error("{0}")]
    Corrupt(&'static str),
}

impl StateError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::Backend { kind, .. } => *kind,
            StateError::Json(_) | StateError::Corrupt(_) => ErrorKind::Permanent,
        }
    }
}

#[cfg(feature = "local")]
impl From<db::DbError> for StateError {
    fn from(error: db::DbError) -> StateError {
        StateError::Backend {
            kind: error.kind(),
            source: Box::new(error),
        }
    }
}

/// How long a delivery id is remembered. GitHub lets an operator redeliver for 3 days; a week
/// covers that with room to spare.
pub const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a recorded delivery may stay unconfirmed (recorded, its event not yet queued)
/// before a redelivery takes it over. Queueing takes milliseconds, its retries seconds.
pub const UNCONFIRMED_GRACE: Duration = Duration::from_secs(60);

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Record a delivery, unconfirmed, unless it is already recorded and unexpired. `true` when
    /// it is new: of two concurrent calls with one id, exactly one gets `true`. A record left
    /// unconfirmed for [`UNCONFIRMED_GRACE`] counts as absent: the edge that made it died
    /// before queueing the event, and the forge's redelivery must be queued, not dropped.
    async fn record_delivery(
        &self,
        forge: ForgeKind,
        id: &DeliveryId,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<bool, StateError>;

    /// The delivery's event is queued: its record now stands until it expires.
    async fn confirm_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError>;

    /// Forget a delivery, so that a redelivery is accepted (used when queueing it failed).
    async fn forget_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError>;

    /// Record a new run; `false` (and nothing written) when a run with its id exists.
    async fn insert_run(&self, run: &Run) -> Result<bool, StateError>;

    /// Write a run's new state if its stored status is still `from` (compare-and-set); `false`,
    /// and nothing written, when another writer moved it first. Every state change goes through
    /// here, so a finished run never moves back: a late writer finds it moved and stops.
    async fn save_run(&self, run: &Run, from: RunStatus) -> Result<bool, StateError>;

    async fn get_run(&self, id: &RunId) -> Result<Option<Run>, StateError>;

    /// Every run of one pull request, oldest first.
    async fn runs_for_pr(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Vec<Run>, StateError>;

    /// Runs still queued or running, for the sweeper.
    async fn unfinished_runs(&self) -> Result<Vec<Run>, StateError>;

    /// Remember that a maintainer trusted this head of a fork pull request (`/ok-to-test`).
    async fn set_trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<(), StateError>;

    /// The head a maintainer last trusted for this pull request.
    async fn trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Option<CommitSha>, StateError>;

    /// Remember when Slipway first heard of a pull request's head (its edge's clock, Unix
    /// seconds). A later call for the same head keeps the first time.
    async fn record_head_seen(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
        seen_at: u64,
    ) -> Result<(), StateError>;

    /// When Slipway first heard of this head, if it has: `/ok-to-test` trusts only a head that
    /// was there before the comment was written.
    async fn head_seen_at(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<Option<u64>, StateError>;

    /// Record a deployment, or its new state.
    async fn save_deployment(&self, deployment: &DeploymentRecord) -> Result<(), StateError>;

    /// An environment's deployments, oldest first.
    async fn deployments(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        environment: &str,
    ) -> Result<Vec<DeploymentRecord>, StateError>;

    /// Take the lock `key` for `holder` until `now + ttl`. `None` when taken; the current holder
    /// when someone else holds it and it has not expired. Of two racing callers, one wins.
    async fn acquire_lock(
        &self,
        key: &str,
        holder: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Option<String>, StateError>;

    /// Let go of `key` if `holder` still holds it.
    async fn release_lock(&self, key: &str, holder: &str) -> Result<(), StateError>;
}

/// What the dashboard reads besides: the newest records across every repository, who holds a
/// lock, and a pushed commit's runs (for the lead time of a change deployed without a pull
/// request).
#[async_trait]
pub trait Records: StateStore {
    /// The newest `limit` runs, newest first.
    async fn recent_runs(&self, limit: u32) -> Result<Vec<Run>, StateError>;

    /// The newest `limit` deployments, newest first.
    async fn recent_deployments(&self, limit: u32) -> Result<Vec<DeploymentRecord>, StateError>;

    /// Who holds the lock `key` at `now` (Unix seconds), if anyone.
    async fn lock_holder(&self, key: &str, now: i64) -> Result<Option<String>, StateError>;

    /// Every run of one commit that no pull request carries, oldest first.
    async fn runs_for_commit(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        sha: &CommitSha,
    ) -> Result<Vec<Run>, StateError>;
}

/// The key that groups an environment's deployments, and names its lock.
pub fn environment_key(forge: ForgeKind, repo: &RepoId, environment: &str) -> String {
    format!("ENV#{forge}#{}#{environment}", repo.0)
}

/// The key that groups a pull request's runs.
pub(crate) fn pr_key(forge: ForgeKind, repo: &RepoId, pr: PrNumber) -> String {
    format!("PR#{forge}#{}#{pr}", repo.0)
}

pub fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
