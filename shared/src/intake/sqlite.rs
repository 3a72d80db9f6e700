//! The one-machine intake: a writer thread with its own connection records deliveries and
//! queues their events in SQLite, committing every delivery that arrived while the last commit
//! ran in one transaction (group commit), and answers each once its transaction is on disk.
//!
//! One transaction per burst instead of five per delivery is what lets `serve` take deliveries
//! as fast as it verifies them; the edge never waits on the pipeline's or the pages' connection.
//! Keys are looked up in the writer's memory ([`Seen`]) and appended to an unindexed table, so a
//! delivery writes no random index pages; a lock file keeps a second writer off the directory.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::seen::{digest, KeyDigest, Seen};
use super::{Admission, Intake, IntakeError};
use crate::model::error::ErrorKind;
use crate::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use crate::queue::{local as queue_db, QueueError};
use crate::state::db::{self, DbError};
use crate::state::{sqlite as state_db, unix_secs, DELIVERY_TTL};

/// Deliveries committed together at most: bounds one transaction's time, so the first
/// delivery of a large burst is not kept waiting for the last.
const MAX_BATCH: usize = 256;

/// Deliveries waiting for the writer at most; beyond this the edge waits to hand one over
/// (its connection and body caps bound how many wait).
const BACKLOG: usize = 4096;

/// Expired keys deleted per commit at most, so that a week-old burst expiring does not stall
/// one commit; the rest go with the next ones.
const MAX_EXPIRED_PER_COMMIT: i64 = 1024;

/// The intake's own schema (see `state::db`): admitted keys in the order they were admitted,
/// with no index — the writer looks them up in memory and expires them oldest first by rowid.
const MIGRATIONS: &[&str] = &["
CREATE TABLE intake_keys (
    seq        INTEGER PRIMARY KEY,
    digest     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
);
"];

/// One delivery handed to the writer, and where its answer goes.
struct Offer {
    /// Each key, and its digest as remembered (hashed here, on the edge's threads).
    keys: Vec<(String, KeyDigest)>,
    message: String,
    now: i64,
    /// The commit's failure is logged once by the writer; each delivery hears its kind.
    answer: oneshot::Sender<Result<Admission, ErrorKind>>,
}

/// A handle on the writer thread; clones share it. Dropping the last one waits for the writer
/// to commit what it holds and let go of the lock, so the database can be opened again at once.
#[derive(Clone)]
pub struct GroupCommit {
    writer: Arc<Writer>,
}

struct Writer {
    /// `None` only while dropping: closing the channel is what ends the thread.
    offers: Option<mpsc::Sender<Offer>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.offers.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl GroupCommit {
    /// Open the database at `path` (bringing the state, queue and intake schemas up to date),
    /// take its intake lock, read back the keys admitted so far, and start the writer. Its
    /// commits are synchronous (`FULL`): an answered delivery survives a crash of the machine,
    /// not only of the process, and group commit pays one sync per burst.
    pub fn open(path: &Path) -> Result<GroupCommit, DbError> {
        let lock = lock_intake(path)?;
        let mut conn = db::connect(path)?;
        db::migrate(&mut conn, "state", state_db::MIGRATIONS)?;
        db::migrate(&mut conn, "queue", queue_db::MIGRATIONS)?;
        db::migrate(&mut conn, "intake", MIGRATIONS)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let seen = read_back(&mut conn, unix_secs(SystemTime::now()))?;
        tracing::debug!(
            keys = seen.len(),
            "delivery keys admitted earlier, read back"
        );
        let (offers, waiting) = mpsc::channel(BACKLOG);
        let thread = std::thread::Builder::new()
            .name("slipway-intake".into())
            .spawn(move || {
                let _held_until_the_writer_ends = lock;
                write_until_closed(conn, seen, waiting)
            })?;
        let writer = Writer {
            offers: Some(offers),
            thread: Some(thread),
        };
        Ok(GroupCommit {
            writer: Arc::new(writer),
        })
    }
}

/// The lock beside the database that one writer holds while it runs (released by the kernel
/// however the process ends): [`Seen`] is only the whole truth if no one else admits keys.
/// Owner-only, so that another local user cannot hold it and keep `serve` from starting.
fn lock_intake(path: &Path) -> Result<File, DbError> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".intake-lock");
    let lock_path = path.with_file_name(name);
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DbError::InUse(path.to_owned())),
        Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
    }
}

