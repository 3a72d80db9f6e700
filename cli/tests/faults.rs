//! Faults (issue #14): what Slipway promises when things break — every accepted event ends in
//! exactly one final check, nothing is left running, nothing is built twice.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway::model::event::{CommitSha, PrAction};
use slipway::model::status::RunStatus;
use slipway::state::StateStore;
use slipway_testkit::github::FakeGithub;
use slipway_testkit::harness::Harness;
use slipway_testkit::serve::{
    free_port, processes_running, pull_request_file, ServeProcess, SERVE_SECRET,
};
use wiremock::matchers::{body_string_contains, method, path_regex};
use wiremock::{Mock, ResponseTemplate};

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

/// The fake GitHub answers the first `times` matching requests (`verb` on a path matching
/// `path`, with `says` in the body) with `answer`.
async fn fail(
    gh: &FakeGithub,
    verb: &str,
    path: &str,
    says: &str,
    times: u64,
    answer: ResponseTemplate,
) {
    Mock::given(method(verb))
        .and(path_regex(path))
        .and(body_string_contains(says))
        .respond_with(answer)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&gh.server)
        .await;
}

const PASSING: &str =
    "version: 1\nbuild:\n  steps:\n    - name: test\n      run: test -f README.md\n";

/// Every run finished, and `sha`'s statuses end in `last`, after `posts` requests for a final
/// state (the fake records refused attempts too: one answered, the others refused).
async fn settled(h: &Harness, sha: &CommitSha, last: &str, posts: usize) {
    assert!(
        h.pipeline.state.unfinished_runs().await.unwrap().is_empty(),
        "a run is left running"
    );
    let states = states(&h.gh, sha).await;
    // Answered requests only count: the fake records the failed attempts too.
    let finals: Vec<&String> = states.iter().filter(|s| *s != "pending").collect();
    assert_eq!(finals.len(), posts, "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some(last), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forge_5xx_and_429_on_the_way_still_end_in_one_final_check_and_one_build() {
    let mut h = Harness::new(SLIPWAY).await;
    let sha =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "hi\n")])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    let statuses = r"/statuses/";
    fail(
        &h.gh,
        "POST",
        statuses,
        "Building",
        1,
        ResponseTemplate::new(502),
    )
    .await;
    let limited = ResponseTemplate::new(429).insert_header("retry-after", "1");
    fail(
        &h.gh,
        "POST",
        r"/issues/2/comments$",
        "slipway:build",
        1,
        limited,
    )
    .await;

    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    h.report_next().await;
    settled(&h, &sha, "success", 1).await;
    assert_eq!(
        h.gh.comments(2).await.len(),
        2,
        "one refused by the rate limit, one posted"
    );

    // The same delivery again (SQS and the local queue deliver at least once): no second build.
    let before = states(&h.gh, &sha).await.len();
    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    assert_eq!(states(&h.gh, &sha).await.len(), before, "built twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_check_the_forge_refused_is_posted_by_the_next_report_not_lost() {
    let mut h = Harness::new(SLIPWAY).await;
    let sha =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "hi\n")])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    // Every attempt of the first report's final status fails (two attempts per call here).
    fail(
        &h.gh,
        "POST",
        r"/statuses/",
        "Build passed",
        2,
        ResponseTemplate::new(503),
    )
    .await;

    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    let done = h.completions.recv().await.unwrap();
    let first = slipway::app::local::report_completion(&h.pipeline, &done).await;
    assert!(first.is_err(), "the forge refused the final check");
    let run = h
        .pipeline
        .state
        .get_run(&done.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        run.status,
        RunStatus::Running,
        "not finished while the check is pending"
    );

    // The report is retried (serve's reporter, EventBridge's redelivery): now it lands.
    slipway::app::local::report_completion(&h.pipeline, &done)
        .await
        .unwrap();
    settled(&h, &sha, "success", 3).await;
    // A third copy changes nothing.
    let before = states(&h.gh, &sha).await.len();
    slipway::app::local::report_completion(&h.pipeline, &done)
        .await
        .unwrap();
    assert_eq!(states(&h.gh, &sha).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_writer_never_reopens_a_finished_run() {
    let mut h = Harness::new(SLIPWAY).await;
    let sha =
        h.gh.commit(&[(".slipway.yml", PASSING), ("README.md", "hi\n")])
            .await;
    h.pull_request_head(&sha, false, 1).await;
    h.pull_request("d-1", PrAction::Opened, &sha, false).await;
    let id = h.report_next().await;
    let finished = h.pipeline.state.get_run(&id).await.unwrap().unwrap();
    assert_eq!(finished.status, RunStatus::Succeeded);

    // A writer that read the run while it was running (a slow start, a sweep) comes late.
    let mut stale = finished.clone();
    stale.status = RunStatus::Lost;
    assert!(!h
        .pipeline
        .state
        .save_run(&stale, RunStatus::Running)
        .await
        .unwrap());
    assert_eq!(
        h.pipeline
            .sweep(std::time::SystemTime::now() + Duration::from_secs(86_400))
            .await
            .unwrap(),
        0
    );
    let after = h.pipeline.state.get_run(&id).await.unwrap().unwrap();
    assert_eq!(after, finished);
    settled(&h, &sha, "success", 1).await;
}

/// Issue #15: every 202 is durable. Deliveries sent by 16 clients at once while `serve` is
/// killed with `kill -9` mid-burst: after a restart each answered delivery is a duplicate (its
/// record survived) and each is queued exactly once; none of the rest was queued twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_answered_202_survives_kill_9_mid_burst() {
    let gh = FakeGithub::start().await;
    let data = gh.tmp.path().join("data");
    let binary = Path::new(SLIPWAY);
    // A forge that never answers: dispatch fails, so nothing is taken off the queue.
    let envs = [("SLIPWAY_GITHUB_API_URL", "http://127.0.0.1:9")];
    let serve = ServeProcess::start(binary, &gh, &data, free_port(), &envs);
    let url = format!("http://127.0.0.1:{}/webhooks/github", serve.port);
    let template: serde_json::Value = serde_json::from_slice(&slipway_testkit::fixture(
        "github/pull_request.opened.1.json",
    ))
    .unwrap();
    let client = reqwest::Client::new();
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..16 {
        let (client, url, accepted) = (client.clone(), url.clone(), accepted.clone());
        let mut doc = template.clone();
        senders.spawn(async move {
            for n in 0.. {
                let id = format!("burst-{sender}-{n}");
                doc["pull_request"]["title"] = id.clone().into();
                let body = serde_json::to_vec(&doc).unwrap();
                let signature = slipway::webhook::github::signature(SERVE_SECRET.as_bytes(), &body);
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", &id)
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(answer) if answer.status() == 202 => {
                        accepted.lock().unwrap().push((id, doc.clone()))
                    }
                    Ok(answer) => panic!("{id}: {}", answer.status()),
                    Err(_) => return, // the server is gone
                }
            }
        });
    }
    while accepted.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill9();
    senders.join_all().await;
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());

    let serve = ServeProcess::start(binary, &gh, &data, free_port(), &envs);
    let url = format!("http://127.0.0.1:{}/webhooks/github", serve.port);
    for (id, doc) in accepted.iter().step_by(10) {
        let body = serde_json::to_vec(doc).unwrap();
        let answer: serde_json::Value = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", id)
            .header(
                "x-hub-signature-256",
                slipway::webhook::github::signature(SERVE_SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "duplicate", "{id}: {answer}");
    }
    drop(serve);

    // Read the queue as the next start would, every message however hidden.
    let queue = slipway::queue::local::LocalQueue::open(&data.join("slipway.db")).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(365 * 24 * 3600);
    let mut queued = std::collections::HashMap::<String, usize>::new();
    while let Some(message) = queue
        .receive(later, Duration::from_secs(3600))
        .await
        .unwrap()
    {
        *queued.entry(message.event.delivery.0).or_default() += 1;
        queue.ack(message.seq).await.unwrap();
    }
    assert!(
        queued.values().all(|&times| times == 1),
        "queued twice: {queued:?}"
    );
    let lost: Vec<_> = accepted
        .iter()
        .filter(|(id, _)| !queued.contains_key(id))
        .map(|(id, _)| id)
        .collect();
    assert!(
        lost.is_empty(),
        "answered 202 but lost: {lost:?} of {}",
        accepted.len()
    );
    assert!(queue.dead_letters().await.unwrap().is_empty());
}

