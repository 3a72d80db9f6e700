//! `slipway serve` and `slipway send`, run as an operator would, against a fake GitHub: a signed
//! pull request event becomes a pending check, then a final check and the sticky comment.

use std::process::Command;
use std::time::{Duration, Instant};

use slipway_testkit::github::FakeGithub;
use slipway_testkit::serve::{free_port, ServeProcess, SERVE_SECRET as SECRET};
const CONFIG: &str = "version: 1\nbuild:\n  steps:\n    - name: test\n      run: test -f README.md\n  artifacts:\n    - README.md\n";

fn send(port: u16, file: &std::path::Path, secret: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "send",
            "--forge",
            "github",
            "--event",
            "pull_request",
            "--secret",
            secret,
        ])
        .args(["--url", &format!("http://127.0.0.1:{port}/webhooks/github")])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_pull_request_event_is_built_and_reported() {
    let gh = FakeGithub::start().await;
    let sha = gh
        .commit(&[(".slipway.yml", CONFIG), ("README.md", "hi\n")])
        .await;
    let mut payload = slipway_testkit::json_fixture("github/pull_request.opened.1.json");
    payload["pull_request"]["head"]["sha"] = sha.as_str().into();
    let file = gh.tmp.path().join("event.json");
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();

    let port = free_port();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_slipway"));
    let _serve = ServeProcess::start(binary, &gh, &gh.tmp.path().join("data"), port, &[]);
    let (ok, answer) = send(port, &file, SECRET);
    assert!(ok, "{answer}");
    assert!(answer.starts_with("202 "), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statuses = gh.statuses(&sha).await;
        if statuses.iter().any(|(state, _)| state != "pending") {
            let states: Vec<&str> = statuses.iter().map(|(s, _)| s.as_str()).collect();
            assert_eq!(states, ["pending", "pending", "success"], "{statuses:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no final check: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The sticky comment follows the final check: wait for it too.
    let mut comments = gh.comments(2).await;
    while comments.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        comments = gh.comments(2).await;
    }
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("Build passed"), "{}", comments[0]);

    // The comment links the run's page (a signed link), which serve shows.
    let base = format!("http://127.0.0.1:{port}/runs/");
    let link = signed_link(&comments[0], &base);
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Build passed") && html.contains("==&gt; [1/1] test"),
        "{html}"
    );
    // The artifact link the agent signed (with the key serve generated) opens, as a download.
    let link = signed_link(&comments[0], &format!("http://127.0.0.1:{port}/artifacts/"));
    let artifact = reqwest::get(&link).await.unwrap();
    assert_eq!(artifact.status(), 200, "{link}");
    assert_eq!(
        artifact.headers()["content-disposition"],
        "attachment; filename=\"README.md\""
    );
    assert_eq!(artifact.text().await.unwrap(), "hi\n");
    let missing = reqwest::get(format!("{base}..%2F..%2Fetc")).await.unwrap();
    assert_eq!(missing.status(), 404);

    // Signed with the wrong secret: refused, and `send` says so with its exit code.
    let (ok, answer) = send(port, &file, "wrong-secret");
    assert!(!ok);
    assert!(answer.starts_with("401 "), "{answer}");
}

/// The first link in `text` starting with `prefix`; it must carry a signature.
fn signed_link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | '"' | '<' | '>'))
        .collect();
    assert!(
        link.contains("?expires=") && link.contains("&sig="),
        "{link}"
    );
    link
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_directory_is_refused_saying_why() {
    let gh = FakeGithub::start().await;
    let data = gh.tmp.path().join("data");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_slipway"));
    let first = ServeProcess::start(binary, &gh, &data, free_port(), &[]);
    // The second would admit deliveries the first has already seen: it stops at start.
    let second = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(&data)
        .env_clear()
        .env("SLIPWAY_GITHUB_WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(said.contains("one process at a time"), "{said}");
    // Once the first is gone (however it ended), the directory is free again.
    first.kill9();
    let port = free_port();
    let _again = ServeProcess::start(binary, &gh, &data, port, &[]);
    let file = gh.tmp.path().join("event.json");
    let payload = slipway_testkit::json_fixture("github/pull_request.opened.1.json");
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();
    let (ok, answer) = send(port, &file, SECRET);
    assert!(ok && answer.starts_with("202 "), "{answer}");
}
