//! The webhook edge end to end on the embedded adapters: every real fixture, signed here, and
//! every way a delivery can be wrong.

use serde_json::Value;
use slipway::model::event::{
    CheckScope, CommentAction, EventKind, PrAction, PrNumber, QueuedEvent,
};
use slipway::queue::local::LocalQueue;
use slipway_testkit::*;
use std::time::Duration;

/// Post `body` to the app and return (status, response JSON).
async fn post(app: &LocalApp, forge: &str, headers: &http::HeaderMap, body: &[u8]) -> (u16, Value) {
    let forge = match forge {
        "github" => slipway::model::event::ForgeKind::Github,
        _ => slipway::model::event::ForgeKind::Gitlab,
    };
    let r = app.handle_webhook(forge, headers, body, now()).await;
    (r.status, r.body)
}

async fn only_queued(queue: &LocalQueue) -> QueuedEvent {
    assert_eq!(queue.depth().await.unwrap(), 1, "exactly one event queued");
    let received = queue
        .receive(now(), Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a queued event");
    received.event
}

/// Send a GitHub fixture, expect it accepted, and return what was queued.
async fn accepted_github(event: &str, body: &[u8]) -> QueuedEvent {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let (status, json) = post(&app, "github", &github_headers(event, "d-1", body), body).await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["status"], "accepted");
    assert_eq!(json["delivery"], "d-1");
    let queued = only_queued(&app.queue).await;
    assert_eq!(json["event"], queued.event.name.as_str());
    queued
}

/// Send a GitHub fixture, expect a 200 that says why it is ignored, and nothing queued.
async fn ignored_github(event: &str, body: &[u8], reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let (status, json) = post(&app, "github", &github_headers(event, "d-1", body), body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "ignored");
    let got = json["reason"].as_str().unwrap();
    assert!(
        got.contains(reason),
        "reason {got:?} should mention {reason:?}"
    );
    assert_eq!(app.queue.depth().await.unwrap(), 0);
}

fn pr_fixture(action: &str) -> Vec<u8> {
    fixture(&format!("github/pull_request.{action}.json"))
}

#[tokio::test]
async fn pull_request_actions_that_build_are_queued_with_the_pull_request_facts() {
    let cases = [
        ("opened.1", PrAction::Opened),
        ("synchronize.1", PrAction::Pushed),
        ("reopened.1", PrAction::Reopened),
        ("ready_for_review.1", PrAction::ReadyForReview),
        ("converted_to_draft.1", PrAction::ConvertedToDraft),
        ("closed.1", PrAction::Closed { merged: false }),
        ("closed.2", PrAction::Closed { merged: false }),
    ];
    for (file, expected) in cases {
        let body = pr_fixture(file);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let queued = accepted_github("pull_request", &body).await;
        let event = queued.event;
        assert_eq!(
            event.name,
            format!("pull_request.{}", raw["action"].as_str().unwrap())
        );
        assert_eq!(
            event.repo.as_ref().unwrap().full_name,
            "Codertocat/Hello-World"
        );
        let EventKind::PullRequest { action, pr } = event.kind else {
            panic!("{file}: not a pull request event");
        };
        assert_eq!(action, expected, "{file}");
        assert_eq!(pr.number, PrNumber(raw["number"].as_u64().unwrap()));
        assert_eq!(pr.head_sha.as_str(), raw["pull_request"]["head"]["sha"]);
        assert_eq!(pr.head_branch, raw["pull_request"]["head"]["ref"]);
        assert_eq!(pr.base_branch, raw["pull_request"]["base"]["ref"]);
        assert_eq!(
            pr.author.login.as_deref(),
            raw["pull_request"]["user"]["login"].as_str()
        );
        assert!(!pr.from_fork, "{file}: head and base are one repository");
    }
}

