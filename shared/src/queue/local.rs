//! A durable queue in SQLite for one machine: survives restarts, redelivers what was received but
//! not acknowledged once its visibility timeout passes (the same contract as SQS).

use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{Queue, QueueError};
use crate::model::event::QueuedEvent;
use crate::state::db::{Db, DbError};

/// The schema, one migration each (see `state::db`). Migration 1 is the schema from before
/// versions, `IF NOT EXISTS` so that databases it made adopt it; later ones need no such care.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    body       TEXT    NOT NULL,
    visible_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);
"];

/// One received message: acknowledge it by `seq` once handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub seq: i64,
    pub attempts: u32,
    pub event: QueuedEvent,
}

#[derive(Clone)]
pub struct LocalQueue {
    db: Db,
}

fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LocalQueue {
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        Ok(LocalQueue {
            db: Db::open(path, "queue", MIGRATIONS)?,
        })
    }

    /// Take the oldest visible message and hide it for `visibility`; it comes back unless acked.
    pub async fn receive(
        &self,
        now: SystemTime,
        visibility: Duration,
    ) -> Result<Option<Received>, QueueError> {
        let now_ms = unix_millis(now);
        let hidden_until = now_ms + visibility.as_millis() as i64;
        self.db
            .call(move |conn| -> Result<_, DbError> {
                let row = conn
                    .query_row(
                        "UPDATE queue SET visible_at = ?1, attempts = attempts + 1
                     WHERE seq = (SELECT seq FROM queue WHERE visible_at <= ?2 ORDER BY seq LIMIT 1)
                     RETURNING seq, body, attempts",
                        params![hidden_until, now_ms],
                        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?)),
                    )
                    .optional()?;
                let Some((seq, body, attempts)) = row else {
                    return Ok(None);
                };
                let event = serde_json::from_str(&body)?;
                Ok(Some(Received {
                    seq,
                    attempts,
                    event,
                }))
            })
            .await
            .map_err(QueueError::from)
    }

    pub async fn ack(&self, seq: i64) -> Result<(), QueueError> {
        self.db
            .call(move |conn| -> Result<_, DbError> {
                conn.execute("DELETE FROM queue WHERE seq = ?1", [seq])?;
                Ok(())
            })
            .await
            .map_err(QueueError::from)
    }

    /// Messages waiting or in flight.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        self.db
            .call(|conn| -> Result<_, DbError> {
                let n: i64 = conn.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))?;
                Ok(n as u64)
            })
            .await
            .map_err(QueueError::from)
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn enqueue(&self, event: &QueuedEvent) -> Result<(), QueueError> {
        let body = serde_json::to_string(event)?;
        self.db
            .call(move |conn| -> Result<_, DbError> {
                conn.execute(
                    "INSERT INTO queue (body, visible_at) VALUES (?1, 0)",
                    params![body],
                )?;
                Ok(())
            })
            .await
            .map_err(QueueError::from)
    }
}
