//! The pipeline on one machine: a worker that drains the local queue into dispatch, a reporter
//! for the local runner's completions, and a periodic sweep. `slipway serve` runs all three.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;

use super::pipeline::{Outcome, Pipeline};
use crate::queue::local::LocalQueue;
use crate::runner::local::{read_output, Completion};
use crate::runner::Runner;
use crate::state::StateStore;

/// A message is hidden this long while dispatch works on it; a crash makes it visible again.
const VISIBILITY: Duration = Duration::from_secs(300);
/// After this many failed attempts a message is dropped (and logged) instead of retried forever.
const MAX_ATTEMPTS: u32 = 5;
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Dispatch queued events one at a time, forever.
pub async fn work_queue<S: StateStore, R: Runner>(pipeline: &Pipeline<S, R>, queue: &LocalQueue) {
    loop {
        let received = match queue.receive(SystemTime::now(), VISIBILITY).await {
            Ok(Some(received)) => received,
            Ok(None) => {
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "reading the local queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let span = tracing::info_span!("dispatch", delivery = %received.event.delivery, event = %received.event.event.name);
        let _entered = span.enter();
        match pipeline.dispatch(&received.event).await {
            Ok(()) => {}
            Err(error) if received.attempts < MAX_ATTEMPTS => {
                tracing::warn!(%error, attempt = received.attempts, "dispatch failed; it will be retried");
                continue;
            }
            Err(error) => tracing::error!(%error, "dispatch failed for good; dropping the event"),
        }
        if let Err(error) = queue.ack(received.seq).await {
            tracing::error!(%error, "acknowledging a queued event failed");
        }
    }
}

/// Report one local build that ended, from the result and log in its output directory.
pub async fn report_completion<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    done: &Completion,
) -> Result<(), super::PipelineError> {
    let (result, log_tail) = read_output(&done.out_dir);
    pipeline
        .report(
            &done.run_id,
            Outcome {
                result,
                runner_status: None,
                log_tail,
            },
        )
        .await
}

/// Report each local build as it ends.
pub async fn report_completions<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    mut completions: UnboundedReceiver<Completion>,
) {
    while let Some(done) = completions.recv().await {
        let (result, log_tail) = read_output(&done.out_dir);
        let outcome = Outcome {
            result,
            runner_status: None,
            log_tail,
        };
        for attempt in 1..=3u32 {
            match pipeline.report(&done.run_id, outcome.clone()).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(run = %done.run_id, %error, attempt, "reporting a build failed");
                    tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
                }
            }
        }
    }
}

/// Sweep lost runs every `period`.
pub async fn sweep_every<S: StateStore, R: Runner>(pipeline: &Pipeline<S, R>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        match pipeline.sweep(SystemTime::now()).await {
            Ok(0) => {}
            Ok(swept) => tracing::warn!(swept, "failed runs that never reported"),
            Err(error) => tracing::error!(%error, "sweeping failed"),
        }
    }
}