#[tokio::test]
async fn a_pull_request_from_another_repository_is_a_fork() {
    let mut raw: Value = serde_json::from_slice(&pr_fixture("opened.1")).unwrap();
    raw["pull_request"]["head"]["repo"]["id"] = 999.into();
    let queued = accepted_github("pull_request", &serde_json::to_vec(&raw).unwrap()).await;
    let EventKind::PullRequest { pr, .. } = queued.event.kind else {
        panic!()
    };
    assert!(pr.from_fork);

    raw["pull_request"]["head"]["repo"] = Value::Null; // the fork was deleted
    let queued = accepted_github("pull_request", &serde_json::to_vec(&raw).unwrap()).await;
    let EventKind::PullRequest { pr, .. } = queued.event.kind else {
        panic!()
    };
    assert!(pr.from_fork);
}

#[tokio::test]
async fn pull_request_actions_without_meaning_are_ignored_by_name() {
    ignored_github(
        "pull_request",
        &pr_fixture("labeled.1"),
        "pull_request.labeled",
    )
    .await;
}

#[tokio::test]
async fn comments_on_issues_are_ignored_and_on_pull_requests_queued() {
    for action in ["created", "edited", "deleted"] {
        let body = fixture(&format!("github/issue_comment.{action}.1.json"));
        ignored_github("issue_comment", &body, "issue").await;
    }
    let queued = accepted_github("issue_comment", &pr_comment("created", "/build")).await;
    let EventKind::Comment {
        action,
        pr,
        comment,
        ..
    } = queued.event.kind
    else {
        panic!()
    };
    assert_eq!(action, CommentAction::Created);
    assert_eq!(pr, PrNumber(1));
    assert_eq!(comment.body.as_deref(), Some("/build"));
    assert_eq!(comment.author.login.as_deref(), Some("Codertocat"));
    assert_eq!(queued.event.installation_id, None);
}

#[tokio::test]
async fn edited_deleted_bot_and_oversized_comments() {
    ignored_github("issue_comment", &pr_comment("edited", "/build"), "edits").await;
    ignored_github("issue_comment", &pr_comment("deleted", "/build"), "edits").await;

    let mut by_bot: Value = serde_json::from_slice(&pr_comment("created", "/build")).unwrap();
    by_bot["comment"]["user"]["type"] = "Bot".into();
    ignored_github(
        "issue_comment",
        &serde_json::to_vec(&by_bot).unwrap(),
        "bot",
    )
    .await;

    let huge = "x".repeat(slipway::model::event::MAX_COMMENT_BYTES + 1);
    let queued = accepted_github("issue_comment", &pr_comment("created", &huge)).await;
    let EventKind::Comment { comment, .. } = queued.event.kind else {
        panic!()
    };
    assert_eq!(comment.body, None, "an oversized comment is not carried");
}

#[tokio::test]
async fn pushes_of_branches_are_queued_tags_and_deletions_ignored() {
    let tag = fixture("github/push.none.1.json");
    ignored_github("push", &tag, "tag").await;

    let mut raw: Value = serde_json::from_slice(&tag).unwrap();
    raw["ref"] = "refs/heads/main".into();
    let queued = accepted_github("push", &serde_json::to_vec(&raw).unwrap()).await;
    let EventKind::Push {
        git_ref,
        after,
        deleted,
        ..
    } = queued.event.kind
    else {
        panic!()
    };
    assert_eq!(git_ref, "refs/heads/main");
    assert_eq!(after.as_str(), raw["after"]);
    assert!(!deleted);

    raw["deleted"] = true.into();
    raw["after"] = "0".repeat(40).into();
    ignored_github("push", &serde_json::to_vec(&raw).unwrap(), "deleted").await;
}

