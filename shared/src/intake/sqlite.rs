//! The one-machine intake: a writer thread with its own connection records deliveries and
//! queues their events in SQLite, committing every delivery that arrived while the last commit
//! ran in one transaction (group commit), and answers each once its transaction is on disk.
//!
//! One transaction per burst instead of five per delivery is what lets `serve` take deliveries
//! as fast as it verifies them; the edge never waits on the pipeline's or the pages' connection.

use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

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

/// One delivery handed to the writer, and where its answer goes.
struct Offer {
    forge: ForgeKind,
    keys: Vec<String>,
    message: String,
    now: i64,
    /// The commit's failure is logged once by the writer; each delivery hears its kind.
    answer: oneshot::Sender<Result<Admission, ErrorKind>>,
}

/// A handle on the writer thread; clones share it. The thread ends when the last handle goes.
#[derive(Clone)]
pub struct GroupCommit {
    offers: mpsc::Sender<Offer>,
}

impl GroupCommit {
    /// Open the database at `path` (bringing the state and queue schemas up to date) and start
    /// the writer. Its commits are synchronous (`FULL`): an answered delivery survives a crash
    /// of the machine, not only of the process, and group commit pays one sync per burst.
    pub fn open(path: &Path) -> Result<GroupCommit, DbError> {
        let mut conn = db::connect(path)?;
        db::migrate(&mut conn, "state", state_db::MIGRATIONS)?;
        db::migrate(&mut conn, "queue", queue_db::MIGRATIONS)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (offers, waiting) = mpsc::channel(BACKLOG);
        std::thread::Builder::new()
            .name("slipway-intake".into())
            .spawn(move || write_until_closed(conn, waiting))?;
        Ok(GroupCommit { offers })
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
            forge,
            keys: keys.iter().map(|key| key.0.clone()).collect(),
            message,
            now: unix_secs(now),
            answer,
        };
        self.offers
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
fn write_until_closed(mut conn: Connection, mut waiting: mpsc::Receiver<Offer>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = waiting.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(offer) => batch.push(offer),
                Err(_) => break,
            }
        }
        match commit(&mut conn, &batch) {
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

/// One transaction for the batch: each delivery recorded under all its keys and queued, or,
/// when a key is already recorded (by an earlier commit or earlier in this batch), left out
/// whole. All or nothing: a failed commit writes none of them.
fn commit(conn: &mut Connection, batch: &[Offer]) -> Result<Vec<Admission>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = batch.iter().map(|offer| offer.now).max().unwrap_or(0);
    state_db::forget_expired_deliveries(&tx, now)?;
    let mut admissions = Vec::with_capacity(batch.len());
    for offer in batch {
        let expires_at = offer.now + DELIVERY_TTL.as_secs() as i64;
        // A savepoint per delivery, by cached statements: rusqlite's `Savepoint` parses its SQL
        // anew each time, which was a measurable share of the writer's time.
        run(&tx, "SAVEPOINT delivery")?;
        let mut duplicate = None;
        for key in &offer.keys {
            // Recorded confirmed (0): the queue row is written in the same transaction.
            if !state_db::insert_delivery(&tx, offer.forge, key, offer.now, expires_at, 0)? {
                duplicate = Some(DeliveryId(key.clone()));
                break;
            }
        }
        match duplicate {
            Some(key) => {
                run(&tx, "ROLLBACK TO delivery")?; // this delivery's records only
                run(&tx, "RELEASE delivery")?;
                admissions.push(Admission::Duplicate(key));
            }
            None => {
                queue_db::insert_message(&tx, &offer.message)?;
                run(&tx, "RELEASE delivery")?;
                admissions.push(Admission::Queued);
            }
        }
    }
    tx.commit()?;
    Ok(admissions)
}

fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::local::LocalQueue;
    use crate::state::sqlite::SqliteState;
    use crate::state::StateStore;

    fn event(delivery: &str) -> QueuedEvent {
        QueuedEvent::ping(delivery)
    }

    fn keys(keys: &[&str]) -> Vec<DeliveryId> {
        keys.iter().map(|key| DeliveryId((*key).into())).collect()
    }

    async fn offer(intake: &GroupCommit, id: &str, body: &str) -> Admission {
        intake
            .admit(
                ForgeKind::Github,
                &keys(&[id, body]),
                &event(id),
                SystemTime::now(),
            )
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_deliveries_are_each_queued_once_and_a_shared_key_admits_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        let intake = GroupCommit::open(&path).unwrap();
        // 200 distinct deliveries and 50 replays of one body, all at once: the writer commits
        // them in batches, and a batch may hold the original and its replays together.
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..200 {
            let intake = intake.clone();
            tasks.spawn(async move { offer(&intake, &format!("d-{n}"), &format!("b-{n}")).await });
        }
        for n in 0..50 {
            let intake = intake.clone();
            tasks.spawn(async move { offer(&intake, &format!("r-{n}"), "replayed").await });
        }
        let answers = tasks.join_all().await;
        let queued = answers.iter().filter(|a| **a == Admission::Queued).count();
        assert_eq!(queued, 201, "{answers:?}");
        let replays = DeliveryId("replayed".into());
        assert_eq!(
            answers
                .iter()
                .filter(|a| **a == Admission::Duplicate(replays.clone()))
                .count(),
            49
        );
        let queue = LocalQueue::open(&path).unwrap();
        assert_eq!(queue.depth().await.unwrap(), 201);
    }

    #[tokio::test]
    async fn a_replay_writes_nothing_and_a_redelivery_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        let intake = GroupCommit::open(&path).unwrap();
        assert_eq!(offer(&intake, "first", "body").await, Admission::Queued);
        assert_eq!(
            offer(&intake, "replay", "body").await,
            Admission::Duplicate(DeliveryId("body".into()))
        );
        assert_eq!(
            offer(&intake, "first", "other body").await,
            Admission::Duplicate(DeliveryId("first".into()))
        );
        // The replay's id was rolled back with it: the state holds no record of it.
        let state = SqliteState::open(&path).unwrap();
        let now = SystemTime::now();
        let recorded = |id: &str| {
            let (state, id) = (state.clone(), DeliveryId(id.into()));
            async move {
                !state
                    .record_delivery(ForgeKind::Github, &id, now, DELIVERY_TTL)
                    .await
                    .unwrap()
            }
        };
        assert!(!recorded("replay").await);
        assert!(recorded("first").await);
        assert!(!recorded("other body").await);
        assert_eq!(LocalQueue::open(&path).unwrap().depth().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_record_left_unconfirmed_by_an_older_edge_is_taken_over_after_its_grace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        let state = SqliteState::open(&path).unwrap();
        let long_ago = SystemTime::now() - crate::state::UNCONFIRMED_GRACE * 2;
        let id = DeliveryId("stranded".into());
        assert!(state
            .record_delivery(ForgeKind::Github, &id, long_ago, DELIVERY_TTL)
            .await
            .unwrap());
        let intake = GroupCommit::open(&path).unwrap();
        assert_eq!(
            offer(&intake, "stranded", "its body").await,
            Admission::Queued
        );
    }
}
