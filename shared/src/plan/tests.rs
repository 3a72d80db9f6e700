//! Every event kind × author trust × configuration state.

use super::*;
use crate::config;
use crate::model::event::{ForgeKind, PullRequest, Repo, RepoId, User};

const HEAD: &str = "1111111111111111111111111111111111111111";
const OTHER: &str = "2222222222222222222222222222222222222222";

fn sha(s: &str) -> CommitSha {
    CommitSha::parse(s).unwrap()
}

fn event(kind: EventKind) -> Event {
    Event {
        forge: ForgeKind::Github,
        repo: Some(Repo {
            id: RepoId("1".into()),
            full_name: "o/r".into(),
            web_url: String::new(),
            clone_url: String::new(),
        }),
        installation_id: None,
        sender: None,
        name: "test".into(),
        kind,
    }
}

fn pr_event(action: PrAction, fork: bool, draft: bool) -> Event {
    event(EventKind::PullRequest {
        action,
        pr: PullRequest {
            number: PrNumber(7),
            head_sha: sha(HEAD),
            head_branch: "feature".into(),
            base_branch: "main".into(),
            from_fork: fork,
            draft,
            author: User {
                id: 1,
                login: Some("dev".into()),
                is_bot: false,
            },
        },
    })
}

fn valid(extra: &str) -> Config {
    let text = format!("version: 1\nbuild:\n  steps: [{{run: make}}]\n{extra}");
    config::parse(".slipway.yml", &text).unwrap()
}

fn broken() -> ConfigError {
    config::parse(".slipway.yml", "version: 1\nbuld: {}\n").unwrap_err()
}

fn build(trigger: Trigger, sha_: &str, git_ref: &str, pr: Option<u64>) -> Action {
    Action::Build(BuildTarget {
        sha: sha(sha_),
        git_ref: git_ref.into(),
        pr: pr.map(PrNumber),
        trigger,
    })
}

fn superseded() -> Action {
    Action::CancelBuilds {
        pr: PrNumber(7),
        keep: Some(sha(HEAD)),
        reason: CancelReason::Superseded,
    }
}