#[tokio::test]
async fn rerun_buttons_and_merge_queues_are_queued() {
    let queued =
        accepted_github("check_run", &fixture("github/check_run.rerequested.1.json")).await;
    let EventKind::CheckRerequested {
        check,
        head_sha,
        head_branch,
        ..
    } = queued.event.kind
    else {
        panic!()
    };
    assert_eq!(
        check,
        CheckScope::Run {
            id: 4,
            name: "randscape".into()
        }
    );
    assert_eq!(
        head_sha.as_str(),
        "d6fde92930d4715a2b49857d24b940956b26d2d3"
    );
    assert_eq!(head_branch.as_deref(), Some("master"));

    let suite = fixture("github/check_suite.rerequested.1.json");
    let queued = accepted_github("check_suite", &suite).await;
    assert!(matches!(
        queued.event.kind,
        EventKind::CheckRerequested {
            check: CheckScope::Suite { .. },
            ..
        }
    ));

    let group = fixture("github/merge_group.checks_requested.1.json");
    let queued = accepted_github("merge_group", &group).await;
    let EventKind::MergeGroup {
        head_sha, base_ref, ..
    } = queued.event.kind
    else {
        panic!()
    };
    assert_eq!(
        head_sha.as_str(),
        "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
    );
    assert_eq!(base_ref, "refs/heads/main");

    let mut requested: Value =
        serde_json::from_slice(&fixture("github/check_run.rerequested.1.json")).unwrap();
    requested["action"] = "requested_action".into();
    requested["requested_action"] = serde_json::json!({ "identifier": "deploy-staging" });
    let queued = accepted_github("check_run", &serde_json::to_vec(&requested).unwrap()).await;
    let EventKind::CheckActionRequested { identifier, .. } = queued.event.kind else {
        panic!()
    };
    assert_eq!(identifier, "deploy-staging");
}

#[tokio::test]
async fn suite_requested_installation_ping_and_unknown_events_are_answered_200() {
    let requested = fixture("github/check_suite.requested.1.json");
    ignored_github("check_suite", &requested, "check_suite.requested").await;
    let installation = fixture("github/installation.created.1.json");
    ignored_github("installation", &installation, "installation.created").await;
    ignored_github("star", br#"{"action":"created"}"#, "star.created").await;
    ignored_github("fork", br#"{}"#, "fork").await;

    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let ping = fixture("github/ping.none.1.json");
    let (status, json) = post(&app, "github", &github_headers("ping", "p-1", &ping), &ping).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("pong")));
    assert_eq!(app.queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn gitlab_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());

    let mr = fixture("gitlab/merge_request_hook.json");
    let (status, json) = post(
        &app,
        "gitlab",
        &gitlab_headers("Merge Request Hook", "g-1"),
        &mr,
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let queued = only_queued(&app.queue).await;
    let event = queued.event;
    assert_eq!(event.name, "merge_request.open");
    assert_eq!(
        event.repo.as_ref().unwrap().full_name,
        "gitlabhq/gitlab-test"
    );
    let EventKind::PullRequest { action, pr } = event.kind else {
        panic!()
    };
    assert_eq!(action, PrAction::Opened);
    assert_eq!(pr.number, PrNumber(1));
    assert_eq!(
        pr.head_sha.as_str(),
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    );
    assert_eq!(
        (pr.head_branch.as_str(), pr.base_branch.as_str()),
        ("ms-viewport", "master")
    );
    assert!(!pr.from_fork);
    app.queue.ack(1).await.unwrap();

    let note = serde_json::to_vec(&mr_note("This MR needs work.")).unwrap();
    let (status, _) = post(&app, "gitlab", &gitlab_headers("Note Hook", "g-2"), &note).await;
    assert_eq!(status, 202);
    let queued = app
        .queue
        .receive(now(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let EventKind::Comment {
        pr,
        pr_head_sha,
        comment,
        ..
    } = queued.event.event.kind
    else {
        panic!()
    };
    assert_eq!(pr, PrNumber(1));
    assert_eq!(
        pr_head_sha.unwrap().as_str(),
        "562e173be03b8ff2efb05345d12df18815438a4b"
    );
    assert_eq!(comment.body.as_deref(), Some("This MR needs work."));
    app.queue.ack(queued.seq).await.unwrap();

    let push = fixture("gitlab/push_hook.json");
    let (status, _) = post(&app, "gitlab", &gitlab_headers("Push Hook", "g-3"), &push).await;
    assert_eq!(status, 202);
    let queued = app
        .queue
        .receive(now(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let EventKind::Push { git_ref, after, .. } = queued.event.event.kind else {
        panic!()
    };
    assert_eq!(
        (git_ref.as_str(), after.as_str()),
        (
            "refs/heads/master",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
        )
    );

    let issue_note = fixture("gitlab/note_hook.issue.json");
    let (status, json) = post(
        &app,
        "gitlab",
        &gitlab_headers("Note Hook", "g-4"),
        &issue_note,
    )
    .await;
    assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));
    let (status, json) = post(
        &app,
        "gitlab",
        &gitlab_headers("Pipeline Hook", "g-5"),
        b"{}",
    )
    .await;
    assert_eq!(
        (status, json["reason"].as_str()),
        (200, Some("ignored: Pipeline Hook"))
    );
}

#[tokio::test]
async fn gitlab_updates_without_new_commits_are_ignored_with_them_queued() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let mut mr = json_fixture("gitlab/merge_request_hook.json");
    mr["object_attributes"]["action"] = "update".into();
    let body = serde_json::to_vec(&mr).unwrap();
    let (status, json) = post(
        &app,
        "gitlab",
        &gitlab_headers("Merge Request Hook", "u-1"),
        &body,
    )
    .await;
    assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));

    mr["object_attributes"]["oldrev"] = "a".repeat(40).into();
    let body = serde_json::to_vec(&mr).unwrap();
    let (status, _) = post(
        &app,
        "gitlab",
        &gitlab_headers("Merge Request Hook", "u-2"),
        &body,
    )
    .await;
    assert_eq!(status, 202);
    let EventKind::PullRequest { action, .. } = only_queued(&app.queue).await.event.kind else {
        panic!()
    };
    assert_eq!(action, PrAction::Pushed);
}

