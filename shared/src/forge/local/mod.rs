//! The local forge: a git repository on disk. Configuration and source are read with git (never
//! through a shell); checks, comments, reactions, permissions, pull requests and deployments are
//! rows in the embedded database, so `slipway run` and `slipway comment` work on one machine.
//!
//! A repository is named by its path: `Repo::clone_url` is the directory git runs in.

use std::path::Path;
use std::process::Stdio;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::archive::ArchiveSink;
use super::{Forge, ForgeError};
use crate::model::event::{CommitSha, ForgeKind, PrNumber, Repo, User};
use crate::model::forge::{
    CheckId, CheckRun, CommentId, DeploymentId, DeploymentStatus, ForgeComment, NewDeployment,
    Permission, PrFacts, Reaction,
};
use crate::state::db::{Db, DbError};

mod records;

pub use records::LocalDeployment;

/// The login Slipway comments as on the local forge.
pub const BOT_LOGIN: &str = "slipway";

/// The schema, one migration each (see `state::db`). Migration 1 is the schema from before
/// versions, `IF NOT EXISTS` so that databases it made adopt it; later ones need no such care.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS local_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, sha TEXT NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL, details_url TEXT
);
CREATE TABLE IF NOT EXISTS local_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, pr INTEGER NOT NULL,
    author TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS local_reactions (comment_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS local_permissions (
    repo TEXT NOT NULL, login TEXT NOT NULL, permission TEXT NOT NULL, PRIMARY KEY (repo, login)
);
CREATE TABLE IF NOT EXISTS local_pulls (
    repo TEXT NOT NULL, number INTEGER NOT NULL, head_sha TEXT NOT NULL, head_branch TEXT NOT NULL,
    author TEXT NOT NULL, PRIMARY KEY (repo, number)
);
CREATE TABLE IF NOT EXISTS local_deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, environment TEXT NOT NULL,
    sha TEXT NOT NULL, state TEXT NOT NULL, url TEXT, description TEXT NOT NULL
);
"];

/// A check as the local forge keeps it (the latest state of each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalCheck {
    pub name: String,
    pub sha: String,
    pub state: String,
    pub title: String,
    pub summary: String,
    pub details_url: Option<String>,
}

#[derive(Clone)]
pub struct LocalForge {
    db: Db,
}

fn io(e: impl std::fmt::Display) -> ForgeError {
    ForgeError::Io(e.to_string())
}

fn db_error(e: DbError) -> ForgeError {
    ForgeError::Io(format!("the local forge's database: {e}"))
}

/// Run git in `dir` with `args` (no shell), returning stdout, or `None` when git says no.
async fn git(dir: &str, args: &[&str]) -> Result<Option<Vec<u8>>, ForgeError> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| io(format!("running git: {e}")))?;
    Ok(out.status.success().then_some(out.stdout))
}

impl LocalForge {
    pub fn open(db_path: &Path) -> Result<Self, DbError> {
        Ok(LocalForge {
            db: Db::open(db_path, "local_forge", MIGRATIONS)?,
        })
    }
}

