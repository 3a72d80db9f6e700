//! Issue #12, finding 6: what a cloud build can do with what it holds. The build's own verdict
//! beats a `result.json` anything in the build may have written; the request that starts a
//! build carries the agent's digest and credentials scoped to the run; and the policies that
//! ship (template.yaml, the session policy) allow the run's own outputs and nothing else.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use serde_json::{json, Value};
use slipway::app::cloud::report_codebuild;
use slipway::app::pipeline::Pipeline;
use slipway::artifacts::ArtifactStore as _;
use slipway::forge::github::{GithubAuth, GithubClient};
use slipway::model::status::RunStatus;
use slipway::runner::codebuild::CodeBuildRunner;
use slipway::state::dynamodb::DynamoState;
use slipway::state::StateStore;
use slipway::webhook::Secret;
use slipway_testkit::*;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// GitHub's commit statuses, the only forge call a finished push build makes.
async fn fake_github() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/repos/Codertocat/Hello-World/statuses/[0-9a-f]{40}$",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .mount(&server)
        .await;
    server
}

async fn states(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().contains("/statuses/"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["state"].to_string())
        .collect()
}

fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn a_failed_build_stays_failed_whatever_its_result_json_says() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = slipway_testkit::aws::codebuild_project(&codebuild).await;
    let github = fake_github().await;
    let pipeline = Pipeline {
        state: DynamoState::from_sdk(&sdk, slipway_testkit::aws::table(&sdk).await),
        forges: github_forges(&github.uri(), Default::default()),
        runner: CodeBuildRunner::new(codebuild, &project),
        public_url: None,
        deploy: Default::default(),
        telemetry: Default::default(),
    };
    let mut run = sample_run("forged-result", None, 100);
    run.status = RunStatus::Running;
    pipeline.state.insert_run(&run).await.unwrap();

    // A step wrote the run's result.json saying it passed; CodeBuild says the build failed.
    let client = s3(&sdk);
    let bucket = slipway_testkit::unique("forged").to_lowercase();
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = slipway::artifacts::s3::S3Store::new(client, bucket.as_str());
    let forged = json!({
        "run_id": run.id.0, "status": "succeeded", "duration_ms": 1, "steps": []
    });
    store
        .put_bytes(
            &format!("{}result.json", run.output_prefix()),
            serde_json::to_vec(&forged).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    let mut event: Value = json_fixture("aws/codebuild-state-change.json");
    event["detail"]["build-status"] = "FAILED".into();
    event["detail"]["additional-information"]["environment"]["environment-variables"] =
        json!([{ "name": "SLIPWAY_RUN_ID", "type": "PLAINTEXT", "value": run.id.0 }]);
    let event: CodeBuildEvent = serde_json::from_value(event).unwrap();
    report_codebuild(&pipeline, Some(&store), event)
        .await
        .unwrap();

    let stored = pipeline.state.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(states(&github).await, ["\"failure\""]);
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const BUCKET: &str = "slipway-artifacts";
const RUN_ROLE: &str = "arn:aws:iam::123456789012:role/slipway-run";
const REPOS: &str = "arn:aws:ecr:us-east-1:123456789012:repository/";
const STATE_TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/slipway-state";

fn image(repository: &str) -> slipway::model::image::ImageSpec {
    slipway::model::image::ImageSpec {
        repository: repository.into(),
        base: None,
        platform: Default::default(),
        files: Vec::new(),
        entrypoint: None,
        cmd: None,
        env: Default::default(),
        workdir: None,
        labels: Default::default(),
    }
}

fn job(run: &slipway::model::run::Run, repository: Option<&str>) -> slipway::model::job::BuildJob {
    slipway::model::job::BuildJob {
        run_id: run.id.clone(),
        sha: run.sha.clone(),
        git_ref: run.git_ref.clone(),
        pr: run.pr,
        steps: vec![slipway::model::job::Step {
            name: "test".into(),
            run: "make test".into(),
        }],
        env: Default::default(),
        timeout_secs: 600,
        artifacts: Vec::new(),
        artifact_prefix: run.output_prefix(),
        image: repository.map(image),
        source_url: None,
        deploy: false,
    }
}

/// Ask the evaluator (shared/tests/privilege/evaluate.py: template.yaml through cfn-lint's
/// parser, statements through moto's IAM policy evaluator) about each (principal, action,
/// resource); the build's session is the run role intersected with `session_policy`.
fn evaluate(session_policy: &Value, checks: &[(&str, &str, String)]) -> Vec<String> {
    let root = slipway_testkit::workspace_path("");
    let bucket_arn = format!("arn:aws:s3:::{BUCKET}");
    let request = json!({
        "template": root.join("template.yaml"),
        "substitutions": {
            "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
            "ArtifactsBucket": BUCKET, "ArtifactsBucket.Arn": bucket_arn,
            "RunRole.Arn": RUN_ROLE,
            "BuildProject.Arn": "arn:aws:codebuild:us-east-1:123456789012:project/slipway",
            "StateTable.Arn": STATE_TABLE,
        },
        "session_policy": session_policy,
        "checks": checks.iter().map(|(principal, action, resource)| json!({
            "principal": principal, "action": action, "resource": resource,
        })).collect::<Vec<_>>(),
    });
    serde_json::from_value(privilege_script("evaluate.py", &[], Some(&request))).unwrap()
}

/// Run `shared/tests/privilege/<script>` with `args` (and `request` as JSON on stdin); its JSON.
fn privilege_script(script: &str, args: &[&std::path::Path], request: Option<&Value>) -> Value {
    let root = slipway_testkit::workspace_path("");
    let mut child = std::process::Command::new("python3")
        .arg(root.join("shared/tests/privilege").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed");
    let stdin = child.stdin.take().unwrap();
    if let Some(request) = request {
        use std::io::Write as _;
        let mut stdin = stdin;
        stdin.write_all(request.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed (scripts/test installs moto and cfn-lint): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_build_can_write_only_its_own_outputs_and_push_only_its_own_repository() {
    let run = sample_run("0a1b2c3d4e5f6789", Some(2), 100);
    let prefix = run.output_prefix();
    let mut other = sample_run("ffffffffffffffff", Some(3), 100);
    other.sha = slipway::model::event::CommitSha::parse(&"d".repeat(40)).unwrap();
    let objects = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    let repository = |name: &str| format!("{REPOS}{name}");
    let policy = slipway::runner::scope::run_session_policy(&slipway::runner::scope::RunScope {
        bucket_arn: &format!("arn:aws:s3:::{BUCKET}"),
        prefix: &prefix,
        repositories_arn: REPOS,
        repository: Some("hello"),
    })
    .unwrap();
    let current = "environments/github/Codertocat/Hello-World/production/current.json";
    let deploy_result = "deployments/github/Codertocat/Hello-World/production/d1/result.json";
    let log_group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/codebuild/slipway";
    #[rustfmt::skip]
    let table: Vec<(&str, &str, String, &str)> = vec![
        // The project's service role: any step can reach it. The agent and logs, nothing else.
        ("BuildRole", "s3:GetObject", objects("agent/slipway"), "allow"),
        ("BuildRole", "logs:PutLogEvents", log_group.into(), "allow"),
        ("BuildRole", "s3:PutObject", objects("agent/slipway"), "deny"),
        ("BuildRole", "s3:PutObject", objects(current), "deny"),
        ("BuildRole", "s3:PutObject", objects(&format!("{prefix}result.json")), "deny"),
        ("BuildRole", "s3:GetObject", objects(current), "deny"),
        ("BuildRole", "ecr:PutImage", repository("hello"), "deny"),
        ("BuildRole", "ecr:CreateRepository", repository("hello"), "deny"),
        ("BuildRole", "sts:AssumeRole", RUN_ROLE.into(), "deny"),
        // The run's session: its own prefix and repository.
        ("RunRole", "s3:PutObject", objects(&format!("{prefix}result.json")), "allow"),
        ("RunRole", "s3:PutObject", objects(&format!("{prefix}log.txt")), "allow"),
        ("RunRole", "s3:PutObject", objects(&format!("{prefix}dist/app.tar.gz")), "allow"),
        ("RunRole", "s3:GetObject", objects(&format!("{prefix}dist/app.tar.gz")), "allow"),
        ("RunRole", "ecr:GetAuthorizationToken", "*".into(), "allow"),
        ("RunRole", "ecr:InitiateLayerUpload", repository("hello"), "allow"),
        ("RunRole", "ecr:PutImage", repository("hello"), "allow"),
        ("RunRole", "ecr:BatchGetImage", repository("base-images"), "allow"),
        ("RunRole", "s3:PutObject", objects("agent/slipway"), "deny"),
        ("RunRole", "s3:PutObject", objects(current), "deny"),
        ("RunRole", "s3:PutObject", objects(deploy_result), "deny"),
        ("RunRole", "s3:PutObject", objects(&format!("{}result.json", other.output_prefix())), "deny"),
        ("RunRole", "s3:GetObject", objects(current), "deny"),
        ("RunRole", "ecr:PutImage", repository("other-service"), "deny"),
        ("RunRole", "ecr:InitiateLayerUpload", repository("other-service"), "deny"),
        ("RunRole", "ecr:CreateRepository", repository("other-service"), "deny"),
        ("RunRole", "sts:AssumeRole", RUN_ROLE.into(), "deny"),
        ("RunRole", "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t".into(), "deny"),
        // Only dispatch and report hand out run sessions.
        ("DispatchFunction", "sts:AssumeRole", RUN_ROLE.into(), "allow"),
        ("ReportFunction", "sts:AssumeRole", RUN_ROLE.into(), "allow"),
        ("WebhookFunction", "sts:AssumeRole", RUN_ROLE.into(), "deny"),
        ("SweeperFunction", "sts:AssumeRole", RUN_ROLE.into(), "deny"),
    ];
    let checks: Vec<(&str, &str, String)> = table
        .iter()
        .map(|(who, action, resource, _)| (*who, *action, resource.clone()))
        .collect();
    let answers = evaluate(&policy, &checks);
    let wrong: Vec<String> = table
        .iter()
        .zip(&answers)
        .filter(|((.., expected), got)| expected != got)
        .map(|((who, action, resource, expected), got)| {
            format!("{who} {action} {resource}: expected {expected}, got {got}")
        })
        .collect();
    assert_eq!(answers.len(), table.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_run_role_alone_never_reaches_the_agent_or_environments() {
    // Even a session policy allowing everything leaves the role's own ceiling.
    let everything = json!({ "Statement": [
        { "Effect": "Allow", "Action": "*", "Resource": "*" }
    ]});
    let objects = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    let checks = [
        ("RunRole", "s3:PutObject", objects("agent/slipway")),
        (
            "RunRole",
            "s3:PutObject",
            objects(&format!("agent/{}/slipway", "ab".repeat(32))),
        ),
        (
            "RunRole",
            "s3:PutObject",
            objects("environments/github/a/b/production/current.json"),
        ),
        (
            "RunRole",
            "s3:DeleteObject",
            objects("artifacts/github/a/b/c/d/result.json"),
        ),
        ("RunRole", "ecr:BatchDeleteImage", format!("{REPOS}hello")),
        (
            "RunRole",
            "s3:PutObject",
            objects("artifacts/github/a/b/c/d/result.json"),
        ),
        (
            "RunRole",
            "s3:PutObject",
            objects("artifacts/pull-requests/github/a/b/c/d/result.json"),
        ),
    ];
    assert_eq!(
        evaluate(&everything, &checks),
        ["deny", "deny", "deny", "deny", "deny", "allow", "allow"]
    );
}

/// Issue #16: pull requests' outputs expire and branch builds' (which deploys ship) do not:
/// the bucket's lifecycle rule names the prefix the code stores pull requests' outputs under.
#[test]
fn the_lifecycle_rule_expires_exactly_the_pull_requests_outputs() {
    use slipway::model::artifact::PULL_REQUEST_PREFIX;
    let template =
        std::fs::read_to_string(slipway_testkit::workspace_path("template.yaml")).unwrap();
    let rule = template
        .split("- Id: expire-pull-request-artifacts")
        .nth(1)
        .expect("the bucket has a rule for pull requests' artifacts");
    let rule = rule.split("- Id:").next().unwrap();
    let prefix = rule
        .lines()
        .find_map(|line| line.trim().strip_prefix("Prefix: "))
        .expect("the rule filters by prefix");
    assert_eq!(prefix, PULL_REQUEST_PREFIX);
    assert!(
        rule.contains("ExpirationInDays: !Ref PullRequestArtifactDays"),
        "{rule}"
    );

    let branch = slipway_testkit::sample_run("r1", None, 0);
    assert!(
        !branch.output_prefix().starts_with(prefix),
        "a branch build is kept"
    );
    let pull_request = slipway_testkit::sample_run("r2", Some(3), 0);
    assert!(
        pull_request.output_prefix().starts_with(prefix),
        "a pull request's build expires"
    );
}

/// The raw bodies the SDK sends (CodeBuild's JSON, STS's form), in order.
#[derive(Debug, Default, Clone)]
struct Bodies(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl aws_sdk_codebuild::config::Intercept for Bodies {
    fn name(&self) -> &'static str {
        "bodies"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_codebuild::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_codebuild::config::RuntimeComponents,
        _cfg: &mut aws_sdk_codebuild::config::ConfigBag,
    ) -> Result<(), aws_sdk_codebuild::error::BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(body).into_owned());
        Ok(())
    }
}

/// A CodeBuild client on `sdk` whose request bodies land in `sent`.
fn recorded_codebuild(sdk: &aws_config::SdkConfig, sent: &Bodies) -> aws_sdk_codebuild::Client {
    aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(sdk)
            .interceptor(sent.clone())
            .build(),
    )
}

/// A forge the runner is handed but never calls (CodeBuild checks out the code itself).
fn unused_github() -> Box<dyn slipway::forge::Forge> {
    Box::new(
        GithubClient::new(
            "http://127.0.0.1:9",
            GithubAuth::Token(Secret::new("unused").unwrap()),
            Default::default(),
        )
        .unwrap()
        .forge(None),
    )
}

#[tokio::test]
async fn a_build_starts_with_the_agent_digest_and_a_session_scoped_to_its_run() {
    use slipway::runner::codebuild::{CodeBuildRunner, RunRole, BUILDSPEC};
    use slipway::runner::scope;
    use slipway::runner::Runner as _;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let sent = Bodies::default();
    let codebuild = recorded_codebuild(&sdk, &sent);
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(sent.clone())
            .build(),
    );
    let project = slipway_testkit::aws::codebuild_project(&codebuild).await;
    let digest = "ab".repeat(32);
    let runner = CodeBuildRunner::new(codebuild, &project)
        .with_agent(&digest, Some(BUCKET))
        .with_run_role(RunRole {
            sts,
            role_arn: RUN_ROLE.into(),
            bucket: BUCKET.into(),
            region: REGION.into(),
        });
    let run = sample_run("0a1b2c3d4e5f6789", Some(2), 100);
    let job = job(&run, Some("hello"));
    let github = unused_github();
    runner
        .start(&job, github.as_ref(), &run.repo)
        .await
        .unwrap();

    let bodies = sent.0.lock().unwrap().clone();
    // STS was asked for the run role, for the build's time, with the run's session policy.
    let assume = bodies
        .iter()
        .find(|b| b.contains("Action=AssumeRole"))
        .expect("an AssumeRole call");
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(assume.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["RoleArn"], RUN_ROLE);
    assert_eq!(form["RoleSessionName"], "slipway-0a1b2c3d4e5f6789");
    assert_eq!(form["DurationSeconds"], "900");
    let expected = scope::run_session_policy(&scope::RunScope {
        bucket_arn: &format!("arn:aws:s3:::{BUCKET}"),
        prefix: &run.output_prefix(),
        repositories_arn: REPOS,
        repository: Some("hello"),
    })
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&form["Policy"]).unwrap(),
        expected
    );

    // StartBuild carries the digest and that session, under names the buildspec's own
    // download does not use.
    let start: Value = bodies
        .iter()
        .find_map(|b| {
            serde_json::from_str::<Value>(b)
                .ok()
                .filter(|v| v.get("buildspecOverride").is_some())
        })
        .expect("a StartBuild call");
    assert_eq!(start["buildspecOverride"], BUILDSPEC);
    assert!(BUILDSPEC.contains("sha256sum -c"), "{BUILDSPEC}");
    let vars = start["environmentVariablesOverride"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        var("SLIPWAY_AGENT_S3"),
        Some(format!("s3://{BUCKET}/agent/{digest}/slipway")),
        "the agent is fetched by its digest: publishing another never changes this build's"
    );
    assert_eq!(var("SLIPWAY_AGENT_SHA256"), Some(digest));
    assert!(var("AWS_ACCESS_KEY_ID").is_none() && var("AWS_SESSION_TOKEN").is_none());
    let key = var(scope::ACCESS_KEY_ID).expect("the run's access key");
    let secret = var(scope::SECRET_ACCESS_KEY).expect("the run's secret key");
    let token = var(scope::SESSION_TOKEN).expect("the run's session token");

    // Those are a session of the run role, named after the run.
    let as_run = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                key,
                secret,
                Some(token),
                None,
                "test",
            ))
            .build(),
    );
    let me = as_run.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/slipway-run/slipway-0a1b2c3d4e5f6789")
    );
}

