//! A fake GitHub (wiremock) serving one real temporary git repository: its config and tarball
//! at each commit, and recording the statuses and comments it is sent.
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use serde_json::{json, Value};
use slipway::app::pipeline::Pipeline;
use slipway::forge::github::{GithubAuth, GithubClient};
use slipway::forge::retry::RetryPolicy;
use slipway::forge::Forges;
use slipway::model::event::CommitSha;
use slipway::runner::local::{Completion, LocalRunner};
use slipway::state::sqlite::SqliteState;
use slipway::webhook::Secret;
use tokio::sync::mpsc::UnboundedReceiver;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const REPO: &str = "/repos/Codertocat/Hello-World";

pub struct FakeGithub {
    pub tmp: tempfile::TempDir,
    pub git: PathBuf,
    pub server: MockServer,
    /// Priority of the next default-branch mount: each is preferred over the ones before.
    default_priority: std::sync::atomic::AtomicU8,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Slipway Test",
            "-c",
            "user.email=test@slipway.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let tmp = tempfile::tempdir().unwrap();
        let git_dir = tmp.path().join("repo");
        std::fs::create_dir_all(&git_dir).unwrap();
        git(&git_dir, &["init", "-q"]);
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot" })),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/repos/Codertocat/Hello-World/statuses/[0-9a-f]{40}$",
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/repos/Codertocat/Hello-World/issues/\d+/comments$",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/repos/Codertocat/Hello-World/issues/\d+/comments$",
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 99 })))
            .mount(&server)
            .await;
        FakeGithub {
            tmp,
            git: git_dir,
            server,
            default_priority: std::sync::atomic::AtomicU8::new(250),
        }
    }

    /// Commit `files` (with `.slipway.yml` among them) and serve the commit like GitHub would.
    pub async fn commit(&self, files: &[(&str, &str)]) -> CommitSha {
        for (name, contents) in files {
            std::fs::write(self.git.join(name), contents).unwrap();
        }
        git(&self.git, &["add", "-A"]);
        git(&self.git, &["commit", "-q", "-m", "change"]);
        let sha = git(&self.git, &["rev-parse", "HEAD"]).trim().to_owned();
        let prefix = format!("--prefix=Codertocat-Hello-World-{}/", &sha[..7]);
        let tarball = Command::new("git")
            .args(["archive", "--format=tar.gz", &prefix, &sha])
            .current_dir(&self.git)
            .output()
            .unwrap()
            .stdout;
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/tarball/{sha}")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
            .mount(&self.server)
            .await;
        // The config as the commit's tree has it, whichever commit added it.
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/contents/.slipway.yml")))
            .and(wiremock::matchers::query_param("ref", sha.as_str()))
            .respond_with(self.config_at(&sha))
            .mount(&self.server)
            .await;
        CommitSha::parse(&sha).unwrap()
    }

    /// From now on the default branch is at `sha`: its `.slipway.yml` holds the rules. (A later
    /// call wins: each mounts at a higher priority.)
    pub async fn on_default_branch(&self, sha: &CommitSha) {
        let answer = self.config_at(sha.as_str());
        let priority = self
            .default_priority
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/contents/.slipway.yml")))
            .and(wiremock::matchers::query_param_is_missing("ref"))
            .respond_with(answer)
            .with_priority(priority)
            .mount(&self.server)
            .await;
    }

    /// GitHub's answer for `.slipway.yml` at `sha`: the file, or 404 where the tree has none.
    fn config_at(&self, sha: &str) -> ResponseTemplate {
        let config = Command::new("git")
            .args(["show", &format!("{sha}:.slipway.yml")])
            .current_dir(&self.git)
            .output()
            .unwrap();
        if config.status.success() {
            ResponseTemplate::new(200).set_body_bytes(config.stdout)
        } else {
            ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" }))
        }
    }

    /// Commit `files` on the default branch (a merge, or a push to it).
    pub async fn commit_to_default_branch(&self, files: &[(&str, &str)]) -> CommitSha {
        let sha = self.commit(files).await;
        self.on_default_branch(&sha).await;
        sha
    }

    /// (state, description) of each commit status posted for `sha`, in order.
    pub async fn statuses(&self, sha: &CommitSha) -> Vec<(String, String)> {
        self.requests(&format!("{REPO}/statuses/{sha}"), "POST")
            .await
            .iter()
            .map(|b| {
                (
                    b["state"].as_str().unwrap().to_owned(),
                    b["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub async fn requests(&self, url: &str, verb: &str) -> Vec<Value> {
        let all: Vec<Request> = self.server.received_requests().await.unwrap();
        all.iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == url)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// How many requests the fake has answered so far, of any kind.
    pub async fn request_count(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }

    pub async fn comments(&self, pr: u64) -> Vec<String> {
        self.requests(&format!("{REPO}/issues/{pr}/comments"), "POST")
            .await
            .iter()
            .map(|b| b["body"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub type LocalPipeline = Pipeline<SqliteState, LocalRunner>;

/// The forges of a pipeline talking to a (fake) GitHub at `url` with a token.
pub fn github_forges(url: &str, retries: RetryPolicy) -> Forges {
    let auth = GithubAuth::Token(Secret::new("ghp_test").unwrap());
    Forges {
        github: Some(GithubClient::new(url, auth, retries).unwrap()),
        ..Default::default()
    }
}

/// The one-machine pipeline (`slipway::wire::local::pipeline`, as `serve` builds it) on a data
/// directory beside this fake GitHub, talking to it with a token and fast retries; `agent` is
/// the `slipway` binary. With `public_url`, links are signed with a fixed test key, which the
/// agent reads from the data directory like `serve`'s.
pub async fn local_pipeline(
    gh: &FakeGithub,
    agent: &Path,
    public_url: Option<&str>,
) -> (LocalPipeline, UnboundedReceiver<Completion>) {
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        ..Default::default()
    };
    let forges = github_forges(&gh.server.uri(), policy);
    let data_dir = gh.tmp.path();
    let links = public_url.map(|url| {
        let key = [7u8; 32];
        std::fs::write(slipway::wire::local::link_key_file(data_dir), key).unwrap();
        slipway::links::Links::new(url, slipway::links::LinkKey::new(key).unwrap())
    });
    slipway::wire::local::pipeline(
        data_dir,
        agent.to_path_buf(),
        forges,
        links,
        &slipway::wire::settings::Env::default(),
    )
    .await
    .unwrap()
}

/// Wait for the next local build to end and report it, as `slipway serve` does.
pub async fn report_next(
    pipeline: &LocalPipeline,
    completions: &mut UnboundedReceiver<Completion>,
) -> slipway::model::event::RunId {
    let done = tokio::time::timeout(Duration::from_secs(30), completions.recv())
        .await
        .expect("a build ends within 30 s")
        .unwrap();
    slipway::app::local::report_completion(pipeline, &done)
        .await
        .unwrap();
    done.run_id
}
