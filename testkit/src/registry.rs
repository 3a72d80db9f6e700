//! A real OCI registry for tests: Debian's `docker-registry` (distribution v2) on a free loopback
//! port, storing in a temp dir, no auth, its access log kept so tests can count requests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("docker-registry is needed (scripts/test installs it)");
        let registry = TestRegistry {
            host: format!("127.0.0.1:{port}"),
            log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Requests the registry logged with this method whose path contains `path_part`.
    pub fn requests(&self, method: &str, path_part: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let needle = format!("\"{method} ");
        log.lines()
            .filter(|l| {
                l.find(&needle).is_some_and(|i| {
                    l[i..]
                        .split(' ')
                        .nth(1)
                        .is_some_and(|p| p.contains(path_part))
                })
            })
            .count()
    }

    /// `skopeo` with this registry's plain HTTP allowed.
    pub fn skopeo(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new("skopeo")
            .args(args)
            .output()
            .expect("skopeo is needed (scripts/test installs it)");
        assert!(
            output.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `skopeo inspect` of `repo:tag` (or `repo@digest`), as JSON; `raw` gives the manifest.
    pub fn inspect(&self, reference: &str, raw: bool) -> serde_json::Value {
        let image = format!("docker://{}/{reference}", self.host);
        let mut args = vec!["inspect", "--tls-verify=false"];
        if raw {
            args.push("--raw");
        }
        args.push(&image);
        serde_json::from_slice(&self.skopeo(&args).stdout).unwrap()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