/// The keys admitted and not yet expired, remembered; the expired ones deleted (the commits
/// delete them oldest first and stop at the first live one, which a clock set back can leave
/// ahead of expired ones). Records an earlier Slipway kept in the `deliveries` table (under its
/// unique index) move over first: confirmed ones stay duplicates; one left unconfirmed belonged
/// to an edge that is gone, and the forge's redelivery may come in.
fn read_back(conn: &mut Connection, now: i64) -> rusqlite::Result<Seen> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut older = tx.prepare(
            "SELECT forge, id, expires_at FROM deliveries
             WHERE unconfirmed_until = 0 AND expires_at > ?1 ORDER BY expires_at",
        )?;
        let mut rows = older.query([now])?;
        while let Some(row) = rows.next()? {
            let (forge, id): (String, String) = (row.get(0)?, row.get(1)?);
            append_key(&tx, &digest(&forge, &id), row.get(2)?)?;
        }
    }
    tx.execute("DELETE FROM deliveries", [])?;
    tx.execute("DELETE FROM intake_keys WHERE expires_at <= ?1", [now])?;
    tx.commit()?;

    let mut seen = Seen::default();
    let mut stmt = conn.prepare("SELECT digest, expires_at FROM intake_keys ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if let Some(key) = key_digest(row.get_ref(0)?) {
            seen.remember_latest(key, row.get(1)?);
        }
    }
    Ok(seen)
}

/// A stored digest; anything else in the column (only a hand edit could put it there) is no key.
fn key_digest(value: ValueRef<'_>) -> Option<KeyDigest> {
    match value {
        ValueRef::Blob(bytes) => KeyDigest::try_from(bytes).ok(),
        _ => None,
    }
}

#[async_trait]
impl Intake for GroupCommit {
    async fn admit(
        &self,
        forge: ForgeKind,
        keys: &[DeliveryId],
        event: &QueuedEvent,
        now: SystemTime,
    ) -> Result<Admission, IntakeError> {
        let message = serde_json::to_string(event).map_err(QueueError::from)?;
        let (answer, answered) = oneshot::channel();
        let offer = Offer {
            keys: keys
                .iter()
                .map(|key| (key.0.clone(), digest(forge.as_str(), &key.0)))
                .collect(),
            message,
            now: unix_secs(now),
            answer,
        };
        let Some(offers) = &self.writer.offers else {
            return Err(IntakeError::WriterStopped);
        };
        offers
            .send(offer)
            .await
            .map_err(|_| IntakeError::WriterStopped)?;
        match answered.await {
            Ok(result) => result.map_err(|kind| IntakeError::Commit { kind }),
            Err(_) => Err(IntakeError::WriterStopped),
        }
    }
}

/// The writer: wait for one offer, take every other already waiting (up to [`MAX_BATCH`]),
/// commit them together, answer each.
fn write_until_closed(mut conn: Connection, mut seen: Seen, mut waiting: mpsc::Receiver<Offer>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = waiting.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(offer) => batch.push(offer),
                Err(_) => break,
            }
        }
        match commit(&mut conn, &mut seen, &batch) {
            Ok(admissions) => {
                for (offer, admission) in batch.drain(..).zip(admissions) {
                    let _ = offer.answer.send(Ok(admission));
                }
            }
            Err(error) => {
                tracing::error!(%error, deliveries = batch.len(), "committing deliveries failed; each is answered 503 for the forge to redeliver");
                let kind = error.kind();
                for offer in batch.drain(..) {
                    let _ = offer.answer.send(Err(kind));
                }
            }
        }
    }
}

