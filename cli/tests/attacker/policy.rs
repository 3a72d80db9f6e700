//! Someone without deploy rights tries to deploy: by loosening the rules in their pull request,
//! from a fork, by pushing a branch, with an approval that should not count, by racing
//! `/ok-to-test`, and by reading what AWS says about the account in a deploy's reply. The rules
//! live on the default branch (`main` here); the pull request's head is another commit.

use std::path::PathBuf;

use slipway::model::event::{CommitSha, PrAction};
use slipway_testkit::github::REPO;
use slipway_testkit::harness::Harness;

/// The default branch's rules: staging for writers; production for admins, with an approval.
const MAIN: &str = "version: 1
build:
  steps:
    - run: \"true\"
environments:
  staging:
    url: https://staging.example.com
  production:
    allow: admin
    require: [approved]
";

/// A pull request's rewrite: production for any writer, no approval, its own deploy steps (which
/// leave `marker` behind if they ever run), and an auto-deploy of its own branch.
fn loosened(marker: &std::path::Path) -> String {
    format!(
        "version: 1
build:
  steps:
    - run: \"true\"
environments:
  staging:
    auto_deploy: my-branch
  production:
    allow: write
    steps:
      - run: touch {}
",
        marker.display()
    )
}

fn marker() -> PathBuf {
    std::env::temp_dir().join(format!("slipway-attack-{}", uuid::Uuid::new_v4()))
}

async fn deployments(h: &Harness) -> usize {
    h.gh.requests(&format!("{REPO}/deployments"), "POST")
        .await
        .len()
}

async fn last_reply(h: &Harness) -> String {
    h.gh.comments(2).await.last().cloned().unwrap_or_default()
}

