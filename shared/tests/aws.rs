//! The AWS adapters against moto_server: DynamoDB dedupe and the SQS queue, through the real SDK.

use std::time::Duration;

use slipway::app::WebhookApp;
use slipway::intake::RecordThenQueue;
use slipway::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use slipway::queue::sqs::SqsQueue;
use slipway::queue::Queue;
use slipway::state::dynamodb::DynamoState;
use slipway::state::StateStore;
use slipway::wire::settings::{self, Env};
use slipway_testkit::aws::table;
use slipway_testkit::*;

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
async fn dynamodb_records_deliveries_by_the_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    slipway_testkit::delivery_store_contract(&state).await;
}

#[tokio::test]
async fn dynamodb_keeps_runs_by_the_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    run_store_contract(&state).await;
}

#[tokio::test]
async fn dynamodb_keeps_deployments_and_locks_by_the_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    slipway_testkit::deployment_store_contract(&state).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_dashboards_records_by_the_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state = DynamoState::from_sdk(&sdk, table(&sdk).await);
    slipway_testkit::records_contract(&state).await;
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
        intake: RecordThenQueue {
            state: DynamoState::from_sdk(&sdk, table(&sdk).await),
            queue: SqsQueue::from_sdk(&sdk, &url),
        },
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

/// The webhook Lambda's own SDK configuration (no aws-config), built from the variables Lambda
/// sets: a secret from Secrets Manager, a delivery recorded in DynamoDB, one message on SQS.
#[tokio::test]
async fn the_webhook_lambdas_sdk_configuration_reaches_its_three_services() {
    let moto = Moto::start();
    let lambda_env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
    ];
    let sdk = slipway::wire::aws::edge_sdk_config(&Env::from_pairs(lambda_env)).unwrap();
    let secret = slipway_testkit::aws::secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        "slipway-github-webhook-secret",
        GITHUB_SECRET,
    )
    .await;
    let arn = format!("{}_ARN", settings::GITHUB_WEBHOOK_SECRET);
    // A pipeline secret the edge may not read (a stack that handed it the App key): not
    // resolved, so it cannot stop the cold start.
    let key_arn = format!("{}_ARN", settings::GITHUB_PRIVATE_KEY);
    let unreadable = "arn:aws:secretsmanager:us-east-1:123456789012:secret:not-yours-AbCdEf";
    let mut env = Env::from_pairs(lambda_env.into_iter().chain([
        (arn.as_str(), secret.as_str()),
        (key_arn.as_str(), unreadable),
    ]));
    slipway::wire::aws::resolve_secret_arns(&sdk, &mut env, &settings::WEBHOOK_SECRETS)
        .await
        .unwrap();
    assert_eq!(
        env.get(settings::GITHUB_WEBHOOK_SECRET),
        Some(GITHUB_SECRET)
    );
    assert_eq!(env.get(settings::GITHUB_PRIVATE_KEY), None);

    let url = queue_url(&sdk).await;
    let app = WebhookApp {
        ingress: settings::ingress(&env).unwrap(),
        intake: RecordThenQueue {
            state: DynamoState::from_sdk(&sdk, table(&sdk).await),
            queue: SqsQueue::from_sdk(&sdk, &url),
        },
    };
    let body = fixture("github/pull_request.opened.1.json");
    let h = github_headers("pull_request", "edge-1", &body);
    let answer = app
        .handle_webhook(ForgeKind::Github, &h, &body, now())
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(received_bodies(&sdk, &url).await.len(), 1);

    let missing =
        slipway::wire::aws::edge_sdk_config(&Env::from_pairs([("AWS_REGION", "us-east-1")]));
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("AWS_ACCESS_KEY_ID"));
}

