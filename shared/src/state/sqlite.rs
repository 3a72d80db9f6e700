//! SQLite state for one machine: a single file under the data directory.

use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::db::Db;
use super::{
    environment_key, pr_key, unix_secs, Records, StateError, StateStore, UNCONFIRMED_GRACE,
};
use crate::model::deploy::DeploymentRecord;
use crate::model::event::RunId;
use crate::model::event::{CommitSha, DeliveryId, ForgeKind, PrNumber, RepoId};
use crate::model::run::Run;
use crate::model::status::RunStatus;

/// The schema, one migration each (see `state::db`). Migration 1 is the schema from before
/// versions, `IF NOT EXISTS` so that databases it made adopt it; later ones need no such care.
pub(crate) const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS deliveries (
    forge      TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (forge, id)
);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at);
CREATE TABLE IF NOT EXISTS runs (
    id         TEXT    PRIMARY KEY,
    pr_key     TEXT,
    unfinished INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_pr ON runs (pr_key, created_at);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (unfinished);
CREATE TABLE IF NOT EXISTS trust (
    pr_key TEXT PRIMARY KEY,
    sha    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heads_seen (
    pr_key  TEXT    NOT NULL,
    sha     TEXT    NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (pr_key, sha)
);
CREATE TABLE IF NOT EXISTS deployments (
    id         TEXT    PRIMARY KEY,
    env_key    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_env ON deployments (env_key, created_ms);
CREATE TABLE IF NOT EXISTS locks (
    key        TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
",
    // Recorded before queueing, confirmed after (0 = confirmed; older rows were).
    "ALTER TABLE deliveries ADD COLUMN unconfirmed_until INTEGER NOT NULL DEFAULT 0;",
    // `serve`'s intake keeps its keys in `intake_keys` now (`intake::sqlite`), and moves these
    // records there when it starts. This version makes an older Slipway, which would look for
    // duplicates in the emptied `deliveries`, refuse the file instead. A record an edge left
    // unconfirmed is let go: that edge is gone, and the forge's redelivery may come in.
    "DELETE FROM deliveries WHERE unconfirmed_until != 0;",
];

/// Drop the delivery records that expired by `now` (Unix seconds).
pub(crate) fn forget_expired_deliveries(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM deliveries WHERE expires_at <= ?1")?
        .execute([now])
        .map(drop)
}

/// Record delivery `id` unless it is recorded: `true` when it is new, or takes over a record
/// its edge left unconfirmed past `unconfirmed_until`. `unconfirmed_until` 0 records it
/// confirmed. Times in Unix seconds.
pub(crate) fn insert_delivery(
    conn: &Connection,
    forge: ForgeKind,
    id: &str,
    now: i64,
    expires_at: i64,
    unconfirmed_until: i64,
) -> rusqlite::Result<bool> {
    let written = conn
        .prepare_cached(
            "INSERT INTO deliveries (forge, id, expires_at, unconfirmed_until)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (forge, id) DO UPDATE
               SET expires_at = excluded.expires_at,
                   unconfirmed_until = excluded.unconfirmed_until
             WHERE deliveries.unconfirmed_until != 0
               AND deliveries.unconfirmed_until <= ?5",
        )?
        .execute(params![
            forge.as_str(),
            id,
            expires_at,
            unconfirmed_until,
            now
        ])?;
    Ok(written == 1)
}

#[derive(Clone)]
pub struct SqliteState {
    db: Db,
}

impl SqliteState {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        Ok(SqliteState {
            db: Db::open(path, "state", MIGRATIONS)?,
        })
    }
}

#[async_trait]
impl Records for SqliteState {
    async fn recent_runs(&self, limit: u32) -> Result<Vec<Run>, StateError> {
        self.select_json(
            "SELECT data FROM runs ORDER BY created_at DESC, id DESC LIMIT ?1",
            [limit.to_string()],
        )
        .await
    }

    async fn recent_deployments(&self, limit: u32) -> Result<Vec<DeploymentRecord>, StateError> {
        self.select_json(
            "SELECT data FROM deployments ORDER BY created_ms DESC, rowid DESC LIMIT ?1",
            [limit.to_string()],
        )
        .await
    }

    async fn lock_holder(&self, key: &str, now: i64) -> Result<Option<String>, StateError> {
        let key = key.to_owned();
        self.db
            .call(move |conn| {
                conn.prepare_cached("SELECT holder FROM locks WHERE key = ?1 AND expires_at > ?2")?
                    .query_row(params![key, now], |r| r.get(0))
                    .optional()
            })
            .await
            .map_err(Into::into)
    }

    async fn runs_for_commit(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        sha: &CommitSha,
    ) -> Result<Vec<Run>, StateError> {
        self.select_json(
            "SELECT data FROM runs
             WHERE pr_key IS NULL AND json_extract(data, '$.sha') = ?1
               AND json_extract(data, '$.repo.id') = ?2 AND json_extract(data, '$.forge') = ?3
             ORDER BY created_at, id",
            [
                sha.as_str().to_owned(),
                repo.0.clone(),
                forge.as_str().to_owned(),
            ],
        )
        .await
    }
}

#[async_trait]
impl StateStore for SqliteState {
    async fn record_delivery(
        &self,
        forge: ForgeKind,
        id: &DeliveryId,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        let id = id.0.clone();
        let now = unix_secs(now);
        let expires_at = now + ttl.as_secs() as i64;
        let unconfirmed_until = now + UNCONFIRMED_GRACE.as_secs() as i64;
        self.db
            .call(move |conn| -> rusqlite::Result<_> {
                let tx = conn.transaction()?;
                forget_expired_deliveries(&tx, now)?;
                let recorded =
                    insert_delivery(&tx, forge, &id, now, expires_at, unconfirmed_until)?;
                tx.commit()?;
                Ok(recorded)
            })
            .await
            .map_err(StateError::from)
    }

    async fn confirm_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError> {
        let id = id.0.clone();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE deliveries SET unconfirmed_until = 0 WHERE forge = ?1 AND id = ?2",
                    params![forge.as_str(), id],
                )
                .map(drop)
            })
            .await
            .map_err(StateError::from)
    }

    async fn forget_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), StateError> {
        let id = id.0.clone();
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM deliveries WHERE forge = ?1 AND id = ?2",
                    params![forge.as_str(), id],
                )
                .map(drop)
            })
            .await
            .map_err(StateError::from)
    }

    async fn insert_run(&self, run: &Run) -> Result<bool, StateError> {
        let row = RunRow::of(run)?;
        self.db.call(move |conn| -> rusqlite::Result<_> {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO runs (id, pr_key, unfinished, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.id, row.pr_key, row.unfinished, row.created_at, row.data],
            )?;
            Ok(inserted == 1)
        })
        .await
        .map_err(StateError::from)
    }

    async fn save_run(&self, run: &Run, from: RunStatus) -> Result<bool, StateError> {
        let row = RunRow::of(run)?;
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE runs SET unfinished = ?2, data = ?3
                     WHERE id = ?1 AND json_extract(data, '$.status') = ?4",
                    params![row.id, row.unfinished, row.data, from.as_str()],
                )
                .map(|changed| changed == 1)
            })
            .await
            .map_err(StateError::from)
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<Run>, StateError> {
        let id = id.0.clone();
        let data = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT data FROM runs WHERE id = ?1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        data.map(|d| serde_json::from_str(&d).map_err(Into::into))
            .transpose()
    }

    async fn runs_for_pr(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Vec<Run>, StateError> {
        let key = pr_key(forge, repo, pr);
        self.select_runs(
            "SELECT data FROM runs WHERE pr_key = ?1 ORDER BY created_at, id",
            Some(key),
        )
        .await
    }

    async fn unfinished_runs(&self) -> Result<Vec<Run>, StateError> {
        self.select_runs(
            "SELECT data FROM runs WHERE unfinished = 1 ORDER BY created_at, id",
            None,
        )
        .await
    }

    async fn set_trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<(), StateError> {
        let (key, sha) = (pr_key(forge, repo, pr), sha.to_string());
        self.db.call(move |conn| {
            conn.execute(
                "INSERT INTO trust (pr_key, sha) VALUES (?1, ?2) ON CONFLICT (pr_key) DO UPDATE SET sha = excluded.sha",
                params![key, sha],
            )
            .map(drop)
        })
        .await
        .map_err(StateError::from)
    }

    async fn record_head_seen(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
        seen_at: u64,
    ) -> Result<(), StateError> {
        let (key, sha) = (pr_key(forge, repo, pr), sha.to_string());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO heads_seen (pr_key, sha, seen_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (pr_key, sha) DO NOTHING",
                    params![key, sha, seen_at as i64],
                )
                .map(drop)
            })
            .await
            .map_err(StateError::from)
    }

    async fn head_seen_at(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
        sha: &CommitSha,
    ) -> Result<Option<u64>, StateError> {
        let (key, sha) = (pr_key(forge, repo, pr), sha.to_string());
        let seen = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT seen_at FROM heads_seen WHERE pr_key = ?1 AND sha = ?2",
                    params![key, sha],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
            })
            .await?;
        Ok(seen.map(|s| s as u64))
    }

    async fn trusted_sha(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        pr: PrNumber,
    ) -> Result<Option<CommitSha>, StateError> {
        let key = pr_key(forge, repo, pr);
        let sha = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT sha FROM trust WHERE pr_key = ?1", [key], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        Ok(sha.and_then(|s| CommitSha::parse(&s).ok()))
    }

    async fn save_deployment(&self, deployment: &DeploymentRecord) -> Result<(), StateError> {
        let id = deployment.id.clone();
        let key = environment_key(
            deployment.forge,
            &deployment.repo.id,
            &deployment.environment,
        );
        let created = deployment.created_ms as i64;
        let data = serde_json::to_string(deployment)?;
        self.db
            .call(move |conn| {
                conn.execute(
                "INSERT INTO deployments (id, env_key, created_ms, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                params![id, key, created, data],
            )
            .map(drop)
            })
            .await
            .map_err(StateError::from)
    }

    async fn deployments(
        &self,
        forge: ForgeKind,
        repo: &RepoId,
        environment: &str,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let key = environment_key(forge, repo, environment);
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT data FROM deployments WHERE env_key = ?1 ORDER BY created_ms, rowid",
                )?;
                let rows = statement.query_map([key], |r| r.get(0))?.collect();
                rows
            })
            .await?;
        rows.into_iter()
            .map(|d| serde_json::from_str(&d).map_err(Into::into))
            .collect()
    }

    async fn acquire_lock(
        &self,
        key: &str,
        holder: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Option<String>, StateError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        let now = unix_secs(now);
        let expires_at = now + ttl.as_secs() as i64;
        self.db
            .call(move |conn| -> rusqlite::Result<_> {
                let tx = conn.transaction()?;
                tx.execute(
                    "DELETE FROM locks WHERE key = ?1 AND expires_at <= ?2",
                    params![key, now],
                )?;
                let taken = tx.execute(
                    "INSERT OR IGNORE INTO locks (key, holder, expires_at) VALUES (?1, ?2, ?3)",
                    params![key, holder, expires_at],
                )?;
                let current = if taken == 1 {
                    None
                } else {
                    let current: String =
                        tx.query_row("SELECT holder FROM locks WHERE key = ?1", [&key], |r| {
                            r.get(0)
                        })?;
                    (current != holder).then_some(current)
                };
                tx.commit()?;
                Ok(current)
            })
            .await
            .map_err(StateError::from)
    }

    async fn release_lock(&self, key: &str, holder: &str) -> Result<(), StateError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM locks WHERE key = ?1 AND holder = ?2",
                    params![key, holder],
                )
                .map(drop)
            })
            .await
            .map_err(StateError::from)
    }
}

