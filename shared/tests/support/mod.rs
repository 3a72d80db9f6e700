//! Shared test helpers: fixtures, signing, apps on real local adapters, and moto_server.
#![allow(dead_code)] // each test binary uses a different part

pub mod openapi;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

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

/// A `moto_server` for AWS adapters: the one `scripts/test` started (`SLIPWAY_TEST_MOTO_URL`),
/// or one of our own on a free port, stopped when dropped.
pub struct Moto {
    pub url: String,
    child: Option<Child>,
}

impl Moto {
    pub fn start() -> Moto {
        if let Ok(url) = std::env::var("SLIPWAY_TEST_MOTO_URL") {
            return Moto { url, child: None };
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is needed (scripts/test installs it)");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

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

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
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
