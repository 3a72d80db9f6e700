//! GitHub: the REST API through octocrab's client (base URL for GitHub Enterprise Server, TLS,
//! redirects), with our own retry policy and installation-token cache.
//!
//! App auth reports with the Checks API; token auth with commit statuses.

mod auth;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub use auth::{GithubAuth, TOKEN_RENEWAL_MARGIN};
use auth::{InstallationToken, TokenCache};

use super::retry::{self, RetryPolicy};
use super::text::{cut_bytes, cut_chars};
use super::{
    CheckId, CheckRun, CheckState, CommentId, DeploymentId, DeploymentState, DeploymentStatus,
    Forge, ForgeComment, ForgeError, NewDeployment, Permission, PrFacts, Reaction,
};
use crate::event::{CommitSha, ForgeKind, PrNumber, Repo, User};

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// GitHub refuses comment bodies over 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Check run `output.summary` limit, in bytes.
pub const SUMMARY_LIMIT: usize = 65_535;
/// Commit status and deployment status descriptions.
pub const DESCRIPTION_LIMIT: usize = 140;
const PAGE_SIZE: usize = 100;
const MAX_PAGES: usize = 50;

type Response = http::Response<http_body_util::combinators::BoxBody<Bytes, octocrab::Error>>;

/// One GitHub endpoint and identity, shared by every repository and installation.
pub struct GithubClient {
    crab: Octocrab,
    auth: GithubAuth,
    retry: RetryPolicy,
    tokens: TokenCache,
    login: tokio::sync::OnceCell<String>,
}

impl GithubClient {
    pub fn new(
        api_url: &str,
        auth: GithubAuth,
        retry: RetryPolicy,
    ) -> Result<Arc<Self>, ForgeError> {
        let crab = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .and_then(|b| b.build())
            .map_err(|e| ForgeError::Auth(format!("GitHub API URL {api_url:?}: {e}")))?;
        Ok(Arc::new(GithubClient {
            crab,
            auth,
            retry,
            tokens: TokenCache::default(),
            login: tokio::sync::OnceCell::new(),
        }))
    }

    /// The forge as seen by one App installation (required with App auth; ignored with a token).
    pub fn forge(self: &Arc<Self>, installation: Option<u64>) -> GithubForge {
        GithubForge {
            client: Arc::clone(self),
            installation,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        accept: &str,
        bearer: &str,
        what: &str,
    ) -> Result<Response, ForgeError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .map_err(|_| ForgeError::Auth("the token is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        retry::send(&self.retry, what, || {
            let request = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(http::header::AUTHORIZATION, authorization.clone())
                .header(http::header::ACCEPT, accept); // octocrab adds X-GitHub-Api-Version
            let crab = &self.crab;
            async move {
                let request = crab.build_request(request, body)?;
                crab.execute(request).await
            }
        })
        .await
    }

    async fn installation_token(&self, installation: u64) -> Result<String, ForgeError> {
        if let Some(token) = self.tokens.get(installation, SystemTime::now()) {
            return Ok(token);
        }
        let jwt = self.auth.app_jwt()?;
        let path = format!("/app/installations/{installation}/access_tokens");
        let response = self
            .send(Method::POST, &path, None, JSON, &jwt, "installation token")
            .await?;
        let fresh: InstallationToken = json_body("installation token", response)
            .await
            .map_err(|e| ForgeError::Auth(e.to_string()))?;
        self.tokens.put(installation, fresh)
    }
}

const JSON: &str = "application/vnd.github+json";

/// GitHub as one installation (or one token) sees it.
#[derive(Clone)]
pub struct GithubForge {
    client: Arc<GithubClient>,
    installation: Option<u64>,
}

