use std::collections::BTreeMap;

use super::*;
use crate::config::Target;
use crate::model::deploy::check_name;
use crate::model::deploy::environment_tag;
use crate::model::deploy::DeployKind;
use crate::model::deploy::DeployStatus;
use crate::model::event::{CommitSha, ForgeKind, Repo};
use crate::model::forge::Permission;

fn environment(allow: Permission, require: &[crate::config::Requirement]) -> Environment {
    Environment {
        auto_deploy: None,
        url: None,
        allow,
        require: require.to_vec(),
        target: Target::TagOnly,
        env: BTreeMap::new(),
    }
}

fn record(sha: char, status: DeployStatus) -> DeploymentRecord {
    DeploymentRecord {
        id: format!("d-{sha}"),
        forge: ForgeKind::Local,
        repo: Repo {
            id: crate::model::event::RepoId("1".into()),
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
        applied: false,
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
fn a_deploy_applied_before_its_bookkeeping_failed_is_what_runs() {
    use DeployStatus::*;
    // b reached Lambda, then moving its tag failed: b runs, so a rollback goes to a.
    let mut applied = record('b', Failed);
    applied.applied = true;
    let history = [record('a', Succeeded), applied, record('c', Failed)];
    assert_eq!(current(&history).unwrap().id, "d-b");
    assert_eq!(rollback_target(&history, None).unwrap().id, "d-a");
    assert_eq!(
        rollback_target(&history, Some("bbbbbbb")).unwrap().id,
        "d-b"
    );
    // Without the mark, the failed record is skipped and the rollback would target nothing.
    let unmarked = [record('a', Succeeded), record('b', Failed)];
    assert_eq!(current(&unmarked).unwrap().id, "d-a");
    assert!(rollback_target(&unmarked, None).is_none());
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
