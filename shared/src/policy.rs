//! Who may make Slipway do what, and where the rules come from. Pure: facts in, a decision out.
//!
//! The trust rule: code and configuration from a pull request or a pushed branch choose *what to
//! build*; they never choose who may deploy, where, or with which powers. So the rules that grant
//! power (`environments`, `commands`) are read from the default branch, every deploy path
//! (comment, rollback, auto-deploy) is decided by [`authorize_deploy`], every command by
//! [`authorize_command`] from the same table `/help` prints, and every build of a fork's code by
//! [`may_build`].

use std::collections::BTreeMap;

use crate::command::{Command, Who};
use crate::config::{Commands, Config, Environment, Requirement};
use crate::model::deploy::{DeployKind, Refusal};
use crate::model::event::{CommitSha, User};
use crate::model::forge::{Permission, Review, Verdict};
use crate::model::status::RunStatus;

/// The configuration in force for a commit: its own `build` (what to build), and the default
/// branch's `environments` and `commands` (who may do what) and image repository (where builds
/// may push: a pull request cannot aim its image at another service's repository). Without a
/// configuration on the default branch there are no environments yet, and commands take the
/// defaults.
pub fn in_force(commit: Config, default_branch: Option<&Config>) -> Config {
    let (environments, commands) = match default_branch {
        Some(policy) => (policy.environments.clone(), policy.commands.clone()),
        None => (BTreeMap::new(), Commands::default()),
    };
    let mut build = commit.build;
    if let (Some(image), Some(repository)) =
        (build.image.as_mut(), policy_repository(default_branch))
    {
        image.repository = repository.to_owned();
    }
    Config {
        build,
        environments,
        commands,
    }
}

fn policy_repository(default_branch: Option<&Config>) -> Option<&str> {
    default_branch?
        .build
        .image
        .as_ref()
        .map(|i| i.repository.as_str())
}

/// Whether the commit's configuration asks for rules other than the default branch's: those
/// take effect only once merged, and the pull request is told so.
pub fn changes_policy(commit: &Config, default_branch: Option<&Config>) -> bool {
    match default_branch {
        Some(policy) => {
            let repository = commit.build.image.as_ref().map(|i| i.repository.as_str());
            let moved =
                policy_repository(Some(policy)).is_some_and(|r| repository.is_some_and(|c| c != r));
            commit.environments != policy.environments
                || commit.commands != policy.commands
                || moved
        }
        None => !commit.environments.is_empty() || commit.commands != Commands::default(),
    }
}

/// Whether a pull request's head may be built: code from the repository itself always; a fork's
/// only when the one asking (the author, or whoever commented `/build`) has write access, or a
/// maintainer trusted exactly this head with `/ok-to-test`.
pub fn may_build(
    from_fork: bool,
    asker: Option<Permission>,
    trusted: Option<&CommitSha>,
    head: &CommitSha,
) -> bool {
    !from_fork || asker >= Some(Permission::Write) || trusted == Some(head)
}

/// Why `/ok-to-test` trusted nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OkToTestRefusal {
    /// `/ok-to-test <sha>` named a commit that is not the pull request's head.
    NotHead { named: String },
    /// The head is newer than the comment (or Slipway never saw it arrive): the maintainer
    /// cannot have looked at it.
    HeadChanged,
}

/// Whether `/ok-to-test`, written at `written_at`, trusts `head`. Named, the commit must be the
/// head; unnamed, the head must have been seen strictly before the comment, so a fork cannot
/// swap its code between a maintainer's look and Slipway reading the comment.
pub fn ok_to_test(
    head: &CommitSha,
    named: Option<&str>,
    head_seen_at: Option<u64>,
    written_at: u64,
) -> Result<(), OkToTestRefusal> {
    match named {
        Some(prefix) if head.as_str().starts_with(&prefix.to_ascii_lowercase()) => Ok(()),
        Some(prefix) => Err(OkToTestRefusal::NotHead {
            named: prefix.to_owned(),
        }),
        None if head_seen_at.is_some_and(|seen| seen < written_at) => Ok(()),
        None => Err(OkToTestRefusal::HeadChanged),
    }
}

/// The person who wrote a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commenter {
    pub permission: Permission,
    /// They opened the pull request.
    pub is_author: bool,
}