#[tokio::test]
async fn a_redelivery_is_a_duplicate_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = pr_fixture("opened.1");
    let h = github_headers("pull_request", "same-id", &body);
    assert_eq!(post(&app, "github", &h, &body).await.0, 202);
    let (status, json) = post(&app, "github", &h, &body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(app.queue.depth().await.unwrap(), 1);

    // The same delivery id from the other forge is a different delivery.
    let mr = fixture("gitlab/merge_request_hook.json");
    let (status, _) = post(
        &app,
        "gitlab",
        &gitlab_headers("Merge Request Hook", "same-id"),
        &mr,
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(app.queue.depth().await.unwrap(), 2);
}

/// Issue #14: the same signed bytes under a new `X-GitHub-Delivery` (which the signature does not
/// cover) are a replay, answered `duplicate`; GitHub's own redelivery reuses the id and is too.
#[tokio::test]
async fn a_github_body_replayed_under_a_new_delivery_id_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = pr_comment("created", "/deploy production");
    let first = github_headers("issue_comment", "original-id", &body);
    assert_eq!(post(&app, "github", &first, &body).await.0, 202);
    let replay = github_headers("issue_comment", "attacker-chosen-id", &body);
    let (status, json) = post(&app, "github", &replay, &body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("duplicate")),
        "{json}"
    );
    let (status, json) = post(&app, "github", &first, &body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("duplicate")),
        "{json}"
    );
    // The same signature written in capitals names the same bytes: still a replay.
    let mut shouted = github_headers("issue_comment", "attacker-chosen-id-3", &body);
    let signature = shouted["x-hub-signature-256"].to_str().unwrap().to_owned();
    let upper = format!("sha256={}", signature[7..].to_ascii_uppercase());
    shouted.insert("x-hub-signature-256", upper.parse().unwrap());
    let (status, json) = post(&app, "github", &shouted, &body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("duplicate")),
        "{json}"
    );
    assert_eq!(app.queue.depth().await.unwrap(), 1, "queued once");

    // A different body is a different delivery, whatever its id.
    let other = pr_comment("created", "/deploy staging");
    let h = github_headers("issue_comment", "attacker-chosen-id-2", &other);
    assert_eq!(post(&app, "github", &h, &other).await.0, 202);
}

