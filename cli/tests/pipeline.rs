//! dispatch → local runner (the real `slipway agent` binary) → report, end to end, building real
//! temporary git repositories, against a fake GitHub (wiremock) that records what it is told.

use std::time::{Duration, SystemTime};

use slipway::model::event::RunId;
use slipway::model::event::{CommitSha, ForgeKind, PrAction, PrNumber, Repo, RepoId};
use slipway::model::status::RunStatus;
use slipway::state::StateStore;
use slipway_testkit::harness::Harness;

const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");

const PASSING: &str = "version: 1\nbuild:\n  steps:\n    - name: test\n      run: test -f README.md\n    - name: package\n      run: echo \"built $SLIPWAY_SHA\"\n";

fn state(pairs: &[(String, String)]) -> Vec<&str> {
    pairs.iter().map(|(s, _)| s.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_build_ends_in_success_with_one_sticky_comment() {
    let mut h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let sha =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "hello\n")])
            .await;
    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    let run = h.report_next().await;

    let statuses = h.gh.statuses(&sha).await;
    assert_eq!(
        state(&statuses),
        ["pending", "pending", "success"],
        "{statuses:?}"
    );
    assert_eq!(statuses[0].1, "Build queued");
    assert_eq!(statuses[1].1, "Building");
    assert_eq!(statuses[2].1, "Build passed");
    let comments = h.gh.comments(2).await;
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].starts_with("<!-- slipway:build -->"),
        "{}",
        comments[0]
    );
    assert!(
        comments[0].contains("Build passed") && comments[0].contains("| package |"),
        "{}",
        comments[0]
    );
    assert!(comments[0].contains(&format!("http://slipway.test/runs/{run}")));
    let stored = h.pipeline.state.get_run(&run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_build_ends_in_failure_naming_the_step() {
    let mut h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let config = "version: 1\nbuild:\n  steps:\n    - name: unit tests\n      run: \"echo 'assertion failed: 1 == 2'; exit 1\"\n    - run: echo never\n";
    let sha = h.gh.commit(&[(".slipway.yml", config)]).await;
    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    h.report_next().await;
    let statuses = h.gh.statuses(&sha).await;
    assert_eq!(state(&statuses), ["pending", "pending", "failure"]);
    assert_eq!(statuses[2].1, "Build failed at step \"unit tests\"");
    let comment = &h.gh.comments(2).await[0];
    assert!(
        comment.contains("❌ exit 1") && comment.contains("⏭️ skipped"),
        "{comment}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_past_its_timeout_ends_timed_out() {
    let mut h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let config = "version: 1\nbuild:\n  timeout: 1s\n  steps:\n    - run: sleep 30\n";
    let sha = h.gh.commit(&[(".slipway.yml", config)]).await;
    let started = std::time::Instant::now();
    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    h.report_next().await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let statuses = h.gh.statuses(&sha).await;
    assert_eq!(state(&statuses), ["pending", "pending", "failure"]);
    assert_eq!(statuses[2].1, "Build timed out after 1s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_push_cancels_the_superseded_build() {
    let mut h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let slow = "version: 1\nbuild:\n  steps:\n    - run: sleep 30\n";
    let old = h.gh.commit(&[(".slipway.yml", slow)]).await;
    h.pull_request("d-1", PrAction::Opened, &old, false).await;
    let new =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "x\n")])
            .await;
    let started = std::time::Instant::now();
    h.pull_request("d-2", PrAction::Pushed, &new, false).await;
    h.report_next().await;
    h.report_next().await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the slow build was stopped"
    );

    let old_statuses = h.gh.statuses(&old).await;
    assert_eq!(
        state(&old_statuses),
        ["pending", "pending", "error"],
        "{old_statuses:?}"
    );
    assert_eq!(old_statuses[2].1, "Cancelled: superseded by a newer push");
    let new_statuses = h.gh.statuses(&new).await;
    assert_eq!(state(&new_statuses), ["pending", "pending", "success"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_starts_one_build() {
    let mut h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let sha =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "x\n")])
            .await;
    let event = h.pull_request_event("same-delivery", PrAction::Opened, &sha, false);
    h.pipeline.dispatch(&event).await.unwrap();
    h.pipeline.dispatch(&event).await.unwrap();
    h.report_next().await;
    assert!(
        tokio::time::timeout(Duration::from_secs(2), h.completions.recv())
            .await
            .is_err(),
        "no second build"
    );
    assert_eq!(
        state(&h.gh.statuses(&sha).await),
        ["pending", "pending", "success"]
    );
    let tarballs = h.gh.server.received_requests().await.unwrap();
    let downloads = tarballs
        .iter()
        .filter(|r| r.url.path().contains("/tarball/"))
        .count();
    assert_eq!(downloads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_configs_and_untrusted_forks_get_a_check_that_says_why() {
    let h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let broken =
        h.gh.commit(&[(".slipway.yml", "version: 1\nbuild:\n  stepz: []\n")])
            .await;
    h.pull_request("d-1", PrAction::Opened, &broken, false)
        .await;
    let statuses = h.gh.statuses(&broken).await;
    assert_eq!(
        statuses,
        [("failure".to_owned(), "Invalid .slipway.yml".to_owned())]
    );

    let fork = h.gh.commit(&[(".slipway.yml", PASSING)]).await;
    h.pull_request("d-2", PrAction::Opened, &fork, true).await;
    let statuses = h.gh.statuses(&fork).await;
    assert_eq!(
        statuses,
        [("pending".to_owned(), "Waiting for /ok-to-test".to_owned())]
    );

    std::fs::remove_file(h.gh.git.join(".slipway.yml")).unwrap();
    let silent = h.gh.commit(&[("README.md", "no config here\n")]).await;
    h.pull_request("d-3", PrAction::Opened, &silent, false)
        .await;
    assert!(
        h.gh.statuses(&silent).await.is_empty(),
        "no config, no noise"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_fails_a_build_that_never_reported() {
    let h = Harness::with_public_url(SLIPWAY, "http://slipway.test").await;
    let sha = h.gh.commit(&[(".slipway.yml", PASSING)]).await;
    let mut run = lost_run(&sha);
    h.pipeline.state.insert_run(&run).await.unwrap();
    assert_eq!(h.pipeline.sweep(SystemTime::now()).await.unwrap(), 1);
    let statuses = h.gh.statuses(&sha).await;
    assert_eq!(
        statuses,
        [(
            "failure".to_owned(),
            "Build lost — comment /build to retry".to_owned()
        )]
    );
    run = h.pipeline.state.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Lost);
    assert_eq!(
        h.pipeline.sweep(SystemTime::now()).await.unwrap(),
        0,
        "swept once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forge_that_refuses_never_blocks_the_sweep() {
    let h = Harness::new(SLIPWAY).await;
    let sha = h.gh.commit(&[(".slipway.yml", PASSING)]).await;
    // Older, so first in every sweep: a repository the fake GitHub answers 404 for.
    let mut gone = lost_run(&sha);
    gone.id = RunId("gone-run".into());
    gone.repo.full_name = "deleted/repository".into();
    gone.created_at -= 60;
    let lost = lost_run(&sha);
    h.pipeline.state.insert_run(&gone).await.unwrap();
    h.pipeline.state.insert_run(&lost).await.unwrap();

    assert_eq!(h.pipeline.sweep(SystemTime::now()).await.unwrap(), 1);
    let finished = h.pipeline.state.get_run(&lost.id).await.unwrap().unwrap();
    assert_eq!(finished.status, RunStatus::Lost);
    assert_eq!(
        h.gh.statuses(&sha).await.len(),
        1,
        "the reachable run got its check"
    );
    let refused = h.pipeline.state.get_run(&gone.id).await.unwrap().unwrap();
    assert_eq!(
        (refused.status, refused.sweep_attempts),
        (RunStatus::Running, 1)
    );

    for _ in 2..=slipway::app::pipeline::SWEEP_ATTEMPTS {
        assert_eq!(h.pipeline.sweep(SystemTime::now()).await.unwrap(), 0);
    }
    let abandoned = h.pipeline.state.get_run(&gone.id).await.unwrap().unwrap();
    assert_eq!(abandoned.status, RunStatus::Lost);
    assert!(abandoned.finished_at.is_some());
    assert!(h.pipeline.state.unfinished_runs().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_with_many_artifacts_keeps_its_run_small() {
    use slipway::model::artifact::StoredFile;
    use slipway::model::job::{BuildResult, PublishedArtifact};
    let h = Harness::new(SLIPWAY).await;
    let sha = h.gh.commit(&[(".slipway.yml", PASSING)]).await;
    let run = lost_run(&sha);
    h.pipeline.state.insert_run(&run).await.unwrap();
    let artifacts = (0..500)
        .map(|i| PublishedArtifact {
            file: StoredFile {
                path: format!("dist/part-{i:03}.bin"),
                key: format!("artifacts/x/dist/part-{i:03}.bin"),
                size: 1,
                sha256: "e".repeat(64),
                content_type: "application/octet-stream".into(),
            },
            link: Some(format!("https://example.com/{}", "x".repeat(1000))),
        })
        .collect();
    let result = BuildResult {
        run_id: run.id.clone(),
        status: RunStatus::Succeeded,
        steps: Vec::new(),
        duration_ms: 1,
        artifacts,
        image: None,
    };
    let outcome = slipway::app::pipeline::Outcome {
        result: Some(result),
        runner_status: None,
        log_tail: None,
    };
    h.pipeline.report(&run.id, outcome).await.unwrap();
    let stored = h.pipeline.state.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(
        stored.artifacts.len(),
        slipway::model::run::ARTIFACTS_ON_RUN
    );
    assert_eq!(stored.artifact_count, 500);
    let size = serde_json::to_vec(&stored).unwrap().len();
    assert!(
        size < 100_000,
        "a run of {size} bytes nears DynamoDB's 400 KB item"
    );
}

fn lost_run(sha: &CommitSha) -> slipway::model::run::Run {
    slipway::model::run::Run {
        id: RunId("lost-run".into()),
        forge: ForgeKind::Github,
        repo: Repo {
            id: RepoId("186853002".into()),
            full_name: "Codertocat/Hello-World".into(),
            web_url: String::new(),
            clone_url: String::new(),
        },
        installation_id: None,
        sha: sha.clone(),
        git_ref: "changes".into(),
        pr: Some(PrNumber(2)),
        trigger: slipway::model::status::Trigger::PullRequest,
        check_name: "slipway/build".into(),
        check_id: None,
        status: RunStatus::Running,
        cancel_reason: None,
        created_at: 1_000,
        finished_at: None,
        timeout_secs: 60,
        runner_ref: Some("codebuild:gone".into()),
        artifacts: Vec::new(),
        image: None,
        deployment: None,
        policy_changed: false,
        sweep_attempts: 0,
        actor: None,
        artifact_count: 0,
    }
}
