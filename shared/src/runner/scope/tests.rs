use super::*;

const BUCKET: &str = "arn:aws:s3:::slipway-artifacts";
const REPOS: &str = "arn:aws:ecr:eu-west-1:123456789012:repository/";
const PREFIX: &str = "artifacts/github/acme/app/0123456789abcdef0123456789abcdef01234567/run1/";

fn scope(repository: Option<&'static str>) -> RunScope<'static> {
    RunScope {
        bucket_arn: BUCKET,
        prefix: PREFIX,
        repositories_arn: REPOS,
        repository,
    }
}

fn resources(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Resource"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_build_without_an_image_may_only_write_its_own_prefix() {
    let policy = run_session_policy(&scope(None)).unwrap();
    assert_eq!(resources(&policy), [format!("{BUCKET}/{PREFIX}*")]);
}

#[test]
fn a_build_with_an_image_may_push_only_to_its_repository() {
    let policy = run_session_policy(&scope(Some("app"))).unwrap();
    let push = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "OwnRepositoryPush")
        .unwrap();
    assert_eq!(push["Resource"], format!("{REPOS}app"));
    assert!(push["Action"]
        .as_array()
        .unwrap()
        .contains(&json!("ecr:PutImage")));
    assert_eq!(
        resources(&policy),
        [
            format!("{BUCKET}/{PREFIX}*"),
            "*".to_owned(),
            format!("{REPOS}*"),
            format!("{REPOS}app"),
        ]
    );
}

#[test]
fn patterns_and_folderless_prefixes_are_refused() {
    let table = [
        ("artifacts/github/acme/*/", None),
        ("artifacts/github/acme/a?b/", None),
        ("artifacts/${aws:username}/", None),
        ("", None),
        ("artifacts/github/acme/app", None),
        (PREFIX, Some("app*")),
        (PREFIX, Some("")),
    ];
    for (prefix, repository) in table {
        let scope = RunScope {
            prefix,
            repository,
            ..scope(None)
        };
        assert!(
            run_session_policy(&scope).is_err(),
            "{prefix:?} {repository:?}"
        );
    }
}

#[test]
fn sessions_last_the_build_within_what_sts_allows() {
    assert_eq!(session_seconds(60), 900);
    assert_eq!(session_seconds(1800), 2100);
    assert_eq!(session_seconds(3300), 3600);
    assert_eq!(session_seconds(5 * 3600), 3600);
}

#[test]
fn session_names_are_what_sts_accepts() {
    assert_eq!(session_name("0a1b2c3d4e5f6789"), "slipway-0a1b2c3d4e5f6789");
    assert_eq!(session_name("a/b c"), "slipway-a-b-c");
    assert_eq!(session_name(&"x".repeat(100)).len(), 64);
}

#[test]
fn role_arns_name_their_partition_and_account() {
    assert_eq!(
        role_partition_account("arn:aws:iam::123456789012:role/slipway-RunRole-X"),
        Some(("aws", "123456789012"))
    );
    assert_eq!(
        role_partition_account("arn:aws-cn:iam::123456789012:role/r"),
        Some(("aws-cn", "123456789012"))
    );
    assert_eq!(
        role_partition_account("arn:aws:iam::123456789012:user/u"),
        None
    );
    assert_eq!(role_partition_account("not an arn"), None);
}