/// Issue #16: each function's environment as template.yaml gives it (Globals merged, conditions
/// decided for a GitHub App, GitLab, and both), read by shared/tests/privilege/environments.py.
fn environments() -> Value {
    let template = slipway_testkit::workspace_path("template.yaml");
    privilege_script("environments.py", &[&template], None)
}

#[test]
fn each_function_gets_the_secrets_its_code_resolves_and_its_role_may_read_them() {
    use slipway::wire::settings::{self, PAGES_SECRETS, PIPELINE_SECRETS, WEBHOOK_SECRETS};
    let webhook_secrets: Vec<&str> = WEBHOOK_SECRETS.into_iter().chain(PAGES_SECRETS).collect();
    let setups = environments();
    for (setup, functions) in setups.as_object().unwrap() {
        for (function, view) in functions.as_object().unwrap() {
            let env = view["env"].as_object().unwrap();
            let resolves: &[&str] = if function == "WebhookFunction" {
                &webhook_secrets
            } else {
                &PIPELINE_SECRETS
            };
            let at = format!("{function} ({setup})");
            for (variable, secret) in view["secrets"].as_object().unwrap() {
                let setting = variable.strip_suffix("_ARN").unwrap();
                assert!(
                    resolves.contains(&setting),
                    "{at} is given {variable}, which its code never resolves"
                );
                assert_eq!(
                    secret["readable"], true,
                    "{at} resolves {variable} at cold start but its role may not read {}: \
                     every cold start would fail",
                    secret["secret"]
                );
            }
            assert!(env.contains_key(settings::TABLE), "{at}");
            if function == "WebhookFunction" {
                assert!(env.contains_key(settings::QUEUE_URL), "{at}");
                assert!(
                    env.contains_key(&format!("{}_ARN", settings::GITHUB_WEBHOOK_SECRET)),
                    "{at}"
                );
                let forge_credentials = env.keys().filter(|k| {
                    k.starts_with(settings::GITHUB_PRIVATE_KEY)
                        || k.starts_with(settings::GITLAB_TOKEN)
                });
                assert_eq!(
                    forge_credentials.count(),
                    0,
                    "{at} holds a forge credential"
                );
            } else {
                assert!(env.contains_key(settings::CODEBUILD_PROJECT), "{at}");
                assert!(
                    env.contains_key(&format!("{}_ARN", settings::LINK_KEY)),
                    "{at}"
                );
            }
        }
        let dispatch = &functions["DispatchFunction"]["env"];
        if setup != "gitlab" {
            assert!(dispatch
                .get(format!("{}_ARN", settings::GITHUB_PRIVATE_KEY))
                .is_some());
        }
        if setup != "github-app" {
            assert!(dispatch
                .get(format!("{}_ARN", settings::GITLAB_TOKEN))
                .is_some());
            let webhook = &functions["WebhookFunction"]["env"];
            assert!(webhook
                .get(format!("{}_ARN", settings::GITLAB_WEBHOOK_TOKEN))
                .is_some());
        }
    }
}

