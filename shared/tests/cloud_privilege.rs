//! Issue #12, finding 6: what a cloud build can do with what it holds. The build's own verdict
//! beats a `result.json` anything in the build may have written; the request that starts a
//! build carries the agent's digest and credentials scoped to the run; and the policies that
//! ship (template.yaml, the session policy) allow the run's own outputs and nothing else.

mod support;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use serde_json::{json, Value};
use slipway::app::cloud::report_codebuild;
use slipway::app::pipeline::Pipeline;
use slipway::artifacts::ArtifactStore as _;
use slipway::forge::github::{GithubAuth, GithubClient};
use slipway::run::RunStatus;
use slipway::runner::codebuild::CodeBuildRunner;
use slipway::settings::Forges;
use slipway::state::dynamodb::DynamoState;
use slipway::state::StateStore;
use slipway::webhook::Secret;
use support::*;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// GitHub's commit statuses, the only forge call a finished push build makes.
async fn fake_github() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/repos/Codertocat/Hello-World/statuses/[0-9a-f]{40}$",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .mount(&server)
        .await;
    server
}

async fn states(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().contains("/statuses/"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["state"].to_string())
        .collect()
}

fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn a_failed_build_stays_failed_whatever_its_result_json_says() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = support::aws::codebuild_project(&codebuild).await;
    let github = fake_github().await;
    let pipeline = Pipeline {
        state: DynamoState::from_sdk(&sdk, support::aws::table(&sdk).await),
        forges: Forges {
            github: Some(
                GithubClient::new(
                    &github.uri(),
                    GithubAuth::Token(Secret::new("ghp_x").unwrap()),
                    Default::default(),
                )
                .unwrap(),
            ),
            ..Default::default()
        },
        runner: CodeBuildRunner::new(codebuild, &project),
        public_url: None,
        deploy: Default::default(),
    };
    let mut run = sample_run("forged-result", None, 100);
    run.status = RunStatus::Running;
    pipeline.state.insert_run(&run).await.unwrap();

    // A step wrote the run's result.json saying it passed; CodeBuild says the build failed.
    let client = s3(&sdk);
    let bucket = support::unique("forged").to_lowercase();
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = slipway::artifacts::s3::S3Store::new(client, bucket.as_str());
    let forged = json!({
        "run_id": run.id.0, "status": "succeeded", "duration_ms": 1, "steps": []
    });
    store
        .put_bytes(
            &format!("{}result.json", run.output_prefix()),
            serde_json::to_vec(&forged).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    let mut event: Value = json_fixture("aws/codebuild-state-change.json");
    event["detail"]["build-status"] = "FAILED".into();
    event["detail"]["additional-information"]["environment"]["environment-variables"] =
        json!([{ "name": "SLIPWAY_RUN_ID", "type": "PLAINTEXT", "value": run.id.0 }]);
    let event: CodeBuildEvent = serde_json::from_value(event).unwrap();
    report_codebuild(&pipeline, Some(&store), event)
        .await
        .unwrap();

    let stored = pipeline.state.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(states(&github).await, ["\"failure\""]);
}
