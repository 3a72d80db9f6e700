//! STAND-IN for CodeBuild (its JSON API on a local port, `AWS_ENDPOINT_URL_CODEBUILD`): a
//! `StartBuild` clones the repository at the requested commit and runs the buildspec Slipway
//! sent, phase by phase, with the project's variables and the build's overrides, as CodeBuild's
//! container would. Its output is the build's own log (CloudWatch in AWS). When the build ends
//! it emits the "CodeBuild Build State Change" event the EventBridge rule forwards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// What the stand-in needs of the world around it.
pub struct Project {
    /// The project's own environment variables (template.yaml's `BuildProject`).
    pub env: BTreeMap<String, String>,
    /// Where `sourceLocationOverride` is cloned from (the fake GitHub's repository).
    pub git_dir: PathBuf,
    /// What a build container has besides the buildspec's tools: PATH with `slipway` on it, the
    /// AWS endpoint and region.
    pub container_env: BTreeMap<String, String>,
    pub work: PathBuf,
}

#[derive(Clone)]
struct Shared {
    project: Arc<Project>,
    started: Arc<Mutex<Vec<Value>>>,
    ended: mpsc::UnboundedSender<Value>,
}

pub struct CodeBuild {
    pub url: String,
    started: Arc<Mutex<Vec<Value>>>,
    /// Each build's state-change event, when it ends.
    pub ended: mpsc::UnboundedReceiver<Value>,
}

impl CodeBuild {
    pub async fn start(project: Project) -> CodeBuild {
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let started = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            project: Arc::new(project),
            started: started.clone(),
            ended: ended_tx,
        };
        let routes = Router::new().route("/", post(api)).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        CodeBuild {
            url,
            started,
            ended,
        }
    }

    /// The `StartBuild` requests received, in order.
    pub fn started(&self) -> Vec<Value> {
        self.started.lock().unwrap().clone()
    }
}

async fn api(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Json<Value> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    match target.rsplit('.').next().unwrap_or_default() {
        "StartBuild" => {
            let n = {
                let mut started = shared.started.lock().unwrap();
                started.push(request.clone());
                started.len()
            };
            let project = request["projectName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let id = format!("{project}:build-{n}");
            let build = build_json(&id, "IN_PROGRESS");
            tokio::spawn(run_build(shared, id, request));
            Json(json!({ "build": build }))
        }
        "StopBuild" => Json(
            json!({ "build": build_json(request["id"].as_str().unwrap_or_default(), "STOPPED") }),
        ),
        "BatchGetBuilds" => Json(json!({ "builds": [], "buildsNotFound": request["ids"] })),
        other => panic!("the CodeBuild stand-in does not do {other}"),
    }
}

fn build_json(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "arn": format!("arn:aws:codebuild:us-east-1:123456789012:build/{id}"),
        "buildStatus": status,
    })
}

/// The build container: checkout, then the buildspec's install and build commands.
async fn run_build(shared: Shared, id: String, request: Value) {
    let project = &shared.project;
    let dir = project.work.join(id.replace(':', "-"));
    let src = dir.join("src");
    std::fs::create_dir_all(&dir).unwrap();
    let mut env = project.env.clone();
    env.extend(project.container_env.clone());
    for variable in request["environmentVariablesOverride"]
        .as_array()
        .into_iter()
        .flatten()
    {
        env.insert(
            variable["name"].as_str().unwrap().into(),
            variable["value"].as_str().unwrap().into(),
        );
    }
    env.insert("CODEBUILD_SRC_DIR".into(), src.display().to_string());
    env.insert("CODEBUILD_BUILD_ID".into(), id.clone());
    let log_path = dir.join("cloudwatch.log");
    let checkout = format!(
        "git clone -q {} {} && cd {} && git checkout -q {}",
        project.git_dir.display(),
        src.display(),
        src.display(),
        request["sourceVersion"].as_str().unwrap_or("HEAD"),
    );
    let buildspec: Value =
        serde_saphyr::from_str(request["buildspecOverride"].as_str().unwrap()).unwrap();
    let mut commands = vec![checkout];
    for phase in ["install", "pre_build", "build", "post_build"] {
        for command in buildspec["phases"][phase]["commands"]
            .as_array()
            .into_iter()
            .flatten()
        {
            commands.push(command.as_str().unwrap().to_owned());
        }
    }
    let mut status = "SUCCEEDED";
    for command in commands {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let ran = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&command)
            .current_dir(&dir)
            .env_clear()
            .envs(&env)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .await
            .unwrap();
        if !ran.success() {
            status = "FAILED";
            break;
        }
    }
    let mut event: Value = slipway_testkit::json_fixture("aws/codebuild-state-change.json");
    let detail = &mut event["detail"];
    detail["build-status"] = status.into();
    detail["project-name"] = request["projectName"].clone();
    detail["build-id"] = format!("arn:aws:codebuild:us-east-1:123456789012:build/{id}").into();
    detail["additional-information"]["environment"]["environment-variables"] = request
        ["environmentVariablesOverride"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut v| {
            v["type"] = "PLAINTEXT".into();
            v
        })
        .collect();
    let _ = shared
        .ended
        .send(json!({ "event": event, "log": log_path }));
}
