//! The GitHub adapter against a fake GitHub over HTTP (wiremock) that answers as the REST API
//! does; every request it receives is checked against GitHub's official REST description.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use slipway::event::{CommitSha, PrNumber, Repo, RepoId, User};
use slipway::forge::github::{GithubAuth, GithubClient, GithubForge};
use slipway::forge::retry::RetryPolicy;
use slipway::forge::{
    upsert_sticky_comment, CheckId, CheckRun, CheckState, CommentId, DeploymentId, DeploymentState,
    DeploymentStatus, Forge, ForgeError, NewDeployment, Permission, Reaction,
};
use slipway::webhook::Secret;
use support::openapi::assert_requests_match_github;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_test-token-value";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn repo() -> Repo {
    Repo {
        id: RepoId("186853002".into()),
        full_name: "Codertocat/Hello-World".into(),
        web_url: "https://github.com/Codertocat/Hello-World".into(),
        clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
    }
}

fn sha() -> CommitSha {
    CommitSha::parse(SHA).unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

fn token_forge(server: &MockServer) -> GithubForge {
    let auth = GithubAuth::Token(Secret::new(TOKEN).unwrap());
    GithubClient::new(&server.uri(), auth, fast_retry())
        .unwrap()
        .forge(None)
}

const APP_ID: u64 = 424242;
const INSTALLATION: u64 = 77;

fn app_client(server: &MockServer) -> Arc<GithubClient> {
    let pem = support::fixture("github-app-test-key.pem");
    GithubClient::new(
        &server.uri(),
        GithubAuth::app(APP_ID, &pem).unwrap(),
        fast_retry(),
    )
    .unwrap()
}

fn check(state: CheckState) -> CheckRun {
    CheckRun {
        name: "slipway/build".into(),
        head_sha: sha(),
        state,
        title: "Build passed".into(),
        summary: "All 3 steps passed.".into(),
        details_url: Some("https://slipway.example/runs/1".into()),
        started_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        completed_at: state
            .is_final()
            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060)),
    }
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// Answer an installation token request, verifying the JWT that asks for it.
struct TokenEndpoint {
    expires_in: Duration,
}

impl wiremock::Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        let jwt = auth.strip_prefix("Bearer ").unwrap();
        let public = support::fixture("github-app-test-key.pub.pem");
        let key = octocrab::jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
        let mut validation =
            octocrab::jsonwebtoken::Validation::new(octocrab::jsonwebtoken::Algorithm::RS256);
        // GitHub's `iss` is the App id as a number, which jsonwebtoken's own check rejects.
        validation.set_required_spec_claims(&["exp", "iat"]);
        let claims = match octocrab::jsonwebtoken::decode::<Value>(jwt, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return ResponseTemplate::new(401)
                    .set_body_json(json!({ "message": e.to_string() }))
            }
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        let valid =
            claims["iss"] == json!(APP_ID) && iat <= now - 30 && exp <= now + 600 && exp > now;
        if !valid {
            return ResponseTemplate::new(401)
                .set_body_json(json!({ "message": "bad JWT claims", "claims": claims }));
        }
        let expires_at =
            humantime::format_rfc3339_seconds(SystemTime::now() + self.expires_in).to_string();
        ResponseTemplate::new(201)
            .set_body_json(json!({ "token": "ghs_installation-token", "expires_at": expires_at }))
    }
}