impl GithubForge {
    async fn bearer(&self) -> Result<String, ForgeError> {
        match (&self.client.auth, self.installation) {
            (GithubAuth::Token(token), _) => String::from_utf8(token.expose().to_vec())
                .map_err(|_| ForgeError::Auth("the token is not UTF-8".into())),
            (GithubAuth::App { .. }, Some(id)) => self.client.installation_token(id).await,
            (GithubAuth::App { .. }, None) => Err(ForgeError::Auth(
                "a GitHub App needs the installation from the webhook".into(),
            )),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, ForgeError> {
        let bearer = self.bearer().await?;
        self.client
            .send(method, path, body, JSON, &bearer, what)
            .await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, ForgeError> {
        json_body(what, self.call(method, path, body, what).await?).await
    }

    async fn call_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(), ForgeError> {
        let response = self.call(method, path, body, what).await?;
        ensure_success(what, response).await.map(drop)
    }

    async fn paged<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!("{path}?per_page={PAGE_SIZE}&page={page}");
            let items: Vec<T> = self.call_json(Method::GET, &url, None, what).await?;
            let last = items.len() < PAGE_SIZE;
            all.extend(items);
            if last {
                break;
            }
        }
        Ok(all)
    }
}

/// `/repos/{owner}/{name}` with each segment percent-encoded.
fn repo_path(repo: &Repo) -> String {
    let encoded: Vec<String> = repo.full_name.split('/').map(encode_segment).collect();
    format!("/repos/{}", encoded.join("/"))
}

fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
}

async fn read_all(what: &str, response: Response) -> Result<(u16, Bytes), ForgeError> {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| ForgeError::Unavailable {
            what: what.to_owned(),
            attempts: 1,
            last: e.to_string(),
        })?
        .to_bytes();
    Ok((status, body))
}

async fn ensure_success(what: &str, response: Response) -> Result<Bytes, ForgeError> {
    let (status, body) = read_all(what, response).await?;
    status_error(what, status, &body)?;
    Ok(body)
}

/// A non-2xx answer as an error.
pub(crate) fn status_error(what: &str, status: u16, body: &[u8]) -> Result<(), ForgeError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(failure(what, status, body))
    }
}

/// The error for a non-2xx answer, with the forge's `message` when it gave one.
pub(crate) fn failure(what: &str, status: u16, body: &[u8]) -> ForgeError {
    if status == 404 {
        return ForgeError::NotFound(what.to_owned());
    }
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message").or_else(|| v.get("error")).map(|m| {
                m.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m.to_string())
            })
        })
        .unwrap_or_else(|| cut_chars(&String::from_utf8_lossy(body), 200).into_owned());
    ForgeError::Api {
        what: what.to_owned(),
        status,
        message,
    }
}

async fn json_body<T: DeserializeOwned>(what: &str, response: Response) -> Result<T, ForgeError> {
    let body = ensure_success(what, response).await?;
    serde_json::from_slice(&body).map_err(|e| ForgeError::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Check run `status` and `conclusion` for a state.
pub fn check_run_status(state: CheckState) -> (&'static str, Option<&'static str>) {
    match state {
        CheckState::Queued => ("queued", None),
        CheckState::InProgress => ("in_progress", None),
        CheckState::Success => ("completed", Some("success")),
        CheckState::Failure => ("completed", Some("failure")),
        CheckState::Cancelled => ("completed", Some("cancelled")),
        CheckState::TimedOut => ("completed", Some("timed_out")),
        CheckState::ActionRequired => ("completed", Some("action_required")),
        CheckState::Neutral => ("completed", Some("neutral")),
        CheckState::Skipped => ("completed", Some("skipped")),
    }
}

/// Commit status `state` for a state: anything unfinished or waiting for a person blocks as
/// `pending`; a cancelled build is an `error` (not a verdict on the code).
pub fn commit_status_state(state: CheckState) -> &'static str {
    match state {
        CheckState::Queued | CheckState::InProgress | CheckState::ActionRequired => "pending",
        CheckState::Success | CheckState::Neutral | CheckState::Skipped => "success",
        CheckState::Failure | CheckState::TimedOut => "failure",
        CheckState::Cancelled => "error",
    }
}

pub fn deployment_state(state: DeploymentState) -> &'static str {
    match state {
        DeploymentState::InProgress => "in_progress",
        DeploymentState::Success => "success",
        DeploymentState::Failure => "failure",
        DeploymentState::Error | DeploymentState::Cancelled => "error",
        DeploymentState::Inactive => "inactive",
    }
}

/// `role_name` is the precise level; a custom role falls back to its base `permission`.
pub fn permission_from(role_name: Option<&str>, permission: &str) -> Permission {
    role_name
        .and_then(|role| role.parse().ok())
        .or_else(|| permission.parse().ok())
        .unwrap_or(Permission::None)
}

