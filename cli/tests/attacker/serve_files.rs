//! Issue 12, finding 4: a build plants links and HTML in the artifact directory, then asks the
//! real `slipway serve` for what they point at; and nobody without a signed link sees anything.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use slipway::links::LinkKey;

/// Put in the server's environment: no answer may ever contain it.
const CANARY: &str = "canary-7f3a9c-webhook-secret";
const LINK_KEY: &str = "attacker-test-link-key-0123456789abcdef";
const RUN: &str = "0123456789abcdef";

pub struct Serve {
    child: Child,
    pub base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary on a free port with only `envs` set (and `PATH`), answering once it listens.
pub fn start_serve(data_dir: &Path, envs: &[(&str, &str)]) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "slipway serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `path` with a valid signature made with the server's key, expiring at `expires`.
fn signed(serve: &Serve, path: &str, expires: u64) -> String {
    let key = LinkKey::new(LINK_KEY.as_bytes()).unwrap();
    format!("{}{path}?{}", serve.base, key.sign(path, expires))
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(url: &str) -> Answer {
    let response = reqwest::get(url).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = response.bytes().await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

/// What a build could leave: links to `/` and to the database, a hard link to the database,
/// and an HTML page with a script; plus a run directory, so its page exists.
fn plant(data: &Path) -> PathBuf {
    let artifacts = data.join("artifacts");
    std::fs::create_dir_all(artifacts.join("site")).unwrap();
    std::os::unix::fs::symlink("/", artifacts.join("pwn")).unwrap();
    std::os::unix::fs::symlink(data.join("slipway.db"), artifacts.join("db")).unwrap();
    std::fs::write(
        artifacts.join("site/report.html"),
        "<script>fetch('/runs/')</script>",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("runs").join(RUN).join("out")).unwrap();
    artifacts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_links_lead_nowhere_even_with_a_valid_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let artifacts = plant(&data);
    let serve = start_serve(
        &data,
        &[
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", CANARY),
            ("SLIPWAY_LINK_KEY", LINK_KEY),
        ],
    );
    // The database exists once serve runs: a hard link to it is a "regular file" too.
    std::fs::hard_link(data.join("slipway.db"), artifacts.join("hard.db")).unwrap();

    let later = now() + 3600;
    for path in [
        "/artifacts/pwn/etc/passwd",
        "/artifacts/pwn/proc/self/environ",
        "/artifacts/db",
        "/artifacts/hard.db",
        "/artifacts/site",
    ] {
        for url in [format!("{}{path}", serve.base), signed(&serve, path, later)] {
            let answer = get(&url).await;
            assert_eq!(answer.status, 404, "{url}: {}", answer.body);
            assert!(!answer.body.contains(CANARY), "{url}");
            assert!(!answer.body.contains("root:"), "{url}");
            assert!(!answer.body.contains("SQLite"), "{url}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_html_is_a_download_and_every_answer_is_hardened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    plant(&data);
    let serve = start_serve(&data, &[("SLIPWAY_LINK_KEY", LINK_KEY)]);

    let url = signed(&serve, "/artifacts/site/report.html", now() + 3600);
    let answer = get(&url).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, "<script>fetch('/runs/')</script>");
    assert_eq!(header(&answer, "content-type"), "application/octet-stream");
    assert_eq!(
        header(&answer, "content-disposition"),
        "attachment; filename=\"report.html\""
    );
    // Every answer, found or not, page or webhook endpoint, carries the headers.
    let missing = get(&format!("{}/artifacts/site/report.html", serve.base)).await;
    let health = get(&format!("{}/healthz", serve.base)).await;
    for answer in [&answer, &missing, &health] {
        assert_eq!(header(answer, "x-content-type-options"), "nosniff");
        assert_eq!(header(answer, "referrer-policy"), "no-referrer");
        let csp = header(answer, "content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_page_needs_a_valid_unexpired_link() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    plant(&data);
    let serve = start_serve(&data, &[("SLIPWAY_LINK_KEY", LINK_KEY)]);
    let path = format!("/runs/{RUN}");

    let good = get(&signed(&serve, &path, now() + 3600)).await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(good.body.contains("<html"), "{}", good.body);

    let unsigned = get(&format!("{}{path}", serve.base)).await;
    let expired = get(&signed(&serve, &path, now() - 1)).await;
    let other_run = signed(&serve, "/runs/fedcba9876543210", now() + 3600);
    let moved = other_run.replace("fedcba9876543210", RUN);
    let moved = get(&moved).await;
    for (name, answer) in [
        ("unsigned", unsigned),
        ("expired", expired),
        ("moved", moved),
    ] {
        assert_eq!(answer.status, 404, "{name}");
        // The same answer as for a run that does not exist: nothing to learn from it.
        assert_eq!(answer.body, "no such run\n", "{name}");
    }
}
