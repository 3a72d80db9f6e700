//! Snapshots of every text a person reads, rendered from fixed inputs (issue #13). A change to
//! any of them shows up as a `.snap` diff in review: `cargo insta review` accepts it; tests in
//! CI (`INSTA_UPDATE=no`) fail instead of writing new snapshots.
//!
//! No text here depends on the clock: times are fixed Unix seconds in the inputs.

use insta::assert_snapshot;

use super::*;
use crate::command::{Command, CommandError, Who};
use crate::model::artifact::StoredFile;
use crate::model::deploy::{DeployKind, DeployStatus, DeploymentRecord, Previous, Refusal};
use crate::model::event::{CommitSha, DeliveryId, ForgeKind, PrNumber, Repo, RepoId, RunId};
use crate::model::forge::Permission;
use crate::model::image::PublishedImage;
use crate::model::job::{BuildResult, PublishedArtifact, StepResult, StepStatus};
use crate::model::run::Run;
use crate::model::status::{CancelReason, RunStatus, Trigger};
use crate::policy::OkToTestRefusal;
use crate::runner::sandbox::Unsandboxed;
use crate::webhook::{AuthFailure, IgnoreReason, Rejection};

fn sha(c: char) -> CommitSha {
    CommitSha::parse(&c.to_string().repeat(40)).unwrap()
}

fn repo() -> Repo {
    Repo {
        id: RepoId("186853002".into()),
        full_name: "Codertocat/Hello-World".into(),
        web_url: "https://github.com/Codertocat/Hello-World".into(),
        clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
    }
}

fn image(c: char) -> PublishedImage {
    PublishedImage {
        repository: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-service".into(),
        name: "hello-service".into(),
        digest: format!("sha256:{}", c.to_string().repeat(64)),
        tags: vec![format!("sha-{}", c.to_string().repeat(7)), "pr-2".into()],
    }
}

fn artifact(path: &str, size: u64, link: Option<&str>) -> PublishedArtifact {
    PublishedArtifact {
        file: StoredFile {
            path: path.into(),
            key: format!("runs/run-1/artifacts/{path}"),
            size,
            sha256: "5".repeat(64),
            content_type: "application/gzip".into(),
        },
        link: link.map(Into::into),
    }
}

/// A build of `sha('c')` on pull request 2, created at a fixed time.
fn run(status: RunStatus) -> Run {
    Run {
        id: RunId("run-1".into()),
        forge: ForgeKind::Github,
        repo: repo(),
        installation_id: Some(7),
        sha: sha('c'),
        git_ref: "feature/login".into(),
        pr: Some(PrNumber(2)),
        trigger: Trigger::PullRequest,
        check_name: "slipway/build".into(),
        check_id: None,
        status,
        cancel_reason: None,
        created_at: 1_700_000_000,
        finished_at: (!matches!(status, RunStatus::Queued | RunStatus::Running))
            .then_some(1_700_000_090),
        timeout_secs: 900,
        runner_ref: None,
        artifacts: Vec::new(),
        image: None,
        deployment: None,
        policy_changed: false,
        sweep_attempts: 0,
        actor: None,
        artifact_count: 0,
    }
}

fn step(name: &str, status: StepStatus, exit_code: Option<i32>, duration_ms: u64) -> StepResult {
    StepResult {
        name: name.into(),
        status,
        exit_code,
        duration_ms,
    }
}

fn passed() -> BuildResult {
    BuildResult {
        run_id: RunId("run-1".into()),
        status: RunStatus::Succeeded,
        steps: vec![
            step("test", StepStatus::Passed, Some(0), 12_340),
            step("package", StepStatus::Passed, Some(0), 2_100),
        ],
        duration_ms: 15_000,
        artifacts: Vec::new(),
        image: None,
    }
}

fn failed() -> BuildResult {
    BuildResult {
        run_id: RunId("run-1".into()),
        status: RunStatus::Failed,
        steps: vec![
            step("unit tests", StepStatus::Failed, Some(101), 8_000),
            step("package", StepStatus::Skipped, None, 0),
        ],
        duration_ms: 8_200,
        artifacts: Vec::new(),
        image: None,
    }
}