#[async_trait]
impl Forge for LocalForge {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Local
    }

    fn comment_limit(&self) -> usize {
        1_000_000
    }

    async fn bot_login(&self) -> Result<String, ForgeError> {
        Ok(BOT_LOGIN.to_owned())
    }

    async fn read_file(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        git(&repo.clone_url, &["show", &format!("{sha}:{path}")]).await
    }

    async fn read_default_branch_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        // On one machine the default branch is the one checked out in the repository.
        git(&repo.clone_url, &["show", &format!("HEAD:{path}")]).await
    }

    async fn download_source(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        dest: &Path,
    ) -> Result<(), ForgeError> {
        let mut child = tokio::process::Command::new("git")
            .arg("-C")
            .arg(&repo.clone_url)
            .args([
                "archive",
                "--format=tar.gz",
                &format!("--prefix=src-{}/", sha.short()),
                sha.as_str(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io(format!("running git archive: {e}")))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| io("git archive has no output"))?;
        let mut sink = ArchiveSink::create(dest).await?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            sink.write(&buf[..n]).await?;
        }
        let status = child.wait().await.map_err(io)?;
        if !status.success() {
            return Err(ForgeError::NotFound(format!(
                "commit {sha} in {}",
                repo.clone_url
            )));
        }
        sink.unpack_into(dest).await
    }

    async fn set_check(
        &self,
        repo: &Repo,
        check: &CheckRun,
        existing: Option<CheckId>,
    ) -> Result<Option<CheckId>, ForgeError> {
        let key = repo.id.0.clone();
        let state = serde_json::to_value(check.state)
            .map_err(io)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (name, sha, title, summary, url) = (
            check.name.clone(),
            check.head_sha.to_string(),
            check.title.clone(),
            check.summary.clone(),
            check.details_url.clone(),
        );
        let id = self
            .db
            .call(move |conn| -> rusqlite::Result<i64> {
                let updated = match existing {
                    Some(CheckId(id)) => conn.execute(
                        "UPDATE local_checks SET state = ?1, title = ?2, summary = ?3, details_url = ?4 WHERE id = ?5",
                        params![state, title, summary, url, id as i64],
                    )?,
                    None => 0,
                };
                if updated == 1 {
                    return Ok(existing.map_or(0, |c| c.0 as i64));
                }
                conn.execute(
                    "INSERT INTO local_checks (repo, sha, name, state, title, summary, details_url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![key, sha, name, state, title, summary, url],
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .map_err(db_error)?;
        Ok(Some(CheckId(id as u64)))
    }

    async fn list_comments(
        &self,
        repo: &Repo,
        pr: PrNumber,
    ) -> Result<Vec<ForgeComment>, ForgeError> {
        let key = repo.id.0.clone();
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare("SELECT id, author, body FROM local_comments WHERE repo = ?1 AND pr = ?2 ORDER BY id")?;
                let rows = statement.query_map(params![key, pr.0 as i64], |r| {
                    Ok(ForgeComment { id: CommentId(r.get::<_, i64>(0)? as u64), author_login: r.get(1)?, body: r.get(2)? })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(db_error)
    }

    async fn create_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        body: &str,
    ) -> Result<CommentId, ForgeError> {
        self.comment_as(repo, pr, BOT_LOGIN, body)
            .await
            .map_err(db_error)
    }

    async fn update_comment(
        &self,
        _repo: &Repo,
        _pr: PrNumber,
        id: CommentId,
        body: &str,
    ) -> Result<(), ForgeError> {
        let body = body.to_owned();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE local_comments SET body = ?1 WHERE id = ?2",
                    params![body, id.0 as i64],
                )
            })
            .await
            .map(drop)
            .map_err(db_error)
    }

    async fn delete_comment(
        &self,
        _repo: &Repo,
        _pr: PrNumber,
        id: CommentId,
    ) -> Result<(), ForgeError> {
        self.db
            .call(move |conn| {
                conn.execute("DELETE FROM local_comments WHERE id = ?1", [id.0 as i64])
            })
            .await
            .map(drop)
            .map_err(db_error)
    }

    async fn add_reaction(
        &self,
        _repo: &Repo,
        _pr: PrNumber,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO local_reactions (comment_id, name) VALUES (?1, ?2)",
                    params![comment.0 as i64, reaction.name()],
                )
            })
            .await
            .map(drop)
            .map_err(db_error)
    }

    async fn permission(&self, repo: &Repo, user: &User) -> Result<Permission, ForgeError> {
        let (key, login) = (repo.id.0.clone(), user.login.clone().unwrap_or_default());
        let level: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT permission FROM local_permissions WHERE repo = ?1 AND login = ?2",
                    params![key, login],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
            .map_err(db_error)?;
        Ok(level
            .and_then(|l| l.parse().ok())
            .unwrap_or(Permission::None))
    }

    async fn pull_request(&self, repo: &Repo, pr: PrNumber) -> Result<PrFacts, ForgeError> {
        let key = repo.id.0.clone();
        let row: Option<(String, String, String)> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT head_sha, head_branch, author FROM local_pulls WHERE repo = ?1 AND number = ?2",
                    params![key, pr.0 as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })
            .await
            .map_err(db_error)?;
        let (sha, branch, author) =
            row.ok_or_else(|| ForgeError::NotFound(format!("pull request {pr}")))?;
        Ok(PrFacts {
            number: pr,
            head_sha: CommitSha::parse(&sha).map_err(io)?,
            head_branch: branch,
            base_branch: "main".into(),
            from_fork: false,
            author: User {
                id: author_id(&author),
                login: Some(author),
                is_bot: false,
            },
            draft: false,
            open: true,
            merged: false,
            reviews: Vec::new(),
        })
    }

    async fn pulls_for_commit(
        &self,
        repo: &Repo,
        sha: &CommitSha,
    ) -> Result<Vec<PrNumber>, ForgeError> {
        let (key, sha) = (repo.id.0.clone(), sha.to_string());
        let numbers: Vec<i64> = self
            .db
            .call(move |conn| {
                let mut statement = conn.prepare(
                    "SELECT number FROM local_pulls WHERE repo = ?1 AND head_sha = ?2 ORDER BY number",
                )?;
                let rows = statement.query_map(params![key, sha], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<i64>>>()
            })
            .await
            .map_err(db_error)?;
        Ok(numbers.into_iter().map(|n| PrNumber(n as u64)).collect())
    }

    async fn create_deployment(
        &self,
        repo: &Repo,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, ForgeError> {
        let (key, env, sha, description) = (
            repo.id.0.clone(),
            deployment.environment.clone(),
            deployment.sha.to_string(),
            deployment.description.clone(),
        );
        let id = self
            .db
            .call(move |conn| -> rusqlite::Result<i64> {
                conn.execute(
                    "INSERT INTO local_deployments (repo, environment, sha, state, description) VALUES (?1, ?2, ?3, 'created', ?4)",
                    params![key, env, sha, description],
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .map_err(db_error)?;
        Ok(DeploymentId(id as u64))
    }

    async fn set_deployment_status(
        &self,
        _repo: &Repo,
        id: DeploymentId,
        status: &DeploymentStatus,
    ) -> Result<(), ForgeError> {
        let state = serde_json::to_value(status.state)
            .map_err(io)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let url = status.environment_url.clone();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE local_deployments SET state = ?1, url = ?2 WHERE id = ?3",
                    params![state, url, id.0 as i64],
                )
            })
            .await
            .map(drop)
            .map_err(db_error)
    }
}

/// Local users have no numeric ids; a stable one from the login keeps "is this the author?" exact.
pub fn author_id(login: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(login.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
}
