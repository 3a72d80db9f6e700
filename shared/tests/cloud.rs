//! The cloud pipeline end to end on moto (DynamoDB, CodeBuild) and a fake GitHub: an SQS batch
//! with a redelivered message starts one build; CodeBuild's state change ends it.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{json, Value};
use slipway::app::cloud::{dispatch_batch, report_codebuild};
use slipway::app::pipeline::Pipeline;
use slipway::model::event::{PrNumber, RepoId};
use slipway::runner::codebuild::CodeBuildRunner;
use slipway::state::dynamodb::DynamoState;
use slipway::state::StateStore;
use slipway_testkit::*;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const CONFIG: &str = "version: 1\nbuild:\n  steps:\n    - run: make test\n";

async fn fake_github() -> MockServer {
    let server = MockServer::start().await;
    let mounts = [
        (
            "GET",
            "^/repos/Codertocat/Hello-World/contents/.slipway.yml$".to_owned(),
            ResponseTemplate::new(200).set_body_string(CONFIG),
        ),
        (
            "POST",
            format!("^/repos/Codertocat/Hello-World/statuses/{SHA}$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })),
        ),
        (
            "GET",
            "^/user$".to_owned(),
            ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot" })),
        ),
        (
            "GET",
            "^/repos/Codertocat/Hello-World/issues/2/comments$".to_owned(),
            ResponseTemplate::new(200).set_body_json(json!([])),
        ),
        (
            "POST",
            "^/repos/Codertocat/Hello-World/issues/2/comments$".to_owned(),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 5 })),
        ),
    ];
    mount_all(&server, mounts).await;
    server
}

async fn mount_all<const N: usize>(
    server: &MockServer,
    mounts: [(&str, String, ResponseTemplate); N],
) {
    for (verb, pattern, answer) in mounts {
        Mock::given(method(verb))
            .and(path_regex(pattern))
            .respond_with(answer)
            .mount(server)
            .await;
    }
}

/// `field` of each JSON body posted to a path ending in `suffix`, in order.
async fn posted(server: &MockServer, suffix: &str, field: &str) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with(suffix))
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body[field].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

async fn statuses(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().contains("/statuses/"))
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["state"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The opened pull request fixture, passed through the webhook edge, as SQS would carry it.
async fn queued_body() -> String {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = fixture("github/pull_request.opened.1.json");
    let answer = app
        .handle_webhook(
            slipway::model::event::ForgeKind::Github,
            &github_headers("pull_request", "cloud-1", &body),
            &body,
            now(),
        )
        .await;
    assert_eq!(answer.status, 202);
    let received = app
        .queue
        .receive(now(), std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    serde_json::to_string(&received.event).unwrap()
}

#[tokio::test]
async fn a_redelivered_message_builds_once_and_the_state_change_reports_it() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = slipway_testkit::aws::codebuild_project(&codebuild).await;
    let github = fake_github().await;
    let pipeline = Pipeline {
        state: DynamoState::from_sdk(&sdk, slipway_testkit::aws::table(&sdk).await),
        forges: github_forges(&github.uri(), Default::default()),
        runner: CodeBuildRunner::new(codebuild.clone(), &project),
        public_url: None,
        deploy: Default::default(),
        telemetry: Default::default(),
    };

    let body = queued_body().await;
    let batch: SqsEvent = serde_json::from_value(json!({ "Records": [
        { "messageId": "m1", "body": body, "eventSource": "aws:sqs" },
        { "messageId": "m2", "body": body, "eventSource": "aws:sqs" },
        { "messageId": "m3", "body": "not an event", "eventSource": "aws:sqs" },
    ]}))
    .unwrap();
    let response = dispatch_batch(&pipeline, batch).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["m3"],
        "only the malformed message goes back to the queue"
    );
    let builds = codebuild
        .list_builds_for_project()
        .project_name(&project)
        .send()
        .await
        .unwrap();
    assert_eq!(
        builds.ids().len(),
        1,
        "the redelivery started no second build"
    );
    assert_eq!(statuses(&github).await, ["pending", "pending"]);

    let runs = pipeline
        .state
        .runs_for_pr(
            slipway::model::event::ForgeKind::Github,
            &RepoId("186853002".into()),
            PrNumber(2),
        )
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.runner_ref.as_deref(), Some(builds.ids()[0].as_str()));

    // Someone else's build: ignored.
    let mut event: Value = json_fixture("aws/codebuild-state-change.json");
    let foreign: CodeBuildEvent = serde_json::from_value(event.clone()).unwrap();
    report_codebuild(&pipeline, None, foreign).await.unwrap();
    assert_eq!(statuses(&github).await.len(), 2);

    // Ours, finished: the report reads the result the agent stored in S3 beside the artifacts
    // (CodeBuild keeps no files), so the check and the comment name the image it pushed.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = slipway_testkit::unique("results").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = slipway::artifacts::s3::S3Store::new(s3, bucket.as_str());
    let digest = format!("sha256:{}", "d".repeat(64));
    let result = json!({
        "run_id": run.id.0, "status": "succeeded", "duration_ms": 1200,
        "steps": [{ "name": "test", "status": "passed", "exit_code": 0, "duration_ms": 1000 }],
        "image": { "repository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello",
                   "name": "hello", "digest": digest, "tags": ["pr-2"] }
    });
    // Where the agent writes for this pull request's build: under the prefix the bucket's
    // lifecycle rule expires (template.yaml, expire-pull-request-artifacts).
    let prefix = run.output_prefix();
    assert!(
        prefix.starts_with("artifacts/pull-requests/github/Codertocat/Hello-World/"),
        "{prefix}"
    );
    use slipway::artifacts::ArtifactStore as _;
    store
        .put_bytes(
            &format!("{prefix}result.json"),
            serde_json::to_vec(&result).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    store
        .put_bytes(
            &format!("{prefix}log.txt"),
            b"==> [1/1] test\nall 12 tests passed\n".to_vec(),
            "text/plain",
        )
        .await
        .unwrap();
    event["detail"]["build-status"] = "SUCCEEDED".into();
    event["detail"]["additional-information"]["environment"]["environment-variables"] =
        json!([{ "name": "SLIPWAY_RUN_ID", "type": "PLAINTEXT", "value": run.id.0 }]);
    let ours: CodeBuildEvent = serde_json::from_value(event).unwrap();
    report_codebuild(&pipeline, Some(&store), ours.clone())
        .await
        .unwrap();
    assert_eq!(statuses(&github).await, ["pending", "pending", "success"]);
    let stored = pipeline.state.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, slipway::model::status::RunStatus::Succeeded);
    assert_eq!(
        stored.image.as_ref().map(|i| i.digest.as_str()),
        Some(digest.as_str())
    );
    let comment = github
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/issues/2/comments"))
        .expect("the sticky comment");
    let body: Value = serde_json::from_slice(&comment.body).unwrap();
    let text = body["body"].as_str().unwrap();
    assert!(text.contains(&format!("hello@{digest}")), "{text}");

    // EventBridge delivers at least once: a second copy changes nothing.
    report_codebuild(&pipeline, None, ours).await.unwrap();
    assert_eq!(statuses(&github).await.len(), 3);
}

