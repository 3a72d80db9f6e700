//! `Forge` for GitHub: one REST call (or a page loop) per operation.

use std::path::Path;

use async_trait::async_trait;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::mapping::{
    check_run_body, commit_status_state, deployment_state, permission_from, review_verdicts,
};
use super::{
    encode_segment, ensure_success, failure, json_body, read_all, repo_path, GithubForge,
    COMMENT_LIMIT, DESCRIPTION_LIMIT, JSON,
};
use crate::forge::text::cut_chars;
use crate::forge::{Forge, ForgeError};
use crate::model::event::{CommitSha, ForgeKind, PrNumber, Repo, User};
use crate::model::forge::{
    CheckId, CheckRun, CommentId, DeploymentId, DeploymentStatus, ForgeComment, NewDeployment,
    Permission, PrFacts, Reaction,
};

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
struct ReviewPayload {
    user: Option<Reviewer>,
    state: String,
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct Reviewer {
    id: u64,
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

impl GithubForge {
    /// A file's raw bytes at `git_ref` (the default branch when `None`); `Ok(None)` when absent.
    async fn contents(
        &self,
        repo: &Repo,
        path: &str,
        git_ref: Option<&str>,
        what: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let encoded: Vec<String> = path.split('/').map(encode_segment).collect();
        let mut url = format!("{}/contents/{}", repo_path(repo), encoded.join("/"));
        if let Some(git_ref) = git_ref {
            url.push_str("?ref=");
            url.push_str(&encode_segment(git_ref));
        }
        let bearer = self.bearer().await?;
        let response = self
            .client
            .send(
                Method::GET,
                &url,
                None,
                "application/vnd.github.raw+json",
                &bearer,
                what,
            )
            .await?;
        match ensure_success(what, response).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
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
        let what = format!("{path} at {}", sha.short());
        self.contents(repo, path, Some(sha.as_str()), &what).await
    }

    async fn read_default_branch_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        // Without `ref`, the contents API reads the default branch.
        let what = format!("{path} on the default branch");
        self.contents(repo, path, None, &what).await
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
        let mut response = response;
        let mut sink = crate::forge::archive::ArchiveSink::create(dest).await?;
        while let Some(data) = response
            .chunk()
            .await
            .map_err(|e| ForgeError::body_lost(&what, e))?
        {
            sink.write(&data).await?;
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
        let reviews: Vec<ReviewPayload> = self.paged(&format!("{url}/reviews"), "reviews").await?;
        let reviews = reviews
            .into_iter()
            .filter_map(|r| {
                let user = r.user?;
                let reviewer = User {
                    id: user.id,
                    login: Some(user.login),
                    is_bot: user.kind == "Bot",
                };
                let commit = r.commit_id.and_then(|c| CommitSha::parse(&c).ok());
                Some((reviewer, r.state, commit))
            })
            .collect();
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
            reviews: review_verdicts(reviews),
        })
    }

    async fn pulls_for_commit(
        &self,
        repo: &Repo,
        sha: &CommitSha,
    ) -> Result<Vec<PrNumber>, ForgeError> {
        #[derive(serde::Deserialize)]
        struct Pull {
            number: u64,
        }
        let url = format!("{}/commits/{sha}/pulls", repo_path(repo));
        let pulls: Vec<Pull> = self.paged(&url, "the commit's pull requests").await?;
        Ok(pulls.into_iter().map(|p| PrNumber(p.number)).collect())
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
