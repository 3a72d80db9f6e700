//! `slipway serve` as a process, the way an operator runs it: on a free port, with a GitHub
//! secret and a token for the fake GitHub, stopped (or killed) by the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::github::FakeGithub;

/// The webhook secret every `ServeProcess` accepts.
pub const SERVE_SECRET: &str = "serve-test-secret";

pub struct ServeProcess {
    child: Child,
    pub port: u16,
}

impl ServeProcess {
    /// Start `binary serve` on `data_dir` against `gh`, with `envs` added; wait until it listens.
    pub fn start(
        binary: &Path,
        gh: &FakeGithub,
        data_dir: &Path,
        port: u16,
        envs: &[(&str, &str)],
    ) -> ServeProcess {
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLIPWAY_GITHUB_WEBHOOK_SECRET", SERVE_SECRET)
            .env("SLIPWAY_GITHUB_TOKEN", "ghp_serve-test")
            .env("SLIPWAY_GITHUB_API_URL", gh.server.uri())
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "slipway serve");
        ServeProcess { child, port }
    }

    /// `kill -9`: no shutdown, no cleanup.
    pub fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// Send `file` as a signed GitHub `event` with `binary send`; its answer line.
    pub fn send(&self, binary: &Path, event: &str, file: &Path) -> String {
        let out = Command::new(binary)
            .args(["send", "--forge", "github", "--event", event])
            .args(["--secret", SERVE_SECRET])
            .args([
                "--url",
                &format!("http://127.0.0.1:{}/webhooks/github", self.port),
            ])
            .arg(file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
/// Wait (up to 30 s) until something listens on `port`; `what` names it when nothing does.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The recorded `pull_request.opened` delivery for `sha` (pull request `number`), written to a
/// file in `dir` for `slipway send`.
pub fn pull_request_file(dir: &Path, sha: &str, number: u64) -> PathBuf {
    let mut payload = crate::json_fixture("github/pull_request.opened.1.json");
    payload["pull_request"]["head"]["sha"] = sha.into();
    payload["pull_request"]["number"] = number.into();
    payload["number"] = number.into();
    let file = dir.join(format!("pull_request-{number}.json"));
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();
    file
}

/// The pids of live processes whose command line contains `needle`.
pub fn processes_running(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            !zombie
                && String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .contains(needle)
        })
        .collect()
}
