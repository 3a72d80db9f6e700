//! Shared test helpers: fixtures, signing, apps on real local adapters, and moto_server.
#![allow(dead_code)] // each test binary uses a different part

pub mod aws;
mod moto;
pub mod openapi;
pub mod registry;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use slipway::app::WebhookApp;
use slipway::queue::local::LocalQueue;
use slipway::state::sqlite::SqliteState;
use slipway::webhook::{github, Ingress, Secret, WebhookSecrets};

pub const GITHUB_SECRET: &str = "test-github-secret";
pub const GITLAB_TOKEN: &str = "test-gitlab-token";

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn json_fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A pull request comment, built from the issue comment fixture as the fixtures README says.
pub fn pr_comment(action: &str, body: &str) -> Vec<u8> {
    let mut v = json_fixture(&format!("github/issue_comment.{action}.1.json"));
    v["issue"]["pull_request"] =
        serde_json::json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1" });
    v["comment"]["body"] = body.into();
    serde_json::to_vec(&v).unwrap()
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Headers GitHub would send with `body` for `event`.
pub fn github_headers(event: &str, delivery: &str, body: &[u8]) -> HeaderMap {
    headers(&[
        ("content-type", "application/json"),
        ("x-github-event", event),
        ("x-github-delivery", delivery),
        (
            "x-hub-signature-256",
            &github::signature(GITHUB_SECRET.as_bytes(), body),
        ),
    ])
}

pub fn gitlab_headers(event: &str, delivery: &str) -> HeaderMap {
    headers(&[
        ("content-type", "application/json"),
        ("x-gitlab-event", event),
        ("x-gitlab-event-uuid", delivery),
        ("x-gitlab-token", GITLAB_TOKEN),
    ])
}

pub fn ingress() -> Ingress {
    Ingress::new(WebhookSecrets {
        github: vec![Secret::new(GITHUB_SECRET).unwrap()],
        gitlab_token: Some(Secret::new(GITLAB_TOKEN).unwrap()),
        gitlab_signing: None,
    })
}

pub type LocalApp = WebhookApp<SqliteState, LocalQueue>;

/// The webhook app on the embedded SQLite state and queue in a fresh directory.
pub fn local_app(dir: &Path) -> LocalApp {
    let db = dir.join("slipway.db");
    WebhookApp {
        ingress: ingress(),
        state: SqliteState::open(&db).unwrap(),
        queue: LocalQueue::open(&db).unwrap(),
    }
}

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// `moto_server`, with an SDK configuration pointed at it.
pub use moto::Moto;

impl Moto {
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials =
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .load()
            .await
    }
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// A `.tar.gz` of regular files, as forges serve source archives.
pub fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, contents.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A run on PR `pr` (or none), created at `created_at`.
pub fn sample_run(id: &str, pr: Option<u64>, created_at: u64) -> slipway::model::run::Run {
    use slipway::model::event::RunId;
    use slipway::model::event::{CommitSha, ForgeKind, PrNumber, Repo, RepoId};
    use slipway::model::run::Run;
    use slipway::model::status::RunStatus;
    Run {
        id: RunId(id.into()),
        forge: ForgeKind::Github,
        repo: Repo {
            id: RepoId("186853002".into()),
            full_name: "Codertocat/Hello-World".into(),
            web_url: "https://github.com/Codertocat/Hello-World".into(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
        },
        installation_id: Some(7),
        sha: CommitSha::parse(&"c".repeat(40)).unwrap(),
        git_ref: "feature".into(),
        pr: pr.map(PrNumber),
        trigger: slipway::model::status::Trigger::PullRequest,
        check_name: "slipway/build".into(),
        check_id: None,
        status: RunStatus::Queued,
        cancel_reason: None,
        created_at,
        finished_at: None,
        timeout_secs: 600,
        runner_ref: None,
        artifacts: Vec::new(),
        image: None,
        deployment: None,
        policy_changed: false,
    }
}

/// What every StateStore must do with runs.
pub async fn run_store_contract(state: &dyn slipway::state::StateStore) {
    use slipway::model::event::RunId;
    use slipway::model::event::{CommitSha, ForgeKind, PrNumber, RepoId};
    use slipway::model::status::RunStatus;
    let first = sample_run("run-a", Some(7), 100);
    let second = sample_run("run-b", Some(7), 200);
    let push = sample_run("run-c", None, 150);
    let other_pr = sample_run("run-d", Some(8), 120);
    for run in [&first, &second, &push, &other_pr] {
        assert!(state.insert_run(run).await.unwrap(), "{} is new", run.id);
    }
    let mut changed = first.clone();
    changed.status = RunStatus::Failed;
    assert!(
        !state.insert_run(&changed).await.unwrap(),
        "an existing run is not replaced"
    );
    assert_eq!(
        state.get_run(&first.id).await.unwrap().unwrap().status,
        RunStatus::Queued
    );
    assert_eq!(state.get_run(&RunId("nope".into())).await.unwrap(), None);

    let repo = RepoId("186853002".into());
    let of_pr: Vec<_> = state
        .runs_for_pr(ForgeKind::Github, &repo, PrNumber(7))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(of_pr, ["run-a", "run-b"], "oldest first, this PR only");
    assert!(state
        .runs_for_pr(ForgeKind::Gitlab, &repo, PrNumber(7))
        .await
        .unwrap()
        .is_empty());

    let mut done = second.clone();
    done.status = RunStatus::Succeeded;
    done.finished_at = Some(300);
    state.save_run(&done).await.unwrap();
    assert_eq!(state.get_run(&done.id).await.unwrap().unwrap(), done);
    let unfinished: Vec<_> = state
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(
        unfinished,
        ["run-a", "run-d", "run-c"],
        "finished runs leave, oldest first"
    );

    let sha1 = CommitSha::parse(&"1".repeat(40)).unwrap();
    let sha2 = CommitSha::parse(&"2".repeat(40)).unwrap();
    let trusted = |pr| state.trusted_sha(ForgeKind::Github, &repo, PrNumber(pr));
    assert_eq!(trusted(7).await.unwrap(), None);
    state
        .set_trusted_sha(ForgeKind::Github, &repo, PrNumber(7), &sha1)
        .await
        .unwrap();
    state
        .set_trusted_sha(ForgeKind::Github, &repo, PrNumber(7), &sha2)
        .await
        .unwrap();
    assert_eq!(
        trusted(7).await.unwrap(),
        Some(sha2),
        "the latest trust wins"
    );
    assert_eq!(trusted(8).await.unwrap(), None);
}

/// A deployment of `sha` (one repeated hex digit) to `environment`.
pub fn sample_deployment(
    id: &str,
    environment: &str,
    sha: char,
    created_ms: u64,
) -> slipway::model::deploy::DeploymentRecord {
    let run = sample_run("unused", Some(1), 0);
    slipway::model::deploy::DeploymentRecord {
        id: id.into(),
        forge: run.forge,
        repo: run.repo,
        installation_id: Some(7),
        environment: environment.into(),
        kind: slipway::model::deploy::DeployKind::Deploy,
        sha: slipway::model::event::CommitSha::parse(&sha.to_string().repeat(40)).unwrap(),
        git_ref: "main".into(),
        image: None,
        artifacts_manifest: None,
        actor: "octocat".into(),
        pr: Some(slipway::model::event::PrNumber(1)),
        status: slipway::model::deploy::DeployStatus::InProgress,
        reason: None,
        previous: None,
        forge_deployment: None,
        run_id: None,
        url: None,
        created_ms,
        finished_at: None,
    }
}

/// What every StateStore must do with deployments and locks.
pub async fn deployment_store_contract(state: &dyn slipway::state::StateStore) {
    use slipway::model::deploy::DeployStatus;
    let repo = sample_run("unused", None, 0).repo;
    let forge = slipway::model::event::ForgeKind::Github;
    let first = sample_deployment(&unique("d1"), "staging", 'a', 1_000);
    let second = sample_deployment(&unique("d2"), "staging", 'b', 2_000);
    let other = sample_deployment(&unique("d3"), "production", 'a', 1_500);
    for d in [&second, &first, &other] {
        state.save_deployment(d).await.unwrap();
    }
    let mut finished = first.clone();
    finished.status = DeployStatus::Succeeded;
    state.save_deployment(&finished).await.unwrap();
    let staging = state.deployments(forge, &repo.id, "staging").await.unwrap();
    assert_eq!(
        staging,
        [finished.clone(), second.clone()],
        "oldest first, updated in place"
    );
    assert_eq!(
        state
            .deployments(forge, &repo.id, "production")
            .await
            .unwrap(),
        [other]
    );
    assert!(state
        .deployments(forge, &repo.id, "qa")
        .await
        .unwrap()
        .is_empty());

    let key = unique("lock");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let ttl = Duration::from_secs(60);
    assert_eq!(
        state.acquire_lock(&key, "alice", now, ttl).await.unwrap(),
        None
    );
    assert_eq!(
        state.acquire_lock(&key, "alice", now, ttl).await.unwrap(),
        None,
        "already ours"
    );
    assert_eq!(
        state.acquire_lock(&key, "bob", now, ttl).await.unwrap(),
        Some("alice".into())
    );
    state.release_lock(&key, "bob").await.unwrap();
    assert_eq!(
        state.acquire_lock(&key, "bob", now, ttl).await.unwrap(),
        Some("alice".into()),
        "only the holder releases"
    );
    let later = now + ttl + Duration::from_secs(1);
    assert_eq!(
        state.acquire_lock(&key, "bob", later, ttl).await.unwrap(),
        None,
        "expired"
    );
    state.release_lock(&key, "bob").await.unwrap();
    assert_eq!(
        state.acquire_lock(&key, "carol", later, ttl).await.unwrap(),
        None
    );
}
