//! GitLab's words and payloads, mapped to Slipway's.

use serde::Deserialize;

use crate::model::event::{CommitSha, User};
use crate::model::forge::{CheckState, DeploymentState, Permission, Review, Verdict};

/// Commit status `state` for a check state.
pub fn commit_status_state(state: CheckState) -> &'static str {
    match state {
        CheckState::Queued | CheckState::ActionRequired => "pending",
        CheckState::InProgress => "running",
        CheckState::Success => "success",
        CheckState::Failure | CheckState::TimedOut => "failed",
        CheckState::Cancelled => "canceled",
        CheckState::Neutral | CheckState::Skipped => "skipped",
    }
}

pub fn deployment_status(state: DeploymentState) -> &'static str {
    match state {
        DeploymentState::InProgress => "running",
        DeploymentState::Success => "success",
        DeploymentState::Failure | DeploymentState::Error => "failed",
        DeploymentState::Cancelled | DeploymentState::Inactive => "canceled",
    }
}

/// GitLab access levels: Guest 10 (Planner 15), Reporter 20, Developer 30, Maintainer 40, Owner 50.
pub fn permission_from_access_level(level: u32) -> Permission {
    match level {
        50.. => Permission::Admin,
        40..=49 => Permission::Maintain,
        30..=39 => Permission::Write,
        20..=29 => Permission::Triage,
        10..=19 => Permission::Read,
        _ => Permission::None,
    }
}

#[derive(Deserialize)]
pub(super) struct Id {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct Username {
    pub(super) username: String,
}

#[derive(Deserialize)]
pub(super) struct Note {
    pub(super) id: u64,
    #[serde(default)]
    pub(super) body: String,
    pub(super) author: Option<Username>,
    #[serde(default)]
    pub(super) system: bool,
}

#[derive(Deserialize)]
pub(super) struct MergeRequest {
    pub(super) iid: u64,
    pub(super) sha: CommitSha,
    pub(super) source_branch: String,
    pub(super) target_branch: String,
    pub(super) source_project_id: u64,
    pub(super) target_project_id: u64,
    pub(super) author: Author,
    #[serde(default)]
    pub(super) draft: bool,
    pub(super) state: String,
}

#[derive(Deserialize)]
pub(super) struct Author {
    pub(super) id: u64,
    pub(super) username: String,
}

#[derive(Deserialize)]
pub(super) struct Approvals {
    #[serde(default)]
    pub(super) approved_by: Vec<ApprovedBy>,
}

#[derive(Deserialize)]
pub(super) struct ApprovedBy {
    pub(super) user: Author,
}

#[derive(Deserialize)]
pub(super) struct Reviewer {
    pub(super) user: Author,
    pub(super) state: String,
}

/// GitLab's verdicts: approvals still in force (GitLab drops them on a push when the project
/// says so, and names no commit), and reviewers who asked for changes.
pub(super) fn reviews(approvals: Approvals, reviewers: Vec<Reviewer>) -> Vec<Review> {
    let user = |a: Author| User {
        id: a.id,
        login: Some(a.username),
        is_bot: false,
    };
    let approved = approvals.approved_by.into_iter().map(|a| Review {
        reviewer: user(a.user),
        verdict: Verdict::Approved,
        commit: None,
    });
    let changes = reviewers
        .into_iter()
        .filter(|r| r.state == "requested_changes")
        .map(|r| Review {
            reviewer: user(r.user),
            verdict: Verdict::ChangesRequested,
            commit: None,
        });
    approved.chain(changes).collect()
}
