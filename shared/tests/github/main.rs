//! The GitHub adapter against a fake GitHub over HTTP (wiremock) that answers as the REST API
//! does; every request it receives is checked against GitHub's official REST description.
#![allow(unused_imports)] // the scenario modules share these through `use super::*`

mod checks;
mod comments;
mod facts;
mod retries;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use slipway::forge::github::{GithubAuth, GithubClient, GithubForge};
use slipway::forge::retry::RetryPolicy;
use slipway::forge::{upsert_sticky_comment, Forge, ForgeError};
use slipway::model::event::{CommitSha, PrNumber, Repo, RepoId, User};
use slipway::model::forge::{
    CheckId, CheckRun, CheckState, CommentId, DeploymentId, DeploymentState, DeploymentStatus,
    NewDeployment, Permission, Reaction,
};
use slipway::webhook::Secret;
use slipway_testkit::openapi::assert_requests_match_github;
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
    let pem = slipway_testkit::fixture("github-app-test-key.pem");
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
        let public = slipway_testkit::fixture("github-app-test-key.pub.pem");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // GitHub's `iss` is the App id as a number, which jsonwebtoken's own check rejects.
        validation.set_required_spec_claims(&["exp", "iat"]);
        let claims = match jsonwebtoken::decode::<Value>(jwt, &key, &validation) {
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
