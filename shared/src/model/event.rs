//! Forge-neutral events: what a webhook delivery means, once verified and parsed.
//!
//! The webhook edge turns GitHub and GitLab payloads into these types and nothing past the edge
//! looks at a raw payload again. Only the fields Slipway acts on are kept, so a queued event stays
//! small whatever the forge sent.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which forge a delivery came from (or, in local mode, the git repository on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Gitlab,
    Local,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
            ForgeKind::Local => "local",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forge's stable id of a repository (GitHub repository id, GitLab project id): survives renames.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoId(pub String);

/// A pull request number (GitHub) or merge request iid (GitLab), unique within a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256 repositories) lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(s: &str) -> Result<Self, InvalidSha> {
        let valid_len = s.len() == 40 || s.len() == 64;
        if valid_len && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CommitSha(s.to_ascii_lowercase()))
        } else {
            Err(InvalidSha)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The all-zero id forges use for "no commit" (branch created or deleted).
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }

    /// The 7-digit form people read.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CommitSha {
    type Error = InvalidSha;
    fn try_from(s: String) -> Result<Self, InvalidSha> {
        CommitSha::parse(&s)
    }
}

impl From<CommitSha> for String {
    fn from(sha: CommitSha) -> String {
        sha.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a commit id: expected 40 or 64 hexadecimal digits")]
pub struct InvalidSha;

/// The forge's id of one webhook delivery; the key that makes redeliveries harmless.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryId(pub String);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    pub id: RepoId,
    /// `owner/name` on GitHub, `group/sub/project` on GitLab.
    pub full_name: String,
    pub web_url: String,
    pub clone_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    /// GitLab merge request payloads name the author by id only.
    pub login: Option<String>,
    pub is_bot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: PrNumber,
    pub head_sha: CommitSha,
    pub head_branch: String,
    pub base_branch: String,
    /// The head lives in another repository: its code is untrusted until a maintainer says so.
    pub from_fork: bool,
    pub draft: bool,
    pub author: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrAction {
    Opened,
    /// New commits on the head (GitHub `synchronize`, GitLab `update` with `oldrev`).
    Pushed,
    Reopened,
    ReadyForReview,
    ConvertedToDraft,
    Closed {
        merged: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentAction {
    Created,
    Edited,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author: User,
    /// `None` when the body was over [`MAX_COMMENT_BYTES`]: such a comment is never parsed.
    pub body: Option<String>,
    /// When the forge says the comment was written or last edited (Unix seconds), from the signed
    /// payload; `None` when the payload has no readable time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<u64>,
}

/// Comments longer than this are not parsed for commands (and not carried through the queue).
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub enum CheckScope {
    /// One check run (the Re-run button on a single check).
    Run { id: u64, name: String },
    /// A whole check suite (Re-run all checks).
    Suite { id: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EventKind {
    PullRequest {
        action: PrAction,
        pr: PullRequest,
    },
    Comment {
        action: CommentAction,
        pr: PrNumber,
        /// GitLab note payloads carry the merge request's head; GitHub's do not.
        pr_head_sha: Option<CommitSha>,
        comment: Comment,
    },
    Push {
        /// Full ref, e.g. `refs/heads/main` or `refs/tags/v1`.
        git_ref: String,
        before: CommitSha,
        after: CommitSha,
        deleted: bool,
    },
    CheckRerequested {
        check: CheckScope,
        head_sha: CommitSha,
        head_branch: Option<String>,
        pull_requests: Vec<PrNumber>,
    },
    CheckActionRequested {
        check_run_id: u64,
        check_name: String,
        head_sha: CommitSha,
        identifier: String,
    },
    CheckSuiteRequested {
        head_sha: CommitSha,
        head_branch: Option<String>,
    },
    MergeGroup {
        head_sha: CommitSha,
        head_ref: String,
        base_ref: String,
    },
    Ping,
    Installation {
        action: String,
    },
}

/// One verified, parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub forge: ForgeKind,
    /// `None` only for events about no single repository (ping of an org hook, installation).
    pub repo: Option<Repo>,
    /// GitHub App installation that sent it: needed to act as the App on that repository.
    pub installation_id: Option<u64>,
    pub sender: Option<User>,
    /// `<event>.<action>` as the forge names it, for logs and replies.
    pub name: String,
    pub kind: EventKind,
}

/// What travels through the queue: the event and the delivery that brought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub delivery: DeliveryId,
    /// Unix seconds when the webhook was accepted.
    pub received_at: u64,
    pub event: Event,
}

impl QueuedEvent {
    /// A ping under `delivery`: the smallest queued event, for tests and benchmarks of the
    /// queue and the intake.
    pub fn ping(delivery: &str) -> QueuedEvent {
        QueuedEvent {
            delivery: DeliveryId(delivery.into()),
            received_at: 0,
            event: Event {
                forge: ForgeKind::Github,
                repo: None,
                installation_id: None,
                sender: None,
                name: "ping".into(),
                kind: EventKind::Ping,
            },
        }
    }
}

/// Branch name of a `refs/heads/...` ref; `None` for tags and other refs.
pub fn branch_of(git_ref: &str) -> Option<&str> {
    git_ref.strip_prefix("refs/heads/")
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId(pub String);

impl RunId {
    /// The same delivery asking to build the same commit always names the same run, so a
    /// redelivered queue message finds its run instead of starting a second build.
    pub fn derive(forge: ForgeKind, delivery: &DeliveryId, sha: &CommitSha) -> RunId {
        let digest = Sha256::digest(format!("{forge}\n{}\n{sha}", delivery.0));
        RunId(hex::encode(&digest[..8]))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_accepts_sha1_and_sha256_lengths_and_lowercases() {
        let upper = "D6FDE92930D4715A2B49857D24B940956B26D2D3";
        let sha = CommitSha::parse(upper).unwrap();
        assert_eq!(sha.as_str(), upper.to_ascii_lowercase());
        assert_eq!(sha.short(), "d6fde92");
        assert!(CommitSha::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn sha_rejects_wrong_length_and_non_hex() {
        for bad in ["", "abc", &"a".repeat(39), &"a".repeat(41), &"g".repeat(40)] {
            assert_eq!(CommitSha::parse(bad), Err(InvalidSha), "{bad}");
        }
    }

    #[test]
    fn zero_sha_is_recognised() {
        assert!(CommitSha::parse(&"0".repeat(40)).unwrap().is_zero());
        let almost_zero = format!("{}1", "0".repeat(39));
        assert!(!CommitSha::parse(&almost_zero).unwrap().is_zero());
    }

    #[test]
    fn branch_of_strips_heads_only() {
        assert_eq!(branch_of("refs/heads/main"), Some("main"));
        assert_eq!(branch_of("refs/heads/feature/x"), Some("feature/x"));
        assert_eq!(branch_of("refs/tags/v1"), None);
    }

    #[test]
    fn sha_deserialization_validates() {
        let ok: Result<CommitSha, _> = serde_json::from_str(&format!("\"{}\"", "b".repeat(40)));
        assert!(ok.is_ok());
        let bad: Result<CommitSha, _> = serde_json::from_str("\"nope\"");
        assert!(bad.is_err());
    }

    #[test]
    fn run_ids_are_stable_per_delivery_and_commit() {
        let sha = CommitSha::parse(&"a".repeat(40)).unwrap();
        let other = CommitSha::parse(&"b".repeat(40)).unwrap();
        let d1 = DeliveryId("d1".into());
        let d2 = DeliveryId("d2".into());
        let id = RunId::derive(ForgeKind::Github, &d1, &sha);
        assert_eq!(id, RunId::derive(ForgeKind::Github, &d1, &sha));
        assert_eq!(id.0.len(), 16);
        assert_ne!(id, RunId::derive(ForgeKind::Github, &d2, &sha));
        assert_ne!(id, RunId::derive(ForgeKind::Github, &d1, &other));
        assert_ne!(id, RunId::derive(ForgeKind::Gitlab, &d1, &sha));
    }
}
