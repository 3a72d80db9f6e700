//! The AWS stack as deployed, on one machine (issue #16): the four function binaries, each with
//! the environment template.yaml gives it (GitHub App set-up), under Runtime API stand-ins,
//! against moto (DynamoDB, SQS, S3, Secrets Manager, STS), a real OCI registry for the images
//! and a fake GitHub checked against GitHub's REST description. The event sources the template
//! wires are small stand-ins, named so: the Function URL, the SQS event source mapping,
//! CodeBuild running the buildspec Slipway sends, the EventBridge rule, the sweeper's schedule.
//!
//! A signed `pull_request.opened` delivery leads to a pending check, a build, artifacts in S3,
//! an image, the final check and the sticky comment; `/deploy staging` then moves the
//! `env-staging` tag to the digest the build pushed.

mod codebuild;
mod dashboard;
mod event_sources;
mod function_url;
mod runtime_api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use slipway_testkit::github::REPO;
use slipway_testkit::harness::Harness;
use slipway_testkit::registry::TestRegistry;
use slipway_testkit::Moto;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use codebuild::{CodeBuild, Project};
use event_sources::{drain_queue, forward_build_end};
use runtime_api::Function;

const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");
const APP_ID: &str = "29310";
const INSTALLATION: u64 = 957387;
const DASHBOARD_TOKEN: &str = "stack-test-dashboard-token-0123456789";

const CONFIG: &str = r#"version: 1
build:
  steps:
    - name: package
      run: mkdir -p dist && cp app.sh dist/app && echo packaged-in-codebuild
  artifacts: [dist/app]
  image:
    repository: app
    files:
      - { from: dist/app, to: /app, mode: "0755" }
    entrypoint: ["/app"]
environments:
  staging:
    url: https://staging.example
"#;

/// A function binary of this workspace, built beside the test (scripts/test builds them).
fn function_binary(name: &str) -> PathBuf {
    let cli = Path::new(SLIPWAY);
    let binary = cli.with_file_name(name);
    assert!(
        binary.exists(),
        "{} is missing: build the functions first (`cargo build -p {name}`; scripts/test does)",
        binary.display()
    );
    binary
}

