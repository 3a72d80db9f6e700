//! The webhook edge as tests meet it: the secrets, signed headers, and the app on the embedded
//! SQLite state and queue.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use slipway::app::WebhookApp;
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