/// A run as stored: the JSON document plus the columns it is looked up by.
struct RunRow {
    id: String,
    pr_key: Option<String>,
    unfinished: bool,
    created_at: i64,
    data: String,
}

impl RunRow {
    fn of(run: &Run) -> Result<Self, StateError> {
        Ok(RunRow {
            id: run.id.0.clone(),
            pr_key: run.pr.map(|pr| pr_key(run.forge, &run.repo.id, pr)),
            unfinished: !run.status.is_finished(),
            created_at: run.created_at as i64,
            data: serde_json::to_string(run)?,
        })
    }
}

impl SqliteState {
    /// The JSON documents `sql` selects, each read as a `T`.
    async fn select_json<T: serde::de::DeserializeOwned, const N: usize>(
        &self,
        sql: &'static str,
        values: [String; N],
    ) -> Result<Vec<T>, StateError> {
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let rows = statement
                    .query_map(rusqlite::params_from_iter(values), |r| r.get(0))?
                    .collect();
                rows
            })
            .await?;
        rows.into_iter()
            .map(|d| serde_json::from_str(&d).map_err(Into::into))
            .collect()
    }

    async fn select_runs(
        &self,
        sql: &'static str,
        key: Option<String>,
    ) -> Result<Vec<Run>, StateError> {
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                match key {
                    Some(key) => statement.query_map([key], |r| r.get(0))?.collect(),
                    None => statement.query_map([], |r| r.get(0))?.collect(),
                }
            })
            .await?;
        rows.into_iter()
            .map(|d: String| serde_json::from_str(&d).map_err(Into::into))
            .collect()
    }
}
