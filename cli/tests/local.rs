//! `slipway run` and `slipway comment` on one machine, as a newcomer would use them.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::Digest;

fn slipway(args: &[&str], data_dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example() -> String {
    slipway_testkit::workspace_path("examples/hello-service")
        .display()
        .to_string()
}

/// A plain directory (not a git repository) with these files.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

#[test]
fn the_example_builds_and_reports_as_json() {
    let data = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = slipway(&["run", "--repo", &example(), "--json"], data.path());
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["status"], "succeeded");
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.last().unwrap()["name"], "slipway/build");
    assert_eq!(checks.last().unwrap()["state"], "success");
    let steps: Vec<&str> = doc["result"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["test", "package", "build image", "store artifacts"]);
    // The image is in the layout under the data directory, tagged for the commit.
    let image = &doc["result"]["image"];
    let digest = image["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{image}");
    let index: Value = serde_json::from_slice(
        &std::fs::read(data.path().join("images/hello-service/index.json")).unwrap(),
    )
    .unwrap();
    let tagged: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["digest"] == digest)
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(tagged.iter().any(|t| t.starts_with("sha-")), "{tagged:?}");
    assert!(tagged.contains(&"pr-1"), "{tagged:?}");
    assert!(doc["comment"].as_str().unwrap().contains("Build passed"));
    let log = std::fs::read_to_string(doc["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("2 tests passed"), "{log}");

    // The packaged artifact is stored, with the digest of its bytes.
    let artifacts = doc["result"]["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1);
    let artifact = &artifacts[0];
    assert!(artifact["path"]
        .as_str()
        .unwrap()
        .starts_with("dist/hello-service-"));
    let stored = data
        .path()
        .join("artifacts")
        .join(artifact["key"].as_str().unwrap());
    let bytes = std::fs::read(stored).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    assert_eq!(artifact["sha256"], hex::encode(digest));
    assert_eq!(artifact["size"], bytes.len());
}

#[test]
fn the_summary_shows_progress_steps_and_the_comment() {
    let data = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = slipway(&["run", "--repo", &example()], data.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("==> [1/2] test") && stderr.contains("<== passed"),
        "{stderr}"
    );
    assert!(
        stdout.contains("slipway/build: success — Build passed"),
        "{stdout}"
    );
    assert!(stdout.contains("The pull request comment:"), "{stdout}");
}

#[test]
fn a_failing_build_exits_1_and_bad_configs_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let failing = project(&[(
        ".slipway.yml",
        "version: 1\nbuild:\n  steps:\n    - run: exit 4\n",
    )]);
    let (code, stdout, _) = slipway(
        &["run", "--repo", failing.path().to_str().unwrap()],
        data.path(),
    );
    assert_eq!(code, 1);
    assert!(stdout.contains("slipway/build: failure"), "{stdout}");

    let broken = project(&[(".slipway.yml", "version: 1\nbuild:\n  steps: []\n")]);
    let (code, _, stderr) = slipway(
        &["run", "--repo", broken.path().to_str().unwrap()],
        data.path(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains(".slipway.yml:3:"), "{stderr}");

    let none = project(&[("README.md", "hi")]);
    let (code, _, stderr) = slipway(
        &["run", "--repo", none.path().to_str().unwrap()],
        data.path(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("nothing to build"), "{stderr}");
}

#[test]
fn chatops_on_the_local_forge() {
    let data = tempfile::tempdir().unwrap();
    let repo = example();
    let (code, stdout, stderr) = slipway(
        &["comment", "--repo", &repo, "--json", "/build"],
        data.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["reactions"], serde_json::json!(["eyes", "rocket"]));

    let (code, stdout, stderr) = slipway(
        &["comment", "--repo", &repo, "--json", "/deploy staging"],
        data.path(),
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["reactions"], serde_json::json!(["eyes", "rocket"]));
    let deployment = doc["deployments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(deployment["environment"], "staging");
    assert_eq!(deployment["state"], "success");
    assert_eq!(deployment["url"], "https://staging.hello.example");
    assert!(
        doc["replies"][0]
            .as_str()
            .unwrap()
            .contains("Deployed to `staging`"),
        "{doc}"
    );

    let (code, stdout, _) = slipway(
        &[
            "comment",
            "--repo",
            &repo,
            "--as",
            "visitor",
            "--permission",
            "read",
            "/build",
        ],
        data.path(),
    );
    assert_eq!(code, 1);
    assert!(stdout.contains("you have read access"), "{stdout}");

    let (code, stdout, _) = slipway(&["comment", "--repo", &repo, "/status"], data.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("✅ passed"), "{stdout}");
    assert!(
        stdout.contains("Artifacts of") && stdout.contains("dist/hello-service-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hello-service@sha256:"),
        "the image: {stdout}"
    );
}