/// Issue #14: with signing on, a GitLab delivery is named by its signed `webhook-id`; a new
/// unsigned `Idempotency-Key` does not make a replay new.
#[tokio::test]
async fn a_signed_gitlab_replay_with_a_new_idempotency_key_is_a_duplicate() {
    use slipway::webhook::{gitlab, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let mut app = local_app(dir.path());
    let key = SigningKey::parse("whsec_c2lnbmluZy1rZXktZm9yLXRlc3Rz").unwrap();
    app.ingress.secrets.gitlab_signing = Some(key.clone());
    let body = serde_json::to_vec(&mr_note("/deploy production")).unwrap();
    let ts = now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = |idempotency_key: &str| {
        headers(&[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Note Hook"),
            ("x-gitlab-token", GITLAB_TOKEN),
            ("idempotency-key", idempotency_key),
            ("webhook-id", "msg_signed"),
            ("webhook-timestamp", &ts.to_string()),
            (
                "webhook-signature",
                &gitlab::signature(&key, "msg_signed", ts, &body),
            ),
        ])
    };
    let (status, json) = post(&app, "gitlab", &signed("key-1"), &body).await;
    assert_eq!(
        (status, json["delivery"].as_str()),
        (202, Some("msg_signed")),
        "{json}"
    );
    let (status, json) = post(&app, "gitlab", &signed("key-2"), &body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("duplicate")),
        "{json}"
    );
    assert_eq!(app.queue.depth().await.unwrap(), 1, "queued once");
}

/// Issue #14: a comment whose signed body says it was written longer ago than the dedupe window
/// is not acted on, so a captured `/deploy` cannot be replayed once its record expires.
#[tokio::test]
async fn a_stale_comment_is_ignored_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let mut old: Value =
        serde_json::from_slice(&pr_comment("created", "/deploy production")).unwrap();
    old["comment"]["created_at"] = "2019-05-15T15:20:21Z".into();
    old["comment"]["updated_at"] = "2019-05-15T15:20:21Z".into();
    let body = serde_json::to_vec(&old).unwrap();
    let h = github_headers("issue_comment", "old-comment", &body);
    let (status, json) = post(&app, "github", &h, &body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "ignored");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .starts_with("ignored: stale comment"),
        "{json}"
    );

    let mut note = mr_note("/deploy production");
    note["object_attributes"]["created_at"] = "2015-05-17 18:21:36 UTC".into();
    note["object_attributes"]["updated_at"] = "2015-05-17 18:21:36 UTC".into();
    let body = serde_json::to_vec(&note).unwrap();
    let (status, json) = post(
        &app,
        "gitlab",
        &gitlab_headers("Note Hook", "old-note"),
        &body,
    )
    .await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("ignored")),
        "{json}"
    );
    assert_eq!(app.queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn a_delivery_recorded_but_never_queued_is_queued_by_the_redelivery() {
    use slipway::intake::RecordThenQueue;
    use slipway::model::event::{DeliveryId, ForgeKind};
    use slipway::state::sqlite::SqliteState;
    use slipway::state::{StateStore, DELIVERY_TTL, UNCONFIRMED_GRACE};
    // The cloud's sequence (record, queue, confirm: DynamoDB and SQS share no transaction), on
    // the embedded stores. `serve` commits the record and the event together, so there an
    // edge cannot die between them.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slipway.db");
    let (state, queue) = (
        SqliteState::open(&db).unwrap(),
        LocalQueue::open(&db).unwrap(),
    );
    let app = slipway::app::WebhookApp {
        ingress: webhook::ingress(),
        intake: RecordThenQueue {
            state: state.clone(),
            queue: queue.clone(),
        },
    };
    let body = pr_fixture("opened.1");
    let h = github_headers("pull_request", "crash-id", &body);
    // An edge recorded it and died before queueing it (kill -9, a Lambda timeout).
    let t0 = now();
    let id = DeliveryId("crash-id".into());
    assert!(state
        .record_delivery(ForgeKind::Github, &id, t0, DELIVERY_TTL)
        .await
        .unwrap());

    let soon = app
        .handle_webhook(ForgeKind::Github, &h, &body, t0 + Duration::from_secs(1))
        .await;
    assert_eq!(
        soon.body["status"], "duplicate",
        "still within the first edge's grace"
    );
    let after = t0 + UNCONFIRMED_GRACE + Duration::from_secs(1);
    let redelivered = app
        .handle_webhook(ForgeKind::Github, &h, &body, after)
        .await;
    assert_eq!(redelivered.status, 202, "{}", redelivered.body);
    assert_eq!(queue.depth().await.unwrap(), 1);

    // Queued and confirmed: from now on a duplicate, however late.
    let much_later = after + UNCONFIRMED_GRACE * 10;
    let again = app
        .handle_webhook(ForgeKind::Github, &h, &body, much_later)
        .await;
    assert_eq!(again.body["status"], "duplicate");
    assert_eq!(queue.depth().await.unwrap(), 1);
}

#[tokio::test]
async fn dedupe_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let body = pr_fixture("opened.1");
    let h = github_headers("pull_request", "restart-id", &body);
    {
        let app = local_app(dir.path());
        assert_eq!(post(&app, "github", &h, &body).await.0, 202);
    }
    let app = local_app(dir.path());
    assert_eq!(
        post(&app, "github", &h, &body).await.1["status"],
        "duplicate"
    );
    assert_eq!(
        app.queue.depth().await.unwrap(),
        1,
        "the queued event survived too"
    );
}

