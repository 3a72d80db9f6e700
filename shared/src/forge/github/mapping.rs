//! GitHub's vocabulary: Slipway's states and levels mapped onto the REST API's enums, one
//! explicit table each (tested below), and the check run request body.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::SUMMARY_LIMIT;
use crate::forge::text::{cut_bytes, cut_chars};
use crate::model::event::{CommitSha, User};
use crate::model::forge::{CheckRun, CheckState, DeploymentState, Permission, Review, Verdict};

pub(super) fn rfc3339(t: SystemTime) -> String {
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

pub(super) fn check_run_body(check: &CheckRun, create: bool) -> Value {
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

/// Each reviewer's latest decisive review: approvals and change requests.
/// Each reviewer's latest decisive review, in the order reviewers first reviewed: comments do
/// not change a verdict, and a dismissal withdraws it. `reviews` is oldest first, as
/// `(reviewer, state, commit)`.
pub fn review_verdicts(reviews: Vec<(User, String, Option<CommitSha>)>) -> Vec<Review> {
    let mut latest: Vec<(User, Option<Review>)> = Vec::new();
    for (reviewer, state, commit) in reviews {
        let verdict = match state.as_str() {
            "APPROVED" => Some(Verdict::Approved),
            "CHANGES_REQUESTED" => Some(Verdict::ChangesRequested),
            "DISMISSED" => None,
            _ => continue, // a comment does not change a reviewer's verdict
        };
        let review = verdict.map(|verdict| Review {
            reviewer: reviewer.clone(),
            verdict,
            commit,
        });
        match latest.iter_mut().find(|(r, _)| r.id == reviewer.id) {
            Some(entry) => entry.1 = review,
            None => latest.push((reviewer, review)),
        }
    }
    latest
        .into_iter()
        .filter_map(|(_, review)| review)
        .collect()
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
        let user = |id: u64, login: &str| User {
            id,
            login: Some(login.into()),
            is_bot: false,
        };
        let sha = |c: char| CommitSha::parse(&c.to_string().repeat(40)).unwrap();
        let reviews = [
            ("ann", 1, "CHANGES_REQUESTED", 'a'),
            ("bob", 2, "APPROVED", 'a'),
            ("ann", 1, "COMMENTED", 'b'),
            ("cat", 3, "APPROVED", 'a'),
            ("cat", 3, "DISMISSED", 'a'),
            ("ann", 1, "APPROVED", 'b'),
            ("dan", 4, "CHANGES_REQUESTED", 'b'),
        ]
        .into_iter()
        .map(|(login, id, state, c)| (user(id, login), state.to_owned(), Some(sha(c))))
        .collect();
        let got: Vec<(String, Verdict, char)> = review_verdicts(reviews)
            .into_iter()
            .map(|r| {
                let commit = r.commit.unwrap().as_str().chars().next().unwrap();
                (r.reviewer.login.unwrap(), r.verdict, commit)
            })
            .collect();
        let want = [
            ("ann", Verdict::Approved, 'b'),
            ("bob", Verdict::Approved, 'a'),
            ("dan", Verdict::ChangesRequested, 'b'),
        ]
        .map(|(l, v, c)| (l.to_owned(), v, c));
        assert_eq!(got, want);
    }
}
