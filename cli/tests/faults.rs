//! Faults (issue #14): what Slipway promises when things break — every accepted event ends in
//! exactly one final check, nothing is left running, nothing is built twice.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway::model::event::CommitSha;
use slipway_testkit::github::FakeGithub;
use slipway_testkit::serve::{free_port, processes_running, pull_request_file, ServeProcess};

const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");

/// A build whose step leaves a background process behind and then waits: the markers are
/// unique command lines to look for in `/proc`.
const SLOW: &str =
    "version: 1\nbuild:\n  steps:\n    - name: slow\n      run: sleep 3117 & sleep 3118\n";
const QUICK: &str = "version: 1\nbuild:\n  steps:\n    - name: quick\n      run: true\n";

/// The states of `sha`'s statuses, oldest first.
async fn states(gh: &FakeGithub, sha: &CommitSha) -> Vec<String> {
    gh.statuses(sha).await.into_iter().map(|(s, _)| s).collect()
}

/// The states of `sha`'s statuses once one is final; fails after `limit`.
async fn until_final(gh: &FakeGithub, sha: &CommitSha, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let states = states(gh, sha).await;
        if states.iter().any(|s| s != "pending") {
            return states;
        }
        assert!(
            Instant::now() < deadline,
            "no final check for {sha}: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for_process(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_running(needle).is_empty() {
        assert!(Instant::now() < deadline, "{needle} never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_interrupted_by_kill_9_is_reaped_and_finished_after_restart() {
    let gh = FakeGithub::start().await;
    let slow = gh.commit(&[(".slipway.yml", SLOW)]).await;
    let quick = gh.commit(&[(".slipway.yml", QUICK)]).await;
    let data = gh.tmp.path().join("data");
    let slow_event = pull_request_file(gh.tmp.path(), slow.as_str(), 2);
    let quick_event = pull_request_file(gh.tmp.path(), quick.as_str(), 3);
    let binary = Path::new(SLIPWAY);
    // Unsandboxed, a step's background process outlives the step's own shell: the hardest
    // case, found again only through the build's session.
    let envs = [("SLIPWAY_SANDBOX", "off")];

    let port = free_port();
    let serve = ServeProcess::start(binary, &gh, &data, port, &envs);
    let answer = serve.send(binary, "pull_request", &slow_event);
    assert!(answer.starts_with("202 "), "{answer}");
    wait_for_process("sleep 3117");
    wait_for_process("sleep 3118");
    let answer = serve.send(binary, "pull_request", &quick_event);
    assert!(answer.starts_with("202 "), "{answer}");
    serve.kill9();

    let serve = ServeProcess::start(binary, &gh, &data, port, &envs);
    until_final(&gh, &slow, Duration::from_secs(60)).await;
    let quick_states = until_final(&gh, &quick, Duration::from_secs(60)).await;
    assert!(
        processes_running("sleep 3117").is_empty() && processes_running("sleep 3118").is_empty(),
        "a process of the interrupted build is still alive"
    );
    // Give a wrongly repeated build time to show itself, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let slow_states = states(&gh, &slow).await;
    let quick_after = states(&gh, &quick).await;
    let final_count = |states: &[String]| states.iter().filter(|s| *s != "pending").count();
    assert_eq!(final_count(&slow_states), 1, "{slow_states:?}");
    assert_eq!(slow_states.last().unwrap(), "failure", "{slow_states:?}");
    let seen = format!("{quick_after:?} (first seen {quick_states:?})");
    assert_eq!(final_count(&quick_after), 1, "{seen}");
    assert_eq!(quick_after.last().unwrap(), "success", "{seen}");
    // The quick build ran once: one "Building" status before its final one.
    let statuses = gh.statuses(&quick).await;
    let building = statuses.iter().filter(|(_, d)| d == "Building").count();
    assert_eq!(building, 1, "{statuses:?}");
    drop(serve);
}
