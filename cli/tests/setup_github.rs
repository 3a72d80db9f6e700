//! `slipway setup github` run as a person would: the binary serves its page, a "browser" (this
//! test) reads the form, GitHub's callback comes back with a code, and a fake GitHub converts it
//! into the App's credentials, which land in Secrets Manager (moto) or in an env file.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WEBHOOK_URL: &str = "https://abc123.lambda-url.eu-west-1.on.aws/";
const WEBHOOK_SECRET: &str = "6a1f0c9e2b7d4e8f9a0b1c2d3e4f5a6b7c8d9e0f";
const CODE: &str = "a180b1a3d263c81bc6441d7b990bae27d4c10679";

fn pem() -> String {
    std::fs::read_to_string(slipway_testkit::fixture_path("github-app-test-key.pem")).unwrap()
}

fn repo_manifest() -> Value {
    let file = slipway_testkit::workspace_path("infra/github-app-manifest.json");
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// A fake GitHub whose conversion endpoint answers `status` with `body`, once.
async fn fake_github(status: u16, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/app-manifests/{CODE}/conversions")))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn created_app() -> Value {
    json!({
        "id": 987654,
        "slug": "slipway-test",
        "node_id": "A_kwDOABCD",
        "name": "Slipway test",
        "html_url": "https://github.com/apps/slipway-test",
        "client_id": "Iv1.8a61f9b3a7aba766",
        "client_secret": "1726be1638095a19edd134c77bde3aa2ece1e5d8",
        "webhook_secret": WEBHOOK_SECRET,
        "pem": pem(),
    })
}

struct Setup {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// The page's address, as the command printed it.
    url: String,
}

/// `slipway setup github` on a free loopback port with `args`, and no AWS settings of the machine
/// running the tests.
fn setup_github(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .args([
            "setup",
            "github",
            "--listen",
            "127.0.0.1:0",
            "--webhook-url",
            WEBHOOK_URL,
        ])
        .args(args)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

impl Setup {
    async fn start(args: &[&str], env: &[(&str, &str)]) -> Setup {
        let mut child = setup_github(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut first))
            .await
            .expect("the command prints its page's address first")
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{first}"
        );
        Setup { child, stdout, url }
    }

    /// The form's action and the manifest it posts, read as a browser would.
    async fn form(&self) -> (String, Value) {
        let response = reqwest::get(&self.url).await.unwrap();
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        let action = attribute(&html, "<form method=\"post\" action=\"");
        let manifest = attribute(&html, "<input type=\"hidden\" name=\"manifest\" value=\"");
        (action, serde_json::from_str(&manifest).unwrap())
    }

    async fn callback(&self, query: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}callback?{query}", self.url))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Exit code, standard output (after the first line) and standard error.
    async fn finish(mut self) -> (i32, String, String) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the command ends after the callback")
            .unwrap();
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).await.unwrap();
        let mut err = String::new();
        let mut stderr = self.child.stderr.take().unwrap();
        stderr.read_to_string(&mut err).await.unwrap();
        (status.code().unwrap(), out, err)
    }
}