fn with_artifacts_and_image() -> BuildResult {
    BuildResult {
        artifacts: vec![
            artifact(
                "dist/hello-service.tar.gz",
                3_456_789,
                Some("https://slipway.example/runs/run-1/artifacts/dist/hello-service.tar.gz"),
            ),
            artifact("reports/junit.xml", 812, None),
        ],
        image: Some(image('c')),
        ..passed()
    }
}

const LOG: Option<&str> = Some("https://slipway.example/runs/run-1");

#[test]
fn build_comment_passed() {
    assert_snapshot!(build_comment(
        &run(RunStatus::Succeeded),
        Some(&passed()),
        LOG
    ));
}

#[test]
fn build_comment_failed() {
    assert_snapshot!(build_comment(&run(RunStatus::Failed), Some(&failed()), LOG));
}

#[test]
fn build_comment_failed_without_a_result() {
    assert_snapshot!(build_comment(&run(RunStatus::Failed), None, None));
}

#[test]
fn build_comment_with_artifacts_and_image() {
    assert_snapshot!(build_comment(
        &run(RunStatus::Succeeded),
        Some(&with_artifacts_and_image()),
        LOG
    ));
}

#[test]
fn build_comment_with_the_policy_change_note() {
    let run = Run {
        policy_changed: true,
        ..run(RunStatus::Succeeded)
    };
    assert_snapshot!(build_comment(&run, Some(&passed()), LOG));
}

/// A check as the forge shows it: title, then summary.
fn check(title: String, summary: String) -> String {
    format!("# {title}\n\n{summary}")
}

#[test]
fn check_queued() {
    assert_snapshot!(check(
        queued_title(),
        queued_summary(&run(RunStatus::Queued))
    ));
}

#[test]
fn check_running() {
    assert_snapshot!(check(
        running_title(),
        queued_summary(&run(RunStatus::Running))
    ));
}

#[test]
fn check_finished_passed() {
    let run = run(RunStatus::Succeeded);
    let result = with_artifacts_and_image();
    assert_snapshot!(check(
        finished_title(&run, Some(&result)),
        finished_summary(&run, Some(&result), Some("test result: ok. 12 passed"), LOG)
    ));
}

#[test]
fn check_finished_failed() {
    let run = run(RunStatus::Failed);
    let tail = "running 12 tests\nthread 'login' panicked: assertion failed: 1 == 2\n```\nerror: test failed";
    assert_snapshot!(check(
        finished_title(&run, Some(&failed())),
        finished_summary(&run, Some(&failed()), Some(tail), LOG)
    ));
}

#[test]
fn check_finished_timed_out() {
    let run = run(RunStatus::TimedOut);
    let result = BuildResult {
        status: RunStatus::TimedOut,
        steps: vec![step("test", StepStatus::TimedOut, None, 900_000)],
        duration_ms: 900_000,
        ..passed()
    };
    assert_snapshot!(check(
        finished_title(&run, Some(&result)),
        finished_summary(&run, Some(&result), None, None)
    ));
}

#[test]
fn check_finished_lost() {
    let run = run(RunStatus::Lost);
    assert_snapshot!(check(
        finished_title(&run, None),
        finished_summary(&run, None, None, None)
    ));
}

#[test]
fn check_cancelled() {
    let newer = sha('d');
    let text: Vec<String> = [
        CancelReason::Superseded,
        CancelReason::Closed,
        CancelReason::Draft,
        CancelReason::Requested,
    ]
    .into_iter()
    .map(|reason| {
        check(
            cancelled_title(reason),
            cancelled_summary(reason, Some(&newer)),
        )
    })
    .collect();
    assert_snapshot!(text.join("\n\n---\n\n"));
}

#[test]
fn check_not_started() {
    assert_snapshot!(check(
        not_started_title(),
        not_started_summary(&RunId("run-1".into()))
    ));
}

