//! Issue 12, finding 8: a webhook secret with a comma in it is one secret, and rotation has its
//! own setting.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use crate::serve_files::start_serve;

const CURRENT: &str = "Str0ngSecret,x";
const PREVIOUS: &str = "0ld-secret-being-retired";

/// `slipway send`'s answer (`202 ...`, `401 ...`) to the pull request event in `fixture`
/// signed with `secret`.
fn send(base: &str, secret: &str, fixture: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["send", "--forge", "github", "--event", "pull_request"])
        .args([
            "--secret",
            secret,
            "--url",
            &format!("{base}/webhooks/github"),
        ])
        .arg(fixture)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_comma_does_not_split_the_secret_and_the_previous_one_still_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = start_serve(
        &data,
        &[
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", CURRENT),
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET_PREVIOUS", PREVIOUS),
        ],
    );
    // Two different events: the same bytes again would be a replay, answered `duplicate`.
    let first = slipway_testkit::fixture_path("github/pull_request.opened.1.json");
    let mut event = slipway_testkit::json_fixture("github/pull_request.opened.1.json");
    event["pull_request"]["head"]["sha"] = "b".repeat(40).into();
    let second = tmp.path().join("second.json");
    std::fs::write(&second, serde_json::to_vec(&event).unwrap()).unwrap();
    for (secret, fixture, want) in [
        ("x", &first, "401 "),
        ("Str0ngSecret", &first, "401 "),
        (CURRENT, &first, "202 "),
        (PREVIOUS, &second, "202 "),
    ] {
        let answer = send(&serve.base, secret, fixture);
        assert!(answer.starts_with(want), "signed with {secret:?}: {answer}");
    }
    // Without SLIPWAY_LINK_KEY, serve made its own link key, readable by its owner only.
    let mode = std::fs::metadata(data.join("link.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