#[tokio::test]
async fn a_failed_enqueue_answers_503_and_leaves_the_delivery_redeliverable() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let table = table(&sdk).await;
    let broken = WebhookApp {
        ingress: ingress(),
        intake: RecordThenQueue {
            state: DynamoState::from_sdk(&sdk, &table),
            queue: SqsQueue::from_sdk(&sdk, format!("{}/123456789012/no-such-queue", moto.url)),
        },
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
        intake: RecordThenQueue {
            state: DynamoState::from_sdk(&sdk, &table),
            queue: SqsQueue::from_sdk(&sdk, &url),
        },
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

/// Records the JSON bodies the SDK sends, keyed by operation (`X-Amz-Target`).
#[derive(Debug, Default, Clone)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>);

impl aws_sdk_codebuild::config::Intercept for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_codebuild::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_codebuild::config::RuntimeComponents,
        _cfg: &mut aws_sdk_codebuild::config::ConfigBag,
    ) -> Result<(), aws_sdk_codebuild::error::BoxError> {
        let request = context.request();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or("")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default();
        let json = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        self.0.lock().unwrap().push((target, json));
        Ok(())
    }
}

#[tokio::test]
async fn codebuild_starts_the_exact_commit_with_the_agent_and_stops_it() {
    use slipway::model::job::BuildJob;
    use slipway::runner::codebuild::{CodeBuildRunner, BUILDSPEC};
    use slipway::runner::Runner;

    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let recorder = Recorder::default();
    let config = aws_sdk_codebuild::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let client = aws_sdk_codebuild::Client::from_conf(config);
    let project = slipway_testkit::aws::codebuild_project(&client).await;
    let runner = CodeBuildRunner::new(client.clone(), &project);
    let run = sample_run("cb-run-1", Some(2), 100);
    let job = BuildJob {
        run_id: run.id.clone(),
        sha: run.sha.clone(),
        git_ref: "feature".into(),
        pr: run.pr,
        steps: vec![slipway::model::job::Step {
            name: "test".into(),
            run: "make test".into(),
        }],
        env: Default::default(),
        timeout_secs: 600,
        artifacts: Vec::new(),
        artifact_prefix: String::new(),
        image: None,
        source_url: None,
        deploy: false,
    };
    // The forge is not used by CodeBuild (it checks out the commit itself).
    let github = slipway::forge::github::GithubClient::new(
        "http://127.0.0.1:9",
        slipway::forge::github::GithubAuth::Token(slipway::webhook::Secret::new("unused").unwrap()),
        Default::default(),
    )
    .unwrap()
    .forge(None);
    let build_id = runner.start(&job, &github, &run.repo).await.unwrap();
    assert!(build_id.starts_with(&format!("{project}:")), "{build_id}");

    let builds = client
        .batch_get_builds()
        .ids(&build_id)
        .send()
        .await
        .unwrap();
    assert_eq!(builds.builds()[0].source_version(), Some(run.sha.as_str()));
    let listed = client
        .list_builds_for_project()
        .project_name(&project)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.ids().len(), 1);

    let started = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| t.ends_with("StartBuild"))
        .unwrap()
        .1
        .clone();
    assert_eq!(started["sourceVersion"], run.sha.as_str());
    // This repository, not the one the project was made with.
    assert_eq!(started["sourceTypeOverride"], "GITHUB");
    assert_eq!(
        started["sourceLocationOverride"],
        run.repo.clone_url.as_str()
    );
    assert_eq!(started["buildspecOverride"], BUILDSPEC);
    assert_eq!(started["idempotencyToken"], "cb-run-1");
    assert_eq!(started["timeoutInMinutesOverride"], 11);
    let vars = started["environmentVariablesOverride"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter().find(|v| v["name"] == name).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(var("SLIPWAY_RUN_ID"), "cb-run-1");
    let sent_job: BuildJob = serde_json::from_str(&var("SLIPWAY_JOB")).unwrap();
    assert_eq!(sent_job, job);
    assert!(
        vars.iter().all(|v| v["type"] == "PLAINTEXT"),
        "no secrets in a build's environment"
    );

    let mut running = run.clone();
    running.runner_ref = Some(build_id.clone());
    runner.cancel(&running).await.unwrap();
    let stopped = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| t.ends_with("StopBuild"))
        .unwrap()
        .1
        .clone();
    assert_eq!(stopped["id"], build_id.as_str());
}
