//! The local forge's own records, beyond the `Forge` trait: opening pull requests, granting
//! permissions, and reading back what Slipway wrote (for `slipway run`, `comment` and tests).

use rusqlite::params;

use super::{LocalCheck, LocalForge};
use crate::model::event::{CommitSha, PrNumber, Repo};
use crate::model::forge::{CommentId, Permission};
use crate::state::db::DbError;

impl LocalForge {
    /// Open (or update) pull request `number` with this head, as `slipway run` does.
    pub async fn open_pull_request(
        &self,
        repo: &Repo,
        number: PrNumber,
        head: &CommitSha,
        branch: &str,
        author: &str,
    ) -> Result<(), DbError> {
        let (key, sha, branch, author) = (
            repo.id.0.clone(),
            head.to_string(),
            branch.to_owned(),
            author.to_owned(),
        );
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO local_pulls (repo, number, head_sha, head_branch, author) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (repo, number) DO UPDATE SET head_sha = excluded.head_sha, head_branch = excluded.head_branch",
                    params![key, number.0 as i64, sha, branch, author],
                )
            })
            .await
            .map(drop)
    }

    pub async fn set_permission(
        &self,
        repo: &Repo,
        login: &str,
        permission: Permission,
    ) -> Result<(), DbError> {
        let (key, login) = (repo.id.0.clone(), login.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO local_permissions (repo, login, permission) VALUES (?1, ?2, ?3)
                     ON CONFLICT (repo, login) DO UPDATE SET permission = excluded.permission",
                    params![key, login, permission.as_str()],
                )
            })
            .await
            .map(drop)
    }

    /// Every check of a commit, in the order they were first set.
    pub async fn checks(&self, repo: &Repo, sha: &CommitSha) -> Result<Vec<LocalCheck>, DbError> {
        let (key, sha) = (repo.id.0.clone(), sha.to_string());
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare(
                    "SELECT name, sha, state, title, summary, details_url FROM local_checks WHERE repo = ?1 AND sha = ?2 ORDER BY id",
                )?;
                let rows = statement.query_map(params![key, sha], |r| {
                    Ok(LocalCheck {
                        name: r.get(0)?,
                        sha: r.get(1)?,
                        state: r.get(2)?,
                        title: r.get(3)?,
                        summary: r.get(4)?,
                        details_url: r.get(5)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
    }

    /// The reactions on a comment, in order.
    pub async fn reactions(&self, comment: CommentId) -> Result<Vec<String>, DbError> {
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare(
                    "SELECT name FROM local_reactions WHERE comment_id = ?1 ORDER BY rowid",
                )?;
                let rows = statement.query_map([comment.0 as i64], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
    }

    /// A comment by `author` (Slipway's own replies, or `slipway comment --as USER`).
    pub async fn comment_as(
        &self,
        repo: &Repo,
        pr: PrNumber,
        author: &str,
        body: &str,
    ) -> Result<CommentId, DbError> {
        let (key, author, body) = (repo.id.0.clone(), author.to_owned(), body.to_owned());
        let id = self
            .db
            .call(move |conn| -> rusqlite::Result<i64> {
                conn.execute(
                    "INSERT INTO local_comments (repo, pr, author, body) VALUES (?1, ?2, ?3, ?4)",
                    params![key, pr.0 as i64, author, body],
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await?;
        Ok(CommentId(id as u64))
    }

    /// The deployments recorded for a repository, oldest first.
    pub async fn deployments(&self, repo: &Repo) -> Result<Vec<LocalDeployment>, DbError> {
        let key = repo.id.0.clone();
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare(
                    "SELECT environment, sha, state, url FROM local_deployments WHERE repo = ?1 ORDER BY id",
                )?;
                let rows = statement.query_map([key], |r| {
                    Ok(LocalDeployment {
                        environment: r.get(0)?,
                        sha: r.get(1)?,
                        state: r.get(2)?,
                        url: r.get(3)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
    }
}

/// A deployment as the local forge keeps it (its latest status).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalDeployment {
    pub environment: String,
    pub sha: String,
    pub state: String,
    pub url: Option<String>,
}
