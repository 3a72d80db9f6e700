//! The webhook edge as tests meet it: the secrets, signed headers, and the app on the embedded
//! SQLite state and queue.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use slipway::app::WebhookApp;
use slipway::intake::sqlite::GroupCommit;
use slipway::queue::local::LocalQueue;
use slipway::state::sqlite::SqliteState;
use slipway::webhook::{github, Ingress, Secret, WebhookSecrets};

pub const GITHUB_SECRET: &str = "test-github-secret";
pub const GITLAB_TOKEN: &str = "test-gitlab-token";

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

/// The webhook app as `serve` builds it (the SQLite group-commit intake), with the state and
/// queue it writes, for tests to look into.
pub struct LocalApp {
    pub edge: WebhookApp<GroupCommit>,
    pub state: SqliteState,
    pub queue: LocalQueue,
}

impl std::ops::Deref for LocalApp {
    type Target = WebhookApp<GroupCommit>;
    fn deref(&self) -> &Self::Target {
        &self.edge
    }
}

impl std::ops::DerefMut for LocalApp {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.edge
    }
}

/// The webhook app on the embedded SQLite state and queue in a fresh directory.
pub fn local_app(dir: &Path) -> LocalApp {
    let db = dir.join("slipway.db");
    LocalApp {
        edge: WebhookApp {
            ingress: ingress(),
            intake: GroupCommit::open(&db).unwrap(),
        },
        state: SqliteState::open(&db).unwrap(),
        queue: LocalQueue::open(&db).unwrap(),
    }
}