const DEPLOY_CONFIG: &str = "version: 1\nbuild:\n  steps:\n    - run: make test\nenvironments:\n  production:\n    url: https://example.com\n    steps:\n      - run: ./deploy.sh\n";

/// GitHub as a `/deploy` on pull request 1 needs it: the pull request, reviews, permission,
/// reactions, comments, deployments and statuses.
async fn fake_github_for_deploys() -> MockServer {
    let server = MockServer::start().await;
    let mut pull = json_fixture("github/pull_request.opened.1.json")["pull_request"].clone();
    pull["number"] = 1.into();
    let repo = "^/repos/Codertocat/Hello-World";
    let mounts = [
        (
            "GET",
            format!("{repo}/contents/.slipway.yml$"),
            ResponseTemplate::new(200).set_body_string(DEPLOY_CONFIG),
        ),
        (
            "GET",
            format!("{repo}/pulls/1$"),
            ResponseTemplate::new(200).set_body_json(pull),
        ),
        (
            "GET",
            format!("{repo}/pulls/1/reviews$"),
            ResponseTemplate::new(200).set_body_json(json!([])),
        ),
        (
            "GET",
            format!("{repo}/collaborators/Codertocat/permission$"),
            ResponseTemplate::new(200)
                .set_body_json(json!({ "permission": "admin", "role_name": "admin" })),
        ),
        (
            "POST",
            format!("{repo}/issues/comments/\\d+/reactions$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })),
        ),
        (
            "GET",
            format!("{repo}/issues/1/comments$"),
            ResponseTemplate::new(200).set_body_json(json!([])),
        ),
        (
            "POST",
            format!("{repo}/issues/1/comments$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 6 })),
        ),
        (
            "POST",
            format!("{repo}/deployments$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 42 })),
        ),
        (
            "POST",
            format!("{repo}/deployments/42/statuses$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })),
        ),
        (
            "POST",
            format!("{repo}/statuses/{SHA}$"),
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })),
        ),
        (
            "GET",
            "^/user$".to_owned(),
            ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot" })),
        ),
    ];
    mount_all(&server, mounts).await;
    server
}

/// A comment on pull request 1, passed through the webhook edge, as SQS would carry it.
async fn queued_comment(delivery: &str, body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let payload = pr_comment("created", body);
    let answer = app
        .handle_webhook(
            slipway::model::event::ForgeKind::Github,
            &github_headers("issue_comment", delivery, &payload),
            &payload,
            now(),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let received = app
        .queue
        .receive(now(), std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    serde_json::to_string(&received.event).unwrap()
}

fn batch(body: String) -> SqsEvent {
    serde_json::from_value(json!({ "Records": [
        { "messageId": "m1", "body": body, "eventSource": "aws:sqs" }
    ]}))
    .unwrap()
}

#[tokio::test]
async fn deploy_steps_run_in_codebuild_hold_the_lock_and_complete_from_the_stored_result() {
    use slipway::artifacts::ArtifactStore as _;
    use slipway::model::deploy::DeployStatus;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = slipway_testkit::aws::codebuild_project(&codebuild).await;
    let github = fake_github_for_deploys().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = slipway_testkit::unique("deploys").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = std::sync::Arc::new(slipway::artifacts::s3::S3Store::new(s3, bucket.as_str()));
    let pipeline = Pipeline {
        state: DynamoState::from_sdk(&sdk, slipway_testkit::aws::table(&sdk).await),
        forges: github_forges(&github.uri(), Default::default()),
        runner: CodeBuildRunner::new(codebuild.clone(), &project),
        public_url: None,
        deploy: slipway::app::pipeline::DeployPorts {
            images: None,
            records: Some(store.clone()),
            aws: None,
        },
        telemetry: Default::default(),
    };
    // The pull request's head was built green and pushed an image.
    let mut build = sample_run("green-build", Some(1), 100);
    build.sha = slipway::model::event::CommitSha::parse(SHA).unwrap();
    build.status = slipway::model::status::RunStatus::Succeeded;
    build.image = Some(slipway::model::image::PublishedImage {
        repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello".into(),
        name: "hello".into(),
        digest: format!("sha256:{}", "e".repeat(64)),
        tags: vec!["pr-1".into()],
    });
    pipeline.state.insert_run(&build).await.unwrap();

    let response = dispatch_batch(
        &pipeline,
        batch(queued_comment("c-1", "/deploy production").await),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let builds = codebuild
        .list_builds_for_project()
        .project_name(&project)
        .send()
        .await
        .unwrap();
    assert_eq!(builds.ids().len(), 1, "the deploy steps run in CodeBuild");
    let repo = sample_run("x", None, 0).repo;
    let history = pipeline
        .state
        .deployments(
            slipway::model::event::ForgeKind::Github,
            &repo.id,
            "production",
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, DeployStatus::InProgress);
    let run_id = history[0].run_id.clone().expect("the deploy's run");

    // While it runs, another deploy to production is refused, naming it.
    dispatch_batch(
        &pipeline,
        batch(queued_comment("c-2", "/deploy production").await),
    )
    .await;
    let replies = posted(&github, "/issues/1/comments", "body").await;
    assert!(
        replies
            .iter()
            .any(|r| r.contains("another deploy is in progress") && r.contains("@Codertocat")),
        "{replies:?}"
    );

    // CodeBuild finishes; the agent's result is beside the deployment in S3.
    let run = pipeline
        .state
        .get_run(&slipway::model::event::RunId(run_id.clone()))
        .await
        .unwrap()
        .unwrap();
    let result =
        json!({ "run_id": run_id, "status": "succeeded", "duration_ms": 900, "steps": [] });
    store
        .put_bytes(
            &format!("{}result.json", run.output_prefix()),
            serde_json::to_vec(&result).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    let mut event: Value = json_fixture("aws/codebuild-state-change.json");
    event["detail"]["build-status"] = "SUCCEEDED".into();
    event["detail"]["additional-information"]["environment"]["environment-variables"] =
        json!([{ "name": "SLIPWAY_RUN_ID", "type": "PLAINTEXT", "value": run_id }]);
    report_codebuild(
        &pipeline,
        Some(store.as_ref()),
        serde_json::from_value(event).unwrap(),
    )
    .await
    .unwrap();
    let history = pipeline
        .state
        .deployments(
            slipway::model::event::ForgeKind::Github,
            &repo.id,
            "production",
        )
        .await
        .unwrap();
    assert_eq!(
        history[0].status,
        DeployStatus::Succeeded,
        "{:?}",
        history[0].reason
    );
    let states = posted(&github, "/deployments/42/statuses", "state").await;
    assert_eq!(states, ["in_progress", "success"]);
    let current = store
        .read_tail(
            &slipway::model::deploy::current_key(
                &repo,
                slipway::model::event::ForgeKind::Github,
                "production",
            ),
            1 << 20,
        )
        .await
        .unwrap()
        .expect("current.json");
    let current: Value = serde_json::from_slice(&current).unwrap();
    assert_eq!(current["sha"], SHA);
    assert_eq!(current["digest"], format!("sha256:{}", "e".repeat(64)));
}
