use std::time::Duration;

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
async fn a_replay_writes_nothing_and_keys_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let intake = GroupCommit::open(&path).unwrap();
    assert_eq!(offer(&intake, "first", "body").await, Admission::Queued);
    assert_eq!(
        offer(&intake, "replay", "body").await,
        Admission::Duplicate(DeliveryId("body".into()))
    );
    drop(intake);

    // After a restart the keys are read back: the redelivery is still a duplicate, and the
    // replay's id was never recorded, so it names a new delivery with a new body.
    // Dropping the last handle waited for the writer to let go of the lock.
    let intake = GroupCommit::open(&path).unwrap();
    assert_eq!(
        offer(&intake, "first", "other body").await,
        Admission::Duplicate(DeliveryId("first".into()))
    );
    assert_eq!(
        offer(&intake, "replay", "new body").await,
        Admission::Queued
    );
    assert_eq!(LocalQueue::open(&path).unwrap().depth().await.unwrap(), 2);
}

#[tokio::test]
async fn a_second_writer_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let _first = GroupCommit::open(&path).unwrap();
    let second = GroupCommit::open(&path).err().expect("refused");
    assert!(matches!(second, DbError::InUse(_)));
    assert!(
        second.to_string().contains("one process at a time"),
        "{second}"
    );
}

#[tokio::test]
async fn expired_keys_are_deleted_and_forgotten_and_the_key_admits_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let intake = GroupCommit::open(&path).unwrap();
    let week_ago = SystemTime::now() - DELIVERY_TTL - Duration::from_secs(60);
    let admit = |id: &'static str, at: SystemTime| {
        let intake = intake.clone();
        async move {
            let keys = keys(&[id]);
            intake
                .admit(ForgeKind::Github, &keys, &event(id), at)
                .await
                .unwrap()
        }
    };
    assert_eq!(admit("old", week_ago).await, Admission::Queued);
    assert_eq!(
        admit("old", week_ago).await,
        Admission::Duplicate(DeliveryId("old".into()))
    );
    // A week later the key has expired: the next commit deletes it, and it admits again.
    assert_eq!(admit("new", SystemTime::now()).await, Admission::Queued);
    assert_eq!(admit("old", SystemTime::now()).await, Admission::Queued);
    let conn = Connection::open(&path).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM intake_keys", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 2, "the expired row went, the two live ones stay");
    assert_eq!(
        admit("old", SystemTime::now()).await,
        Admission::Duplicate(DeliveryId("old".into()))
    );
}

#[tokio::test]
async fn a_failed_commit_admits_nothing_and_the_redelivery_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let intake = GroupCommit::open(&path).unwrap();
    let disk = Connection::open(&path).unwrap();
    disk.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON queue BEGIN SELECT RAISE(ABORT, 'full'); END;",
    )
    .unwrap();
    let keys = keys(&["d-1", "body-1"]);
    let failed = intake
        .admit(ForgeKind::Github, &keys, &event("d-1"), SystemTime::now())
        .await;
    assert!(
        matches!(failed, Err(IntakeError::Commit { .. })),
        "{failed:?}"
    );
    disk.execute_batch("DROP TRIGGER refuse;").unwrap();
    // Neither key stayed in memory nor on disk: the redelivery is taken, once.
    assert_eq!(offer(&intake, "d-1", "body-1").await, Admission::Queued);
    assert_eq!(
        offer(&intake, "d-1", "body-1").await,
        Admission::Duplicate(DeliveryId("d-1".into()))
    );
    let stored: i64 = disk
        .query_row("SELECT count(*) FROM intake_keys", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn records_an_older_slipway_confirmed_stay_duplicates_and_unconfirmed_ones_admit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let state = SqliteState::open(&path).unwrap();
    let now = SystemTime::now();
    for (id, at) in [
        ("confirmed", now),
        ("stranded", now - crate::state::UNCONFIRMED_GRACE * 2),
    ] {
        assert!(state
            .record_delivery(ForgeKind::Github, &DeliveryId(id.into()), at, DELIVERY_TTL)
            .await
            .unwrap());
    }
    state
        .confirm_delivery(ForgeKind::Github, &DeliveryId("confirmed".into()))
        .await
        .unwrap();
    let intake = GroupCommit::open(&path).unwrap();
    assert_eq!(
        offer(&intake, "confirmed", "its body").await,
        Admission::Duplicate(DeliveryId("confirmed".into()))
    );
    assert_eq!(
        offer(&intake, "stranded", "its body").await,
        Admission::Queued
    );
}
