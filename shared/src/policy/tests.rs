use super::*;
use crate::config::Target;
use crate::model::forge::Permission::{self, Admin, Maintain, Read, Triage, Write};

const LEVELS: [Permission; 6] = [Permission::None, Read, Triage, Write, Maintain, Admin];

fn sha(c: char) -> CommitSha {
    CommitSha::parse(&c.to_string().repeat(40)).unwrap()
}

fn user(id: u64) -> User {
    User {
        id,
        login: Some(format!("user{id}")),
        is_bot: false,
    }
}

fn environment(allow: Permission, require: &[Requirement], auto: Option<&str>) -> Environment {
    Environment {
        auto_deploy: auto.map(str::to_owned),
        url: None,
        allow,
        require: require.to_vec(),
        target: Target::TagOnly,
        env: BTreeMap::new(),
    }
}

fn config(environments: &[(&str, Environment)], prefix: &str) -> Config {
    let text = "version: 1\nbuild:\n  steps: [{run: make}]\n";
    let mut config = crate::config::parse("x", text).unwrap();
    config.environments = environments
        .iter()
        .map(|(n, e)| ((*n).to_owned(), e.clone()))
        .collect();
    config.commands.prefix = prefix.into();
    config
}

#[test]
fn rules_come_from_the_default_branch_and_builds_from_the_commit() {
    let strict = environment(Admin, &[Requirement::Approved], None);
    let loose = environment(Write, &[], Some("my-branch"));
    let main = config(&[("production", strict.clone())], "!");
    let mut branch = config(&[("production", loose.clone())], "/");
    branch.build.steps[0].run = "./pwn.sh".into();

    let got = in_force(branch.clone(), Some(&main));
    assert_eq!(got.environments["production"], strict);
    assert_eq!(got.commands.prefix, "!");
    assert_eq!(
        got.build.steps[0].run, "./pwn.sh",
        "what to build is the commit's"
    );

    let image = |repository: &str| {
        let text = format!("version: 1\nbuild:\n  steps: [{{run: make}}]\n  image:\n    repository: {repository}\n    files: [{{from: a, to: /a}}]\n");
        crate::config::parse("x", &text).unwrap()
    };
    let aimed = in_force(image("billing-service"), Some(&image("hello-service")));
    assert_eq!(
        aimed.build.image.unwrap().repository,
        "hello-service",
        "where images go is the default branch's"
    );
    assert!(changes_policy(
        &image("billing-service"),
        Some(&image("hello-service"))
    ));
    assert!(!changes_policy(
        &image("hello-service"),
        Some(&image("hello-service"))
    ));

    let onboarding = in_force(branch.clone(), None);
    assert!(onboarding.environments.is_empty(), "no rules until merged");
    assert_eq!(onboarding.commands, Commands::default());
}

#[test]
fn a_change_to_the_rules_is_noticed() {
    let env = environment(Admin, &[], None);
    let main = config(&[("production", env.clone())], "/");
    let cases = [
        (
            config(&[("production", env.clone())], "/"),
            Some(&main),
            false,
        ),
        (config(&[], "/"), Some(&main), true),
        (
            config(&[("production", env.clone())], "!"),
            Some(&main),
            true,
        ),
        (
            config(&[("production", environment(Write, &[], None))], "/"),
            Some(&main),
            true,
        ),
        (config(&[], "/"), None, false),
        (config(&[("production", env.clone())], "/"), None, true),
    ];
    for (i, (commit, default_branch, want)) in cases.into_iter().enumerate() {
        assert_eq!(changes_policy(&commit, default_branch), want, "case {i}");
    }
}

#[test]
fn forks_build_only_for_writers_or_the_trusted_head() {
    let head = sha('a');
    let old = sha('b');
    let cases = [
        (false, Some(Permission::None), None, true),
        (false, None, None, true),
        (true, Some(Read), None, false),
        (true, None, None, false),
        (true, Some(Triage), Some(&old), false),
        (true, Some(Read), Some(&head), true),
        (true, Some(Write), None, true),
        (true, Some(Admin), None, true),
    ];
    for (fork, asker, trusted, want) in cases {
        assert_eq!(
            may_build(fork, asker, trusted, &head),
            want,
            "{fork} {asker:?} {trusted:?}"
        );
    }
}