#[tokio::test]
async fn token_auth_reports_with_commit_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/repos/Codertocat/Hello-World/statuses/{SHA}"
        )))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    assert_eq!(
        forge
            .set_check(&repo(), &check(CheckState::InProgress), None)
            .await,
        Ok(None)
    );
    let mut long = check(CheckState::Failure);
    long.title = "é".repeat(300);
    forge.set_check(&repo(), &long, None).await.unwrap();

    let sent = requests(&server).await;
    let first = body(&sent[0]);
    assert_eq!(first["state"], "pending");
    assert_eq!(first["context"], "slipway/build");
    assert_eq!(first["target_url"], "https://slipway.example/runs/1");
    let second = body(&sent[1]);
    assert_eq!(second["state"], "failure");
    assert_eq!(second["description"].as_str().unwrap().chars().count(), 140);
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn app_auth_creates_then_updates_one_check_run_with_a_cached_installation_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(TokenEndpoint {
            expires_in: Duration::from_secs(3600),
        })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/check-runs"))
        .and(header("authorization", "Bearer ghs_installation-token"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": 4, "name": "slipway/build" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/check-runs/4"))
        .and(header("authorization", "Bearer ghs_installation-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 4 })))
        .expect(1)
        .mount(&server)
        .await;

    let forge = app_client(&server).forge(Some(INSTALLATION));
    let id = forge
        .set_check(&repo(), &check(CheckState::Queued), None)
        .await
        .unwrap();
    assert_eq!(id, Some(CheckId(4)));
    let mut done = check(CheckState::TimedOut);
    done.summary = "😀".repeat(20_000); // 80,000 bytes
    forge.set_check(&repo(), &done, id).await.unwrap();

    let sent = requests(&server).await;
    let create = body(&sent[1]);
    assert_eq!(create["head_sha"], SHA);
    assert_eq!(create["status"], "queued");
    assert!(create.get("conclusion").is_none());
    assert_eq!(create["started_at"], "2023-11-14T22:13:20Z");
    let update = body(&sent[2]);
    assert!(
        update.get("head_sha").is_none(),
        "an update names the run, not the commit"
    );
    assert_eq!(update["status"], "completed");
    assert_eq!(update["conclusion"], "timed_out");
    assert_eq!(update["completed_at"], "2023-11-14T22:14:20Z");
    let summary = update["output"]["summary"].as_str().unwrap();
    assert!(
        summary.len() <= 65_535 && summary.len() > 65_000,
        "{}",
        summary.len()
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn an_installation_token_near_expiry_is_renewed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(TokenEndpoint {
            expires_in: Duration::from_secs(4 * 60),
        })
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/9/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1, "content": "eyes" })),
        )
        .expect(2)
        .mount(&server)
        .await;
    let forge = app_client(&server).forge(Some(INSTALLATION));
    for _ in 0..2 {
        forge
            .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_app_needs_an_installation_and_a_valid_key() {
    let server = MockServer::start().await;
    let forge = app_client(&server).forge(None);
    let err = forge
        .set_check(&repo(), &check(CheckState::Queued), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Auth(_)), "{err}");
    assert!(GithubAuth::app(1, b"not a key").is_err());
}

#[tokio::test]
async fn bot_login_is_the_app_slug_or_the_token_user_and_is_asked_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": APP_ID, "slug": "slipway" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot", "id": 5 })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let app = app_client(&server).forge(Some(INSTALLATION));
    assert_eq!(app.bot_login().await.unwrap(), "slipway[bot]");
    assert_eq!(app.bot_login().await.unwrap(), "slipway[bot]");
    let token = token_forge(&server);
    assert_eq!(token.bot_login().await.unwrap(), "slipway-bot");
    assert_eq!(token.bot_login().await.unwrap(), "slipway-bot");
}