/// Whether `commenter` may run `command`, by the table `/help` prints ([`Command::HELP`]).
/// `allow` is the named environment's `allow`, for deploy commands (`None` when the
/// environment is unknown: the deploy path refuses that itself). On refusal, who may.
pub fn authorize_command(
    command: &Command,
    commenter: &Commenter,
    allow: Option<Permission>,
) -> Result<(), Who> {
    let who = command.info().who;
    let permitted = match who {
        Who::Anyone => true,
        Who::AuthorOrWrite => commenter.is_author || commenter.permission >= Permission::Write,
        Who::Write => commenter.permission >= Permission::Write,
        Who::EnvironmentAllow => allow.is_none_or(|allow| commenter.permission >= allow),
    };
    if permitted {
        Ok(())
    } else {
        Err(who)
    }
}

/// Whether a review counts towards `require: [approved]` and `no_changes_requested`: given by
/// someone with write access who is not the pull request's author, on the current head (a
/// forge that names no commit keeps only verdicts still in force).
pub fn review_counts(
    review: &Review,
    reviewer_permission: Permission,
    author: &User,
    head: &CommitSha,
) -> bool {
    reviewer_permission >= Permission::Write
        && review.reviewer.id != author.id
        && review.commit.as_ref().is_none_or(|c| c == head)
}

/// A stale "changes requested" still blocks: a reviewer withdraws it, not a push. Only the
/// reviewer's standing and authorship matter for it.
pub fn blocking_counts(review: &Review, reviewer_permission: Permission, author: &User) -> bool {
    review.verdict == Verdict::ChangesRequested
        && reviewer_permission >= Permission::Write
        && review.reviewer.id != author.id
}

/// Who asks for a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// A person, with `/deploy` or `/rollback` on a pull request.
    Person {
        permission: Permission,
        /// The pull request's code comes from a fork.
        from_fork: bool,
    },
    /// A green build of a push to `branch`.
    Push { branch: String },
}

/// What deciding on a deploy needs to know, read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFacts {
    pub requester: Requester,
    pub kind: DeployKind,
    /// The latest build of the commit to ship, if there is one (not asked for rollbacks).
    pub build: Option<RunStatus>,
    /// Approvals that count ([`review_counts`]).
    pub approvals: usize,
    /// Requests for changes that count ([`blocking_counts`]).
    pub changes_requested: usize,
}

/// Whether a deploy to `environment` (from the default branch's configuration) may go ahead.
/// The one decision for every path: `/deploy`, `/rollback` and auto-deploy.
pub fn authorize_deploy(environment: &Environment, facts: &DeployFacts) -> Result<(), Refusal> {
    let rollback = facts.kind == DeployKind::Rollback;
    match &facts.requester {
        Requester::Person {
            permission,
            from_fork,
        } => {
            if facts.kind == DeployKind::Auto {
                return Err(Refusal::NotAutoDeployed);
            }
            if *permission < environment.allow {
                return Err(Refusal::Permission {
                    needed: environment.allow,
                    have: *permission,
                });
            }
            if *from_fork {
                return Err(Refusal::Fork);
            }
            for requirement in &environment.require {
                match requirement {
                    Requirement::BuildGreen if !rollback => green(facts.build)?,
                    Requirement::Approved if facts.approvals == 0 => {
                        return Err(Refusal::NotApproved)
                    }
                    Requirement::NoChangesRequested if facts.changes_requested > 0 => {
                        return Err(Refusal::ChangesRequested)
                    }
                    _ => {}
                }
            }
        }
        // Reviews gate pull requests; a branch's own protection gates what is pushed to it.
        Requester::Push { branch } => {
            let named = environment.auto_deploy.as_deref() == Some(branch.as_str());
            if facts.kind != DeployKind::Auto || !named {
                return Err(Refusal::NotAutoDeployed);
            }
        }
    }
    // Whatever the requirements say, a deploy ships a green build (a rollback, an earlier
    // deployment's).
    if rollback {
        Ok(())
    } else {
        green(facts.build)
    }
}

fn green(build: Option<RunStatus>) -> Result<(), Refusal> {
    match build {
        None => Err(Refusal::NotBuilt),
        Some(RunStatus::Succeeded) => Ok(()),
        Some(status) => Err(Refusal::BuildNotGreen(status)),
    }
}

#[cfg(test)]
mod tests;