/// A pull request at `head` (not a fork), opened and built green.
async fn built_pull_request(h: &mut Harness, head: &CommitSha) {
    h.pull_request_head(head, false, 1).await;
    h.pull_request("open", PrAction::Opened, head, false).await;
    h.report_next().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_cannot_loosen_its_own_deploy_rules() {
    let mut h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    let marker = marker();
    h.gh.commit_to_default_branch(&[(".slipway.yml", MAIN)])
        .await;
    let head = h.gh.commit(&[(".slipway.yml", &loosened(&marker))]).await;
    built_pull_request(&mut h, &head).await;

    h.comment(1, "writer", "/deploy production").await;
    assert_eq!(h.reactions(1).await, ["eyes", "confused"]);
    assert!(
        last_reply(&h)
            .await
            .contains("it needs admin access; you have write"),
        "main's allow: {}",
        last_reply(&h).await
    );
    h.comment(2, "admin", "/deploy production").await;
    assert_eq!(h.reactions(2).await, ["eyes", "confused"]);
    assert!(
        last_reply(&h).await.contains("needs an approving review"),
        "main's require: {}",
        last_reply(&h).await
    );
    assert_eq!(deployments(&h).await, 0);
    assert!(
        !marker.exists(),
        "the pull request's deploy steps never ran"
    );
    let comments = h.gh.comments(2).await;
    assert!(
        comments
            .iter()
            .any(|c| c.contains("Those take effect after it is merged")),
        "the pull request is told its rules wait for the merge: {comments:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_rollback_are_refused_on_forks_whoever_asks() {
    let h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", MAIN)])
            .await;
    h.pull_request_head(&sha, true, 1).await;
    for (id, command) in [(1, "/rollback staging"), (2, "/deploy staging")] {
        h.comment(id, "admin", command).await;
        assert_eq!(h.reactions(id).await, ["eyes", "confused"], "{command}");
        let reply = last_reply(&h).await;
        assert!(reply.contains("comes from a fork"), "{command}: {reply}");
    }
    assert_eq!(deployments(&h).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_cannot_deploy_by_lowering_allow() {
    let h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    h.gh.commit_to_default_branch(&[(".slipway.yml", MAIN)])
        .await;
    let lowered = MAIN.replace("  staging:\n", "  staging:\n    allow: read\n");
    let head = h.gh.commit(&[(".slipway.yml", &lowered)]).await;
    h.pull_request_head(&head, false, 1).await;
    h.pull_request("open", PrAction::Opened, &head, false).await;

    h.comment(1, "reader", "/deploy staging").await;
    assert_eq!(deployments(&h).await, 0);
    let reply = last_reply(&h).await;
    assert!(
        reply.contains("below write"),
        "allow below write is a configuration error: {reply}"
    );
    let statuses = h.gh.statuses(&head).await;
    assert_eq!(statuses.last().unwrap().0, "failure", "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_branch_cannot_deploy_itself() {
    let h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    let marker = marker();
    let main =
        h.gh.commit_to_default_branch(&[(".slipway.yml", MAIN)])
            .await;
    let pushed = h.gh.commit(&[(".slipway.yml", &loosened(&marker))]).await;
    h.push("push-1", "my-branch", &main, &pushed).await;
    assert!(
        h.gh.statuses(&pushed).await.is_empty(),
        "main names no auto_deploy branch, so the push builds and deploys nothing"
    );
    assert_eq!(deployments(&h).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_writers_approval_of_the_head_counts() {
    let mut h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    let gated = MAIN.replace("allow: admin", "allow: write");
    let old =
        h.gh.commit_to_default_branch(&[(".slipway.yml", &gated)])
            .await;
    let head = h.gh.commit(&[("README.md", "change\n")]).await;
    built_pull_request(&mut h, &head).await;

    h.reviews(&[("reader", "APPROVED")], &head, 4).await;
    h.comment(1, "writer", "/deploy production").await;
    assert!(
        last_reply(&h).await.contains("needs an approving review"),
        "a reader's approval does not count"
    );
    h.reviews(&[("maintainer", "APPROVED")], &old, 3).await;
    h.comment(2, "writer", "/deploy production").await;
    assert!(
        last_reply(&h).await.contains("needs an approving review"),
        "an approval of an older commit does not count"
    );
    assert_eq!(deployments(&h).await, 0);

    h.reviews(&[("maintainer", "APPROVED")], &head, 2).await;
    h.comment(4, "writer", "/deploy production").await;
    assert_eq!(h.reactions(4).await, ["eyes", "rocket"]);
    assert_eq!(
        deployments(&h).await,
        1,
        "a writer's approval of the head counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_to_test_trusts_only_the_head_the_maintainer_saw() {
    let mut h = Harness::new(crate::SLIPWAY).await;
    let looked_at =
        h.gh.commit_to_default_branch(&[(".slipway.yml", MAIN)])
            .await;
    h.pull_request_head(&looked_at, true, 9).await;
    h.pull_request("open", PrAction::Opened, &looked_at, true)
        .await;
    // The fork pushes new code just before Slipway reads the maintainer's comment.
    let swapped = h.gh.commit(&[("README.md", "evil\n")]).await;
    h.pull_request_head(&swapped, true, 8).await;

    h.comment(1, "maintainer", "/ok-to-test").await;
    assert_eq!(h.reactions(1).await, ["eyes", "confused"]);
    let reply = last_reply(&h).await;
    assert!(
        reply.contains("the head changed after your comment"),
        "{reply}"
    );
    assert!(
        h.gh.statuses(&swapped).await.is_empty(),
        "the swapped code is not built"
    );

    h.comment(
        2,
        "maintainer",
        &format!("/ok-to-test {}", looked_at.short()),
    )
    .await;
    assert_eq!(h.reactions(2).await, ["eyes", "confused"], "not the head");
    assert!(h.gh.statuses(&swapped).await.is_empty());

    h.comment(3, "maintainer", &format!("/ok-to-test {}", swapped.short()))
        .await;
    assert_eq!(
        h.reactions(3).await,
        ["eyes", "rocket"],
        "named, it is trusted"
    );
    h.report_next().await;
    let last = h.gh.statuses(&swapped).await.last().cloned().unwrap();
    assert_eq!(last.0, "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_error_text_never_reaches_the_pull_request() {
    let mut h = Harness::new(crate::SLIPWAY).await;
    h.accept_deployments().await;
    let moto = slipway_testkit::Moto::start();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await;
    h.pipeline.deploy.aws = Some(sdk);
    let lambda = MAIN.replace(
        "    require: [approved]\n",
        "    lambda: { function: no-such-function }\n",
    );
    let head =
        h.gh.commit_to_default_branch(&[(".slipway.yml", &lambda)])
            .await;
    h.pull_request_head(&head, false, 1).await;
    // A green build of the head that pushed an image (as a registry build would have).
    let mut build = slipway_testkit::harness::green_build(&head);
    build.image = Some(slipway::model::image::PublishedImage {
        repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello".into(),
        name: "hello".into(),
        digest: format!("sha256:{}", "a".repeat(64)),
        tags: Vec::new(),
    });
    use slipway::state::StateStore;
    h.pipeline.state.insert_run(&build).await.unwrap();

    h.comment(1, "admin", "/deploy production").await;
    assert_eq!(h.reactions(1).await, ["eyes", "confused"]);
    let comments = h.gh.comments(2).await.join("\n");
    assert!(
        comments.contains("updating the code failed (ResourceNotFoundException)"),
        "the reason, in the user's terms: {comments}"
    );
    // moto's message names the function by ARN, with the account id.
    assert!(!comments.contains("arn:aws:lambda"), "{comments}");
    assert!(!comments.contains(":function:"), "{comments}");
}