#[tokio::test]
async fn read_file_distinguishes_missing_from_failing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/.slipway.yml"))
        .and(query_param("ref", SHA))
        .and(header("accept", "application/vnd.github.raw+json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 1\n"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/missing.yml"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/broken.yml"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let got = forge
        .read_file(&repo(), &sha(), ".slipway.yml")
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"version: 1\n"[..]));
    assert_eq!(
        forge.read_file(&repo(), &sha(), "missing.yml").await,
        Ok(None)
    );
    let err = forge
        .read_file(&repo(), &sha(), "broken.yml")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ForgeError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn download_source_follows_the_redirect_and_unpacks_the_tarball() {
    let server = MockServer::start().await;
    let tarball = support::tar_gz(&[
        ("Codertocat-Hello-World-ec26c3e/README.md", "hello\n"),
        (
            "Codertocat-Hello-World-ec26c3e/.slipway.yml",
            "version: 1\n",
        ),
    ]);
    Mock::given(method("GET"))
        .and(path(format!("/repos/Codertocat/Hello-World/tarball/{SHA}")))
        .respond_with(
            ResponseTemplate::new(302).insert_header(
                "location",
                format!(
                    "{}/codeload/Codertocat/Hello-World/legacy.tar.gz/{SHA}",
                    server.uri()
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/codeload/Codertocat/Hello-World/legacy.tar.gz/{SHA}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("src");
    token_forge(&server)
        .download_source(&repo(), &sha(), &dest)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("README.md")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join(".slipway.yml")).unwrap(),
        "version: 1\n"
    );
}

fn comment(id: u64, login: &str, body: &str) -> Value {
    json!({ "id": id, "body": body, "user": { "login": login, "id": id, "type": "User" } })
}

async fn mount_login(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot" })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_sticky_comment_is_updated_in_place_and_never_someone_elses() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let marker = "<!-- slipway:build -->";
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(3, "mallory", &format!("{marker}\nfake")),
            comment(8, "slipway-bot", &format!("{marker}\nold")),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(8, "slipway-bot", "new")))
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let id = upsert_sticky_comment(&forge, &repo(), PrNumber(2), marker, "new body", None)
        .await
        .unwrap();
    assert_eq!(id, CommentId(8));
    let sent = requests(&server).await;
    let patch = sent.iter().find(|r| r.method.as_str() == "PATCH").unwrap();
    assert_eq!(body(patch)["body"], format!("{marker}\nnew body"));
    assert!(
        sent.iter().all(|r| r.method.as_str() != "POST"),
        "no second comment"
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn a_raced_sticky_comment_converges_on_the_oldest() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let marker = "<!-- slipway:build -->";
    let list = "/repos/Codertocat/Hello-World/issues/2/comments";
    // First listing: nothing yet. After our create, a concurrent call's comment (5) is older.
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(5, "slipway-bot", &format!("{marker}\ntheirs")),
            comment(9, "slipway-bot", &format!("{marker}\nours")),
        ])))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(9, "slipway-bot", "ours")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(5, "slipway-bot", "ours")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/9"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let id = upsert_sticky_comment(&forge, &repo(), PrNumber(2), marker, "ours", None)
        .await
        .unwrap();
    assert_eq!(id, CommentId(5));
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn comments_over_the_limit_are_cut_at_a_line_with_a_link() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(1, "slipway-bot", "x")))
        .mount(&server)
        .await;
    let long: String = (0..10_000)
        .map(|i| format!("| step {i} | passed |\n"))
        .collect();
    let forge = token_forge(&server);
    upsert_sticky_comment(
        &forge,
        &repo(),
        PrNumber(2),
        "<!-- slipway:build -->",
        &long,
        Some("https://slipway.example/runs/1"),
    )
    .await
    .unwrap();
    let sent = requests(&server).await;
    let post = sent.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let text = body(post)["body"].as_str().unwrap().to_owned();
    assert!(text.chars().count() <= 65_536);
    assert!(text.starts_with("<!-- slipway:build -->\n"));
    assert!(text.contains("https://slipway.example/runs/1"));
    assert!(
        text.contains("| passed |\n\n_This comment was cut"),
        "cut after a whole line"
    );
}