#[test]
fn commands_follow_the_help_table_at_every_level() {
    let commands = [
        Command::Build,
        Command::Cancel,
        Command::Status,
        Command::Help,
        Command::OkToTest { sha: None },
        Command::Deploy {
            environment: "production".into(),
        },
    ];
    for command in &commands {
        for permission in LEVELS {
            for is_author in [false, true] {
                let who = command.info().who;
                let want = match who {
                    Who::Anyone => true,
                    Who::AuthorOrWrite => is_author || permission >= Write,
                    Who::Write => permission >= Write,
                    Who::EnvironmentAllow => permission >= Maintain,
                };
                let commenter = Commenter {
                    permission,
                    is_author,
                };
                let got = authorize_command(command, &commenter, Some(Maintain));
                assert_eq!(got.is_ok(), want, "{command:?} {permission:?} {is_author}");
                if let Err(refused) = got {
                    assert_eq!(refused, who, "the refusal names the table's rule");
                }
            }
        }
    }
    // `/ok-to-test` never belongs to the author alone: that is the point of it.
    let author = Commenter {
        permission: Read,
        is_author: true,
    };
    let ok_to_test = Command::OkToTest { sha: None };
    assert_eq!(
        authorize_command(&ok_to_test, &author, None),
        Err(Who::Write)
    );
}

fn review(verdict: Verdict, reviewer: u64, commit: Option<char>) -> Review {
    Review {
        reviewer: user(reviewer),
        verdict,
        commit: commit.map(sha),
    }
}

#[test]
fn approvals_count_from_writers_other_than_the_author_on_the_head() {
    let author = user(1);
    let head = sha('a');
    let cases = [
        (review(Verdict::Approved, 2, Some('a')), Write, true),
        (review(Verdict::Approved, 2, Some('a')), Admin, true),
        (review(Verdict::Approved, 2, Some('a')), Read, false),
        (review(Verdict::Approved, 2, Some('a')), Triage, false),
        (review(Verdict::Approved, 2, Some('b')), Admin, false),
        (review(Verdict::Approved, 1, Some('a')), Admin, false),
        (review(Verdict::Approved, 2, None), Write, true),
    ];
    for (i, (review, permission, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            review_counts(&review, permission, &author, &head),
            want,
            "case {i}"
        );
    }
    let blocking = [
        (review(Verdict::ChangesRequested, 2, Some('b')), Write, true),
        (review(Verdict::ChangesRequested, 2, Some('a')), Read, false),
        (
            review(Verdict::ChangesRequested, 1, Some('a')),
            Admin,
            false,
        ),
        (review(Verdict::Approved, 2, Some('a')), Admin, false),
    ];
    for (i, (review, permission, want)) in blocking.into_iter().enumerate() {
        assert_eq!(
            blocking_counts(&review, permission, &author),
            want,
            "case {i}"
        );
    }
}

fn person(permission: Permission, from_fork: bool, kind: DeployKind) -> DeployFacts {
    DeployFacts {
        requester: Requester::Person {
            permission,
            from_fork,
        },
        kind,
        build: Some(RunStatus::Succeeded),
        approvals: 0,
        changes_requested: 0,
    }
}

fn push(branch: &str) -> DeployFacts {
    DeployFacts {
        requester: Requester::Push {
            branch: branch.into(),
        },
        kind: DeployKind::Auto,
        build: Some(RunStatus::Succeeded),
        approvals: 0,
        changes_requested: 0,
    }
}

#[test]
fn deploy_permission_is_checked_first_at_every_level() {
    for needed in [Write, Maintain, Admin] {
        for have in LEVELS {
            for kind in [DeployKind::Deploy, DeployKind::Rollback] {
                let got = authorize_deploy(
                    &environment(needed, &[], None),
                    &DeployFacts {
                        build: None,
                        ..person(have, true, kind)
                    },
                );
                if have < needed {
                    assert_eq!(got, Err(Refusal::Permission { needed, have }));
                } else {
                    assert_eq!(got, Err(Refusal::Fork), "{needed:?} {have:?} {kind:?}");
                }
            }
        }
    }
}