#[test]
fn check_awaiting_approval() {
    assert_snapshot!(check(
        awaiting_approval_title(),
        awaiting_approval_summary(&sha('c'))
    ));
}

#[test]
fn check_config_error() {
    let error = crate::config::parse(".slipway.yml", "version: 1\nbuild:\n  stepz: []\n")
        .unwrap_err()
        .to_string();
    assert_snapshot!(check(config_error_title(), config_error_summary(&error)));
}

#[test]
fn check_unsandboxed_fork() {
    assert_snapshot!(check(unsandboxed_fork_title(), unsandboxed_fork_summary()));
}

#[test]
fn unsandboxed_warnings() {
    let text = [
        unsandboxed_warning(&Unsandboxed::Disabled),
        unsandboxed_warning(&Unsandboxed::Unavailable(
            "bwrap: setting up uid map: Permission denied".into(),
        )),
    ];
    assert_snapshot!(text.join("\n\n"));
}

const CONFIG: &str = r#"version: 1
build:
  steps:
    - run: make
environments:
  staging:
    auto_deploy: main
    url: https://staging.example.com
  production:
    allow: maintain
    require: [build_green, approved]
"#;

#[test]
fn help_with_environments() {
    let config = crate::config::parse(".slipway.yml", CONFIG).unwrap();
    assert_snapshot!(help(&config));
}

#[test]
fn help_without_environments() {
    let config = crate::config::parse(
        ".slipway.yml",
        "version: 1\nbuild:\n  steps:\n    - run: make\n",
    )
    .unwrap();
    assert_snapshot!(help(&config));
}

fn deployment(status: DeployStatus, kind: DeployKind, previous: bool) -> DeploymentRecord {
    DeploymentRecord {
        id: "dep-2".into(),
        forge: ForgeKind::Github,
        repo: repo(),
        installation_id: Some(7),
        environment: "staging".into(),
        kind,
        sha: sha('c'),
        git_ref: "feature/login".into(),
        image: Some(image('c')),
        artifacts_manifest: None,
        actor: "octocat".into(),
        pr: Some(PrNumber(2)),
        status,
        reason: (status == DeployStatus::Failed)
            .then(|| "the ECS service did not become stable:\n2 tasks stopped".into()),
        previous: previous.then(|| Previous {
            sha: sha('b'),
            image: Some(image('b')),
            deployment_id: "dep-1".into(),
        }),
        forge_deployment: None,
        run_id: None,
        url: Some("https://staging.example.com".into()),
        created_ms: 1_700_000_000_000,
        finished_at: None,
        applied: false,
    }
}

#[test]
fn status_without_builds() {
    assert_snapshot!(status(&[], &[]));
}

#[test]
fn status_with_builds_artifacts_image_and_deployments() {
    let first = Run {
        id: RunId("run-0".into()),
        sha: sha('b'),
        ..run(RunStatus::Failed)
    };
    let latest = Run {
        artifacts: with_artifacts_and_image().artifacts,
        image: Some(image('c')),
        ..run(RunStatus::Succeeded)
    };
    let running = Run {
        id: RunId("run-2".into()),
        sha: sha('d'),
        ..run(RunStatus::Running)
    };
    let deployments = [
        deployment(DeployStatus::Succeeded, DeployKind::Deploy, false),
        deployment(DeployStatus::InProgress, DeployKind::Deploy, true),
    ];
    assert_snapshot!(status(&[first, latest, running], &deployments));
}

#[test]
fn status_of_a_build_with_more_artifacts_than_its_run_keeps() {
    let artifacts = with_artifacts_and_image().artifacts;
    let latest = Run {
        artifact_count: artifacts.len() + 480,
        artifacts,
        ..run(RunStatus::Succeeded)
    };
    assert_snapshot!(status(&[latest], &[]));
}