#[tokio::test]
async fn reactions_use_githubs_content_names() {
    let server = MockServer::start().await;
    for (content, status) in [("eyes", 201), ("rocket", 201), ("confused", 200)] {
        Mock::given(method("POST"))
            .and(path(
                "/repos/Codertocat/Hello-World/issues/comments/9/reactions",
            ))
            .and(body_partial_json(json!({ "content": content })))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({ "id": 1, "content": content })),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let forge = token_forge(&server);
    for reaction in [Reaction::Eyes, Reaction::Rocket, Reaction::Confused] {
        forge
            .add_reaction(&repo(), PrNumber(2), CommentId(9), reaction)
            .await
            .unwrap();
    }
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn permission_for_every_role() {
    let server = MockServer::start().await;
    let cases = [
        ("ann", "admin", Some("admin"), Permission::Admin),
        ("max", "write", Some("maintain"), Permission::Maintain),
        ("wil", "write", Some("write"), Permission::Write),
        ("tri", "read", Some("triage"), Permission::Triage),
        ("rea", "read", Some("read"), Permission::Read),
        ("non", "none", None, Permission::None),
        ("cus", "write", Some("custom-deployer"), Permission::Write),
    ];
    for (login, permission, role, _) in cases {
        let mut answer = json!({ "permission": permission, "user": { "login": login } });
        if let Some(role) = role {
            answer["role_name"] = role.into();
        }
        Mock::given(method("GET"))
            .and(path(format!(
                "/repos/Codertocat/Hello-World/collaborators/{login}/permission"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(
            "/repos/Codertocat/Hello-World/collaborators/ghost/permission",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let user = |login: &str| User {
        id: 1,
        login: Some(login.into()),
        is_bot: false,
    };
    for (login, _, _, expected) in cases {
        assert_eq!(
            forge.permission(&repo(), &user(login)).await.unwrap(),
            expected,
            "{login}"
        );
    }
    assert_eq!(
        forge.permission(&repo(), &user("ghost")).await.unwrap(),
        Permission::None
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn pull_request_facts_with_review_verdicts() {
    let server = MockServer::start().await;
    let mut pull: Value =
        support::json_fixture("github/pull_request.opened.1.json")["pull_request"].clone();
    pull["head"]["repo"]["id"] = 999.into();
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/pulls/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/pulls/2/reviews"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": 1, "user": { "login": "ann" }, "state": "CHANGES_REQUESTED" },
            { "id": 2, "user": { "login": "bob" }, "state": "APPROVED" },
            { "id": 3, "user": { "login": "ann" }, "state": "APPROVED" },
            { "id": 4, "user": { "login": "cat" }, "state": "CHANGES_REQUESTED" },
        ])))
        .mount(&server)
        .await;
    let facts = token_forge(&server)
        .pull_request(&repo(), PrNumber(2))
        .await
        .unwrap();
    assert_eq!(facts.head_sha, sha());
    assert_eq!(
        (facts.head_branch.as_str(), facts.base_branch.as_str()),
        ("changes", "master")
    );
    assert!(facts.from_fork);
    assert!(facts.open && !facts.merged && !facts.draft);
    assert_eq!(facts.author.login.as_deref(), Some("Codertocat"));
    assert_eq!(facts.approved_by, ["ann", "bob"]);
    assert_eq!(facts.changes_requested_by, ["cat"]);
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn deployments_and_their_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/deployments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 42, "sha": SHA })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/deployments/42/statuses",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let deployment = NewDeployment {
        environment: "staging".into(),
        sha: sha(),
        git_ref: "main".into(),
        description: "Deploy ec26c3e by @Codertocat".into(),
        transient: false,
        production: false,
    };
    let id = forge.create_deployment(&repo(), &deployment).await.unwrap();
    assert_eq!(id, DeploymentId(42));
    for state in [DeploymentState::InProgress, DeploymentState::Success] {
        let status = DeploymentStatus {
            state,
            environment_url: Some("https://staging.example.com".into()),
            log_url: Some("https://slipway.example/runs/1".into()),
            description: "x".repeat(200),
        };
        forge
            .set_deployment_status(&repo(), id, &status)
            .await
            .unwrap();
    }
    let sent = requests(&server).await;
    let create = body(&sent[0]);
    assert_eq!(create["ref"], SHA);
    assert_eq!(create["auto_merge"], false);
    assert_eq!(create["required_contexts"], json!([]));
    assert_eq!(create["transient_environment"], false);
    assert_eq!(create["environment"], "staging");
    let statuses: Vec<Value> = sent[1..].iter().map(body).collect();
    assert_eq!(statuses[0]["state"], "in_progress");
    assert_eq!(statuses[1]["state"], "success");
    assert_eq!(
        statuses[1]["environment_url"],
        "https://staging.example.com"
    );
    assert_eq!(
        statuses[1]["description"].as_str().unwrap().chars().count(),
        140
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn a_5xx_then_success_is_retried() {
    let server = MockServer::start().await;
    let url = "/repos/Codertocat/Hello-World/issues/comments/9/reactions";
    Mock::given(method("POST"))
        .and(path(url))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(url))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .with_priority(2)
        .mount(&server)
        .await;
    token_forge(&server)
        .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
        .await
        .unwrap();
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_the_forge_says() {
    let cases = [
        // 429 with Retry-After.
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        // Secondary rate limit: 403 with Retry-After.
        ResponseTemplate::new(403)
            .insert_header("retry-after", "1")
            .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." })),
    ];
    for limited in cases {
        let server = MockServer::start().await;
        let url = "/repos/Codertocat/Hello-World/issues/comments/9/reactions";
        Mock::given(method("POST"))
            .and(path(url))
            .respond_with(limited)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(url))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .with_priority(2)
            .mount(&server)
            .await;
        let started = Instant::now();
        token_forge(&server)
            .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited as told"
        );
        assert_eq!(requests(&server).await.len(), 2);
    }
}