#[test]
fn each_deploy_rule_refuses_on_its_own() {
    use DeployKind::*;
    use Requirement::*;
    let all = [BuildGreen, Approved, NoChangesRequested];
    let gated = environment(Write, &all, None);
    let open = environment(Write, &[], Some("main"));
    let approved = DeployFacts {
        approvals: 1,
        ..person(Write, false, Deploy)
    };
    let build = |status| DeployFacts {
        build: status,
        ..approved.clone()
    };
    let cases: Vec<(&str, &Environment, DeployFacts, Result<(), Refusal>)> = vec![
        ("a green approved build", &gated, approved.clone(), Ok(())),
        (
            "unapproved",
            &gated,
            person(Write, false, Deploy),
            Err(Refusal::NotApproved),
        ),
        (
            "changes requested",
            &gated,
            DeployFacts {
                changes_requested: 1,
                ..approved.clone()
            },
            Err(Refusal::ChangesRequested),
        ),
        ("never built", &gated, build(None), Err(Refusal::NotBuilt)),
        (
            "red",
            &gated,
            build(Some(RunStatus::Failed)),
            Err(Refusal::BuildNotGreen(RunStatus::Failed)),
        ),
        (
            "red, green not required",
            &open,
            DeployFacts {
                build: Some(RunStatus::Running),
                ..person(Write, false, Deploy)
            },
            Err(Refusal::BuildNotGreen(RunStatus::Running)),
        ),
        (
            "a rollback ships an earlier deployment",
            &open,
            DeployFacts {
                build: None,
                ..person(Write, false, Rollback)
            },
            Ok(()),
        ),
        (
            "a rollback still needs approval when required",
            &gated,
            DeployFacts {
                build: None,
                ..person(Write, false, Rollback)
            },
            Err(Refusal::NotApproved),
        ),
        (
            "a rollback from a fork",
            &open,
            person(Admin, true, Rollback),
            Err(Refusal::Fork),
        ),
        (
            "a deploy from a fork",
            &open,
            person(Admin, true, Deploy),
            Err(Refusal::Fork),
        ),
        (
            "a person cannot ask for an automatic deploy",
            &open,
            person(Admin, false, Auto),
            Err(Refusal::NotAutoDeployed),
        ),
        (
            "an environment that deploys nothing automatically",
            &gated,
            push("main"),
            Err(Refusal::NotAutoDeployed),
        ),
        (
            "auto-deploy of the named branch",
            &open,
            push("main"),
            Ok(()),
        ),
        (
            "auto-deploy of another branch",
            &open,
            push("my-branch"),
            Err(Refusal::NotAutoDeployed),
        ),
        (
            "auto-deploy of a red build",
            &open,
            DeployFacts {
                build: Some(RunStatus::Failed),
                ..push("main")
            },
            Err(Refusal::BuildNotGreen(RunStatus::Failed)),
        ),
        (
            "a push is no rollback",
            &open,
            DeployFacts {
                kind: Rollback,
                ..push("main")
            },
            Err(Refusal::NotAutoDeployed),
        ),
    ];
    for (name, env, facts, want) in cases {
        assert_eq!(authorize_deploy(env, &facts), want, "{name}");
    }
}

#[test]
fn ok_to_test_trusts_only_the_head_the_maintainer_saw() {
    let head = sha('a');
    let not_head = OkToTestRefusal::NotHead {
        named: "bbbbbbb".into(),
    };
    let cases = [
        (None, Some(100), 200, Ok(())),
        (None, Some(200), 200, Err(OkToTestRefusal::HeadChanged)),
        (None, Some(300), 200, Err(OkToTestRefusal::HeadChanged)),
        (None, None, 200, Err(OkToTestRefusal::HeadChanged)),
        (Some("aaaaaaa"), None, 200, Ok(())),
        (Some("AAAAAAA"), Some(300), 200, Ok(())),
        (Some("bbbbbbb"), Some(100), 200, Err(not_head)),
    ];
    for (named, seen, written, want) in cases {
        assert_eq!(
            ok_to_test(&head, named, seen, written),
            want,
            "{named:?} {seen:?} {written}"
        );
    }
}
