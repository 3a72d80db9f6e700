//! The cloud functions' handlers: an SQS batch for dispatch, a CodeBuild state change for report,
//! and the pipeline they share, wired from the environment.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use super::pipeline::{Outcome, Pipeline};
use super::PipelineError;
use crate::artifacts::ArtifactStore;
use crate::model::event::QueuedEvent;
use crate::model::event::RunId;
use crate::model::job::{BuildResult, LOG_FILE, RESULT_FILE};
use crate::runner::codebuild::run_status;
use crate::runner::Runner;
use crate::state::StateStore;

/// Dispatch each message; the ones that failed are returned for SQS to redeliver (and, after
/// the queue's receive limit, to move to the dead-letter queue). A redelivered message finds its
/// run already started and does nothing.
pub async fn dispatch_batch<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    batch: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let outcome = match message
            .body
            .as_deref()
            .map(serde_json::from_str::<QueuedEvent>)
        {
            Some(Ok(queued)) => {
                let span = tracing::info_span!("dispatch", delivery = %queued.delivery, event = %queued.event.name);
                let _entered = span.enter();
                pipeline.dispatch(&queued).await
            }
            Some(Err(e)) => Err(PipelineError::BadMessage(format!(
                "not a queued event: {e}"
            ))),
            None => Err(PipelineError::BadMessage("an empty message".into())),
        };
        if let Err(error) = outcome {
            let kind = error.kind();
            tracing::error!(message = %id, %error, %kind, part = error.part(), "dispatch failed; SQS will redeliver");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// A CodeBuild build changed state: report the finished ones. The run id travels in the build's
/// `SLIPWAY_RUN_ID` variable; builds without it are not Slipway's.
pub async fn report_codebuild<S: StateStore, R: Runner>(
    pipeline: &Pipeline<S, R>,
    results: Option<&dyn ArtifactStore>,
    event: CodeBuildEvent,
) -> Result<(), PipelineError> {
    let detail = event.detail;
    let Some(status) = detail.build_status.as_deref().and_then(run_status) else {
        return Ok(());
    };
    if !status.is_finished() {
        return Ok(());
    }
    let run_id = detail
        .additional_information
        .environment
        .environment_variables
        .iter()
        .find(|v| v.name.as_deref() == Some("SLIPWAY_RUN_ID"))
        .and_then(|v| v.value.clone());
    let Some(run_id) = run_id else {
        tracing::info!(build = ?detail.build_id, "a build that is not Slipway's");
        return Ok(());
    };
    let run_id = RunId(run_id);
    let (result, log_tail) = match (results, pipeline.state.get_run(&run_id).await?) {
        (Some(store), Some(run)) => stored_result(store, &run).await,
        _ => (None, None),
    };
    let outcome = Outcome {
        result,
        runner_status: Some(status),
        log_tail,
    };
    pipeline.report(&run_id, outcome).await
}

/// The most of a build's `result.json` a report reads. A bigger one is refused whole: a result
/// cut at either end is not JSON, and guessing at it could pass a build that failed.
pub const RESULT_CAP: u64 = 8 << 20;

/// What the agent stored beside the artifacts: its result and the end of its log. A result that
/// cannot be used is said at the end of the log tail, so the check tells why the build failed.
async fn stored_result(
    store: &dyn ArtifactStore,
    run: &crate::model::run::Run,
) -> (Option<BuildResult>, Option<String>) {
    let prefix = run.output_prefix();
    let (result, unreadable) = match store
        .read_tail(&format!("{prefix}{RESULT_FILE}"), RESULT_CAP + 1)
        .await
    {
        Ok(Some(bytes)) if bytes.len() as u64 > RESULT_CAP => {
            (None, Some(crate::render::result_too_large(RESULT_CAP)))
        }
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(result) => (Some(result), None),
            Err(e) => {
                tracing::warn!(run = %run.id, error = %e, "the build's result is not valid");
                (None, Some(crate::render::result_invalid()))
            }
        },
        Ok(None) => (None, None),
        Err(e) => {
            tracing::warn!(run = %run.id, error = %e, "reading the build's result failed");
            (None, None)
        }
    };
    let log_tail = store
        .read_tail(&format!("{prefix}{LOG_FILE}"), 16 << 10)
        .await
        .ok()
        .flatten()
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        });
    let log_tail = match (log_tail, unreadable) {
        (tail, None) => tail,
        (None, Some(why)) => Some(why),
        (Some(tail), Some(why)) => Some(format!("{tail}\n{why}")),
    };
    (result, log_tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::fs::FsStore;

    #[tokio::test]
    async fn a_result_is_read_whole_or_refused_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsStore::new(tmp.path().to_path_buf(), None);
        let run = crate::model::run::sample("r1");
        let prefix = run.output_prefix();
        let put = |name: &str, bytes: Vec<u8>| {
            let path = tmp.path().join(format!("{prefix}{name}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        put(LOG_FILE, b"==> [1/1] test\nok\n".to_vec());

        // A valid result bigger than any tail read of old: whole, every artifact in it.
        let artifacts: Vec<serde_json::Value> = (0..3000)
            .map(|i| serde_json::json!({ "path": format!("dist/part-{i:05}.bin"), "key": format!("{prefix}dist/part-{i:05}.bin"),
                "size": 1, "sha256": "e".repeat(64), "content_type": "application/octet-stream", "link": format!("https://example.com/{}", "x".repeat(300)) }))
            .collect();
        let result = serde_json::json!({ "run_id": "r1", "status": "succeeded", "duration_ms": 1,
            "steps": [], "artifacts": artifacts });
        let bytes = serde_json::to_vec(&result).unwrap();
        assert!(bytes.len() > 1 << 20, "bigger than the old 1 MiB tail");
        put(RESULT_FILE, bytes);
        let (read, tail) = stored_result(&store, &run).await;
        assert_eq!(read.map(|r| r.artifacts.len()), Some(3000));
        assert_eq!(tail.as_deref(), Some("==> [1/1] test\nok"));

        // Over the cap: refused whole, and the log tail says why.
        put(RESULT_FILE, vec![b' '; RESULT_CAP as usize + 1]);
        let (read, tail) = stored_result(&store, &run).await;
        assert!(read.is_none());
        assert!(tail
            .unwrap()
            .ends_with(&crate::render::result_too_large(RESULT_CAP)));

        // Not a result: refused, said.
        put(RESULT_FILE, b"{\"status\": \"succeeded\"".to_vec());
        let (read, tail) = stored_result(&store, &run).await;
        assert!(read.is_none());
        assert!(tail.unwrap().ends_with(&crate::render::result_invalid()));
    }
}