/// Issue #16: GitHub sends an App only the events its permissions cover; `merge_group` needs
/// `merge_queues: read`, without which merge queues wait for a check that never comes.
#[test]
fn the_app_manifest_grants_what_each_event_it_asks_for_needs() {
    let path = slipway_testkit::workspace_path("infra/github-app-manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let permissions = &manifest["default_permissions"];
    let needs = [
        ("pull_request", "pull_requests"),
        ("issue_comment", "issues"),
        ("push", "contents"),
        ("check_run", "checks"),
        ("check_suite", "checks"),
        ("merge_group", "merge_queues"),
    ];
    let events: Vec<&str> = manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for (event, permission) in needs {
        assert!(events.contains(&event), "{event} is not asked for");
        assert!(
            permissions[permission].is_string(),
            "{event} needs the {permission} permission"
        );
    }
}

/// Issue #16: an in-place deploy (ECS's longest wait, then a rollback that does not wait) fits
/// inside the functions that run it, and the environment's lock outlives those functions and
/// the deploy steps' build, so a lock never expires under a deploy that is still running.
#[test]
fn the_slowest_in_place_deploy_fits_its_function_and_its_lock() {
    use slipway::config::MAX_ECS_WAIT;
    use slipway::model::deploy::LOCK_TTL;
    let template =
        std::fs::read_to_string(slipway_testkit::workspace_path("template.yaml")).unwrap();
    for function in ["DispatchFunction", "ReportFunction"] {
        let block = template
            .split(&format!("\n  {function}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("template.yaml has {function}"));
        // Its own lines: up to the next resource (a line indented by two spaces only).
        let timeout: u64 = block
            .lines()
            .take_while(|line| !line.starts_with("  ") || line.starts_with("   "))
            .find_map(|line| line.trim().strip_prefix("Timeout: "))
            .unwrap_or_else(|| panic!("{function} sets its Timeout"))
            .parse()
            .unwrap();
        let timeout = std::time::Duration::from_secs(timeout);
        assert!(
            MAX_ECS_WAIT + std::time::Duration::from_secs(120) <= timeout,
            "{function}: a {MAX_ECS_WAIT:?} ECS wait leaves too little of {timeout:?}"
        );
        assert!(LOCK_TTL > timeout, "{function} outlives the deploy lock");
    }
    // Deploy steps run as a build with the default timeout; its report ends the deploy.
    assert!(
        LOCK_TTL >= slipway::config::DEFAULT_TIMEOUT + std::time::Duration::from_secs(5 * 60),
        "deploy steps may outlive the lock"
    );
}

/// Issue #16: a deploy's steps in CodeBuild get a session of the operator's deploy role as the
/// standard `AWS_*` variables (so `aws …` in them authenticates); a build's steps get none.
#[tokio::test]
async fn deploy_steps_get_the_deploy_role_and_builds_do_not() {
    use slipway::runner::codebuild::DeployRole;
    use slipway::runner::Runner as _;
    const DEPLOYER: &str = "arn:aws:iam::123456789012:role/deployer";
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let sent = Bodies::default();
    let codebuild = recorded_codebuild(&sdk, &sent);
    let project = slipway_testkit::aws::codebuild_project(&codebuild).await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(sent.clone())
            .build(),
    );
    let runner = CodeBuildRunner::new(codebuild, &project).with_deploy_role(DeployRole {
        sts,
        role_arn: DEPLOYER.into(),
        region: REGION.into(),
    });
    let github = unused_github();
    let step_env = |body: &str| -> Value {
        let start: Value = serde_json::from_str(body).unwrap();
        let vars = start["environmentVariablesOverride"].as_array().unwrap();
        let job = vars.iter().find(|v| v["name"] == "SLIPWAY_JOB").unwrap();
        serde_json::from_str::<Value>(job["value"].as_str().unwrap()).unwrap()["env"].clone()
    };

    let run = sample_run("0a1b2c3d4e5f6789", Some(2), 100);
    let mut deploy = job(&run, None);
    deploy.deploy = true;
    deploy.env.insert("SLIPWAY_ENV".into(), "production".into());
    runner
        .start(&deploy, github.as_ref(), &run.repo)
        .await
        .unwrap();
    let build = job(&sample_run("1a1b2c3d4e5f6789", Some(2), 100), None);
    runner
        .start(&build, github.as_ref(), &run.repo)
        .await
        .unwrap();

    let starts: Vec<String> = sent
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains("buildspecOverride"))
        .cloned()
        .collect();
    assert_eq!(starts.len(), 2);
    let deploy_env = step_env(&starts[0]);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        assert!(
            deploy_env[name].as_str().is_some_and(|v| !v.is_empty()),
            "{name}: {deploy_env}"
        );
    }
    assert_eq!(deploy_env["AWS_REGION"], REGION);
    // The session names what it deploys, for the role's policy to decide on.
    let assume = sent
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.contains("Action=AssumeRole"))
        .cloned()
        .expect("an AssumeRole call");
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(assume.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["RoleArn"], DEPLOYER);
    let tags: std::collections::BTreeMap<&str, &str> = (1..=2)
        .map(|n| {
            (
                form[&format!("Tags.member.{n}.Key")].as_str(),
                form[&format!("Tags.member.{n}.Value")].as_str(),
            )
        })
        .collect();
    assert_eq!(tags["slipway:repository"], run.repo.full_name);
    assert_eq!(tags["slipway:environment"], "production");
    let build_env = step_env(&starts[1]);
    assert!(
        build_env.get("AWS_ACCESS_KEY_ID").is_none()
            && build_env.get("AWS_SESSION_TOKEN").is_none(),
        "a build's steps get no deploy credentials: {build_env}"
    );
}

