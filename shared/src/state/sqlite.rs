//! SQLite state for one machine: a single file under the data directory.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::{unix_secs, StateStore};
use crate::event::{DeliveryId, ForgeKind};
use crate::BoxError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    forge      TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (forge, id)
);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at);
";

#[derive(Clone)]
pub struct SqliteState {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteState {
    pub fn open(path: &Path) -> Result<Self, BoxError> {
        let conn = open_connection(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteState {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection off the async executor: SQLite calls block (fsync).
    async fn with_conn<T, F>(&self, f: F) -> Result<T, BoxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await?
        .map_err(Into::into)
    }
}

/// Open a database file the way every Slipway adapter wants it: WAL (readers never block the
/// writer), a busy timeout instead of instant "database is locked" errors.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, BoxError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

#[async_trait]
impl StateStore for SqliteState {
    async fn record_delivery(
        &self,
        forge: ForgeKind,
        id: &DeliveryId,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<bool, BoxError> {
        let id = id.0.clone();
        let now = unix_secs(now);
        let expires_at = now + ttl.as_secs() as i64;
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM deliveries WHERE expires_at <= ?1", [now])?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO deliveries (forge, id, expires_at) VALUES (?1, ?2, ?3)",
                params![forge.as_str(), id, expires_at],
            )?;
            tx.commit()?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn forget_delivery(&self, forge: ForgeKind, id: &DeliveryId) -> Result<(), BoxError> {
        let id = id.0.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM deliveries WHERE forge = ?1 AND id = ?2",
                params![forge.as_str(), id],
            )
            .map(drop)
        })
        .await
    }
}
