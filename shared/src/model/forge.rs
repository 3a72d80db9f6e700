//! What Slipway knows of and says to a forge, on one scale for every forge: permissions,
//! checks, comments, reactions, deployments, pull request facts and reviews.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::event::{CommitSha, PrNumber, User};

/// Access to a repository, on one scale for every forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::None,
        Permission::Read,
        Permission::Triage,
        Permission::Write,
        Permission::Maintain,
        Permission::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown permission {s:?}: use none, read, triage, write, maintain or admin"
                )
            })
    }
}

/// The state of a check, mapped explicitly onto each forge's own vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Queued,
    InProgress,
    Success,
    Failure,
    Cancelled,
    TimedOut,
    /// Waiting for a person (e.g. `/ok-to-test` on a fork): blocks merging.
    ActionRequired,
    Neutral,
    Skipped,
}

impl CheckState {
    pub const ALL: [CheckState; 9] = [
        CheckState::Queued,
        CheckState::InProgress,
        CheckState::Success,
        CheckState::Failure,
        CheckState::Cancelled,
        CheckState::TimedOut,
        CheckState::ActionRequired,
        CheckState::Neutral,
        CheckState::Skipped,
    ];

    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CheckState::Queued | CheckState::InProgress | CheckState::ActionRequired
        )
    }
}

/// One check on one commit, as the forge shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub name: String,
    pub head_sha: CommitSha,
    pub state: CheckState,
    pub title: String,
    pub summary: String,
    pub details_url: Option<String>,
    pub started_at: Option<SystemTime>,
    pub completed_at: Option<SystemTime>,
}

/// A GitHub check run id: the same run is updated, never a second one created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommentId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeComment {
    pub id: CommentId,
    pub author_login: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Eyes,
    Rocket,
    Confused,
}

impl Reaction {
    /// GitHub's reaction content and GitLab's award emoji name happen to agree.
    pub fn name(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::Rocket => "rocket",
            Reaction::Confused => "confused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub environment: String,
    pub sha: CommitSha,
    /// The branch the commit is deployed from (GitLab requires one).
    pub git_ref: String,
    pub description: String,
    /// A preview environment that goes away (GitHub `transient_environment`).
    pub transient: bool,
    pub production: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeploymentId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Error,
    Cancelled,
    /// Superseded by a newer deployment to the same environment.
    Inactive,
}

impl DeploymentState {
    pub const ALL: [DeploymentState; 6] = [
        DeploymentState::InProgress,
        DeploymentState::Success,
        DeploymentState::Failure,
        DeploymentState::Error,
        DeploymentState::Cancelled,
        DeploymentState::Inactive,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub state: DeploymentState,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub description: String,
}

/// What gating and trust decisions need to know about a pull request, read live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrFacts {
    pub number: PrNumber,
    pub head_sha: CommitSha,
    pub head_branch: String,
    pub base_branch: String,
    pub from_fork: bool,
    pub author: User,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    /// Each reviewer's latest decisive verdict. Whether one counts (the reviewer's permission,
    /// the commit it was given on) is decided in `policy`.
    pub reviews: Vec<Review>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    ChangesRequested,
}

/// A reviewer's latest decisive verdict on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: User,
    pub verdict: Verdict,
    /// The head the verdict was given on. `None` where the forge reports only verdicts still in
    /// force (GitLab's approvals, which its project settings may reset on a push).
    pub commit: Option<CommitSha>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_ordered_and_parse_case_insensitively() {
        assert!(Permission::None < Permission::Read);
        assert!(Permission::Read < Permission::Triage);
        assert!(Permission::Triage < Permission::Write);
        assert!(Permission::Write < Permission::Maintain);
        assert!(Permission::Maintain < Permission::Admin);
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert_eq!(p.as_str().to_uppercase().parse::<Permission>(), Ok(p));
        }
        assert!("owner".parse::<Permission>().is_err());
    }

    #[test]
    fn only_queued_running_and_waiting_checks_are_not_final() {
        let pending: Vec<_> = CheckState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(
            pending,
            [
                CheckState::Queued,
                CheckState::InProgress,
                CheckState::ActionRequired
            ]
        );
    }
}
