//! The heart: from an event, the repository's configuration and a few live facts, decide what to
//! do. Pure: no I/O, no clock; dispatch gathers the inputs and carries out the actions.

use crate::config::{Config, ConfigError};
use crate::model::event::{branch_of, CheckScope, CommitSha, Event, EventKind, PrAction, PrNumber};
use crate::model::forge::Permission;
use crate::model::status::CancelReason;
use crate::model::status::Trigger;

/// The check every build reports, the one branch protection requires.
pub const BUILD_CHECK: &str = "slipway/build";

/// The repository's configuration at the commit in question.
#[derive(Debug, Clone, Copy)]
pub enum ConfigState<'a> {
    /// No `.slipway.yml`: Slipway stays silent in this repository.
    Absent,
    Broken(&'a ConfigError),
    Valid(&'a Config),
}

/// Live facts dispatch looks up only when the plan needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The pull request author's permission (asked for fork pull requests only).
    pub author_permission: Option<Permission>,
    /// The head a maintainer trusted with `/ok-to-test`.
    pub trusted_sha: Option<CommitSha>,
    /// The runner cannot keep a build from the bot's secrets and state: no fork code runs.
    pub unsandboxed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildTarget {
    pub sha: CommitSha,
    /// The branch (or merge queue ref) being built.
    pub git_ref: String,
    pub pr: Option<PrNumber>,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Build(BuildTarget),
    /// Cancel the pull request's unfinished builds, except of `keep` (the new head).
    CancelBuilds {
        pr: PrNumber,
        keep: Option<CommitSha>,
        reason: CancelReason,
    },
    /// Fail the check on `sha` with the configuration error, so the author sees it.
    ReportConfigError {
        sha: CommitSha,
        error: String,
    },
    /// A fork's code from an untrusted author: a pending check that says it waits for a
    /// maintainer's `/ok-to-test`.
    AwaitApproval {
        sha: CommitSha,
        pr: PrNumber,
    },
    /// A fork's code, and a runner without a sandbox: a failed check that says why.
    RefuseUnsandboxedFork {
        sha: CommitSha,
    },
}

/// The sha whose configuration the plan for `event` needs; `None` when it needs none.
pub fn config_sha(event: &Event) -> Option<&CommitSha> {
    match &event.kind {
        EventKind::PullRequest { action, pr } => match action {
            PrAction::Closed { .. } => None,
            _ => Some(&pr.head_sha),
        },
        EventKind::CheckRerequested { head_sha, .. } => Some(head_sha),
        EventKind::MergeGroup { head_sha, .. } => Some(head_sha),
        EventKind::Push {
            after,
            deleted: false,
            ..
        } => Some(after),
        _ => None,
    }
}

/// Whether the plan for `event` needs the author's permission: a fork's pull request that may
/// be built (closing or drafting one builds nothing).
pub fn needs_author_permission(event: &Event) -> bool {
    matches!(
        &event.kind,
        EventKind::PullRequest { pr, action }
            if pr.from_fork && !matches!(action, PrAction::Closed { .. } | PrAction::ConvertedToDraft)
    )
}

pub fn plan(event: &Event, config: ConfigState, facts: &Facts) -> Vec<Action> {
    match &event.kind {
        EventKind::PullRequest { action, pr } => {
            let mut actions = Vec::new();
            match action {
                PrAction::Closed { .. } => {
                    return vec![Action::CancelBuilds {
                        pr: pr.number,
                        keep: None,
                        reason: CancelReason::Closed,
                    }]
                }
                PrAction::ConvertedToDraft => {
                    if let ConfigState::Valid(config) = config {
                        if !config.build.drafts {
                            actions.push(Action::CancelBuilds {
                                pr: pr.number,
                                keep: None,
                                reason: CancelReason::Draft,
                            });
                        }
                    }
                    return actions;
                }
                PrAction::Pushed => actions.push(Action::CancelBuilds {
                    pr: pr.number,
                    keep: Some(pr.head_sha.clone()),
                    reason: CancelReason::Superseded,
                }),
                PrAction::Opened | PrAction::Reopened | PrAction::ReadyForReview => {}
            }
            let config = match config {
                ConfigState::Absent => return actions,
                ConfigState::Broken(error) => {
                    actions.push(Action::ReportConfigError {
                        sha: pr.head_sha.clone(),
                        error: error.to_string(),
                    });
                    return actions;
                }
                ConfigState::Valid(config) => config,
            };
            if pr.draft && !config.build.drafts {
                return actions;
            }
            if pr.from_fork && facts.unsandboxed {
                actions.push(Action::RefuseUnsandboxedFork {
                    sha: pr.head_sha.clone(),
                });
                return actions;
            }
            let trusted = crate::policy::may_build(
                pr.from_fork,
                facts.author_permission,
                facts.trusted_sha.as_ref(),
                &pr.head_sha,
            );
            actions.push(if trusted {
                Action::Build(BuildTarget {
                    sha: pr.head_sha.clone(),
                    git_ref: pr.head_branch.clone(),
                    pr: Some(pr.number),
                    trigger: Trigger::PullRequest,
                })
            } else {
                Action::AwaitApproval {
                    sha: pr.head_sha.clone(),
                    pr: pr.number,
                }
            });
            actions
        }
        EventKind::CheckRerequested {
            check,
            head_sha,
            head_branch,
            pull_requests,
        } => {
            if let CheckScope::Run { name, .. } = check {
                if !name.starts_with("slipway/") {
                    return Vec::new(); // another app's check
                }
            }
            build_if_configured(config, || BuildTarget {
                sha: head_sha.clone(),
                git_ref: head_branch.clone().unwrap_or_default(),
                pr: pull_requests.first().copied(),
                trigger: Trigger::Rerun,
            })
        }
        EventKind::MergeGroup {
            head_sha, head_ref, ..
        } => build_if_configured(config, || BuildTarget {
            sha: head_sha.clone(),
            git_ref: head_ref.clone(),
            pr: None,
            trigger: Trigger::MergeQueue,
        }),
        EventKind::Push {
            git_ref,
            after,
            deleted: false,
            ..
        } => {
            // A broken config is reported on pull requests, not on every branch push.
            let (Some(branch), ConfigState::Valid(config)) = (branch_of(git_ref), config) else {
                return Vec::new();
            };
            let deploys_from_here = config
                .environments
                .values()
                .any(|env| env.auto_deploy.as_deref() == Some(branch));
            if !deploys_from_here {
                return Vec::new();
            }
            vec![Action::Build(BuildTarget {
                sha: after.clone(),
                git_ref: branch.to_owned(),
                pr: None,
                trigger: Trigger::Push,
            })]
        }
        EventKind::Push { .. }
        | EventKind::Comment { .. }
        | EventKind::CheckActionRequested { .. }
        | EventKind::CheckSuiteRequested { .. }
        | EventKind::Ping
        | EventKind::Installation { .. } => Vec::new(),
    }
}

fn build_if_configured(config: ConfigState, target: impl FnOnce() -> BuildTarget) -> Vec<Action> {
    match config {
        ConfigState::Absent => Vec::new(),
        ConfigState::Broken(error) => {
            let target = target();
            vec![Action::ReportConfigError {
                sha: target.sha,
                error: error.to_string(),
            }]
        }
        ConfigState::Valid(_) => vec![Action::Build(target())],
    }
}

#[cfg(test)]
mod tests;
