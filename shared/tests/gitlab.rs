//! The GitLab adapter against a fake GitLab over HTTP (wiremock) that answers as REST API v4 does.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use slipway::forge::gitlab::GitlabForge;
use slipway::forge::retry::RetryPolicy;
use slipway::forge::{upsert_sticky_comment, Forge, ForgeError};
use slipway::model::event::{CommitSha, PrNumber, Repo, RepoId, User};
use slipway::model::forge::{
    CheckRun, CheckState, CommentId, DeploymentId, DeploymentState, DeploymentStatus,
    NewDeployment, Permission, Reaction,
};
use slipway::webhook::Secret;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "glpat-test-token";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const PROJECT: &str = "/api/v4/projects/15";

fn repo() -> Repo {
    Repo {
        id: RepoId("15".into()),
        full_name: "mike/diaspora".into(),
        web_url: "http://example.com/mike/diaspora".into(),
        clone_url: "http://example.com/mike/diaspora.git".into(),
    }
}

fn sha() -> CommitSha {
    CommitSha::parse(SHA).unwrap()
}

fn forge(server: &MockServer) -> Arc<GitlabForge> {
    let policy = RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    GitlabForge::new(&server.uri(), &Secret::new(TOKEN).unwrap(), policy).unwrap()
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn authed(m: &str, p: impl Into<String>) -> wiremock::MockBuilder {
    Mock::given(method(m))
        .and(path(p.into()))
        .and(header("private-token", TOKEN))
}

#[tokio::test]
async fn commit_statuses_for_every_state() {
    let server = MockServer::start().await;
    authed("POST", format!("{PROJECT}/statuses/{SHA}"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1, "status": "running" })),
        )
        .mount(&server)
        .await;
    let forge = forge(&server);
    for state in CheckState::ALL {
        let check = CheckRun {
            name: "slipway/build".into(),
            head_sha: sha(),
            state,
            title: "x".repeat(300),
            summary: String::new(),
            details_url: Some("https://slipway.example/runs/1".into()),
            started_at: None,
            completed_at: None,
        };
        assert_eq!(forge.set_check(&repo(), &check, None).await, Ok(None));
    }
    let sent: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(body)
        .collect();
    let states: Vec<&str> = sent.iter().map(|b| b["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        [
            "pending", "running", "success", "failed", "canceled", "failed", "pending", "skipped",
            "skipped"
        ]
    );
    assert!(sent.iter().all(|b| b["name"] == "slipway/build"));
    assert!(sent
        .iter()
        .all(|b| b["target_url"] == "https://slipway.example/runs/1"));
    assert!(sent
        .iter()
        .all(|b| b["description"].as_str().unwrap().chars().count() == 255));
}

#[tokio::test]
async fn setting_the_state_a_status_already_has_is_not_an_error() {
    let server = MockServer::start().await;
    authed("POST", format!("{PROJECT}/statuses/{SHA}"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({ "message": "Cannot transition status via :run from :running" }),
            ),
        )
        .mount(&server)
        .await;
    let check = CheckRun {
        name: "slipway/build".into(),
        head_sha: sha(),
        state: CheckState::InProgress,
        title: "Building".into(),
        summary: String::new(),
        details_url: None,
        started_at: None,
        completed_at: None,
    };
    assert_eq!(
        forge(&server).set_check(&repo(), &check, None).await,
        Ok(None)
    );
}

#[tokio::test]
async fn files_and_source_archives() {
    let server = MockServer::start().await;
    authed(
        "GET",
        format!("{PROJECT}/repository/files/.slipway.yml/raw"),
    )
    .and(query_param("ref", SHA))
    .respond_with(ResponseTemplate::new(200).set_body_string("version: 1\n"))
    .mount(&server)
    .await;
    authed(
        "GET",
        format!("{PROJECT}/repository/files/ci%2Fnone.yml/raw"),
    )
    .respond_with(
        ResponseTemplate::new(404).set_body_json(json!({ "message": "404 File Not Found" })),
    )
    .mount(&server)
    .await;
    authed("GET", format!("{PROJECT}/repository/archive.tar.gz"))
        .and(query_param("sha", SHA))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(slipway_testkit::tar_gz(&[(
                "diaspora-da15608-da1560886d4f094c3e6c9ef40349f7d38b5d27d7/app.rb",
                "puts 1\n",
            )])),
        )
        .mount(&server)
        .await;
    let forge = forge(&server);
    let config = forge
        .read_file(&repo(), &sha(), ".slipway.yml")
        .await
        .unwrap();
    assert_eq!(config.as_deref(), Some(&b"version: 1\n"[..]));
    assert_eq!(
        forge.read_file(&repo(), &sha(), "ci/none.yml").await,
        Ok(None)
    );
    let dir = tempfile::tempdir().unwrap();
    forge
        .download_source(&repo(), &sha(), &dir.path().join("src"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("src/app.rb")).unwrap(),
        "puts 1\n"
    );
}