/// One transaction for the batch: each delivery's keys appended and its event queued, or, when
/// a key was admitted before (by an earlier commit or earlier in this batch), nothing of it.
/// All or nothing: a failed commit writes none of them, and [`Seen`] forgets them again.
fn commit(
    conn: &mut Connection,
    seen: &mut Seen,
    batch: &[Offer],
) -> Result<Vec<Admission>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = batch.iter().map(|offer| offer.now).max().unwrap_or(0);
    let mut remembered = Vec::new();
    let written = delete_expired_keys(&tx, now).and_then(|expired| {
        let admissions = admit_batch(&tx, seen, batch, &mut remembered)?;
        Ok((expired, admissions))
    });
    match written.and_then(|written| tx.commit().map(|()| written)) {
        Ok((expired, admissions)) => {
            for (key, expires_at) in expired {
                seen.forget(&key, expires_at);
            }
            seen.shrink_when_sparse();
            Ok(admissions)
        }
        Err(error) => {
            for (key, previous) in remembered.into_iter().rev() {
                seen.restore(key, previous);
            }
            Err(error.into())
        }
    }
}

/// Each offer admitted (keys appended, event queued, keys remembered, with what each replaced in
/// `remembered`) or found a duplicate, in the open transaction.
fn admit_batch(
    tx: &Connection,
    seen: &mut Seen,
    batch: &[Offer],
    remembered: &mut Vec<(KeyDigest, Option<i64>)>,
) -> rusqlite::Result<Vec<Admission>> {
    let mut admissions = Vec::with_capacity(batch.len());
    for offer in batch {
        if let Some((key, _)) = offer.keys.iter().find(|(_, d)| seen.contains(d, offer.now)) {
            admissions.push(Admission::Duplicate(DeliveryId(key.clone())));
            continue;
        }
        let expires_at = offer.now + DELIVERY_TTL.as_secs() as i64;
        for (_, key) in &offer.keys {
            append_key(tx, key, expires_at)?;
            remembered.push((*key, seen.remember(*key, expires_at)));
        }
        queue_db::insert_message(tx, &offer.message)?;
        admissions.push(Admission::Queued);
    }
    Ok(admissions)
}

fn append_key(tx: &Connection, key: &KeyDigest, expires_at: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO intake_keys (digest, expires_at) VALUES (?1, ?2)")?
        .execute(params![&key[..], expires_at])
        .map(drop)
}

/// Delete the oldest keys while they have expired (at most [`MAX_EXPIRED_PER_COMMIT`]); what was
/// deleted, for [`Seen`] to forget once the transaction commits. Keys are appended as they are
/// admitted, so the expired ones lead the table; when nothing expired this reads one row.
/// Every row deleted was read here, in this write transaction.
fn delete_expired_keys(tx: &Connection, now: i64) -> rusqlite::Result<Vec<(KeyDigest, i64)>> {
    let mut expired = Vec::new();
    let mut last = None;
    {
        let mut oldest = tx.prepare_cached(
            "SELECT seq, digest, expires_at FROM intake_keys ORDER BY seq LIMIT ?1",
        )?;
        let mut rows = oldest.query([MAX_EXPIRED_PER_COMMIT])?;
        while let Some(row) = rows.next()? {
            let expires_at: i64 = row.get(2)?;
            if expires_at > now {
                break;
            }
            last = Some(row.get::<_, i64>(0)?);
            if let Some(key) = key_digest(row.get_ref(1)?) {
                expired.push((key, expires_at));
            }
        }
    }
    if let Some(last) = last {
        tx.prepare_cached("DELETE FROM intake_keys WHERE seq <= ?1")?
            .execute([last])?;
    }
    Ok(expired)
}

#[cfg(test)]
mod tests;
