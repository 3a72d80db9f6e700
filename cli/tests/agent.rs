//! `slipway agent` as CodeBuild runs it (issue #16): with `--echo-log` the step output reaches
//! standard output, which is the build's own log in CloudWatch, as well as the stored log.

use std::process::Command;

#[test]
fn echo_log_copies_the_build_log_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let job = serde_json::json!({
        "run_id": "r1",
        "sha": "a".repeat(40),
        "git_ref": "main",
        "pr": null,
        "steps": [
            { "name": "greet", "run": "echo hello-from-the-step" },
            { "name": "complain", "run": "echo to-stderr >&2" },
        ],
        "env": {},
        "timeout_secs": 60,
        "artifacts": [],
        "artifact_prefix": "",
        "image": null,
        "source_url": null,
    });
    let job_file = dir.path().join("job.json");
    std::fs::write(&job_file, job.to_string()).unwrap();
    let out_dir = dir.path().join("out");
    let run = |echo: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
        command
            .args(["agent", "--job"])
            .arg(&job_file)
            .arg("--workdir")
            .arg(dir.path())
            .arg("--out")
            .arg(&out_dir)
            .env_remove("SLIPWAY_BUCKET")
            .env_remove("SLIPWAY_REGISTRY");
        if echo {
            command.arg("--echo-log");
        }
        command.output().unwrap()
    };

    let echoed = run(true);
    assert!(echoed.status.success(), "{echoed:?}");
    let stdout = String::from_utf8(echoed.stdout).unwrap();
    let stored = std::fs::read_to_string(out_dir.join("log.txt")).unwrap();
    assert!(stored.contains("hello-from-the-step"), "{stored}");
    assert_eq!(
        stdout, stored,
        "standard output carries the whole log, once"
    );

    let quiet = run(false);
    assert!(quiet.status.success());
    assert!(
        quiet.stdout.is_empty(),
        "without --echo-log the log stays in its file"
    );
}
