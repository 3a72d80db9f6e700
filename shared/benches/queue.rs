//! The one-machine queue at depth: one message in and one out (enqueue, receive, ack) with the
//! queue empty and with 100,000 messages waiting, and the intake's commit of one delivery.
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

criterion_group!(benches, depth, intake);
criterion_main!(benches);