#[test]
fn result_and_deploy_failure_lines() {
    assert_snapshot!([
        result_too_large(8 << 20),
        result_invalid(),
        applied_but("moving the env-production tag failed (see the log)"),
    ]
    .join("\n"));
}

/// The check's title, then the comment.
fn deployment_text(record: &DeploymentRecord, tag_only_target: bool) -> String {
    format!(
        "# {}\n\n{}",
        deploy_check_title(record),
        deployment_comment(record, tag_only_target)
    )
}

#[test]
fn deployment_in_progress() {
    let record = deployment(DeployStatus::InProgress, DeployKind::Deploy, true);
    assert_snapshot!(deployment_text(&record, false));
}

#[test]
fn deployment_succeeded() {
    let record = deployment(DeployStatus::Succeeded, DeployKind::Deploy, true);
    assert_snapshot!(deployment_text(&record, true));
}

#[test]
fn deployment_succeeded_first_deploy() {
    let record = deployment(DeployStatus::Succeeded, DeployKind::Deploy, false);
    assert_snapshot!(deployment_text(&record, true));
}

#[test]
fn deployment_failed_tag_only() {
    let record = deployment(DeployStatus::Failed, DeployKind::Deploy, true);
    assert_snapshot!(deployment_text(&record, true));
}

#[test]
fn deployment_failed_with_steps() {
    let record = deployment(DeployStatus::Failed, DeployKind::Deploy, false);
    assert_snapshot!(deployment_text(&record, false));
}

#[test]
fn deployment_rollback() {
    let record = deployment(DeployStatus::Succeeded, DeployKind::Rollback, true);
    assert_snapshot!(deployment_text(&record, true));
}

#[test]
fn deployment_auto() {
    let record = deployment(DeployStatus::Succeeded, DeployKind::Auto, true);
    assert_snapshot!(deployment_text(&record, true));
}

#[test]
fn deploy_refusals() {
    let holder = deployment(DeployStatus::InProgress, DeployKind::Deploy, false);
    let refusals = [
        Refusal::UnknownEnvironment,
        Refusal::Permission {
            needed: Permission::Maintain,
            have: Permission::Write,
        },
        Refusal::Fork,
        Refusal::NotBuilt,
        Refusal::BuildNotGreen(RunStatus::Queued),
        Refusal::BuildNotGreen(RunStatus::Running),
        Refusal::BuildNotGreen(RunStatus::Failed),
        Refusal::BuildNotGreen(RunStatus::Cancelled),
        Refusal::BuildNotGreen(RunStatus::TimedOut),
        Refusal::BuildNotGreen(RunStatus::Lost),
        Refusal::NotApproved,
        Refusal::ChangesRequested,
        Refusal::NothingToRollBackTo,
        Refusal::Locked {
            holder: deploy_in_progress(Some(&holder)),
        },
        Refusal::Locked {
            holder: deploy_in_progress(None),
        },
        Refusal::NotAutoDeployed,
    ];
    let text: Vec<String> = refusals
        .iter()
        .map(|r| format!("{r:?}\n  {}", deploy_refused("staging", r)))
        .collect();
    assert_snapshot!(text.join("\n"));
}

#[test]
fn command_refusals() {
    let deploy = Command::Deploy {
        environment: "production".into(),
    };
    let errors = [
        CommandError::Unknown {
            word: "depoly`--".into(),
        },
        CommandError::MissingEnvironment { command: "deploy" },
        CommandError::UnknownEnvironment {
            given: "prod".into(),
            known: vec![],
        },
        CommandError::UnknownEnvironment {
            given: "prod".into(),
            known: vec!["staging".into(), "production".into()],
        },
        CommandError::UnexpectedArguments {
            command: "cancel",
            extra: "everything now".into(),
        },
        CommandError::InvalidSha {
            given: "xyz".into(),
        },
    ];
    let mut lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.push(refused_command(
        &Command::Build,
        Who::AuthorOrWrite,
        Permission::Read,
    ));
    lines.push(refused_command(
        &Command::Cancel,
        Who::Write,
        Permission::Triage,
    ));
    lines.push(refused_command(
        &deploy,
        Who::EnvironmentAllow,
        Permission::None,
    ));
    lines.push(refused_permission(
        &deploy,
        "maintain access",
        Permission::Write,
    ));
    lines.push(refused_untrusted_fork());
    lines.push(too_many_commands(10));
    lines.push(config_broken_for_commands(
        "build.steps: at least one step is needed",
    ));
    lines.push(cancelled_builds(0));
    lines.push(cancelled_builds(1));
    lines.push(cancelled_builds(3));
    assert_snapshot!(lines.join("\n\n"));
}