/// Issue #15: a parked event is reported, with its delivery and why, and `slipway queue` exits
/// 1 while any is parked (for a monitor to notice).
#[tokio::test]
async fn slipway_queue_reports_parked_events_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let queue = slipway::queue::local::LocalQueue::open(&dir.path().join("slipway.db")).unwrap();
    let report = || {
        std::process::Command::new(SLIPWAY)
            .args(["queue", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let empty = report();
    assert!(empty.status.success());
    assert_eq!(
        String::from_utf8_lossy(&empty.stdout),
        "0 event(s) waiting or in progress, 0 parked\n"
    );

    use slipway::model::event::QueuedEvent;
    for delivery in ["given-up", "kept-waiting"] {
        let event = QueuedEvent::ping(delivery);
        slipway::queue::Queue::enqueue(&queue, &event)
            .await
            .unwrap();
    }
    let now = std::time::SystemTime::now();
    let first = queue
        .receive(now, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    queue
        .park(first.seq, "dispatch failed 5 times: the forge refused", now)
        .await
        .unwrap();
    let parked = report();
    let text = String::from_utf8_lossy(&parked.stdout);
    assert_eq!(parked.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("1 event(s) waiting or in progress, 1 parked\n"),
        "{text}"
    );
    assert!(
        text.contains("given-up ping, 1 attempt(s): dispatch failed 5 times: the forge refused"),
        "{text}"
    );
}
