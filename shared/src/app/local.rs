//! The pipeline on one machine: a worker that drains the local queue into dispatch, a reporter
//! for the local runner's completions, and a periodic sweep. `slipway serve` runs all three.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;

use super::pipeline::{Outcome, Pipeline};
use crate::model::error::ErrorKind;
use crate::model::status::RunStatus;
use crate::queue::local::LocalQueue;
use crate::runner::local::{read_output, Completion, Leftover, LocalRunner};
use crate::runner::Runner;
use crate::state::StateStore;

/// A message is hidden this long while dispatch works on it; a crash makes it visible again.
const VISIBILITY: Duration = Duration::from_secs(300);
/// After this many failed attempts a message is parked as a dead letter instead of retried.
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
        // Received this often with no answer: dispatching it kept killing the worker (a panic
        // aborts the process). Parked before it is tried again.
        if received.attempts > MAX_ATTEMPTS {
            tracing::error!(
                attempts = received.attempts,
                "an event that stopped the worker every time is parked as a dead letter"
            );
            let reason = format!(
                "received {} times without an answer: dispatching it stopped the worker",
                received.attempts
            );
            if let Err(error) = queue.park(received.seq, &reason, SystemTime::now()).await {
                tracing::error!(%error, "parking a queued event failed");
            }
            continue;
        }
        let done = match pipeline.dispatch(&received.event).await {
            Ok(()) => queue.ack(received.seq).await,
            Err(error) => match after_failure(error.kind(), received.attempts) {
                AfterFailure::Retry => {
                    tracing::warn!(%error, attempt = received.attempts, "dispatch failed; it will be retried");
                    continue;
                }
                AfterFailure::Park => {
                    tracing::error!(%error, attempts = received.attempts, "dispatch failed for good; the event is parked as a dead letter");
                    let reason = format!(
                        "dispatch failed ({} attempt(s), {}): {error}",
                        received.attempts,
                        error.kind()
                    );
                    queue.park(received.seq, &reason, SystemTime::now()).await
                }
            },
        };
        if let Err(error) = done {
            tracing::error!(%error, "settling a queued event failed");
        }
    }
}

/// What becomes of a queued event whose dispatch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Left hidden for [`VISIBILITY`], then received again.
    Retry,
    /// Parked as a dead letter, for `slipway queue` to report.
    Park,
}

/// A failure the same call repeats (no credentials for the forge, a bad message, a denial) is
/// parked at once: retrying it only delays the report. Others get [`MAX_ATTEMPTS`] tries.
fn after_failure(kind: ErrorKind, attempts: u32) -> AfterFailure {
    if kind.is_retryable() && attempts < MAX_ATTEMPTS {
        AfterFailure::Retry
    } else {
        AfterFailure::Park
    }
}

/// What a local build left in its output directory: its result and the log's tail. Without a
/// result, the runner's verdict is `otherwise` (`None`: the report decides).
fn outcome_from(out_dir: &Path, otherwise: Option<RunStatus>) -> Outcome {
    let (result, log_tail) = read_output(out_dir);
    let runner_status = if result.is_none() { otherwise } else { None };
    Outcome {
        result,
        runner_status,
        log_tail,
    }
}

/// Report one local build that ended, from the result and log in its output directory.
pub async fn report_completion<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    done: &Completion,
) -> Result<(), super::PipelineError> {
    let outcome = outcome_from(&done.out_dir, None);
    pipeline.report(&done.run_id, outcome).await
}

/// Report each local build as it ends.
pub async fn report_completions<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    mut completions: UnboundedReceiver<Completion>,
) {
    while let Some(done) = completions.recv().await {
        let outcome = outcome_from(&done.out_dir, None);
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

/// At start: finish every local build a dead runner left behind (`kill -9`, a crash, a reboot).
/// Its processes are killed first; then it is reported from what it wrote — its result if it
/// got that far, else as lost — so its check does not stay pending. How many were finished.
pub async fn finish_interrupted<S: StateStore>(
    pipeline: &Pipeline<S, LocalRunner>,
) -> Result<usize, crate::state::StateError> {
    let mut finished = 0;
    for run in pipeline.state.unfinished_runs().await? {
        let local = run
            .runner_ref
            .as_deref()
            .is_some_and(|r| r.starts_with("local:"));
        if !local || pipeline.runner.running().contains(&run.id) {
            continue;
        }
        let killed = match pipeline.runner.reap(&run.id) {
            Leftover::Owned => continue,
            Leftover::Reaped(killed) => killed,
        };
        tracing::warn!(run = %run.id, killed, "finishing a build whose runner stopped");
        let outcome = outcome_from(&pipeline.runner.out_dir(&run.id), Some(RunStatus::Lost));
        match pipeline.report(&run.id, outcome).await {
            Ok(()) => finished += 1,
            Err(error) => {
                tracing::error!(run = %run.id, %error, "finishing an interrupted build failed")
            }
        }
    }
    Ok(finished)
}

/// What a runner does when it starts on a data directory: finish the builds a dead predecessor
/// left, then remove build directories older than `keep` (`None` keeps them).
pub async fn recover<S: StateStore>(pipeline: &Pipeline<S, LocalRunner>, keep: Option<Duration>) {
    match finish_interrupted(pipeline).await {
        Ok(0) => {}
        Ok(finished) => tracing::warn!(finished, "finished builds a stopped runner left"),
        Err(error) => tracing::error!(%error, "finding builds a stopped runner left failed"),
    }
    if let Some(keep) = keep {
        let removed = pipeline.runner.prune(keep);
        if removed > 0 {
            tracing::info!(removed, "removed old build directories");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failure_that_may_pass_is_retried_and_only_so_often() {
        let limited = ErrorKind::RateLimited { retry_after: None };
        let cases = [
            (ErrorKind::Retryable, 1, AfterFailure::Retry),
            (ErrorKind::Retryable, MAX_ATTEMPTS - 1, AfterFailure::Retry),
            (ErrorKind::Retryable, MAX_ATTEMPTS, AfterFailure::Park),
            (limited, 1, AfterFailure::Retry),
            (limited, MAX_ATTEMPTS, AfterFailure::Park),
            (ErrorKind::Permanent, 1, AfterFailure::Park),
        ];
        for (kind, attempts, expected) in cases {
            assert_eq!(
                after_failure(kind, attempts),
                expected,
                "{kind} after {attempts}"
            );
        }
    }
}
