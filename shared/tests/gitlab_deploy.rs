//! `/deploy` on a GitLab merge request, end to end over a fake GitLab: the note through the
//! webhook edge, dispatch, the requirements read from GitLab, the deployment created running and
//! finished, the deploy status, the sticky note, and `current.json`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use slipway::app::pipeline::DeployPorts;
use slipway::app::pipeline::Pipeline;
use slipway::artifacts::fs::FsStore;
use slipway::forge::gitlab::GitlabForge;
use slipway::forge::retry::RetryPolicy;
use slipway::forge::Forges;
use slipway::model::deploy::DeployStatus;
use slipway::model::event::{CommitSha, ForgeKind, QueuedEvent};
use slipway::runner::local::LocalRunner;
use slipway::state::sqlite::SqliteState;
use slipway::state::StateStore;
use slipway::webhook::Secret;
use slipway_testkit::*;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHA: &str = "562e173be03b8ff2efb05345d12df18815438a4b";
const PROJECT: &str = "/api/v4/projects/5";
const CONFIG: &str = "version: 1\nbuild:\n  steps:\n    - run: make\nenvironments:\n  staging:\n    url: https://staging.example\n    require: [approved]\n";

async fn fake_gitlab() -> MockServer {
    let server = MockServer::start().await;
    let mr = json!({
        "iid": 1, "sha": SHA, "source_branch": "ms-viewport", "target_branch": "master",
        "source_project_id": 5, "target_project_id": 5, "state": "opened", "draft": false,
        "author": { "id": 1, "username": "root" },
    });
    let mounts = [
        (
            "GET",
            "/api/v4/user".to_owned(),
            json!({ "id": 99, "username": "slipway-bot" }),
            200,
        ),
        ("GET", format!("{PROJECT}/merge_requests/1"), mr, 200),
        (
            "GET",
            format!("{PROJECT}/merge_requests/1/approvals"),
            json!({ "approved_by": [{ "user": { "id": 2, "username": "bob" } }] }),
            200,
        ),
        (
            "GET",
            format!("{PROJECT}/merge_requests/1/reviewers"),
            json!([]),
            200,
        ),
        (
            "GET",
            format!("{PROJECT}/members/all/1"),
            json!({ "id": 1, "username": "root", "access_level": 40 }),
            200,
        ),
        // The approver is a developer (write): the approval counts.
        (
            "GET",
            format!("{PROJECT}/members/all/2"),
            json!({ "id": 2, "username": "bob", "access_level": 30 }),
            200,
        ),
        (
            "POST",
            format!("{PROJECT}/merge_requests/1/notes/1244/award_emoji"),
            json!({ "id": 1 }),
            201,
        ),
        (
            "GET",
            format!("{PROJECT}/merge_requests/1/notes"),
            json!([]),
            200,
        ),
        (
            "POST",
            format!("{PROJECT}/merge_requests/1/notes"),
            json!({ "id": 9, "body": "" }),
            201,
        ),
        (
            "POST",
            format!("{PROJECT}/deployments"),
            json!({ "id": 41, "status": "running" }),
            201,
        ),
        (
            "PUT",
            format!("{PROJECT}/deployments/41"),
            json!({ "id": 41 }),
            200,
        ),
        (
            "POST",
            format!("{PROJECT}/statuses/{SHA}"),
            json!({ "id": 1 }),
            201,
        ),
    ];
    for (verb, at, body, status) in mounts {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex(format!("^{PROJECT}/repository/files/.+/raw$")))
        .respond_with(ResponseTemplate::new(200).set_body_string(CONFIG))
        .mount(&server)
        .await;
    server
}

/// The merge request note fixture saying `body`, through the webhook edge.
async fn queued_note(dir: &std::path::Path, body: &str) -> QueuedEvent {
    let app = local_app(dir);
    let payload = serde_json::to_vec(&mr_note(body)).unwrap();
    let answer = app
        .handle_webhook(
            ForgeKind::Gitlab,
            &gitlab_headers("Note Hook", "n-1"),
            &payload,
            now(),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    app.queue
        .receive(now(), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap()
        .event
}

fn requests_to(received: &[wiremock::Request], verb: &str, suffix: &str) -> Vec<Value> {
    received
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(suffix))
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn a_deploy_on_a_merge_request_is_recorded_on_gitlab() {
    let dir = tempfile::tempdir().unwrap();
    let gitlab = fake_gitlab().await;
    let policy = RetryPolicy {
        max_attempts: 2,
        max_elapsed: Duration::from_secs(5),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    let forge = GitlabForge::new(
        &gitlab.uri(),
        &Secret::new(slipway_testkit::GITLAB_TOKEN).unwrap(),
        policy,
    )
    .unwrap();
    let (runner, _completions) = LocalRunner::new(
        "/nonexistent/slipway".into(),
        dir.path().join("runs"),
        slipway::runner::sandbox::detect(None),
    );
    let pipeline = Pipeline {
        state: SqliteState::open(&dir.path().join("state.db")).unwrap(),
        forges: Forges {
            gitlab: Some(forge),
            ..Default::default()
        },
        runner,
        public_url: None,
        deploy: DeployPorts {
            images: None,
            records: Some(Arc::new(FsStore::new(dir.path().join("artifacts"), None))),
            aws: None,
        },
        telemetry: Default::default(),
    };
    let queued = queued_note(dir.path(), "/deploy staging").await;
    let repo = queued.event.repo.clone().unwrap();
    // The merge request's head has a green build.
    let mut build = sample_run("green", Some(1), 100);
    build.forge = ForgeKind::Gitlab;
    build.repo = repo.clone();
    build.sha = CommitSha::parse(SHA).unwrap();
    build.status = slipway::model::status::RunStatus::Succeeded;
    pipeline.state.insert_run(&build).await.unwrap();

    pipeline.dispatch(&queued).await.unwrap();

    let history = pipeline
        .state
        .deployments(ForgeKind::Gitlab, &repo.id, "staging")
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].status,
        DeployStatus::Succeeded,
        "{:?}",
        history[0].reason
    );
    assert_eq!(history[0].actor, "root");
    let received = gitlab.received_requests().await.unwrap();
    let created = requests_to(&received, "POST", "/deployments");
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0]["environment"].as_str(),
            created[0]["sha"].as_str(),
            created[0]["ref"].as_str()
        ),
        (Some("staging"), Some(SHA), Some("ms-viewport"))
    );
    let finished = requests_to(&received, "PUT", "/deployments/41");
    assert_eq!(
        finished,
        [json!({ "status": "success" })],
        "created running, then success"
    );
    let deploy_statuses: Vec<String> = requests_to(&received, "POST", &format!("/statuses/{SHA}"))
        .iter()
        .filter(|s| s["name"] == "slipway/deploy/staging")
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        deploy_statuses.last().map(String::as_str),
        Some("success"),
        "{deploy_statuses:?}"
    );
    let notes = requests_to(&received, "POST", "/merge_requests/1/notes");
    assert!(
        notes.iter().any(|n| n["body"]
            .as_str()
            .unwrap_or("")
            .contains("Deployed to `staging`")),
        "{notes:?}"
    );
    let emoji: Vec<String> = requests_to(&received, "POST", "/award_emoji")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(emoji, ["eyes", "rocket"]);
    let current = std::fs::read(dir.path().join(format!(
        "artifacts/environments/gitlab/{}/staging/current.json",
        repo.full_name
    )))
    .unwrap();
    let current: Value = serde_json::from_slice(&current).unwrap();
    assert_eq!(current["sha"], SHA);
}