fn note(id: u64, author: &str, text: &str, system: bool) -> Value {
    json!({ "id": id, "body": text, "author": { "id": id, "username": author }, "system": system })
}

#[tokio::test]
async fn the_sticky_note_is_found_among_ours_and_updated() {
    let server = MockServer::start().await;
    let marker = "<!-- slipway:build -->";
    authed("GET", "/api/v4/user")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": 9, "username": "slipway-bot" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", format!("{PROJECT}/merge_requests/1/notes"))
        .and(query_param("sort", "asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            note(
                1,
                "slipway-bot",
                &format!("{marker}\nassigned to you"),
                true
            ),
            note(2, "root", &format!("{marker}\nimpostor"), false),
            note(3, "slipway-bot", &format!("{marker}\nold"), false),
        ])))
        .mount(&server)
        .await;
    authed("PUT", format!("{PROJECT}/merge_requests/1/notes/3"))
        .and(body_json(json!({ "body": format!("{marker}\nnew") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(note(
            3,
            "slipway-bot",
            "new",
            false,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let forge = forge(&server);
    let id = upsert_sticky_comment(
        forge.as_ref(),
        &repo(),
        PrNumber(1),
        marker,
        "new",
        &slipway::render::comment_cut_note(None),
    )
    .await
    .unwrap();
    assert_eq!(id, CommentId(3));
}

#[tokio::test]
async fn notes_are_created_deleted_and_cut_at_a_million_characters() {
    let server = MockServer::start().await;
    authed("POST", format!("{PROJECT}/merge_requests/1/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(note(7, "slipway-bot", "x", false)))
        .mount(&server)
        .await;
    authed("DELETE", format!("{PROJECT}/merge_requests/1/notes/7"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", "/api/v4/user")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "username": "slipway-bot" })),
        )
        .mount(&server)
        .await;
    authed("GET", format!("{PROJECT}/merge_requests/1/notes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let forge = forge(&server);
    assert_eq!(
        forge.create_comment(&repo(), PrNumber(1), "hi").await,
        Ok(CommentId(7))
    );
    forge
        .delete_comment(&repo(), PrNumber(1), CommentId(7))
        .await
        .unwrap();

    let long: String = (0..100_000).map(|i| format!("log line {i:06}\n")).collect(); // 1.7M chars
    upsert_sticky_comment(
        forge.as_ref(),
        &repo(),
        PrNumber(1),
        "<!-- slipway:build -->",
        &long,
        &slipway::render::comment_cut_note(Some("https://slipway.example/runs/2")),
    )
    .await
    .unwrap();
    let requests = server.received_requests().await.unwrap();
    let posted = requests
        .iter()
        .rfind(|r| r.method.as_str() == "POST")
        .unwrap();
    let text = body(posted)["body"].as_str().unwrap().to_owned();
    assert!(text.chars().count() <= 1_000_000 && text.chars().count() > 990_000);
    assert!(text.contains("https://slipway.example/runs/2"));
}

#[tokio::test]
async fn award_emoji_and_duplicates() {
    let server = MockServer::start().await;
    authed(
        "POST",
        format!("{PROJECT}/merge_requests/1/notes/5/award_emoji"),
    )
    .and(body_json(json!({ "name": "eyes" })))
    .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1, "name": "eyes" })))
    .mount(&server)
    .await;
    authed(
        "POST",
        format!("{PROJECT}/merge_requests/1/notes/5/award_emoji"),
    )
    .and(body_json(json!({ "name": "rocket" })))
    .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "404 Not found" })))
    .mount(&server)
    .await;
    authed(
        "POST",
        format!("{PROJECT}/merge_requests/1/notes/5/award_emoji"),
    )
    .and(body_json(json!({ "name": "confused" })))
    .respond_with(
        ResponseTemplate::new(400)
            .set_body_json(json!({ "message": { "name": ["has already been taken"] } })),
    )
    .mount(&server)
    .await;
    let forge = forge(&server);
    forge
        .add_reaction(&repo(), PrNumber(1), CommentId(5), Reaction::Eyes)
        .await
        .unwrap();
    forge
        .add_reaction(&repo(), PrNumber(1), CommentId(5), Reaction::Confused)
        .await
        .unwrap();
    let missing = forge
        .add_reaction(&repo(), PrNumber(1), CommentId(5), Reaction::Rocket)
        .await;
    assert!(matches!(missing, Err(ForgeError::NotFound(_))));
}

#[tokio::test]
async fn permission_for_every_access_level() {
    let server = MockServer::start().await;
    let levels = [
        (10, Permission::Read),
        (20, Permission::Triage),
        (30, Permission::Write),
        (40, Permission::Maintain),
        (50, Permission::Admin),
    ];
    for (level, _) in levels {
        authed("GET", format!("{PROJECT}/members/all/{level}"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "id": level, "username": "u", "access_level": level })),
            )
            .mount(&server)
            .await;
    }
    authed("GET", format!("{PROJECT}/members/all/99"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({ "message": "404 Not found" })),
        )
        .mount(&server)
        .await;
    let forge = forge(&server);
    let user = |id| User {
        id,
        login: None,
        is_bot: false,
    };
    for (level, expected) in levels {
        assert_eq!(
            forge.permission(&repo(), &user(level)).await.unwrap(),
            expected
        );
    }
    assert_eq!(
        forge.permission(&repo(), &user(99)).await.unwrap(),
        Permission::None
    );
}