fn check_run_body(check: &CheckRun, create: bool) -> Value {
    let (status, conclusion) = check_run_status(check.state);
    let mut body = json!({
        "name": check.name,
        "status": status,
        "output": {
            "title": cut_chars(&check.title, 255),
            "summary": cut_bytes(&check.summary, SUMMARY_LIMIT),
        },
    });
    if create {
        body["head_sha"] = check.head_sha.as_str().into();
    }
    if let Some(conclusion) = conclusion {
        body["conclusion"] = conclusion.into();
        let completed = check.completed_at.unwrap_or_else(SystemTime::now);
        body["completed_at"] = rfc3339(completed).into();
    }
    if let Some(url) = &check.details_url {
        body["details_url"] = url.as_str().into();
    }
    if let Some(started) = check.started_at {
        body["started_at"] = rfc3339(started).into();
    }
    body
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<Login>,
}

#[derive(Deserialize)]
struct PullPayload {
    number: u64,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    user: UserPayload,
    head: BranchPayload,
    base: BranchPayload,
}

#[derive(Deserialize)]
struct UserPayload {
    id: u64,
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct BranchPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: CommitSha,
    repo: Option<Id>,
}

#[derive(Deserialize)]
struct Review {
    user: Option<Login>,
    state: String,
}

/// Each reviewer's latest decisive review: approvals and change requests.
pub fn review_verdicts(reviews: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let mut latest: Vec<(String, String)> = Vec::new();
    for (login, state) in reviews {
        if !matches!(
            state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue; // a comment does not change a reviewer's verdict
        }
        match latest.iter_mut().find(|(l, _)| l == login) {
            Some(entry) => entry.1 = state.clone(),
            None => latest.push((login.clone(), state.clone())),
        }
    }
    let with = |wanted: &str| -> Vec<String> {
        latest
            .iter()
            .filter(|(_, s)| s == wanted)
            .map(|(l, _)| l.clone())
            .collect()
    };
    (with("APPROVED"), with("CHANGES_REQUESTED"))
}

#[async_trait]
impl Forge for GithubForge {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Github
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn bot_login(&self) -> Result<String, ForgeError> {
        self.client
            .login
            .get_or_try_init(|| async {
                if self.client.auth.is_app() {
                    #[derive(Deserialize)]
                    struct App {
                        slug: String,
                    }
                    let jwt = self.client.auth.app_jwt()?;
                    let response = self
                        .client
                        .send(Method::GET, "/app", None, JSON, &jwt, "the App")
                        .await?;
                    let app: App = json_body("the App", response).await?;
                    Ok(format!("{}[bot]", app.slug))
                } else {
                    let me: Login = self
                        .call_json(Method::GET, "/user", None, "the token's user")
                        .await?;
                    Ok(me.login)
                }
            })
            .await
            .cloned()
    }