/// Each function's environment in the GitHub App set-up, as template.yaml gives it
/// (shared/tests/privilege/environments.py: Globals merged, conditions decided), with each
/// reference to a resource or parameter replaced by the local thing standing for it.
fn template_environments(
    resources: &BTreeMap<&str, String>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let root = slipway_testkit::workspace_path("");
    let out = std::process::Command::new("python3")
        .arg(root.join("shared/tests/privilege/environments.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut functions = BTreeMap::new();
    for (function, spec) in all["github-app"].as_object().unwrap() {
        let mut env = BTreeMap::new();
        for (name, token) in spec["env"].as_object().unwrap() {
            let token = token.as_str().unwrap();
            let value = match token.split_once(':') {
                Some(("ref" | "getatt" | "expr", _)) => resources.get(token).unwrap_or_else(|| {
                    panic!("template.yaml gives {function} {name} = {token}, which this test does not stand in for")
                }),
                _ => token,
            };
            env.insert(name.clone(), value.to_owned());
        }
        functions.insert(function.clone(), env);
    }
    functions
}

/// GitHub delivering `body` to the Function URL: (status, answer).
async fn deliver(url: &str, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
    let headers = slipway_testkit::github_headers(event, delivery, body);
    let response = reqwest::Client::new()
        .post(format!("{url}webhooks/github"))
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn mount_app_auth(server: &wiremock::MockServer) {
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 29310, "slug": "slipway", "name": "Slipway",
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": "ghs_stack-test-token", "expires_at": "2099-01-01T00:00:00Z",
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/check-runs")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 7 })))
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(
            r"^/repos/Codertocat/Hello-World/check-runs/\d+$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 7 })))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_builds_reports_and_deploys_through_the_four_functions_as_deployed() {
    // ---- The world: moto, a registry, a fake GitHub serving the repository -----------------
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let registry = TestRegistry::start();
    let h = Harness::new(SLIPWAY).await;
    h.accept_deployments().await;
    mount_app_auth(&h.gh.server).await;
    let sha =
        h.gh.commit_to_default_branch(&[
            (".slipway.yml", CONFIG),
            ("app.sh", "#!/bin/sh\necho hello\n"),
        ])
        .await;
    h.pull_request_head(&sha, false, 1).await;

    let table = slipway_testkit::aws::table(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(slipway_testkit::unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = slipway_testkit::unique("artifacts");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let webhook_secret =
        slipway_testkit::aws::secret(&secrets, "webhook", slipway_testkit::GITHUB_SECRET).await;
    let link_key = slipway_testkit::aws::secret(
        &secrets,
        "link-key",
        "stack-test-link-key-0123456789-0123456789",
    )
    .await;
    let app_key =
        std::fs::read_to_string(slipway_testkit::fixture_path("github-app-test-key.pem")).unwrap();
    let private_key = slipway_testkit::aws::secret(&secrets, "app-key", &app_key).await;
    let dashboard_token =
        slipway_testkit::aws::secret(&secrets, "dashboard-token", DASHBOARD_TOKEN).await;
    let project = slipway_testkit::unique("builds");
    let work = tempfile::tempdir().unwrap();

    // ---- CodeBuild, standing in; the build container has `slipway` on its PATH -------------
    let agent_dir = work.path().join("bin");
    std::fs::create_dir_all(&agent_dir).unwrap();
    std::fs::copy(SLIPWAY, agent_dir.join("slipway")).unwrap();
    let aws_env = |extra: &[(&str, &str)]| {
        let mut env: BTreeMap<String, String> = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            // moto answers path-style S3 requests only.
            ("SLIPWAY_S3_ENDPOINT", moto.url.as_str()),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.insert("HOME".into(), work.path().display().to_string());
        env
    };
    let path = format!("{}:{}", agent_dir.display(), std::env::var("PATH").unwrap());
    let mut codebuild = CodeBuild::start(Project {
        // template.yaml's BuildProject variables, but SLIPWAY_AGENT_S3: the stand-in container
        // carries the agent (the download is CodeBuild's `aws s3 cp`, which is not here).
        env: BTreeMap::from([
            ("SLIPWAY_BUCKET".into(), bucket.clone()),
            ("SLIPWAY_REGISTRY".into(), registry.host.clone()),
            ("SLIPWAY_ECR_CREATE_REPOSITORIES".into(), "true".into()),
        ]),
        git_dir: h.gh.git.clone(),
        container_env: aws_env(&[("PATH", path.as_str())]),
        work: work.path().join("builds"),
    })
    .await;

    // ---- The functions, each with its environment from template.yaml ------------------------
    let mut resources: BTreeMap<&str, String> = [
        ("ref:StateTable", table.clone()),
        ("ref:EventsQueue", queue_url.clone()),
        ("ref:GitHubWebhookSecret", webhook_secret),
        ("ref:LinkKey", link_key),
        ("ref:DashboardToken", dashboard_token),
        ("ref:GitHubAppPrivateKey", private_key),
        ("ref:GitHubAppId", APP_ID.into()),
        ("ref:GitHubApiUrl", h.gh.server.uri()),
        ("ref:ArtifactsBucket", bucket.clone()),
        ("ref:BuildProject", project.clone()),
        (
            "getatt:RunRole.Arn",
            "arn:aws:iam::123456789012:role/slipway-run".into(),
        ),
        ("ref:AgentSha256", String::new()),
        ("ref:PublicUrl", String::new()),
        ("ref:GitLabUrl", "https://gitlab.invalid".into()),
        (
            r#"expr:{"Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}"}"#,
            registry.host.clone(),
        ),
    ]
    .into_iter()
    .collect();
    let (url_listener, function_url) = function_url::bind().await;
    resources.insert(
        "getatt:WebhookFunctionUrl.FunctionUrl",
        function_url.clone(),
    );
    let environments = template_environments(&resources);
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let start = |name: &'static str, binary: &'static str| {
        let mut env = environments[name].clone();
        env.extend(aws_env(&[(
            "AWS_ENDPOINT_URL_CODEBUILD",
            codebuild.url.as_str(),
        )]));
        let logs = logs.clone();
        async move { Function::start(name, &function_binary(binary), &env, &logs).await }
    };
    let webhook = std::sync::Arc::new(start("WebhookFunction", "slipway-webhook").await);
    function_url::serve(url_listener, webhook.clone());
    let dispatch = start("DispatchFunction", "slipway-dispatch").await;
    let report = start("ReportFunction", "slipway-report").await;
    let sweeper = start("SweeperFunction", "slipway-sweeper").await;
    assert!(
        !environments["WebhookFunction"].contains_key("SLIPWAY_GITHUB_PRIVATE_KEY_ARN"),
        "the public function holds no App key"
    );

    // ---- A pull request is opened: 202, then pending check, build, final check, comment ----
    let mut opened: Value = slipway_testkit::json_fixture("github/pull_request.opened.1.json");
    opened["pull_request"]["head"]["sha"] = sha.as_str().into();
    opened["installation"] = json!({ "id": INSTALLATION });
    let body = serde_json::to_vec(&opened).unwrap();
    let (status, answer) = deliver(&function_url, "pull_request", "d-opened", &body).await;
    assert_eq!(status, 202, "{answer}\n{}", webhook.log_text());
    let (status, _) = deliver(&function_url, "pull_request", "d-opened", &body).await;
    assert_eq!(status, 200, "a redelivery is answered, not queued again");

    assert_eq!(drain_queue(&sqs, &queue_url, &dispatch).await, 1);
    let starts = codebuild.started();
    assert_eq!(starts.len(), 1, "one build for one delivery");
    assert_eq!(starts[0]["sourceVersion"], sha.as_str());
    assert_eq!(
        starts[0]["sourceLocationOverride"],
        "https://github.com/Codertocat/Hello-World.git"
    );
    let created = h.gh.requests(&format!("{REPO}/check-runs"), "POST").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["head_sha"], sha.as_str());
    assert_ne!(
        created[0]["status"], "completed",
        "the first check is pending"
    );

    let build_log = forward_build_end(&mut codebuild, &project, &report).await;
    let cloudwatch = std::fs::read_to_string(&build_log).unwrap();
    assert!(
        cloudwatch.contains("packaged-in-codebuild"),
        "step output reaches the build's own log:\n{cloudwatch}"
    );

    let updates =
        h.gh.requests(&format!("{REPO}/check-runs/7"), "PATCH")
            .await;
    let last = updates.last().expect("the check was updated");
    assert_eq!(
        last["status"],
        "completed",
        "{updates:?}\n{}",
        report.log_text()
    );
    assert_eq!(last["conclusion"], "success", "{last}\n{cloudwatch}");
    let comments = h.gh.comments(2).await;
    assert_eq!(
        comments.len(),
        1,
        "one sticky comment: {comments:?}\n{}\n{}",
        dispatch.log_text(),
        report.log_text()
    );

    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("artifacts/pull-requests/github/Codertocat/Hello-World/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.iter().any(|k| k.ends_with("/dist/app")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with("/result.json")), "{keys:?}");

    // ---- The check's link opens the run page, served by the webhook function's URL --------
    let details = last["details_url"]
        .as_str()
        .expect("the check links to its page");
    assert!(
        details.starts_with(&format!("{function_url}runs/")),
        "{details}"
    );
    let page = reqwest::get(details).await.unwrap();
    assert_eq!(page.status(), 200, "{}", webhook.log_text());
    assert_eq!(
        page.headers()["content-security-policy"],
        slipway::render::CONTENT_SECURITY_POLICY
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("packaged-in-codebuild"),
        "the page shows the log: {html}"
    );
    let (page_path, signature) = details.split_once('?').unwrap();
    let run_id = page_path.rsplit('/').next().unwrap();
    let other_run = format!(
        "{}?{signature}",
        page_path.replace(run_id, "0123456789abcdef")
    );
    assert_eq!(
        reqwest::get(&other_run).await.unwrap().status(),
        404,
        "run A's link for B"
    );
    assert_eq!(
        reqwest::get(page_path).await.unwrap().status(),
        404,
        "no link, no page"
    );

    // ---- The comment's artifact link is Slipway's, and leads to the file ------------------
    let artifacts_link = format!("{function_url}artifacts/");
    let at = comments[0]
        .find(&artifacts_link)
        .unwrap_or_else(|| panic!("the comment links the artifact: {}", comments[0]));
    let link = comments[0][at..].split(')').next().unwrap();
    let download = reqwest::get(link).await.unwrap();
    assert_eq!(download.status(), 200, "{link}");
    assert_eq!(download.text().await.unwrap(), "#!/bin/sh\necho hello\n");

    let image = registry.inspect(&format!("app:sha-{sha}"), false);
    let digest = image["Digest"]
        .as_str()
        .expect("the image was pushed")
        .to_owned();

    // ---- /deploy staging moves the tag to the same digest ------------------------------------
    let mut comment: Value = slipway_testkit::json_fixture("github/issue_comment.created.1.json");
    comment["issue"]["number"] = 2.into();
    comment["issue"]["pull_request"] =
        json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2" });
    comment["comment"]["id"] = 11.into();
    comment["comment"]["body"] = "/deploy staging".into();
    comment["comment"]["user"]["login"] = "writer".into();
    comment["comment"]["user"]["id"] = 1011.into();
    comment["comment"]["created_at"] = slipway_testkit::rfc3339_now().into();
    comment["installation"] = json!({ "id": INSTALLATION });
    let body = serde_json::to_vec(&comment).unwrap();
    let (status, answer) = deliver(&function_url, "issue_comment", "d-deploy", &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(drain_queue(&sqs, &queue_url, &dispatch).await, 1);
    let replies = h.gh.comments(2).await;
    let answer = replies.last().unwrap();
    assert!(
        answer.contains("Deployed to `staging`") && answer.contains(&digest),
        "{replies:?}\n{}",
        dispatch.log_text()
    );
    let staging = registry.inspect("app:env-staging", false);
    assert_eq!(
        staging["Digest"],
        digest,
        "staging runs the digest the build pushed\n{}",
        dispatch.log_text()
    );
    let deployments = h.gh.requests(&format!("{REPO}/deployments"), "POST").await;
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0]["environment"], "staging");

    // ---- Each function's log carries its delivery metrics (Embedded Metric Format) --------
    let metrics = |function: &Function, name: &str| -> Vec<Value> {
        function
            .log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|doc| doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Slipway")
            .filter(|doc| doc.get(name).is_some())
            .collect()
    };
    let builds = metrics(&report, "Builds");
    assert_eq!(builds.len(), 1, "{}", report.log_text());
    assert_eq!(builds[0]["BuildFailures"], 0);
    assert_eq!(builds[0]["Repository"], "Codertocat/Hello-World");
    let deploys = metrics(&dispatch, "Deploys");
    assert_eq!(deploys.len(), 1, "{}", dispatch.log_text());
    assert_eq!(
        (
            deploys[0]["Environment"].as_str(),
            deploys[0]["DeployFailures"].as_u64()
        ),
        (Some("staging"), Some(0))
    );
    assert!(
        deploys[0]["LeadTime"].is_u64(),
        "the pull request was built first: {}",
        deploys[0]
    );

    // ---- The operator's dashboard lists them, from DynamoDB -------------------------------
    dashboard::the_operator_sees_the_build_and_the_deploy(
        &function_url,
        DASHBOARD_TOKEN,
        run_id,
        sha.as_str(),
        || webhook.log_text(),
    )
    .await;

    // ---- The sweeper's schedule: nothing is left pending, so nothing changes ---------------
    let scheduled = json!({
        "version": "0", "id": "sweep", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-30T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {},
    });
    let checks_before = updates.len();
    sweeper
        .invoke(scheduled)
        .await
        .unwrap_or_else(|e| panic!("the sweep failed: {e}\n{}", sweeper.log_text()));
    let updates =
        h.gh.requests(&format!("{REPO}/check-runs/7"), "PATCH")
            .await;
    assert_eq!(
        updates.len(),
        checks_before,
        "the sweep touched a finished run"
    );

    slipway_testkit::openapi::assert_requests_match_github(&h.gh.server).await;
}
