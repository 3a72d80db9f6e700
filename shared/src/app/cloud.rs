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

/// What the agent stored beside the artifacts: its result and the end of its log.
async fn stored_result(
    store: &dyn ArtifactStore,
    run: &crate::model::run::Run,
) -> (Option<BuildResult>, Option<String>) {
    let prefix = run.output_prefix();
    let result = match store
        .read_tail(&format!("{prefix}{RESULT_FILE}"), 1 << 20)
        .await
    {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(run = %run.id, error = %e, "reading the build's result failed");
            None
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
    (result, log_tail)
}
