//! The AWS adapters against moto_server: DynamoDB dedupe and the SQS queue, through the real SDK.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use slipway::app::WebhookApp;
use slipway::event::{DeliveryId, ForgeKind, QueuedEvent};
use slipway::queue::sqs::SqsQueue;
use slipway::queue::Queue;
use slipway::state::dynamodb::DynamoState;
use slipway::state::StateStore;
use support::*;

async fn table(sdk: &aws_config::SdkConfig) -> String {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("slipway-state");
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key("created_at", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::S))
        .attribute_definitions(attr("pr_key", ScalarAttributeType::S))
        .attribute_definitions(attr("unfinished", ScalarAttributeType::S))
        .attribute_definitions(attr("created_at", ScalarAttributeType::N))
        .global_secondary_indexes(index(slipway::state::dynamodb::BY_PR_INDEX, "pr_key"))
        .global_secondary_indexes(index(
            slipway::state::dynamodb::UNFINISHED_INDEX,
            "unfinished",
        ))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name
}

async fn queue_url(sdk: &aws_config::SdkConfig) -> String {
    let client = aws_sdk_sqs::Client::new(sdk);
    let created = client
        .create_queue()
        .queue_name(unique("slipway-events"))
        .send()
        .await
        .unwrap();
    created.queue_url().unwrap().to_owned()
}

async fn received_bodies(sdk: &aws_config::SdkConfig, url: &str) -> Vec<String> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut bodies = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages();
        if messages.is_empty() {
            return bodies;
        }
        bodies.extend(messages.iter().map(|m| m.body().unwrap().to_owned()));
    }
}

#[tokio::test]
async fn dynamodb_records_a_delivery_once_until_it_expires() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    let id = DeliveryId("delivery-1".into());
    let t0 = now();
    let ttl = Duration::from_secs(60);

    assert!(state
        .record_delivery(ForgeKind::Github, &id, t0, ttl)
        .await
        .unwrap());
    assert!(!state
        .record_delivery(ForgeKind::Github, &id, t0, ttl)
        .await
        .unwrap());
    assert!(
        state
            .record_delivery(ForgeKind::Gitlab, &id, t0, ttl)
            .await
            .unwrap(),
        "the forge is part of the key"
    );
    let later = t0 + Duration::from_secs(61);
    assert!(
        state
            .record_delivery(ForgeKind::Github, &id, later, ttl)
            .await
            .unwrap(),
        "an expired record that TTL has not yet deleted counts as absent"
    );

    state.forget_delivery(ForgeKind::Github, &id).await.unwrap();
    assert!(state
        .record_delivery(ForgeKind::Github, &id, later, ttl)
        .await
        .unwrap());
}

#[tokio::test]
async fn dynamodb_keeps_runs_by_the_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    run_store_contract(&state).await;
}

#[tokio::test]
async fn dynamodb_errors_are_reported_not_taken_for_duplicates() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, unique("no-such-table"));
    let id = DeliveryId("d".into());
    let result = state
        .record_delivery(ForgeKind::Github, &id, now(), Duration::from_secs(60))
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn sqs_carries_the_event_intact() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let url = queue_url(&sdk).await;
    let queue = SqsQueue::from_sdk(&sdk, &url);
    let dir = tempfile::tempdir().unwrap();
    let local = local_app(dir.path());
    // Build a real event by passing a fixture through the edge.
    let body = fixture("github/pull_request.opened.1.json");
    local
        .handle_webhook(
            ForgeKind::Github,
            &github_headers("pull_request", "sqs-1", &body),
            &body,
            now(),
        )
        .await;
    let event = local
        .queue
        .receive(now(), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap()
        .event;

    queue.enqueue(&event).await.unwrap();
    let bodies = received_bodies(&sdk, &url).await;
    assert_eq!(bodies.len(), 1);
    let round_trip: QueuedEvent = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(round_trip, event);
}

#[tokio::test]
async fn the_cloud_edge_dedupes_redeliveries_and_queues_once() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let url = queue_url(&sdk).await;
    let app = WebhookApp {
        ingress: ingress(),
        state: DynamoState::from_sdk(&sdk, table(&sdk).await),
        queue: SqsQueue::from_sdk(&sdk, &url),
    };
    let body = fixture("github/pull_request.synchronize.1.json");
    let h = github_headers("pull_request", "cloud-1", &body);
    let first = app
        .handle_webhook(ForgeKind::Github, &h, &body, now())
        .await;
    let second = app
        .handle_webhook(ForgeKind::Github, &h, &body, now())
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(
        (second.status, second.body["status"].as_str()),
        (200, Some("duplicate"))
    );
    let bodies = received_bodies(&sdk, &url).await;
    assert_eq!(bodies.len(), 1, "a redelivery queues nothing");
}

#[tokio::test]
async fn a_failed_enqueue_answers_503_and_leaves_the_delivery_redeliverable() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let table = table(&sdk).await;
    let broken = WebhookApp {
        ingress: ingress(),
        state: DynamoState::from_sdk(&sdk, &table),
        queue: SqsQueue::from_sdk(&sdk, format!("{}/123456789012/no-such-queue", moto.url)),
    };
    let body = fixture("github/pull_request.opened.1.json");
    let h = github_headers("pull_request", "retry-1", &body);
    let answer = broken
        .handle_webhook(ForgeKind::Github, &h, &body, now())
        .await;
    assert_eq!(answer.status, 503);

    let url = queue_url(&sdk).await;
    let fixed = WebhookApp {
        ingress: ingress(),
        state: DynamoState::from_sdk(&sdk, &table),
        queue: SqsQueue::from_sdk(&sdk, &url),
    };
    let answer = fixed
        .handle_webhook(ForgeKind::Github, &h, &body, now())
        .await;
    assert_eq!(
        answer.status, 202,
        "the redelivery is accepted: {}",
        answer.body
    );
    assert_eq!(received_bodies(&sdk, &url).await.len(), 1);
}
