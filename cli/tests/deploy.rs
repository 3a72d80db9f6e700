//! Deploys on one machine, end to end through the `slipway` binary: deploy, roll back, a
//! failing deploy that keeps the previous version, and two deploys racing for one environment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CONFIG: &str = r#"version: 1
build:
  steps:
    - run: mkdir -p dist && cp app.sh dist/app
  artifacts: [dist/app]
  image:
    repository: app
    files:
      - { from: dist/app, to: /app, mode: "0755" }
    entrypoint: ["/app"]
environments:
  staging:
    url: https://staging.example
  production:
    allow: maintain
    steps:
      - name: release
        run: ./deploy.sh
"#;

struct Project {
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let project = Project {
            dir,
            data: tempfile::tempdir().unwrap(),
        };
        project.commit("echo one", "exit 0");
        project
    }

    /// A new commit with this app and deploy script; returns its sha.
    fn commit(&self, app: &str, deploy: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let root = self.dir.path();
        std::fs::write(root.join(".slipway.yml"), CONFIG).unwrap();
        std::fs::write(root.join("app.sh"), format!("#!/bin/sh\n{app}\n")).unwrap();
        let script = root.join("deploy.sh");
        let body =
            format!("#!/bin/sh\necho \"deploying $SLIPWAY_IMAGE to $SLIPWAY_ENV\"\n{deploy}\n");
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", app]);
        git(root, &["rev-parse", "HEAD"])
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.data.path())
            .env_remove("SLIPWAY_REGISTRY")
            .env_remove("SLIPWAY_BUCKET");
        command
    }

    /// `slipway run --json`: the build's image digest.
    fn build(&self) -> String {
        let out = self
            .command(&["run", "--json", "--repo", self.path()])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(doc["status"], "succeeded", "{doc}");
        doc["result"]["image"]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `slipway comment --json BODY` as the repository's owner (admin).
    fn comment(&self, body: &str) -> Value {
        let out = self
            .command(&["comment", "--json", "--repo", self.path(), body])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// What `env-<name>` points at in the image layout.
    fn tagged(&self, tag: &str) -> Option<String> {
        let index: Value = serde_json::from_slice(
            &std::fs::read(self.data.path().join("images/app/index.json")).unwrap(),
        )
        .unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .map(|m| m["digest"].as_str().unwrap().to_owned())
    }

    fn current(&self, environment: &str) -> Value {
        let found = find_file(
            &self.data.path().join("artifacts/environments"),
            &format!("{environment}/current.json"),
        )
        .unwrap_or_else(|| panic!("no current.json for {environment}"));
        serde_json::from_slice(&std::fs::read(found).unwrap()).unwrap()
    }
}

fn find_file(dir: &Path, suffix: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, suffix) {
                return Some(found);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
    }
    None
}

