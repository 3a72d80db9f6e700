//! ChatOps over a fake GitHub with real local builds: the permission matrix, the fork flow,
//! bots ignored, and `/cancel` of a running build.

use std::time::Duration;

use slipway::model::event::PrAction;
use slipway_testkit::harness::Harness;

const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");
const CONFIG: &str = "version: 1\nbuild:\n  steps:\n    - run: \"true\"\nenvironments:\n  staging:\n    url: https://staging.example.com\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_matrix() {
    let mut h = Harness::new(SLIPWAY).await;
    let sha =
        h.gh.commit_to_default_branch(&[(".slipway.yml", CONFIG)])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    h.pull_request("open", PrAction::Opened, &sha, false).await;
    let levels = [
        "nobody",
        "reader",
        "triager",
        "writer",
        "maintainer",
        "admin",
    ];
    let commands = [
        "/build",
        "/cancel",
        "/status",
        "/help",
        "/ok-to-test",
        "/deploy staging",
    ];
    let mut id = 100;
    let mut builds = 1;
    for (level, login) in levels.iter().enumerate() {
        let writer = level >= 3;
        for command in commands {
            id += 1;
            h.comment(id, login, command).await;
            let allowed = match command {
                "/build" | "/cancel" | "/ok-to-test" => writer,
                "/status" | "/help" => true,
                _ => false, // the build has not finished, or too little permission
            };
            let expected = if allowed {
                ["eyes", "rocket"]
            } else {
                ["eyes", "confused"]
            };
            assert_eq!(h.reactions(id).await, expected, "{login} {command}");
            if allowed && (command == "/build" || command == "/ok-to-test") {
                builds += 1;
            }
        }
    }
    // The pull request's author may /build and /cancel without write access.
    h.comment(900, "Codertocat", "/build").await;
    assert_eq!(h.reactions(900).await, ["eyes", "rocket"]);
    builds += 1;
    for _ in 0..builds {
        h.report_next().await;
    }
    let replies = h.gh.comments(2).await;
    assert!(
        replies.iter().any(|r| r.contains(
            "`build` needs to be the author or have write access; you have read access."
        )),
        "{replies:?}"
    );
    assert!(
        replies.iter().any(|r| r.contains(
            "Not deploying to `staging`: it needs write access; you have read"
        )),
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.contains("Not deploying to `staging`: this commit's build")),
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.contains("| `/deploy <environment>` |")
                && r.contains("| `staging` | write |")),
        "help lists commands and environments"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_builds_only_after_ok_to_test_for_that_head() {
    let mut h = Harness::new(SLIPWAY).await;
    let first = h.gh.commit(&[(".slipway.yml", CONFIG)]).await;
    h.pull_request_head(&first, true, 2).await;
    h.pull_request("open", PrAction::Opened, &first, true).await;
    assert_eq!(
        h.gh.statuses(&first).await,
        [("pending".to_owned(), "Waiting for /ok-to-test".to_owned())]
    );

    h.comment(1, "Codertocat", "/build").await;
    assert_eq!(
        h.reactions(1).await,
        ["eyes", "confused"],
        "the fork's author cannot trust their own code"
    );

    h.comment(2, "maintainer", "/ok-to-test").await;
    assert_eq!(h.reactions(2).await, ["eyes", "rocket"]);
    h.report_next().await;
    let states: Vec<String> =
        h.gh.statuses(&first)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
    assert_eq!(states, ["pending", "pending", "pending", "success"]);

    // A new push is not trusted by the old /ok-to-test.
    let second = h.gh.commit(&[("README.md", "more\n")]).await;
    h.pull_request_head(&second, true, 1).await;
    h.pull_request("push", PrAction::Pushed, &second, true)
        .await;
    assert_eq!(
        h.gh.statuses(&second).await,
        [("pending".to_owned(), "Waiting for /ok-to-test".to_owned())]
    );
    h.comment(3, "Codertocat", "/build").await;
    assert_eq!(h.reactions(3).await, ["eyes", "confused"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_by_slipway_and_without_commands_are_ignored() {
    let h = Harness::new(SLIPWAY).await;
    let sha = h.gh.commit(&[(".slipway.yml", CONFIG)]).await;
    h.pull_request_head(&sha, false, 1).await;
    h.comment(1, "slipway-bot", "/build").await;
    h.comment(2, "writer", "Looks good, /build later maybe")
        .await;
    h.comment(3, "writer", "```\n/build\n```").await;
    for id in 1..=3 {
        assert!(h.reactions(id).await.is_empty(), "comment {id}");
    }
    assert!(h.gh.statuses(&sha).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discussion_costs_no_forge_call() {
    let h = Harness::new(SLIPWAY).await;
    let sha = h.gh.commit(&[(".slipway.yml", CONFIG)]).await;
    h.pull_request_head(&sha, false, 1).await;
    let before = h.gh.request_count().await;
    let discussion = [
        "- first point\n- second point",
        "> /deploy production\n\nwhy?",
        "# Plan\n\n* step one\n\n```\n/build\n```",
        "/lgtm",
    ];
    for (id, body) in (10..).zip(discussion) {
        h.comment(id, "writer", body).await;
    }
    assert_eq!(
        h.gh.request_count().await,
        before,
        "a comment without a command was read from the forge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_build() {
    let mut h = Harness::new(SLIPWAY).await;
    let slow = "version: 1\nbuild:\n  steps:\n    - run: sleep 30\n";
    let sha = h.gh.commit(&[(".slipway.yml", slow)]).await;
    h.pull_request_head(&sha, false, 1).await;
    h.pull_request("open", PrAction::Opened, &sha, false).await;
    let started = std::time::Instant::now();
    h.comment(7, "Codertocat", "/cancel").await;
    assert_eq!(h.reactions(7).await, ["eyes", "rocket"]);
    h.report_next().await; // the cancelled build ends; its report changes nothing
    assert!(started.elapsed() < Duration::from_secs(20));
    let statuses = h.gh.statuses(&sha).await;
    let last = statuses.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str()),
        ("error", "Cancelled with /cancel")
    );
    assert!(h
        .gh
        .comments(2)
        .await
        .iter()
        .any(|c| c.contains("Cancelled 1 build.")));
}
