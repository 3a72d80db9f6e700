//! STAND-INS for the event sources template.yaml wires to the pipeline functions: the SQS
//! event source mapping (dispatch) and the EventBridge rule for CodeBuild's state changes
//! (report).

use std::path::PathBuf;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde_json::{json, Value};

use crate::codebuild::CodeBuild;
use crate::runtime_api::Function;

/// STAND-IN for the SQS event source mapping: what waits in the queue, in batches of up to 10
/// (template.yaml's `BatchSize`), to dispatch; each message the function does not name as
/// failed is deleted. Returns how many were dispatched.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str, dispatch: &Function) -> usize {
    let mut dispatched = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        if messages.is_empty() {
            return dispatched;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                    "body": m.body(), "attributes": {}, "messageAttributes": {},
                    "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let answer = dispatch
            .invoke(json!({ "Records": records }))
            .await
            .unwrap_or_else(|e| panic!("dispatch failed: {e}\n{}", dispatch.log_text()));
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        assert!(
            failed.is_empty(),
            "dispatch failed {failed:?}:\n{}",
            dispatch.log_text()
        );
        let entries: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        dispatched += messages.len();
    }
}

/// STAND-IN for the EventBridge rule: the build's state change, matched as the template's
/// pattern matches it (this project, a final status), to the report function.
pub async fn forward_build_end(
    codebuild: &mut CodeBuild,
    project: &str,
    report: &Function,
) -> PathBuf {
    let ended = tokio::time::timeout(std::time::Duration::from_secs(120), codebuild.ended.recv())
        .await
        .expect("the build ended")
        .unwrap();
    let event = &ended["event"];
    assert_eq!(event["detail"]["project-name"], project);
    let final_states = ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"];
    assert!(final_states.contains(&event["detail"]["build-status"].as_str().unwrap()));
    report
        .invoke(event.clone())
        .await
        .unwrap_or_else(|e| panic!("report failed: {e}\n{}", report.log_text()));
    PathBuf::from(ended["log"].as_str().unwrap())
}