    async fn read_file(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let encoded: Vec<String> = path.split('/').map(encode_segment).collect();
        let url = format!(
            "{}/contents/{}?ref={sha}",
            repo_path(repo),
            encoded.join("/")
        );
        let bearer = self.bearer().await?;
        let what = format!("{path} at {}", sha.short());
        let response = self
            .client
            .send(
                Method::GET,
                &url,
                None,
                "application/vnd.github.raw+json",
                &bearer,
                &what,
            )
            .await?;
        match ensure_success(&what, response).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn download_source(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        dest: &Path,
    ) -> Result<(), ForgeError> {
        let what = format!("source of {}", sha.short());
        let url = format!("{}/tarball/{sha}", repo_path(repo));
        let response = self.call(Method::GET, &url, None, &what).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let (status, body) = read_all(&what, response).await?;
            return Err(failure(&what, status, &body));
        }
        let mut body = response.into_body();
        let mut sink = super::archive::ArchiveSink::create(dest).await?;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ForgeError::Unavailable {
                what: what.clone(),
                attempts: 1,
                last: e.to_string(),
            })?;
            if let Ok(data) = frame.into_data() {
                sink.write(&data).await?;
            }
        }
        sink.unpack_into(dest).await
    }

    async fn set_check(
        &self,
        repo: &Repo,
        check: &CheckRun,
        existing: Option<CheckId>,
    ) -> Result<Option<CheckId>, ForgeError> {
        let what = format!("check {}", check.name);
        if !self.client.auth.is_app() {
            let url = format!("{}/statuses/{}", repo_path(repo), check.head_sha);
            let mut body = json!({
                "state": commit_status_state(check.state),
                "context": check.name,
                "description": cut_chars(&check.title, DESCRIPTION_LIMIT),
            });
            if let Some(details) = &check.details_url {
                body["target_url"] = details.as_str().into();
            }
            self.call_ok(Method::POST, &url, Some(&body), &what).await?;
            return Ok(None);
        }
        let created: Id = match existing {
            Some(CheckId(id)) => {
                let url = format!("{}/check-runs/{id}", repo_path(repo));
                self.call_json(
                    Method::PATCH,
                    &url,
                    Some(&check_run_body(check, false)),
                    &what,
                )
                .await?
            }
            None => {
                let url = format!("{}/check-runs", repo_path(repo));
                self.call_json(
                    Method::POST,
                    &url,
                    Some(&check_run_body(check, true)),
                    &what,
                )
                .await?
            }
        };
        Ok(Some(CheckId(created.id)))
    }

    async fn list_comments(
        &self,
        repo: &Repo,
        pr: PrNumber,
    ) -> Result<Vec<ForgeComment>, ForgeError> {
        let path = format!("{}/issues/{pr}/comments", repo_path(repo));
        let comments: Vec<Comment> = self.paged(&path, "comments").await?;
        Ok(comments
            .into_iter()
            .map(|c| ForgeComment {
                id: CommentId(c.id),
                author_login: c.user.map(|u| u.login).unwrap_or_default(),
                body: c.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn create_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        body: &str,
    ) -> Result<CommentId, ForgeError> {
        let url = format!("{}/issues/{pr}/comments", repo_path(repo));
        let created: Id = self
            .call_json(
                Method::POST,
                &url,
                Some(&json!({ "body": body })),
                "a comment",
            )
            .await?;
        Ok(CommentId(created.id))
    }

    async fn update_comment(
        &self,
        repo: &Repo,
        _pr: PrNumber,
        id: CommentId,
        body: &str,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/issues/comments/{}", repo_path(repo), id.0);
        self.call_ok(
            Method::PATCH,
            &url,
            Some(&json!({ "body": body })),
            "a comment",
        )
        .await
    }

    async fn delete_comment(
        &self,
        repo: &Repo,
        _pr: PrNumber,
        id: CommentId,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/issues/comments/{}", repo_path(repo), id.0);
        self.call_ok(Method::DELETE, &url, None, "a comment").await
    }

    async fn add_reaction(
        &self,
        repo: &Repo,
        _pr: PrNumber,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        let url = format!(
            "{}/issues/comments/{}/reactions",
            repo_path(repo),
            comment.0
        );
        let body = json!({ "content": reaction.name() });
        self.call_ok(Method::POST, &url, Some(&body), "a reaction")
            .await
    }

    async fn permission(&self, repo: &Repo, user: &User) -> Result<Permission, ForgeError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            role_name: Option<String>,
        }
        let Some(login) = &user.login else {
            return Ok(Permission::None);
        };
        let url = format!(
            "{}/collaborators/{}/permission",
            repo_path(repo),
            encode_segment(login)
        );
        match self
            .call_json::<Answer>(Method::GET, &url, None, "a permission")
            .await
        {
            Ok(answer) => Ok(permission_from(
                answer.role_name.as_deref(),
                &answer.permission,
            )),
            Err(ForgeError::NotFound(_)) => Ok(Permission::None),
            Err(e) => Err(e),
        }
    }

    async fn pull_request(&self, repo: &Repo, pr: PrNumber) -> Result<PrFacts, ForgeError> {
        let url = format!("{}/pulls/{pr}", repo_path(repo));
        let pull: PullPayload = self
            .call_json(Method::GET, &url, None, "the pull request")
            .await?;
        let reviews: Vec<Review> = self.paged(&format!("{url}/reviews"), "reviews").await?;
        let reviews: Vec<(String, String)> = reviews
            .into_iter()
            .filter_map(|r| Some((r.user?.login, r.state)))
            .collect();
        let (approved_by, changes_requested_by) = review_verdicts(&reviews);
        let base_repo = pull.base.repo.as_ref().map(|r| r.id);
        let head_repo = pull.head.repo.as_ref().map(|r| r.id);
        Ok(PrFacts {
            number: PrNumber(pull.number),
            head_sha: pull.head.sha,
            head_branch: pull.head.git_ref,
            base_branch: pull.base.git_ref,
            from_fork: head_repo.is_none() || head_repo != base_repo,
            author: User {
                id: pull.user.id,
                login: Some(pull.user.login),
                is_bot: pull.user.kind == "Bot",
            },
            draft: pull.draft,
            open: pull.state == "open",
            merged: pull.merged,
            approved_by,
            changes_requested_by,
        })
    }

    async fn create_deployment(
        &self,
        repo: &Repo,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, ForgeError> {
        let url = format!("{}/deployments", repo_path(repo));
        let body = json!({
            "ref": deployment.sha.as_str(),
            "environment": deployment.environment,
            "description": cut_chars(&deployment.description, DESCRIPTION_LIMIT),
            "auto_merge": false,
            "required_contexts": [],
            "transient_environment": deployment.transient,
            "production_environment": deployment.production,
        });
        let created: Id = self
            .call_json(Method::POST, &url, Some(&body), "a deployment")
            .await?;
        Ok(DeploymentId(created.id))
    }

    async fn set_deployment_status(
        &self,
        repo: &Repo,
        id: DeploymentId,
        status: &DeploymentStatus,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/deployments/{}/statuses", repo_path(repo), id.0);
        let mut body = json!({
            "state": deployment_state(status.state),
            "description": cut_chars(&status.description, DESCRIPTION_LIMIT),
        });
        if let Some(env_url) = &status.environment_url {
            body["environment_url"] = env_url.as_str().into();
        }
        if let Some(log_url) = &status.log_url {
            body["log_url"] = log_url.as_str().into();
        }
        self.call_ok(Method::POST, &url, Some(&body), "a deployment status")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_state_maps_to_a_valid_check_run() {
        let conclusions = [
            "success",
            "failure",
            "cancelled",
            "timed_out",
            "action_required",
            "neutral",
            "skipped",
        ];
        for state in CheckState::ALL {
            let (status, conclusion) = check_run_status(state);
            assert!(["queued", "in_progress", "completed"].contains(&status));
            assert_eq!(status == "completed", conclusion.is_some(), "{state:?}");
            if let Some(c) = conclusion {
                assert!(conclusions.contains(&c));
            }
        }
        assert_eq!(
            check_run_status(CheckState::TimedOut),
            ("completed", Some("timed_out"))
        );
        assert_eq!(check_run_status(CheckState::Queued), ("queued", None));
    }

    #[test]
    fn every_check_state_maps_to_a_commit_status() {
        let expected = [
            (CheckState::Queued, "pending"),
            (CheckState::InProgress, "pending"),
            (CheckState::Success, "success"),
            (CheckState::Failure, "failure"),
            (CheckState::Cancelled, "error"),
            (CheckState::TimedOut, "failure"),
            (CheckState::ActionRequired, "pending"),
            (CheckState::Neutral, "success"),
            (CheckState::Skipped, "success"),
        ];
        assert_eq!(expected.len(), CheckState::ALL.len());
        for (state, status) in expected {
            assert_eq!(commit_status_state(state), status, "{state:?}");
        }
    }

    #[test]
    fn deployment_states_use_githubs_names() {
        let valid = ["in_progress", "success", "failure", "error", "inactive"];
        for state in DeploymentState::ALL {
            assert!(valid.contains(&deployment_state(state)));
        }
    }

    #[test]
    fn role_name_is_preferred_and_custom_roles_fall_back() {
        assert_eq!(
            permission_from(Some("maintain"), "write"),
            Permission::Maintain
        );
        assert_eq!(permission_from(Some("triage"), "read"), Permission::Triage);
        assert_eq!(
            permission_from(Some("security-reviewer"), "write"),
            Permission::Write
        );
        assert_eq!(permission_from(None, "admin"), Permission::Admin);
        assert_eq!(permission_from(None, "none"), Permission::None);
        assert_eq!(permission_from(None, "weird"), Permission::None);
    }

    #[test]
    fn latest_decisive_review_wins() {
        let reviews: Vec<(String, String)> = [
            ("ann", "CHANGES_REQUESTED"),
            ("bob", "APPROVED"),
            ("ann", "COMMENTED"),
            ("cat", "APPROVED"),
            ("cat", "DISMISSED"),
            ("ann", "APPROVED"),
            ("dan", "CHANGES_REQUESTED"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let (approved, changes) = review_verdicts(&reviews);
        assert_eq!(approved, ["ann", "bob"]);
        assert_eq!(changes, ["dan"]);
    }

    #[test]
    fn repo_paths_are_encoded_per_segment() {
        let repo = Repo {
            id: crate::event::RepoId("1".into()),
            full_name: "my-org/some.repo_x".into(),
            web_url: String::new(),
            clone_url: String::new(),
        };
        assert_eq!(repo_path(&repo), "/repos/my-org/some.repo_x");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