#[tokio::test]
async fn untrusted_deliveries_are_401_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = pr_fixture("opened.1");
    let good = github_headers("pull_request", "x", &body);

    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(post(&app, "github", &good, &tampered).await.0, 401);

    let mut wrong_secret = good.clone();
    let sig = slipway::webhook::github::signature(b"not-the-secret", &body);
    wrong_secret.insert("x-hub-signature-256", sig.parse().unwrap());
    assert_eq!(post(&app, "github", &wrong_secret, &body).await.0, 401);

    let mut unsigned = good.clone();
    unsigned.remove("x-hub-signature-256");
    let (status, json) = post(&app, "github", &unsigned, &body).await;
    assert_eq!(status, 401);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("X-Hub-Signature-256"));

    let mut sha1_only = unsigned.clone();
    sha1_only.insert(
        "x-hub-signature",
        "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709"
            .parse()
            .unwrap(),
    );
    let (status, json) = post(&app, "github", &sha1_only, &body).await;
    assert_eq!(status, 401);
    assert!(json["error"].as_str().unwrap().contains("SHA-1"));

    let mut bad_hex = good.clone();
    bad_hex.insert(
        "x-hub-signature-256",
        format!("sha256={}", "g".repeat(64)).parse().unwrap(),
    );
    assert_eq!(post(&app, "github", &bad_hex, &body).await.0, 401);

    let mr = fixture("gitlab/merge_request_hook.json");
    let mut wrong_token = gitlab_headers("Merge Request Hook", "y");
    wrong_token.insert("x-gitlab-token", "guess".parse().unwrap());
    let (status, json) = post(&app, "gitlab", &wrong_token, &mr).await;
    assert_eq!(status, 401);
    assert!(
        !json.to_string().contains("guess"),
        "the presented token is never echoed"
    );
    assert!(!json.to_string().contains(GITLAB_TOKEN));

    assert_eq!(app.queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn malformed_deliveries_are_400_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());

    let broken = br#"{"action": "opened", "#;
    let (status, json) = post(
        &app,
        "github",
        &github_headers("pull_request", "b", broken),
        broken,
    )
    .await;
    assert_eq!(status, 400, "{json}");

    let mut raw: Value = serde_json::from_slice(&pr_fixture("opened.1")).unwrap();
    raw["pull_request"]["head"]
        .as_object_mut()
        .unwrap()
        .remove("sha");
    let body = serde_json::to_vec(&raw).unwrap();
    let (status, json) = post(
        &app,
        "github",
        &github_headers("pull_request", "c", &body),
        &body,
    )
    .await;
    assert_eq!(status, 400);
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("pull_request.head") && error.contains("sha"),
        "{error}"
    );

    raw["pull_request"]["head"]["sha"] = "not-a-sha".into();
    let body = serde_json::to_vec(&raw).unwrap();
    let (status, _) = post(
        &app,
        "github",
        &github_headers("pull_request", "d", &body),
        &body,
    )
    .await;
    assert_eq!(status, 400);

    let body = pr_fixture("opened.1");
    let mut no_event = github_headers("pull_request", "e", &body);
    no_event.remove("x-github-event");
    assert_eq!(post(&app, "github", &no_event, &body).await.0, 400);
    let mut no_delivery = github_headers("pull_request", "e", &body);
    no_delivery.remove("x-github-delivery");
    assert_eq!(post(&app, "github", &no_delivery, &body).await.0, 400);

    let mut not_json = github_headers("pull_request", "f", &body);
    not_json.insert("content-type", "text/xml".parse().unwrap());
    assert_eq!(post(&app, "github", &not_json, &body).await.0, 415);
    assert_eq!(app.queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn over_the_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = local_app(dir.path());
    app.ingress.max_body_bytes = 1000;
    let body = pr_fixture("opened.1");
    let (status, json) = post(
        &app,
        "github",
        &github_headers("pull_request", "big", &body),
        &body,
    )
    .await;
    assert_eq!(status, 413);
    assert!(json["error"].as_str().unwrap().contains("1000"));
}

