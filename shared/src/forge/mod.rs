//! Everything Slipway says to a pull request goes through [`Forge`]: GitHub (App or token) and
//! GitLab adapters speak the real REST APIs; a local forge (git on disk) comes with local mode.

#[cfg(feature = "forges")]
mod archive;
#[cfg(feature = "forges")]
pub mod github;
#[cfg(feature = "forges")]
pub mod gitlab;
#[cfg(feature = "forges")]
mod installed;
#[cfg(all(feature = "forges", feature = "local"))]
pub mod local;
pub mod retry;
pub mod text;

#[cfg(feature = "forges")]
pub use installed::Forges;

#[cfg(feature = "forges")]
use std::fmt;
use std::path::Path;

use async_trait::async_trait;

use crate::model::error::ErrorKind;
use crate::model::event::{CommitSha, ForgeKind, PrNumber, Repo, User};
use crate::model::forge::CheckId;
use crate::model::forge::CheckRun;
use crate::model::forge::CommentId;
use crate::model::forge::DeploymentId;
use crate::model::forge::DeploymentStatus;
use crate::model::forge::ForgeComment;
use crate::model::forge::NewDeployment;
use crate::model::forge::Permission;
use crate::model::forge::PrFacts;
use crate::model::forge::Reaction;

#[cfg(feature = "forges")]
/// Characters percent-encoded in a URL path segment: all but RFC 3986's unreserved ones.
pub(crate) const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(feature = "forges")]
/// One URL path segment, percent-encoded (a `/` inside it included).
pub(crate) fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// A forge call that failed for good (after the retries that made sense).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{what}: the forge answered {status}: {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: rate limited; retry in {retry_after_secs:?} s")]
    RateLimited {
        what: String,
        retry_after_secs: Option<u64>,
    },
    #[error("{what}: the forge is unavailable after {attempts} attempts ({last})")]
    Unavailable {
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("authentication with the forge failed: {0}")]
    Auth(String),
    #[error("{what}: unexpected response: {detail}")]
    Decode { what: String, detail: String },
    #[error("{0}")]
    Io(String),
}

impl ForgeError {
    /// Whether the call may succeed later; a rate limit keeps its hint, so that the caller can
    /// wait rather than fail.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ForgeError::RateLimited {
                retry_after_secs, ..
            } => ErrorKind::RateLimited {
                retry_after: retry_after_secs.map(std::time::Duration::from_secs),
            },
            ForgeError::Unavailable { .. } => ErrorKind::Retryable,
            ForgeError::Api { status, .. } if *status >= 500 => ErrorKind::Retryable,
            ForgeError::NotFound(_)
            | ForgeError::Api { .. }
            | ForgeError::Auth(_)
            | ForgeError::Decode { .. }
            | ForgeError::Io(_) => ErrorKind::Permanent,
        }
    }
}

#[cfg(feature = "forges")]
impl ForgeError {
    /// The connection broke while a response's body was being read.
    pub(crate) fn body_lost(what: &str, error: impl fmt::Display) -> ForgeError {
        ForgeError::Unavailable {
            what: what.to_owned(),
            attempts: 1,
            last: error.to_string(),
        }
    }
}

