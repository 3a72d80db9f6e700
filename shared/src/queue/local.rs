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
pub(crate) const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    body       TEXT    NOT NULL,
    visible_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);
",
    // Messages no one can process are parked here, not retried in a loop; `receive` finds the
    // next visible message by index however long the queue grows.
    "
CREATE TABLE dead_letters (
    seq       INTEGER PRIMARY KEY,
    body      TEXT    NOT NULL,
    attempts  INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    parked_at INTEGER NOT NULL
);
CREATE INDEX queue_visible ON queue (visible_at, seq);
",
];

/// A message parked for a person to look at, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub seq: i64,
    pub body: String,
    pub attempts: u32,
    pub reason: String,
}

/// Move message `seq` from the queue to the dead letters.
fn park_row(
    conn: &rusqlite::Connection,
    seq: i64,
    reason: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO dead_letters (seq, body, attempts, reason, parked_at)
         SELECT seq, body, attempts, ?2, ?3 FROM queue WHERE seq = ?1",
        params![seq, reason, now_ms],
    )?;
    conn.execute("DELETE FROM queue WHERE seq = ?1", [seq])?;
    Ok(())
}

/// Queue one message, visible at once.
pub(crate) fn insert_message(conn: &rusqlite::Connection, body: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO queue (body, visible_at) VALUES (?1, 0)")?
        .execute([body])
        .map(drop)
}

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
    /// A message that is not a queued event (written by another version, or damaged) is parked
    /// as a dead letter at once: retrying cannot make it readable.
    pub async fn receive(
        &self,
        now: SystemTime,
        visibility: Duration,
    ) -> Result<Option<Received>, QueueError> {
        let now_ms = unix_millis(now);
        let hidden_until = now_ms + visibility.as_millis() as i64;
        self.db
            .call(move |conn| -> Result<_, DbError> {
                loop {
                    let row = conn
                        .query_row(
                            "UPDATE queue SET visible_at = ?1, attempts = attempts + 1
                         WHERE seq = (SELECT seq FROM queue WHERE visible_at <= ?2 ORDER BY visible_at, seq LIMIT 1)
                         RETURNING seq, body, attempts",
                            params![hidden_until, now_ms],
                            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?)),
                        )
                        .optional()?;
                    let Some((seq, body, attempts)) = row else {
                        return Ok(None);
                    };
                    match serde_json::from_str(&body) {
                        Ok(event) => {
                            return Ok(Some(Received {
                                seq,
                                attempts,
                                event,
                            }))
                        }
                        Err(error) => {
                            tracing::error!(seq, %error, "parking a queued message that is not an event");
                            park_row(conn, seq, &format!("not a queued event: {error}"), now_ms)?;
                        }
                    }
                }
            })
            .await
            .map_err(QueueError::from)
    }

    /// Give up on message `seq`: it moves to the dead letters with `reason`.
    pub async fn park(&self, seq: i64, reason: &str, now: SystemTime) -> Result<(), QueueError> {
        let (reason, now_ms) = (reason.to_owned(), unix_millis(now));
        self.db
            .call(move |conn| -> Result<_, DbError> {
                park_row(conn, seq, &reason, now_ms)?;
                Ok(())
            })
            .await
            .map_err(QueueError::from)
    }

    /// The parked messages, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        self.db
            .call(|conn| -> Result<_, DbError> {
                let mut statement = conn
                    .prepare("SELECT seq, body, attempts, reason FROM dead_letters ORDER BY seq")?;
                let rows = statement.query_map([], |row| {
                    Ok(DeadLetter {
                        seq: row.get(0)?,
                        body: row.get(1)?,
                        attempts: row.get(2)?,
                        reason: row.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
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
                insert_message(conn, &body)?;
                Ok(())
            })
            .await
            .map_err(QueueError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(delivery: &str) -> QueuedEvent {
        QueuedEvent::ping(delivery)
    }

    #[tokio::test]
    async fn unreadable_and_given_up_messages_are_parked_not_retried() {
        let tmp = tempfile::tempdir().unwrap();
        let queue = LocalQueue::open(&tmp.path().join("q.db")).unwrap();
        queue
            .db
            .call(|conn| -> Result<_, DbError> {
                conn.execute(
                    "INSERT INTO queue (body, visible_at) VALUES ('{not json', 0)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        queue.enqueue(&event("good")).await.unwrap();
        queue.enqueue(&event("poison")).await.unwrap();
        let now = SystemTime::now();
        let hide = Duration::from_secs(60);

        let first = queue.receive(now, hide).await.unwrap().unwrap();
        assert_eq!(
            first.event.delivery.0, "good",
            "the unreadable one was skipped"
        );
        queue.ack(first.seq).await.unwrap();
        let poison = queue.receive(now, hide).await.unwrap().unwrap();
        queue
            .park(poison.seq, "dispatch failed 5 times", now)
            .await
            .unwrap();

        assert_eq!(queue.receive(now + hide * 2, hide).await.unwrap(), None);
        assert_eq!(queue.depth().await.unwrap(), 0);
        let parked = queue.dead_letters().await.unwrap();
        let reasons: Vec<&str> = parked.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(parked.len(), 2, "{parked:?}");
        assert!(reasons[0].starts_with("not a queued event:"), "{reasons:?}");
        assert_eq!(reasons[1], "dispatch failed 5 times");
        assert!(parked[1].body.contains("poison"));
    }
}