fn config_error(sha_: &str) -> Action {
    Action::ReportConfigError {
        sha: sha(sha_),
        error: broken().to_string(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Trust {
    SameRepo,
    ForkWriter,
    ForkReader,
    ForkReaderOkToTest,
    ForkReaderOkToTestOldHead,
}

fn facts(trust: Trust) -> (bool, Facts) {
    match trust {
        Trust::SameRepo => (false, Facts::default()),
        Trust::ForkWriter => (
            true,
            Facts {
                author_permission: Some(Permission::Write),
                trusted_sha: None,
                ..Default::default()
            },
        ),
        Trust::ForkReader => (
            true,
            Facts {
                author_permission: Some(Permission::Read),
                trusted_sha: None,
                ..Default::default()
            },
        ),
        Trust::ForkReaderOkToTest => (
            true,
            Facts {
                author_permission: Some(Permission::Read),
                trusted_sha: Some(sha(HEAD)),
                ..Default::default()
            },
        ),
        Trust::ForkReaderOkToTestOldHead => (
            true,
            Facts {
                author_permission: Some(Permission::Triage),
                trusted_sha: Some(sha(OTHER)),
                ..Default::default()
            },
        ),
    }
}

#[test]
fn pull_request_builds_by_action_trust_and_config() {
    let ok = valid("");
    let bad = broken();
    let all_trust = [
        Trust::SameRepo,
        Trust::ForkWriter,
        Trust::ForkReader,
        Trust::ForkReaderOkToTest,
        Trust::ForkReaderOkToTestOldHead,
    ];
    for action in [
        PrAction::Opened,
        PrAction::Pushed,
        PrAction::Reopened,
        PrAction::ReadyForReview,
    ] {
        for trust in all_trust {
            let (fork, facts) = facts(trust);
            let e = pr_event(action, fork, false);
            let prefix: Vec<Action> = if action == PrAction::Pushed {
                vec![superseded()]
            } else {
                vec![]
            };
            let with = |mut tail: Vec<Action>| {
                let mut all = prefix.clone();
                all.append(&mut tail);
                all
            };
            let case = format!("{action:?} {trust:?}");

            assert_eq!(
                plan(&e, ConfigState::Absent, &facts),
                with(vec![]),
                "absent: {case}"
            );
            assert_eq!(
                plan(&e, ConfigState::Broken(&bad), &facts),
                with(vec![config_error(HEAD)]),
                "broken: {case}"
            );
            let trusted = matches!(
                trust,
                Trust::SameRepo | Trust::ForkWriter | Trust::ForkReaderOkToTest
            );
            let expected = if trusted {
                build(Trigger::PullRequest, HEAD, "feature", Some(7))
            } else {
                Action::AwaitApproval {
                    sha: sha(HEAD),
                    pr: PrNumber(7),
                }
            };
            assert_eq!(
                plan(&e, ConfigState::Valid(&ok), &facts),
                with(vec![expected]),
                "valid: {case}"
            );
        }
    }
}

#[test]
fn drafts_build_by_default_and_not_when_configured_off() {
    let on = valid("");
    let off = valid("  drafts: false\n");
    let e = pr_event(PrAction::Opened, false, true);
    assert_eq!(
        plan(&e, ConfigState::Valid(&on), &Facts::default()),
        [build(Trigger::PullRequest, HEAD, "feature", Some(7))]
    );
    assert_eq!(plan(&e, ConfigState::Valid(&off), &Facts::default()), []);
    let pushed = pr_event(PrAction::Pushed, false, true);
    assert_eq!(
        plan(&pushed, ConfigState::Valid(&off), &Facts::default()),
        [superseded()]
    );

    let to_draft = pr_event(PrAction::ConvertedToDraft, false, true);
    assert_eq!(
        plan(&to_draft, ConfigState::Valid(&on), &Facts::default()),
        []
    );
    assert_eq!(
        plan(&to_draft, ConfigState::Valid(&off), &Facts::default()),
        [Action::CancelBuilds {
            pr: PrNumber(7),
            keep: None,
            reason: CancelReason::Draft
        }]
    );
    assert_eq!(plan(&to_draft, ConfigState::Absent, &Facts::default()), []);
}

#[test]
fn closing_cancels_whatever_the_config() {
    let ok = valid("");
    let bad = broken();
    for merged in [false, true] {
        let e = pr_event(PrAction::Closed { merged }, false, false);
        let cancel = [Action::CancelBuilds {
            pr: PrNumber(7),
            keep: None,
            reason: CancelReason::Closed,
        }];
        for config in [
            ConfigState::Absent,
            ConfigState::Broken(&bad),
            ConfigState::Valid(&ok),
        ] {
            assert_eq!(plan(&e, config, &Facts::default()), cancel);
        }
        assert_eq!(config_sha(&e), None, "closing needs no config");
    }
}

#[test]
fn rerun_buttons_rebuild_that_sha_only_for_our_checks() {
    let ok = valid("");
    let bad = broken();
    let rerun = |check: CheckScope| {
        event(EventKind::CheckRerequested {
            check,
            head_sha: sha(OTHER),
            head_branch: Some("feature".into()),
            pull_requests: vec![PrNumber(7)],
        })
    };
    let ours = rerun(CheckScope::Run {
        id: 1,
        name: "slipway/build".into(),
    });
    let suite = rerun(CheckScope::Suite { id: 2 });
    let theirs = rerun(CheckScope::Run {
        id: 3,
        name: "codecov".into(),
    });
    for e in [&ours, &suite] {
        assert_eq!(
            plan(e, ConfigState::Valid(&ok), &Facts::default()),
            [build(Trigger::Rerun, OTHER, "feature", Some(7))]
        );
        assert_eq!(
            plan(e, ConfigState::Broken(&bad), &Facts::default()),
            [config_error(OTHER)]
        );
        assert_eq!(plan(e, ConfigState::Absent, &Facts::default()), []);
        assert_eq!(config_sha(e), Some(&sha(OTHER)));
    }
    assert_eq!(
        plan(&theirs, ConfigState::Valid(&ok), &Facts::default()),
        []
    );
}

#[test]
fn merge_queues_build_the_group_head() {
    let ok = valid("");
    let bad = broken();
    let e = event(EventKind::MergeGroup {
        head_sha: sha(OTHER),
        head_ref: "refs/heads/gh-readonly-queue/main/pr-7".into(),
        base_ref: "refs/heads/main".into(),
    });
    assert_eq!(
        plan(&e, ConfigState::Valid(&ok), &Facts::default()),
        [build(
            Trigger::MergeQueue,
            OTHER,
            "refs/heads/gh-readonly-queue/main/pr-7",
            None
        )]
    );
    assert_eq!(
        plan(&e, ConfigState::Broken(&bad), &Facts::default()),
        [config_error(OTHER)]
    );
    assert_eq!(plan(&e, ConfigState::Absent, &Facts::default()), []);
}

#[test]
fn pushes_build_only_branches_that_an_environment_auto_deploys() {
    let deploys_main = valid("environments:\n  staging:\n    auto_deploy: main\n");
    let no_auto = valid("environments:\n  staging:\n    url: https://s.example\n");
    let bad = broken();
    let push = |git_ref: &str| {
        event(EventKind::Push {
            git_ref: git_ref.into(),
            before: sha(HEAD),
            after: sha(OTHER),
            deleted: false,
        })
    };
    let main = push("refs/heads/main");
    assert_eq!(
        plan(&main, ConfigState::Valid(&deploys_main), &Facts::default()),
        [build(Trigger::Push, OTHER, "main", None)]
    );
    assert_eq!(
        plan(
            &push("refs/heads/feature"),
            ConfigState::Valid(&deploys_main),
            &Facts::default()
        ),
        []
    );
    assert_eq!(
        plan(
            &push("refs/tags/main"),
            ConfigState::Valid(&deploys_main),
            &Facts::default()
        ),
        []
    );
    assert_eq!(
        plan(&main, ConfigState::Valid(&no_auto), &Facts::default()),
        []
    );
    assert_eq!(
        plan(&main, ConfigState::Broken(&bad), &Facts::default()),
        []
    );
    assert_eq!(plan(&main, ConfigState::Absent, &Facts::default()), []);
}

#[test]
fn events_without_a_build_plan_nothing() {
    let ok = valid("environments:\n  staging:\n    auto_deploy: main\n");
    let quiet = [
        event(EventKind::Ping),
        event(EventKind::Installation {
            action: "created".into(),
        }),
        event(EventKind::CheckSuiteRequested {
            head_sha: sha(HEAD),
            head_branch: None,
        }),
        event(EventKind::CheckActionRequested {
            check_run_id: 1,
            check_name: "slipway/build".into(),
            head_sha: sha(HEAD),
            identifier: "x".into(),
        }),
        event(EventKind::Push {
            git_ref: "refs/heads/main".into(),
            before: sha(HEAD),
            after: sha(OTHER),
            deleted: true,
        }),
    ];
    for e in &quiet {
        assert_eq!(
            plan(e, ConfigState::Valid(&ok), &Facts::default()),
            [],
            "{:?}",
            e.kind
        );
    }
}

#[test]
fn only_fork_pull_requests_need_the_author_permission() {
    assert!(needs_author_permission(&pr_event(
        PrAction::Opened,
        true,
        false
    )));
    assert!(!needs_author_permission(&pr_event(
        PrAction::Opened,
        false,
        false
    )));
    assert!(!needs_author_permission(&event(EventKind::Ping)));
}

#[test]
fn without_a_sandbox_fork_pull_requests_are_refused_whoever_trusts_them() {
    let ok = valid("");
    for trust in [
        Trust::SameRepo,
        Trust::ForkWriter,
        Trust::ForkReader,
        Trust::ForkReaderOkToTest,
    ] {
        let (fork, mut facts) = facts(trust);
        facts.unsandboxed = true;
        let e = pr_event(PrAction::Opened, fork, false);
        let expected = match fork {
            true => vec![Action::RefuseUnsandboxedFork { sha: sha(HEAD) }],
            false => vec![build(Trigger::PullRequest, HEAD, "feature", Some(7))],
        };
        assert_eq!(
            plan(&e, ConfigState::Valid(&ok), &facts),
            expected,
            "{trust:?}"
        );
        // A push to a fork's pull request still cancels the older builds first.
        let pushed = pr_event(PrAction::Pushed, fork, false);
        let actions = plan(&pushed, ConfigState::Valid(&ok), &facts);
        assert_eq!(actions[0], superseded(), "{trust:?}");
        assert_eq!(actions[1..], expected[..], "{trust:?}");
    }
}