/// A JSON answer as `T`, or a `Decode` error naming the call.
#[cfg(feature = "forges")]
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, ForgeError> {
    serde_json::from_slice(body).map_err(|e| ForgeError::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

#[async_trait]
pub trait Forge: Send + Sync {
    fn kind(&self) -> ForgeKind;

    /// The longest comment body the forge accepts, in characters.
    fn comment_limit(&self) -> usize;

    /// The login Slipway acts as (to recognise its own comments).
    async fn bot_login(&self) -> Result<String, ForgeError>;

    /// A file's bytes at a commit; `Ok(None)` when the file does not exist there.
    async fn read_file(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError>;

    /// A file's bytes on the repository's default branch (the protected side, where policy
    /// lives); `Ok(None)` when the file does not exist there.
    async fn read_default_branch_file(
        &self,
        repo: &Repo,
        path: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError>;

    /// The commit's source tree, unpacked into `dest` (streamed through a temporary file).
    async fn download_source(
        &self,
        repo: &Repo,
        sha: &CommitSha,
        dest: &Path,
    ) -> Result<(), ForgeError>;

    /// Create or update a check. `existing` is the id a previous call returned (GitHub check
    /// runs); forges that key checks by name return `None` and ignore it.
    async fn set_check(
        &self,
        repo: &Repo,
        check: &CheckRun,
        existing: Option<CheckId>,
    ) -> Result<Option<CheckId>, ForgeError>;

    /// Comments on the pull request, oldest first.
    async fn list_comments(
        &self,
        repo: &Repo,
        pr: PrNumber,
    ) -> Result<Vec<ForgeComment>, ForgeError>;

    async fn create_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        body: &str,
    ) -> Result<CommentId, ForgeError>;

    async fn update_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        id: CommentId,
        body: &str,
    ) -> Result<(), ForgeError>;

    async fn delete_comment(
        &self,
        repo: &Repo,
        pr: PrNumber,
        id: CommentId,
    ) -> Result<(), ForgeError>;

    async fn add_reaction(
        &self,
        repo: &Repo,
        pr: PrNumber,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), ForgeError>;

    /// The user's live permission on the repository (never a payload's `author_association`).
    async fn permission(&self, repo: &Repo, user: &User) -> Result<Permission, ForgeError>;

    async fn pull_request(&self, repo: &Repo, pr: PrNumber) -> Result<PrFacts, ForgeError>;

    /// The pull requests a commit belongs to (a merge commit: the one it merged).
    async fn pulls_for_commit(
        &self,
        repo: &Repo,
        sha: &CommitSha,
    ) -> Result<Vec<PrNumber>, ForgeError>;

    async fn create_deployment(
        &self,
        repo: &Repo,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, ForgeError>;

    async fn set_deployment_status(
        &self,
        repo: &Repo,
        id: DeploymentId,
        status: &DeploymentStatus,
    ) -> Result<(), ForgeError>;
}

/// Items per page when listing, and the most pages read (5,000 items).
#[cfg(feature = "forges")]
pub(crate) const PAGE_SIZE: usize = 100;
#[cfg(feature = "forges")]
const MAX_PAGES: usize = 50;

/// Every item of a paged listing: `fetch(page)` returns one page (numbered from 1); a page shorter
/// than [`PAGE_SIZE`] is the last.
#[cfg(feature = "forges")]
pub(crate) async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ForgeError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, ForgeError>>,
{
    let mut all = Vec::new();
    for page in 1..=MAX_PAGES {
        let items = fetch(page).await?;
        let last = items.len() < PAGE_SIZE;
        all.extend(items);
        if last {
            break;
        }
    }
    Ok(all)
}

/// The hidden line that identifies a sticky comment, e.g. `<!-- slipway:build -->`.
pub fn sticky_marker(key: &str) -> String {
    format!("<!-- slipway:{key} -->")
}

/// Create or update the one comment of ours that carries `marker`, and return its id.
///
/// Never leaves two: if a concurrent call created one too, both converge on the oldest (lowest
/// id), which gets this body, and the newer duplicates are deleted. `cut_note` ends the body
/// when it is cut to the forge's limit (`render::comment_cut_note`).
pub async fn upsert_sticky_comment(
    forge: &dyn Forge,
    repo: &Repo,
    pr: PrNumber,
    marker: &str,
    body: &str,
    cut_note: &str,
) -> Result<CommentId, ForgeError> {
    let body = format!("{marker}\n{body}");
    let body = text::fit_comment(&body, forge.comment_limit(), cut_note);
    let me = forge.bot_login().await?;
    let ours = |comments: Vec<ForgeComment>| -> Vec<CommentId> {
        let mut ids: Vec<CommentId> = comments
            .into_iter()
            .filter(|c| c.author_login == me && c.body.starts_with(marker))
            .map(|c| c.id)
            .collect();
        ids.sort_by_key(|id| id.0);
        ids
    };
    let existing = ours(forge.list_comments(repo, pr).await?);
    if let Some(&first) = existing.first() {
        forge.update_comment(repo, pr, first, &body).await?;
        return Ok(first);
    }
    let created = forge.create_comment(repo, pr, &body).await?;
    // Someone may have raced us between the listing and the creation: converge on the oldest.
    let now = ours(forge.list_comments(repo, pr).await?);
    match now.first() {
        Some(&oldest) if oldest != created => {
            forge.update_comment(repo, pr, oldest, &body).await?;
            forge.delete_comment(repo, pr, created).await?;
            Ok(oldest)
        }
        _ => Ok(created),
    }
}
