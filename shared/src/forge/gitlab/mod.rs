//! GitLab: a small typed client on reqwest for the dozen REST endpoints Slipway uses.
//!
//! (The `gitlab` crate wraps the whole API behind a synchronous-first builder layer and brings
//! GraphQL code generation; a typed client of our own is smaller and shares the retry policy.)

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::archive::ArchiveSink;
use super::github::{failure, status_error};
use super::retry::{self, ResponseHead, RetryPolicy};
use super::text::cut_chars;
use super::{all_pages, decode_json, encode_segment, PAGE_SIZE};
use super::{Forge, ForgeError};
use crate::model::event::{CommitSha, ForgeKind, PrNumber, Repo, User};
use crate::model::forge::{
    CheckId, CheckRun, CommentId, DeploymentId, DeploymentStatus, ForgeComment, NewDeployment,
    Permission, PrFacts, Reaction,
};
use crate::webhook::Secret;

mod mapping;

pub use mapping::{commit_status_state, deployment_status, permission_from_access_level};
use mapping::{reviews, Approvals, Id, MergeRequest, Note, Reviewer, Username};

/// GitLab's note limit is 1,000,000 characters.
pub const COMMENT_LIMIT: usize = 1_000_000;
/// Commit status descriptions are cut here.
pub const DESCRIPTION_LIMIT: usize = 255;

impl ResponseHead for reqwest::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
}

pub struct GitlabForge {
    http: reqwest::Client,
    api: String,
    token: HeaderValue,
    retry: RetryPolicy,
    login: tokio::sync::OnceCell<String>,
}

impl GitlabForge {
    /// `url` is the instance (`https://gitlab.com`); `token` a project, group or personal token.
    pub fn new(url: &str, token: &Secret, retry: RetryPolicy) -> Result<Arc<Self>, ForgeError> {
        let mut token = HeaderValue::from_bytes(token.expose())
            .map_err(|_| ForgeError::Auth("the GitLab token is not a valid header value".into()))?;
        token.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| ForgeError::Io(format!("building the HTTP client: {e}")))?;
        Ok(Arc::new(GitlabForge {
            http,
            api: format!("{}/api/v4", url.trim_end_matches('/')),
            token,
            retry,
            login: tokio::sync::OnceCell::new(),
        }))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<reqwest::Response, ForgeError> {
        let url = format!("{}{path}", self.api);
        retry::send(&self.retry, what, || {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("private-token", self.token.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            request.send()
        })
        .await
    }

    async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<bytes::Bytes, ForgeError> {
        let response = self.call(method, path, body, what).await?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ForgeError::body_lost(what, e))?;
        status_error(what, status, &bytes)?;
        Ok(bytes)
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, ForgeError> {
        let bytes = self.call_bytes(method, path, body, what).await?;
        decode_json(what, &bytes)
    }

    async fn paged<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let joiner = if path.contains('?') { '&' } else { '?' };
        all_pages(|page| {
            let url = format!("{path}{joiner}per_page={PAGE_SIZE}&page={page}");
            async move { self.call_json(Method::GET, &url, None, what).await }
        })
        .await
    }
}

fn project(repo: &Repo) -> String {
    format!("/projects/{}", encode_segment(&repo.id.0))
}

fn mr(repo: &Repo, pr: PrNumber) -> String {
    format!("{}/merge_requests/{pr}", project(repo))
}

impl GitlabForge {
    /// A file's raw bytes at `git_ref` (the default branch when `None`); `Ok(None)` when absent.
    async fn raw_file(
        &self,
        repo: &Repo,
        path: &str,
        git_ref: Option<&str>,
        what: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let mut url = format!(
            "{}/repository/files/{}/raw",
            project(repo),
            encode_segment(path)
        );
        if let Some(git_ref) = git_ref {
            url.push_str("?ref=");
            url.push_str(&encode_segment(git_ref));
        }
        match self.call_bytes(Method::GET, &url, None, what).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Forge for GitlabForge {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitlab
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn bot_login(&self) -> Result<String, ForgeError> {
        self.login
            .get_or_try_init(|| async {
                let me: Username = self
                    .call_json(Method::GET, "/user", None, "the token's user")
                    .await?;
                Ok(me.username)
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
        let what = format!("{path} at {}", sha.short());
        self.raw_file(repo, path, Some(sha.as_str()), &what).await
    }

    async fn read_default_branch_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        // Without `ref`, GitLab reads the project's HEAD: its default branch.
        let what = format!("{path} on the default branch");
        self.raw_file(repo, path, None, &what).await
    }

    async fn download_source(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        dest: &Path,
    ) -> Result<(), ForgeError> {
        let what = format!("source of {}", sha.short());
        let url = format!("{}/repository/archive.tar.gz?sha={sha}", project(repo));
        let mut response = self.call(Method::GET, &url, None, &what).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.bytes().await.unwrap_or_default();
            return Err(failure(&what, status, &body));
        }
        let mut sink = ArchiveSink::create(dest).await?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ForgeError::body_lost(&what, e))?
        {
            sink.write(&chunk).await?;
        }
        sink.unpack_into(dest).await
    }

    async fn set_check(
        &self,
        repo: &Repo,
        check: &CheckRun,
        _existing: Option<CheckId>,
    ) -> Result<Option<CheckId>, ForgeError> {
        let url = format!("{}/statuses/{}", project(repo), check.head_sha);
        let mut body = json!({
            "state": commit_status_state(check.state),
            "name": check.name,
            "description": cut_chars(&check.title, DESCRIPTION_LIMIT),
        });
        if let Some(details) = &check.details_url {
            body["target_url"] = details.as_str().into();
        }
        let what = format!("status {}", check.name);
        match self
            .call_bytes(Method::POST, &url, Some(&body), &what)
            .await
        {
            Ok(_) => Ok(None),
            // Setting the state a status already has is refused; it is what we wanted anyway.
            Err(ForgeError::Api {
                status: 400,
                message,
                ..
            }) if message.contains("Cannot transition status") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_comments(
        &self,
        repo: &Repo,
        pr: PrNumber,
    ) -> Result<Vec<ForgeComment>, ForgeError> {
        let path = format!("{}/notes?sort=asc&order_by=created_at", mr(repo, pr));
        let notes: Vec<Note> = self.paged(&path, "notes").await?;
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(|n| ForgeComment {
                id: CommentId(n.id),
                author_login: n.author.map(|a| a.username).unwrap_or_default(),
                body: n.body,
            })
            .collect())
    }

    async fn create_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        body: &str,
    ) -> Result<CommentId, ForgeError> {
        let url = format!("{}/notes", mr(repo, pr));
        let created: Id = self
            .call_json(Method::POST, &url, Some(&json!({ "body": body })), "a note")
            .await?;
        Ok(CommentId(created.id))
    }

    async fn update_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        id: CommentId,
        body: &str,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{}", mr(repo, pr), id.0);
        self.call_bytes(Method::PUT, &url, Some(&json!({ "body": body })), "a note")
            .await
            .map(drop)
    }