#[tokio::test]
async fn an_exhausted_primary_limit_waits_for_the_reset() {
    let server = MockServer::start().await;
    let url = "/repos/Codertocat/Hello-World/issues/comments/9/reactions";
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    Mock::given(method("POST"))
        .and(path(url))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({ "message": "API rate limit exceeded" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(url))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .with_priority(2)
        .mount(&server)
        .await;
    token_forge(&server)
        .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
        .await
        .unwrap();
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_bound_and_other_4xx_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/1/reactions",
        ))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/2/reactions",
        ))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/3/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/4/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(json!({ "message": "Validation Failed" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let repo = repo();
    let react = |id| forge.add_reaction(&repo, PrNumber(1), CommentId(id), Reaction::Eyes);
    assert!(matches!(
        react(1).await,
        Err(ForgeError::Unavailable { attempts: 3, .. })
    ));
    let started = Instant::now();
    let limited = react(2).await.unwrap_err();
    assert!(
        matches!(
            limited,
            ForgeError::RateLimited {
                retry_after_secs: Some(3600),
                ..
            }
        ),
        "{limited}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a wait past the budget gives up at once"
    );
    let refused = react(3).await.unwrap_err();
    assert!(
        matches!(&refused, ForgeError::Api { status: 403, message, .. } if message.contains("not accessible"))
    );
    assert!(matches!(
        react(4).await,
        Err(ForgeError::Api { status: 422, .. })
    ));
    assert!(
        !refused.to_string().contains(TOKEN),
        "errors never carry the token"
    );
}

#[test]
fn the_description_check_catches_bad_requests() {
    let spec = support::openapi::spec();
    let good = json!({ "state": "success", "context": "slipway/build" });
    assert!(spec
        .problems(
            "POST",
            &format!("/repos/o/r/statuses/{SHA}"),
            "",
            Some(&good)
        )
        .is_empty());
    let bad = json!({ "state": "passed", "contexts": "x" });
    let problems = spec.problems(
        "POST",
        &format!("/repos/o/r/statuses/{SHA}"),
        "",
        Some(&bad),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    let missing = json!({ "name": "x" });
    assert!(
        !spec
            .problems("POST", "/repos/o/r/check-runs", "", Some(&missing))
            .is_empty(),
        "head_sha is required"
    );
    assert!(!spec
        .problems("POST", "/repos/o/r/no-such-thing", "", None)
        .is_empty());
    assert!(!spec
        .problems("GET", "/repos/o/r/pulls/1/reviews", "bogus=1", None)
        .is_empty());
}