#[tokio::test]
async fn form_encoded_github_deliveries_are_accepted() {
    let json = pr_fixture("opened.1");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    let mut h = github_headers("pull_request", "form-1", form.as_bytes());
    h.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let (status, body) = post(&app, "github", &h, form.as_bytes()).await;
    assert_eq!(status, 202, "{body}");
    let EventKind::PullRequest { pr, .. } = only_queued(&app.queue).await.event.kind else {
        panic!()
    };
    assert_eq!(pr.number, PrNumber(2));
}

#[tokio::test]
async fn signed_gitlab_webhooks_are_verified() {
    use slipway::webhook::{gitlab, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let mut app = local_app(dir.path());
    let key = SigningKey::parse("whsec_c2lnbmluZy1rZXktZm9yLXRlc3Rz").unwrap();
    app.ingress.secrets.gitlab_token = None;
    app.ingress.secrets.gitlab_signing = Some(key.clone());
    let body = fixture("gitlab/push_hook.json");
    let ts = now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = headers(&[
        ("content-type", "application/json"),
        ("x-gitlab-event", "Push Hook"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &ts.to_string()),
        (
            "webhook-signature",
            &gitlab::signature(&key, "msg_1", ts, &body),
        ),
    ]);
    let (status, json) = post(&app, "gitlab", &signed, &body).await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["delivery"], "msg_1");

    let stale = ts - 600;
    let mut old = signed.clone();
    old.insert("webhook-timestamp", stale.to_string().parse().unwrap());
    old.insert(
        "webhook-signature",
        gitlab::signature(&key, "msg_2", stale, &body)
            .parse()
            .unwrap(),
    );
    old.insert("webhook-id", "msg_2".parse().unwrap());
    assert_eq!(post(&app, "gitlab", &old, &body).await.0, 401);

    let mut unsigned = gitlab_headers("Push Hook", "msg_3");
    unsigned.remove("x-gitlab-token");
    assert_eq!(post(&app, "gitlab", &unsigned, &body).await.0, 401);
}

/// Whatever fixtures the directories hold, each signed delivery is answered 2xx.
#[tokio::test]
async fn every_fixture_is_answered_2xx() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let mut seen = 0;
    for forge in ["github", "gitlab"] {
        for entry in std::fs::read_dir(fixture_path(forge)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let body = std::fs::read(&path).unwrap();
            let delivery = format!("all-{forge}-{name}");
            let h = if forge == "github" {
                let event = name.split('.').next().unwrap();
                github_headers(event, &delivery, &body)
            } else {
                let event = match name.split('.').next().unwrap() {
                    "merge_request_hook" => "Merge Request Hook",
                    "note_hook" => "Note Hook",
                    "push_hook" => "Push Hook",
                    other => panic!("unknown GitLab fixture {other}"),
                };
                gitlab_headers(event, &delivery)
            };
            let (status, json) = post(&app, forge, &h, &body).await;
            assert!((200..300).contains(&status), "{name}: {status} {json}");
            seen += 1;
        }
    }
    assert!(seen >= 22, "all fixtures were read ({seen})");
}