/// Issue #17: the template's dashboard is valid JSON and reads only metrics the functions log.
#[test]
fn the_delivery_dashboard_reads_the_metrics_the_functions_log() {
    use slipway::metrics::emf::{emf_line, Delivered};
    let template = slipway_testkit::workspace_path("template.yaml");
    let read = privilege_script("dashboard.py", &[&template], None);
    let read: Vec<&str> = read
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        read.contains(&"Deploys") && read.contains(&"LeadTime"),
        "{read:?}"
    );
    let logged: Vec<Value> = [
        Delivered::Build {
            repo: "a/b",
            succeeded: true,
            duration_secs: 1,
        },
        Delivered::Deploy {
            repo: "a/b",
            environment: "e",
            rollback: false,
            went_live: true,
            lead_time_secs: Some(1),
        },
    ]
    .iter()
    .map(|event| serde_json::from_str(&emf_line(event, 0)).unwrap())
    .collect();
    for name in read {
        assert!(
            logged.iter().any(|doc| doc.get(name).is_some()),
            "the dashboard reads {name}, which no function logs"
        );
    }
}

/// The public function may make the state calls its code makes (record, confirm and forget a
/// delivery; read a run for its page, a lock for the dashboard; query the dashboard's indexes)
/// and no others. (The evaluator leaves out conditions: the `dynamodb:LeadingKeys` limits to
/// `DELIVERY#`, `RUN#` and `LOCK#` keys are the template's, unchecked here.)
#[test]
fn the_webhook_function_may_make_exactly_its_state_calls() {
    use slipway::state::dynamodb::{BY_PR_INDEX, RECENT_INDEX, UNFINISHED_INDEX};
    let any = json!({ "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    let index = |name: &str| format!("{STATE_TABLE}/index/{name}");
    let table = [
        ("dynamodb:PutItem", STATE_TABLE.to_owned(), "allow"),
        ("dynamodb:UpdateItem", STATE_TABLE.to_owned(), "allow"),
        ("dynamodb:DeleteItem", STATE_TABLE.to_owned(), "allow"),
        ("dynamodb:GetItem", STATE_TABLE.to_owned(), "allow"),
        ("dynamodb:Query", STATE_TABLE.to_owned(), "deny"),
        ("dynamodb:Scan", STATE_TABLE.to_owned(), "deny"),
        ("dynamodb:Query", index(RECENT_INDEX), "allow"),
        ("dynamodb:Query", index(BY_PR_INDEX), "allow"),
        ("dynamodb:Query", index(UNFINISHED_INDEX), "deny"),
        ("dynamodb:Scan", index(RECENT_INDEX), "deny"),
    ];
    let checks: Vec<(&str, &str, String)> = table
        .iter()
        .map(|(action, resource, _)| ("WebhookFunction", *action, resource.clone()))
        .collect();
    let expected: Vec<&str> = table.iter().map(|(_, _, answer)| *answer).collect();
    assert_eq!(evaluate(&any, &checks), expected);
}