    async fn delete_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        id: CommentId,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{}", mr(repo, pr), id.0);
        self.call_bytes(Method::DELETE, &url, None, "a note")
            .await
            .map(drop)
    }

    async fn add_reaction(
        &self,
        repo: &Repo,
        pr: PrNumber,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        let url = format!("{}/notes/{}/award_emoji", mr(repo, pr), comment.0);
        let body = json!({ "name": reaction.name() });
        match self
            .call_bytes(Method::POST, &url, Some(&body), "an award emoji")
            .await
        {
            Ok(_) => Ok(()),
            // Awarding the same emoji twice is refused; the reaction is there either way.
            Err(ForgeError::Api { status: 409, .. }) => Ok(()),
            Err(ForgeError::Api {
                status: 400,
                message,
                ..
            }) if message.contains("already") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn permission(&self, repo: &Repo, user: &User) -> Result<Permission, ForgeError> {
        #[derive(Deserialize)]
        struct Member {
            access_level: u32,
        }
        let url = format!("{}/members/all/{}", project(repo), user.id);
        match self
            .call_json::<Member>(Method::GET, &url, None, "a membership")
            .await
        {
            Ok(member) => Ok(permission_from_access_level(member.access_level)),
            Err(ForgeError::NotFound(_)) => Ok(Permission::None),
            Err(e) => Err(e),
        }
    }

    async fn pull_request(&self, repo: &Repo, pr: PrNumber) -> Result<PrFacts, ForgeError> {
        let base = mr(repo, pr);
        let mr: MergeRequest = self
            .call_json(Method::GET, &base, None, "the merge request")
            .await?;
        let approvals: Approvals = self
            .call_json(Method::GET, &format!("{base}/approvals"), None, "approvals")
            .await?;
        // Reviewer states ("requested_changes") exist since GitLab 17; older instances answer 404.
        let reviewers: Vec<Reviewer> = match self
            .call_json(Method::GET, &format!("{base}/reviewers"), None, "reviewers")
            .await
        {
            Ok(reviewers) => reviewers,
            Err(ForgeError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(PrFacts {
            number: PrNumber(mr.iid),
            head_sha: mr.sha,
            head_branch: mr.source_branch,
            base_branch: mr.target_branch,
            from_fork: mr.source_project_id != mr.target_project_id,
            author: User {
                id: mr.author.id,
                login: Some(mr.author.username),
                is_bot: false,
            },
            draft: mr.draft,
            open: mr.state == "opened",
            merged: mr.state == "merged",
            reviews: reviews(approvals, reviewers),
        })
    }

    async fn pulls_for_commit(
        &self,
        repo: &Repo,
        sha: &CommitSha,
    ) -> Result<Vec<PrNumber>, ForgeError> {
        #[derive(serde::Deserialize)]
        struct Listed {
            iid: u64,
        }
        let url = format!("{}/repository/commits/{sha}/merge_requests", project(repo));
        let listed: Vec<Listed> = self.paged(&url, "the commit's merge requests").await?;
        Ok(listed.into_iter().map(|m| PrNumber(m.iid)).collect())
    }

    async fn create_deployment(
        &self,
        repo: &Repo,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, ForgeError> {
        let url = format!("{}/deployments", project(repo));
        let body = json!({
            "environment": deployment.environment,
            "sha": deployment.sha.as_str(),
            "ref": deployment.git_ref,
            "tag": false,
            "status": "running",
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
        // Deployments are created `running` here; GitLab refuses a transition to the state a
        // deployment is already in, so "in progress" has nothing left to say.
        if status.state == crate::model::forge::DeploymentState::InProgress {
            return Ok(());
        }
        let url = format!("{}/deployments/{}", project(repo), id.0);
        let body = json!({ "status": deployment_status(status.state) });
        self.call_bytes(Method::PUT, &url, Some(&body), "a deployment")
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