#[tokio::test]
async fn merge_request_facts_with_approvals_and_change_requests() {
    let server = MockServer::start().await;
    authed("GET", format!("{PROJECT}/merge_requests/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "iid": 1, "sha": SHA, "source_branch": "ms-viewport", "target_branch": "master",
            "source_project_id": 16, "target_project_id": 15, "state": "opened", "draft": true,
            "author": { "id": 51, "username": "alice" },
        })))
        .mount(&server)
        .await;
    authed("GET", format!("{PROJECT}/merge_requests/1/approvals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "approved": true, "approved_by": [ { "user": { "id": 2, "username": "bob" } } ],
        })))
        .mount(&server)
        .await;
    authed("GET", format!("{PROJECT}/merge_requests/1/reviewers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "user": { "id": 3, "username": "cat" }, "state": "requested_changes" },
            { "user": { "id": 2, "username": "bob" }, "state": "approved" },
        ])))
        .mount(&server)
        .await;
    let facts = forge(&server)
        .pull_request(&repo(), PrNumber(1))
        .await
        .unwrap();
    assert_eq!(facts.head_sha, sha());
    assert!(facts.from_fork && facts.draft && facts.open && !facts.merged);
    assert_eq!(facts.author.login.as_deref(), Some("alice"));
    let reviews: Vec<_> = facts
        .reviews
        .iter()
        .map(|r| {
            (
                r.reviewer.id,
                r.reviewer.login.as_deref().unwrap(),
                r.verdict,
            )
        })
        .collect();
    use slipway::model::forge::Verdict;
    assert_eq!(
        reviews,
        [
            (2, "bob", Verdict::Approved),
            (3, "cat", Verdict::ChangesRequested)
        ]
    );
    assert!(
        facts.reviews.iter().all(|r| r.commit.is_none()),
        "GitLab names no commit"
    );
}

#[tokio::test]
async fn deployments_are_created_running_and_finished() {
    let server = MockServer::start().await;
    authed("POST", format!("{PROJECT}/deployments"))
        .and(body_json(json!({ "environment": "staging", "sha": SHA, "ref": "main", "tag": false, "status": "running" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 41, "status": "running" })))
        .expect(1)
        .mount(&server)
        .await;
    for status in ["success", "failed", "canceled"] {
        authed("PUT", format!("{PROJECT}/deployments/41"))
            .and(body_json(json!({ "status": status })))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "id": 41, "status": status })),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let forge = forge(&server);
    let new = NewDeployment {
        environment: "staging".into(),
        sha: sha(),
        git_ref: "main".into(),
        description: "deploy".into(),
        transient: false,
        production: false,
    };
    let id = forge.create_deployment(&repo(), &new).await.unwrap();
    assert_eq!(id, DeploymentId(41));
    // Created running: "in progress" sends nothing (no PUT is mounted for it).
    for state in [
        DeploymentState::InProgress,
        DeploymentState::Success,
        DeploymentState::Failure,
        DeploymentState::Cancelled,
    ] {
        let status = DeploymentStatus {
            state,
            environment_url: None,
            log_url: None,
            description: String::new(),
        };
        forge
            .set_deployment_status(&repo(), id, &status)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn gitlab_rate_limits_and_outages_are_retried() {
    let server = MockServer::start().await;
    authed("GET", "/api/v4/user")
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("ratelimit-remaining", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    authed("GET", "/api/v4/user")
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    authed("GET", "/api/v4/user")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "username": "slipway-bot" })),
        )
        .with_priority(3)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(forge(&server).bot_login().await.unwrap(), "slipway-bot");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_merge_requests_a_commit_belongs_to() {
    let server = MockServer::start().await;
    authed(
        "GET",
        format!("{PROJECT}/repository/commits/{SHA}/merge_requests"),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!([
        { "id": 7, "iid": 3, "state": "merged" },
        { "id": 8, "iid": 5, "state": "opened" }
    ])))
    .mount(&server)
    .await;
    let merge_requests = forge(&server)
        .pulls_for_commit(&repo(), &sha())
        .await
        .unwrap();
    assert_eq!(merge_requests, [PrNumber(3), PrNumber(5)]);
}