#[test]
fn ok_to_test_replies() {
    let head = sha('c');
    let lines = [
        ok_to_test_refused(
            &OkToTestRefusal::NotHead {
                named: "bbbbbbb".into(),
            },
            &head,
        ),
        ok_to_test_refused(&OkToTestRefusal::HeadChanged, &head),
        ok_to_test_recorded(head.as_str()),
    ];
    assert_snapshot!(lines.join("\n\n"));
}

fn answer(response: WebhookResponse) -> String {
    format!(
        "{}\n{}",
        response.status,
        serde_json::to_string_pretty(&response.body).unwrap()
    )
}

#[test]
fn webhook_answers() {
    let delivery = DeliveryId("72d3162e-cc78-11e3-81ab-4c9367dc0958".into());
    let mut answers = vec![
        answer(accepted(&delivery, "pull_request.opened")),
        answer(duplicate(&delivery)),
        answer(pong(&delivery)),
        answer(unavailable(&delivery)),
        answer(not_found()),
    ];
    let ignored_reasons = [
        IgnoreReason::NotActedOn("issues.opened".into()),
        IgnoreReason::CommentOnIssue,
        IgnoreReason::CommentNotNew,
        IgnoreReason::CommentByBot,
        IgnoreReason::SystemNote,
        IgnoreReason::TagPush,
        IgnoreReason::BranchDeleted,
        IgnoreReason::MergeRequestUpdateWithoutCommits,
        IgnoreReason::CheckSuiteRequested,
        IgnoreReason::StaleComment,
    ];
    answers.extend(
        ignored_reasons
            .iter()
            .map(|r| answer(ignored(&delivery, r))),
    );
    let failures = [
        AuthFailure::NotConfigured(ForgeKind::Gitlab),
        AuthFailure::MissingSignature,
        AuthFailure::OnlyLegacySha1Signature,
        AuthFailure::MalformedSignature,
        AuthFailure::SignatureMismatch,
        AuthFailure::MissingToken,
        AuthFailure::TokenMismatch,
        AuthFailure::MissingSigningHeaders,
        AuthFailure::MalformedTimestamp,
        AuthFailure::TimestampOutOfTolerance,
    ];
    let mut rejections: Vec<Rejection> =
        failures.into_iter().map(Rejection::Unauthorized).collect();
    rejections.extend([
        Rejection::Malformed("missing X-GitHub-Event header".into()),
        Rejection::TooLarge { limit: 26_214_400 },
        Rejection::UnsupportedMediaType("text/plain".into()),
        Rejection::TooSlow {
            limit: std::time::Duration::from_secs(10),
        },
        Rejection::Busy,
    ]);
    answers.extend(rejections.iter().map(|r| answer(rejected(r))));
    assert_snapshot!(answers.join("\n\n"));
}

#[test]
fn comment_cut_notes() {
    let notes = [
        comment_cut_note(Some("https://slipway.example/runs/run-1/comment")),
        comment_cut_note(None),
    ];
    assert_snapshot!(notes.concat());
}

#[test]
fn run_pages() {
    let run = run(RunStatus::Failed);
    let pages = [
        run_page(
            Some(&run),
            Some(&failed()),
            "running 12 tests\n<script>alert(1)</script>\n",
        ),
        run_page(None, None, ""),
    ];
    assert_snapshot!(pages.join("\n\n---\n\n"));
}