/// An attribute's value after `prefix`, its HTML escapes undone.
fn attribute(html: &str, prefix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {html}"))
        + prefix.len();
    let value = &html[start..start + html[start..].find('"').unwrap()];
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn state_of(action: &str) -> String {
    let state = action.split_once("?state=").unwrap().1.to_owned();
    assert_eq!(state.len(), 64, "{action}");
    assert!(state.chars().all(|c| c.is_ascii_hexdigit()), "{action}");
    state
}

async fn secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> String {
    let value = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    value.secret_string().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_created_from_the_manifest_and_its_secrets_land_in_the_stacks() {
    let moto = slipway_testkit::Moto::start();
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let arns = [
        slipway_testkit::aws::secret(&sm, "setup-key", "replace-with-the-app-private-key").await,
        slipway_testkit::aws::secret(&sm, "setup-hook", "generated").await,
    ];
    let github = fake_github(201, created_app()).await;
    let api = github.uri();
    let setup = Setup::start(
        &[
            "--private-key-arn",
            &arns[0],
            "--webhook-secret-arn",
            &arns[1],
            "--github-api-url",
            &api,
            "--name",
            "Slipway test",
        ],
        &[
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;

    // The form goes to github.com's "new App" page with a fresh state, and posts the repository's
    // manifest with this App's name, webhook and callback.
    let (action, manifest) = setup.form().await;
    assert!(
        action.starts_with("https://github.com/settings/apps/new?state="),
        "{action}"
    );
    let state = state_of(&action);
    let repo = repo_manifest();
    assert_eq!(manifest["name"], "Slipway test");
    assert_eq!(
        manifest["hook_attributes"]["url"],
        "https://abc123.lambda-url.eu-west-1.on.aws/webhooks/github"
    );
    assert_eq!(manifest["hook_attributes"]["active"], true);
    assert_eq!(manifest["redirect_url"], format!("{}callback", setup.url));
    assert_eq!(manifest["default_permissions"], repo["default_permissions"]);
    assert_eq!(manifest["default_events"], repo["default_events"]);
    for event in repo["default_events"].as_array().unwrap() {
        assert!(manifest["default_events"]
            .as_array()
            .unwrap()
            .contains(event));
    }

    // Another state, or none, is refused, and nothing is exchanged.
    for query in [
        format!("code={CODE}&state={}", "0".repeat(64)),
        format!("code={CODE}"),
        format!("code={CODE}&state={}", &state[..63]),
    ] {
        let (status, text) = setup.callback(&query).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains("nothing was exchanged"), "{text}");
    }
    // A page on another host name (DNS rebinding) is not answered.
    let rebound = reqwest::Client::new()
        .get(&setup.url)
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    assert!(github.received_requests().await.unwrap().is_empty());

    let (status, page) = setup.callback(&format!("code={CODE}&state={state}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The GitHub App was created"), "{page}");
    assert!(page.contains("GitHubAppId=987654"), "{page}");
    let (code, out, err) = setup.finish().await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Created the GitHub App slipway-test (id 987654)"),
        "{out}"
    );
    assert!(
        out.contains("sam deploy --parameter-overrides GitHubAppId=987654"),
        "{out}"
    );
    assert!(
        out.contains("https://github.com/apps/slipway-test/installations/new"),
        "{out}"
    );
    for shown in [&out, &err, &page] {
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains(WEBHOOK_SECRET),
            "{shown}"
        );
        assert!(
            !shown.contains("1726be16"),
            "the OAuth client secret: {shown}"
        );
    }

    assert_eq!(secret(&sm, &arns[0]).await, pem());
    assert_eq!(secret(&sm, &arns[1]).await, WEBHOOK_SECRET);
    slipway_testkit::openapi::assert_requests_match_github(&github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_serve_the_settings_go_to_private_files_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("slipway.env");
    let github = fake_github(201, created_app()).await;
    let api = github.uri();
    let setup = Setup::start(
        &[
            "--env-file",
            env_file.to_str().unwrap(),
            "--org",
            "acme-co",
            "--github-api-url",
            &api,
        ],
        &[],
    )
    .await;
    let (action, manifest) = setup.form().await;
    assert!(
        action.starts_with("https://github.com/organizations/acme-co/settings/apps/new?state="),
        "{action}"
    );
    assert_eq!(manifest["name"], "Slipway");
    let state = state_of(&action);
    let (status, page) = setup.callback(&format!("state={state}&code={CODE}")).await;
    assert_eq!(status, 200, "{page}");
    let (code, out, err) = setup.finish().await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("(id 987654)"), "{out}");
    assert!(out.contains("set -a; . "), "{out}");
    for shown in [&out, &err, &page] {
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains(WEBHOOK_SECRET),
            "{shown}"
        );
    }

    let key_file = dir.path().join("slipway.env.pem");
    for file in [&env_file, &key_file] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), pem());
    let text = std::fs::read_to_string(&env_file).unwrap();
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_once('=').unwrap())
        .collect();
    assert_eq!(
        pairs,
        [
            ("SLIPWAY_GITHUB_APP_ID", "987654"),
            ("SLIPWAY_GITHUB_PRIVATE_KEY", key_file.to_str().unwrap()),
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SLIPWAY_GITHUB_API_URL", api.as_str()),
        ]
    );
    // What serve reads: the App (id and key file) and the webhook secret.
    let env = slipway::wire::settings::Env::from_pairs(pairs);
    let forges = slipway::wire::forges::forges(&env).unwrap();
    assert!(forges.github.is_some());
    let ingress = slipway::wire::settings::ingress(&env).unwrap();
    assert!(ingress.secrets.github[0].matches(WEBHOOK_SECRET.as_bytes()));
    slipway_testkit::openapi::assert_requests_match_github(&github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_ends_with_a_clear_error_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("slipway.env");
    let github = fake_github(
        422,
        json!({
            "message": "Validation Failed",
            "documentation_url": "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest"
        }),
    )
    .await;
    let api = github.uri();
    let setup = Setup::start(
        &[
            "--env-file",
            env_file.to_str().unwrap(),
            "--github-api-url",
            &api,
        ],
        &[],
    )
    .await;
    let (action, _) = setup.form().await;
    let state = state_of(&action);
    let (status, page) = setup.callback(&format!("code={CODE}&state={state}")).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("was not set up"), "{page}");
    assert!(
        page.contains("GitHub answered 422 (Validation Failed)"),
        "{page}"
    );
    let (code, out, err) = setup.finish().await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("GitHub answered 422 (Validation Failed)"),
        "{err}"
    );
    assert!(err.contains("a code works once, for an hour"), "{err}");
    assert!(err.contains("run `slipway setup github` again"), "{err}");
    assert!(!err.contains(CODE), "the code stays out of messages: {err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    slipway_testkit::openapi::assert_requests_match_github(&github).await;
}

#[tokio::test]
async fn an_env_file_already_there_is_refused_before_the_browser_opens() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("slipway.env");
    std::fs::write(&env_file, "SLIPWAY_GITHUB_APP_ID=1\n").unwrap();
    let out = setup_github(&["--env-file", env_file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("exists already"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "SLIPWAY_GITHUB_APP_ID=1\n"
    );
}

/// The order infra/README.md gives (deploy, `setup github`, deploy with the App id) needs the
/// key's secret, and the output naming it, before `GitHubAppId` is set.
#[test]
fn the_stack_makes_the_key_secret_before_the_app_id() {
    let text = std::fs::read_to_string(slipway_testkit::workspace_path("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).unwrap();
    for (section, name) in [
        ("Resources", "GitHubAppPrivateKey"),
        ("Outputs", "GitHubAppPrivateKeyArn"),
        ("Resources", "GitHubWebhookSecret"),
        ("Outputs", "GitHubWebhookSecretArn"),
        ("Outputs", "WebhookUrl"),
    ] {
        let item = &template[section][name];
        assert!(item.is_object(), "{section}.{name} is missing");
        assert!(
            item.get("Condition").is_none(),
            "{section}.{name} has a condition"
        );
    }
}
