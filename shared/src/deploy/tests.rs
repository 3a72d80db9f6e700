use std::collections::BTreeMap;

use super::*;
use crate::config::Target;

fn environment(allow: Permission, require: &[Requirement]) -> Environment {
    Environment {
        auto_deploy: None,
        url: None,
        allow,
        require: require.to_vec(),
        target: Target::TagOnly,
        env: BTreeMap::new(),
    }
}

fn facts() -> DeployFacts {
    DeployFacts {
        permission: Permission::Write,
        from_fork: false,
        build: Some(RunStatus::Succeeded),
        approved: false,
        changes_requested: false,
    }
}

#[test]
fn a_writer_deploys_a_green_build_without_other_requirements() {
    assert_eq!(
        check(&environment(Permission::Write, &[]), &facts(), false),
        Ok(())
    );
}

#[test]
fn permission_is_checked_first_at_every_level() {
    use Permission::*;
    let levels = [None, Read, Triage, Write, Maintain, Admin];
    for needed in levels {
        for have in levels {
            let f = DeployFacts {
                permission: have,
                ..facts()
            };
            let outcome = check(&environment(needed, &[]), &f, false);
            if have >= needed {
                assert_eq!(outcome, Ok(()), "{needed:?} {have:?}");
            } else {
                assert_eq!(outcome, Err(Refusal::Permission { needed, have }));
            }
        }
    }
}

#[test]
fn each_requirement_refuses_on_its_own() {
    use Requirement::*;
    let env = environment(
        Permission::Write,
        &[BuildGreen, Approved, NoChangesRequested],
    );
    let approved = DeployFacts {
        approved: true,
        ..facts()
    };
    assert_eq!(check(&env, &approved, false), Ok(()));
    assert_eq!(check(&env, &facts(), false), Err(Refusal::NotApproved));
    let red = DeployFacts {
        build: Some(RunStatus::Failed),
        ..approved.clone()
    };
    assert_eq!(
        check(&env, &red, false),
        Err(Refusal::BuildNotGreen(RunStatus::Failed))
    );
    let running = DeployFacts {
        build: Some(RunStatus::Running),
        ..approved.clone()
    };
    assert_eq!(
        check(&env, &running, false),
        Err(Refusal::BuildNotGreen(RunStatus::Running))
    );
    let none = DeployFacts {
        build: None,
        ..approved.clone()
    };
    assert_eq!(check(&env, &none, false), Err(Refusal::NotBuilt));
    let blocked = DeployFacts {
        changes_requested: true,
        ..approved
    };
    assert_eq!(check(&env, &blocked, false), Err(Refusal::ChangesRequested));
}

#[test]
fn a_green_build_is_needed_even_when_not_required() {
    let env = environment(Permission::Write, &[]);
    let red = DeployFacts {
        build: Some(RunStatus::TimedOut),
        ..facts()
    };
    assert_eq!(
        check(&env, &red, false),
        Err(Refusal::BuildNotGreen(RunStatus::TimedOut))
    );
    // A rollback ships an earlier deployment, not this build.
    assert_eq!(check(&env, &red, true), Ok(()));
}

#[test]
fn fork_code_is_never_deployed_whoever_asks() {
    let env = environment(Permission::Read, &[]);
    let fork = DeployFacts {
        from_fork: true,
        permission: Permission::Admin,
        ..facts()
    };
    assert_eq!(check(&env, &fork, false), Err(Refusal::Fork));
    // Rolling back ships code that was deployed before, not the fork's.
    assert_eq!(check(&env, &fork, true), Ok(()));
}

fn record(sha: char, status: DeployStatus) -> DeploymentRecord {
    DeploymentRecord {
        id: format!("d-{sha}"),
        forge: ForgeKind::Local,
        repo: Repo {
            id: crate::event::RepoId("1".into()),
            full_name: "o/r".into(),
            web_url: String::new(),
            clone_url: String::new(),
        },
        installation_id: None,
        environment: "staging".into(),
        kind: DeployKind::Deploy,
        sha: CommitSha::parse(&sha.to_string().repeat(40)).unwrap(),
        git_ref: "main".into(),
        image: None,
        artifacts_manifest: None,
        actor: "me".into(),
        pr: None,
        status,
        reason: None,
        previous: None,
        forge_deployment: None,
        run_id: None,
        url: None,
        created_ms: 0,
        finished_at: None,
    }
}

#[test]
fn rollback_goes_to_the_previous_good_deployment_or_the_named_one() {
    use DeployStatus::*;
    let history = [
        record('a', Succeeded),
        record('b', Succeeded),
        record('c', Failed),
        record('d', Succeeded),
        record('d', Succeeded),
    ];
    assert_eq!(rollback_target(&history, None).unwrap().id, "d-b");
    assert_eq!(
        rollback_target(&history, Some("aaaaaaa")).unwrap().id,
        "d-a"
    );
    assert!(
        rollback_target(&history, Some("ccccccc")).is_none(),
        "failed ones are not targets"
    );
    assert!(
        rollback_target(&history[..1], None).is_none(),
        "nothing before the first"
    );
    assert!(rollback_target(&[], None).is_none());
    assert_eq!(current(&history).unwrap().id, "d-d");
    assert!(current(&history[2..3]).is_none());
}

#[test]
fn auto_deploy_targets_follow_the_branch() {
    let mut staging = environment(Permission::Write, &[]);
    staging.auto_deploy = Some("main".into());
    let environments = BTreeMap::from([
        ("staging".to_owned(), staging.clone()),
        ("qa".to_owned(), staging),
        (
            "production".to_owned(),
            environment(Permission::Maintain, &[]),
        ),
    ]);
    assert_eq!(
        auto_deploy_targets(&environments, "main"),
        ["qa", "staging"]
    );
    assert!(auto_deploy_targets(&environments, "feature").is_empty());
}

#[test]
fn names_follow_the_design() {
    assert_eq!(check_name("staging"), "slipway/deploy/staging");
    assert_eq!(environment_tag("production"), "env-production");
}
