//! Deploys over a fake GitHub: each requirement refusing, the records GitHub gets (deployment,
//! statuses, the deploy status check, the sticky comment), and continuous deployment of a push.

use serde_json::{json, Value};
use slipway::model::event::CommitSha;
use slipway_testkit::github::REPO;
use slipway_testkit::harness::Harness;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");

const GATED: &str = "version: 1\nbuild:\n  steps:\n    - run: \"true\"\nenvironments:\n  staging:\n    url: https://staging.example.com\n    require: [build_green, approved, no_changes_requested]\n";

async fn replies(h: &Harness) -> Vec<String> {
    h.gh.comments(2).await
}

async fn last_reply(h: &Harness) -> String {
    replies(h).await.last().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_requirement_refuses_then_github_gets_the_records() {
    let mut h = Harness::new(SLIPWAY).await;
    h.accept_deployments().await;
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", GATED)])
            .await;
    h.pull_request_head(&sha, false, 1).await;

    h.comment(1, "writer", "/deploy staging").await;
    assert_eq!(h.reactions(1).await, ["eyes", "confused"]);
    assert!(
        last_reply(&h).await.contains("has not been built yet"),
        "{:?}",
        replies(&h).await
    );

    h.comment(2, "writer", "/build").await;
    h.report_next().await;
    h.comment(3, "writer", "/deploy staging").await;
    assert_eq!(h.reactions(3).await, ["eyes", "confused"]);
    assert!(last_reply(&h).await.contains("needs an approving review"));

    h.reviews(
        &[("maintainer", "APPROVED"), ("admin", "CHANGES_REQUESTED")],
        &sha,
        3,
    )
    .await;
    h.comment(4, "writer", "/deploy staging").await;
    assert_eq!(h.reactions(4).await, ["eyes", "confused"]);
    assert!(last_reply(&h)
        .await
        .contains("a reviewer requested changes"));

    h.reviews(&[("maintainer", "APPROVED")], &sha, 2).await;
    h.comment(5, "reader", "/deploy staging").await;
    assert_eq!(h.reactions(5).await, ["eyes", "confused"]);
    assert!(last_reply(&h)
        .await
        .contains("it needs write access; you have read"));
    assert!(
        h.gh.requests(&format!("{REPO}/deployments"), "POST")
            .await
            .is_empty(),
        "nothing deployed yet"
    );

    h.comment(6, "writer", "/deploy staging").await;
    assert_eq!(h.reactions(6).await, ["eyes", "rocket"]);
    let deployments = h.gh.requests(&format!("{REPO}/deployments"), "POST").await;
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0]["environment"], "staging");
    assert_eq!(deployments[0]["ref"], sha.as_str());
    let states: Vec<Value> =
        h.gh.requests(&format!("{REPO}/deployments/42/statuses"), "POST")
            .await
            .iter()
            .map(|s| json!([s["state"], s["environment_url"]]))
            .collect();
    assert_eq!(
        states,
        [
            json!(["in_progress", "https://staging.example.com"]),
            json!(["success", "https://staging.example.com"])
        ]
    );
    let checks: Vec<(String, String)> =
        h.gh.requests(&format!("{REPO}/statuses/{sha}"), "POST")
            .await
            .iter()
            .filter(|s| s["context"] == "slipway/deploy/staging")
            .map(|s| {
                (
                    s["state"].as_str().unwrap().to_owned(),
                    s["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    assert_eq!(checks.last().unwrap().0, "success", "{checks:?}");
    let comment = replies(&h)
        .await
        .into_iter()
        .find(|c| c.contains("Deployed to `staging`"))
        .expect("a deployment comment");
    assert!(
        comment.contains("| by | @writer with `/deploy` |"),
        "{comment}"
    );
    assert!(
        comment.contains("| where | https://staging.example.com |"),
        "{comment}"
    );
    assert!(comment.contains("the first deploy here"), "{comment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_build_is_not_deployed() {
    let mut h = Harness::new(SLIPWAY).await;
    h.accept_deployments().await;
    let config =
        "version: 1\nbuild:\n  steps:\n    - run: \"false\"\nenvironments:\n  staging: {}\n";
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", config)])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    h.comment(1, "admin", "/build").await;
    h.report_next().await;
    h.comment(2, "admin", "/deploy staging").await;
    assert_eq!(h.reactions(2).await, ["eyes", "confused"]);
    assert!(last_reply(&h)
        .await
        .contains("this commit's build did not pass (failed)"));
    assert!(h
        .gh
        .requests(&format!("{REPO}/deployments"), "POST")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_green_build_of_main_deploys_and_comments_on_the_merged_pull_request() {
    let mut h = Harness::new(SLIPWAY).await;
    h.accept_deployments().await;
    let config = "version: 1\nbuild:\n  steps:\n    - run: \"true\"\nenvironments:\n  staging:\n    auto_deploy: main\n  production: {}\n";
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", config)])
            .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/commits/{sha}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{ "number": 2 }])))
        .mount(&h.gh.server)
        .await;
    let before = CommitSha::parse(&"0".repeat(40)).unwrap();
    // A push to another branch builds nothing; main builds, and its green build deploys.
    h.push("push-1", "feature", &before, &sha).await;
    h.push("push-2", "main", &before, &sha).await;
    h.report_next().await;
    let deployments = h.gh.requests(&format!("{REPO}/deployments"), "POST").await;
    let environments: Vec<&Value> = deployments.iter().map(|d| &d["environment"]).collect();
    assert_eq!(
        environments,
        [&json!("staging")],
        "only the auto_deploy environment"
    );
    let comment = replies(&h)
        .await
        .into_iter()
        .find(|c| c.contains("Deployed to `staging`"))
        .expect("a comment on the merged pull request");
    assert!(comment.contains("with continuous deployment"), "{comment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_abandoned_by_a_dead_function_is_failed_by_the_next_one() {
    use slipway::model::deploy::{DeployKind, DeployStatus, DeploymentRecord};
    use slipway::state::StateStore;
    let mut h = Harness::new(SLIPWAY).await;
    h.accept_deployments().await;
    let config =
        "version: 1\nbuild:\n  steps:\n    - run: \"true\"\nenvironments:\n  staging: {}\n";
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", config)])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    h.comment(1, "writer", "/build").await;
    h.report_next().await;
    // An hour-old deploy still "in progress": its function died and its lock has expired.
    let abandoned = DeploymentRecord {
        id: "abandoned".into(),
        forge: slipway::model::event::ForgeKind::Github,
        repo: slipway_testkit::harness::repo(),
        installation_id: None,
        environment: "staging".into(),
        kind: DeployKind::Deploy,
        sha: sha.clone(),
        git_ref: "changes".into(),
        image: None,
        artifacts_manifest: None,
        actor: "someone".into(),
        pr: Some(slipway::model::event::PrNumber(2)),
        status: DeployStatus::InProgress,
        reason: None,
        previous: None,
        forge_deployment: Some(42),
        run_id: None,
        url: None,
        created_ms: 1_000,
        finished_at: None,
        applied: false,
    };
    h.pipeline.state.save_deployment(&abandoned).await.unwrap();
    h.comment(2, "writer", "/deploy staging").await;
    assert_eq!(h.reactions(2).await, ["eyes", "rocket"]);
    let history = h
        .pipeline
        .state
        .deployments(
            slipway::model::event::ForgeKind::Github,
            &slipway_testkit::harness::repo().id,
            "staging",
        )
        .await
        .unwrap();
    let old = history.iter().find(|d| d.id == "abandoned").unwrap();
    assert_eq!(old.status, DeployStatus::Failed);
    assert!(old.reason.as_deref().unwrap().contains("never finished"));
    assert_eq!(history.last().unwrap().status, DeployStatus::Succeeded);
    let failures =
        h.gh.requests(&format!("{REPO}/deployments/42/statuses"), "POST")
            .await
            .iter()
            .filter(|s| s["state"] == "failure")
            .count();
    assert_eq!(failures, 1, "the forge hears the abandoned deploy failed");
}