fn last_deployment(doc: &Value, environment: &str) -> Value {
    doc["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| d["environment"] == environment)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn deploy_roll_back_and_a_failed_deploy_keeps_the_previous_version() {
    let project = Project::new();
    let first_sha = git(project.dir.path(), &["rev-parse", "HEAD"]);
    let first = project.build();

    let doc = project.comment("/deploy staging");
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{doc}"
    );
    assert_eq!(last_deployment(&doc, "staging")["state"], "success");
    assert_eq!(project.tagged("env-staging"), Some(first.clone()));
    let current = project.current("staging");
    assert_eq!(current["sha"], first_sha);
    assert_eq!(current["digest"], first);
    assert!(current["artifacts_manifest"]
        .as_str()
        .unwrap()
        .ends_with("manifest.json"));

    // Production runs its steps with the image's reference.
    let doc = project.comment("/deploy production");
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{doc}"
    );
    assert_eq!(last_deployment(&doc, "production")["state"], "success");
    assert_eq!(project.tagged("env-production"), Some(first.clone()));
    let log = all_logs(&project.data.path().join("runs"));
    assert!(
        log.contains("deploying oci:") && log.contains(&format!("app@{first} to production")),
        "{log}"
    );

    // A second commit, deployed, then rolled back: the tag goes back to the first digest.
    project.commit("echo two", "echo 'the release broke' >&2; exit 1");
    let second = project.build();
    assert_ne!(first, second);
    let doc = project.comment("/deploy staging");
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{doc}"
    );
    assert_eq!(project.tagged("env-staging"), Some(second.clone()));
    let doc = project.comment("/rollback staging");
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{doc}"
    );
    let rolled = last_deployment(&doc, "staging");
    assert_eq!(
        (rolled["state"].as_str(), rolled["sha"].as_str()),
        (Some("success"), Some(first_sha.as_str()))
    );
    assert_eq!(project.tagged("env-staging"), Some(first.clone()));
    assert_eq!(project.current("staging")["digest"], first);

    // The second commit's deploy script fails: production stays where it was. (The comment's
    // 🚀 says the deploy started; its result is in the deployment and its comment.)
    let doc = project.comment("/deploy production");
    assert_eq!(last_deployment(&doc, "production")["state"], "failure");
    assert_eq!(
        project.tagged("env-production"),
        Some(first.clone()),
        "the tag did not move"
    );
    assert_eq!(project.current("production")["digest"], first);
    let status = project.comment("/status");
    let reply = status["replies"][0].as_str().unwrap();
    assert!(reply.contains("@sha256:"), "{reply}");
    assert!(
        reply.contains("| `production` |")
            && reply.contains("❌ failed")
            && reply.contains("✅ deployed"),
        "{reply}"
    );
    assert!(
        reply.contains("**Delivery, last 30 days**")
            && reply.contains("- `production`: 1 deploy(s) in 30d")
            && reply.contains("change failure rate 50% (1/2)"),
        "/status sums each environment's delivery: {reply}"
    );

    // Nothing earlier than the first deploy: a rollback past it is refused.
    let doc = project.comment("/rollback production 0000000");
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "confused"]),
        "{doc}"
    );
    assert!(
        doc["replies"][0]
            .as_str()
            .unwrap()
            .contains("no earlier successful deployment"),
        "{doc}"
    );

    // Issue #17: the DORA measures of what just happened, from the records.
    let out = project
        .command(&["metrics", "--json", "--days", "7"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = |environment: &str| {
        rows.iter()
            .find(|r| r["environment"] == environment)
            .unwrap_or_else(|| panic!("{environment} in {rows:?}"))
            .clone()
    };
    let staging = row("staging");
    // Two deploys went live; the second was rolled back, and the rollback restored service.
    assert_eq!(staging["deploys"], 2, "{staging}");
    assert_eq!(
        (
            staging["failed_deploys"].as_u64(),
            staging["finished_deploys"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(staging["change_failure_rate"], 0.5);
    assert!(staging["time_to_restore_secs"].is_u64(), "{staging}");
    assert_eq!(staging["unrestored"], 0);
    assert!(
        staging["lead_time_secs"].is_u64(),
        "each change was built before it shipped"
    );
    let production = row("production");
    // One deploy went live, the second failed and nothing has fixed it yet.
    assert_eq!(production["deploys"], 1, "{production}");
    assert_eq!(production["change_failure_rate"], 0.5, "{production}");
    assert_eq!(production["unrestored"], 1);
    let text = project
        .command(&["metrics", "--env", "production"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("production: 1 deploy(s) in 30d")
            && text.contains("change failure rate 50% (1/2)")
            && !text.contains("staging"),
        "{text}"
    );

    // Issue #17: the dashboard shows the same records, to the operator only.
    let dashboard = Dashboard::start(&project);
    let (status, _, body) = dashboard.get("/environments", None);
    assert_eq!(status, 401, "no token, no page: {body}");
    let (status, _, _) = dashboard.get("/environments", Some("Bearer not-the-operator-token"));
    assert_eq!(status, 401);
    let (status, headers, page) = dashboard.get("/environments", Some(OPERATOR));
    assert_eq!(status, 200, "{page}");
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(
        page.contains("staging") && page.contains("rolled back") && page.contains("↩ rollback"),
        "the rollback is marked: {page}"
    );
    let (_, _, runs) = dashboard.get("/runs?status=succeeded", Some(OPERATOR));
    assert!(
        runs.contains("/runs/") && runs.contains("succeeded"),
        "{runs}"
    );
    let (_, _, page) = dashboard.get("/metrics?days=30", Some(OPERATOR));
    let production_line = text.trim().split_once(": ").unwrap().1;
    assert!(
        page.contains(production_line),
        "the page shows what `slipway metrics` prints ({production_line}): {page}"
    );
    assert!(page.contains("<svg"), "{page}");

    // The same pages in Chromium, with a build running slowly meanwhile.
    browse_while_a_slow_build_runs(&project, &dashboard, production_line);
}

/// Drive the dashboard in headless Chromium (cli/tests/browser/dashboard.py) while a build
/// with a slow step runs; screenshots go to target/screenshots/.
fn browse_while_a_slow_build_runs(project: &Project, dashboard: &Dashboard, metrics_line: &str) {
    let root = project.dir.path();
    std::fs::write(
        root.join(".slipway.yml"),
        // printf: the step's command line (which the log shows too) never holds the markers.
        "version: 1\nbuild:\n  steps:\n    - run: printf 'first-%s\\n' half; sleep 40; printf 'second-%s\\n' half\n",
    )
    .unwrap();
    git(root, &["commit", "-q", "-am", "a slow build"]);
    let mut build = project
        .command(&["run", "--repo", project.path()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = project.data.path().join("runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_logs(&runs).contains("first-half") {
        assert!(Instant::now() < deadline, "the slow build never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let driver_port = slipway_testkit::serve::free_port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is needed (scripts/test installs Debian's chromium-driver)");
    slipway_testkit::serve::wait_for_port(driver_port, "chromedriver");
    let shots = slipway_testkit::workspace_path("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("python3")
        .arg(slipway_testkit::workspace_path(
            "cli/tests/browser/dashboard.py",
        ))
        .arg(format!("http://127.0.0.1:{driver_port}"))
        .arg(format!("http://127.0.0.1:{}", dashboard.port))
        .arg(OPERATOR.trim_start_matches("Bearer "))
        .arg(&shots)
        .arg(metrics_line)
        .output()
        .unwrap();
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = build.wait();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("ok: no console errors"), "{said}");
}

const OPERATOR: &str = "Bearer operator-token-for-tests";

/// `slipway serve` on the project's data directory with a dashboard token.
struct Dashboard {
    child: Child,
    port: u16,
}

impl Dashboard {
    fn start(project: &Project) -> Dashboard {
        let port = slipway_testkit::serve::free_port();
        let child = project
            .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("SLIPWAY_DASHBOARD_TOKEN", "operator-token-for-tests")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        slipway_testkit::serve::wait_for_port(port, "slipway serve");
        Dashboard { child, port }
    }

    /// (status, the headers as text, the body).
    fn get(&self, path: &str, authorization: Option<&str>) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn all_logs(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(log) = std::fs::read_to_string(entry.path().join("out/log.txt")) {
            text.push_str(&log);
        }
    }
    text
}

#[test]
fn a_second_deploy_to_a_busy_environment_is_refused_naming_the_first() {
    let project = Project::new();
    // A deploy that is slow on purpose: the step waits for a file that the test writes later,
    // where the sandbox lets it look (the data directory and /tmp are hidden from steps).
    let gates = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let gate = gates.path().join("gate");
    std::fs::write(
        project.dir.path().join("deploy.sh"),
        format!(
            "#!/bin/sh\nwhile [ ! -f '{}' ]; do sleep 0.1; done\n",
            gate.display()
        ),
    )
    .unwrap();
    git(project.dir.path(), &["commit", "-qam", "slow deploy"]);
    project.build();
    let slow: Child = project
        .command(&[
            "comment",
            "--json",
            "--repo",
            project.path(),
            "/deploy production",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_logs(&project.data.path().join("runs")).contains("] release") {
        assert!(Instant::now() < deadline, "the slow deploy never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = project.comment("/deploy production");
    assert_eq!(
        refused["reactions"],
        serde_json::json!(["eyes", "confused"]),
        "{refused}"
    );
    let reply = refused["replies"][0].as_str().unwrap();
    assert!(
        reply.contains("another deploy is in progress") && reply.contains("by @"),
        "{reply}"
    );
    std::fs::write(&gate, b"go").unwrap();
    let out = slow.wait_with_output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{doc}"
    );
    // The lock is free again.
    let again = project.comment("/deploy production");
    assert_eq!(
        again["reactions"],
        serde_json::json!(["eyes", "rocket"]),
        "{again}"
    );
}
