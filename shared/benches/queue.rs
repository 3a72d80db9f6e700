//! The one-machine queue at depth: one message in and one out (enqueue, receive, ack) with the
//! queue empty and with 100,000 messages waiting, the intake's commit of one delivery, and its
//! start with a week of keys to read back.
//!
//! `cargo bench -p slipway --bench queue`. The figures go in `docs/decisions.md` (issue #15).

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use slipway::intake::sqlite::GroupCommit;
use slipway::intake::{Admission, Intake};
use slipway::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use slipway::queue::local::LocalQueue;
use slipway::queue::Queue;

fn event(n: u64) -> QueuedEvent {
    QueuedEvent::ping(&format!("bench-{n}"))
}

fn depth(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("queue: enqueue + receive + ack");
    for waiting in [0u64, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let queue = LocalQueue::open(&dir.path().join("slipway.db")).unwrap();
        runtime.block_on(async {
            for n in 0..waiting {
                queue.enqueue(&event(n)).await.unwrap();
            }
        });
        let mut n = waiting;
        group.bench_with_input(BenchmarkId::from_parameter(waiting), &waiting, |b, _| {
            b.iter(|| {
                n += 1;
                runtime.block_on(async {
                    queue.enqueue(&event(n)).await.unwrap();
                    let message = queue
                        .receive(SystemTime::now(), Duration::from_secs(300))
                        .await
                        .unwrap()
                        .unwrap();
                    queue.ack(message.seq).await.unwrap();
                })
            })
        });
        let left = runtime.block_on(queue.depth()).unwrap();
        assert_eq!(left, waiting, "the depth held steady");
    }
    group.finish();
}

fn intake(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let intake = GroupCommit::open(&dir.path().join("slipway.db")).unwrap();
    let mut n = 0u64;
    c.bench_function(
        "intake: one delivery alone (two keys, one message, one commit)",
        |b| {
            b.iter(|| {
                n += 1;
                let keys = [
                    DeliveryId(format!("id-{n}")),
                    DeliveryId(format!("body-{n}")),
                ];
                let admitted = runtime
                    .block_on(intake.admit(ForgeKind::Github, &keys, &event(n), SystemTime::now()))
                    .unwrap();
                assert_eq!(admitted, Admission::Queued);
            })
        },
    );
}

/// `serve`'s start with a million delivery keys admitted (a week at ~70,000 deliveries a day):
/// the intake reads them all back into memory. Also prints what they cost in resident memory.
fn intake_start(c: &mut Criterion) {
    const KEYS: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    drop(GroupCommit::open(&path).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    let tx = conn.transaction().unwrap();
    let expires_at = slipway::state::unix_secs(SystemTime::now()) + 3600;
    for n in 0..KEYS {
        let mut digest = [0u8; 16];
        digest[..8].copy_from_slice(&n.to_le_bytes());
        digest[8..].copy_from_slice(&(n * 7919).to_le_bytes());
        tx.execute(
            "INSERT INTO intake_keys (digest, expires_at) VALUES (?1, ?2)",
            rusqlite::params![&digest[..], expires_at],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(conn);

    let before = resident_kib();
    let held = GroupCommit::open(&path).unwrap();
    eprintln!(
        "intake: {KEYS} keys read back take {} MiB resident",
        (resident_kib() - before) / 1024
    );
    drop(held);
    let mut group = c.benchmark_group("intake: start");
    group.sample_size(10);
    group.bench_function("with 1,000,000 keys to read back", |b| {
        b.iter(|| drop(GroupCommit::open(&path).unwrap()))
    });
    group.finish();
}

fn resident_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

criterion_group!(benches, depth, intake, intake_start);
criterion_main!(benches);
