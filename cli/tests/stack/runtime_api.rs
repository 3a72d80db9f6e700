//! STAND-IN for the Lambda Runtime API: one per function process. The process is the real
//! function binary; it asks `GET …/invocation/next` for work and answers with `POST
//! …/response` or `…/error`, as it would in Lambda.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

type Answer = Result<Value, Value>;

#[derive(Clone)]
struct Shared {
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    init_error: Arc<Mutex<Option<String>>>,
}

/// A function binary running under its own Runtime API stand-in.
pub struct Function {
    pub name: String,
    events: mpsc::UnboundedSender<(String, Value)>,
    shared: Shared,
    child: Child,
    log: PathBuf,
    invocations: std::sync::atomic::AtomicU64,
}

impl Function {
    /// Start `binary` with exactly `env` (what template.yaml gives the function) plus what
    /// Lambda itself sets, writing its output to `<logs>/<name>.log`.
    pub async fn start(
        name: &str,
        binary: &Path,
        env: &BTreeMap<String, String>,
        logs: &Path,
    ) -> Function {
        let (events, next) = mpsc::unbounded_channel();
        let shared = Shared {
            next: Arc::new(tokio::sync::Mutex::new(next)),
            waiting: Arc::default(),
            init_error: Arc::default(),
        };
        let routes = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes).await });

        let log = logs.join(format!("{name}.log"));
        let output = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .env_clear()
            .envs(env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "stack-test")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Function {
            name: name.into(),
            events,
            shared,
            child,
            log,
            invocations: Default::default(),
        }
    }

    /// Hand the function one event and wait for its answer: `Err` is what it posted to
    /// `/error` (or why it never answered).
    pub async fn invoke(&self, event: Value) -> Answer {
        let n = self
            .invocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("{}-{n}", self.name);
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        self.events.send((id, event)).unwrap();
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(answer)) => answer,
            _ => Err(serde_json::json!({
                "standIn": format!("{} did not answer; init error: {:?}; log:\n{}",
                    self.name, self.shared.init_error.lock().unwrap(), self.log_text())
            })),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next_event(State(shared): State<Shared>) -> (HeaderMap, String) {
    let Some((id, event)) = shared.next.lock().await.recv().await else {
        std::future::pending().await // the test is over; the process is being stopped
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:stack"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5e1b4151-5ac6c58f5b5dbd6a3f5d3e0a".parse().unwrap(),
    );
    (headers, event.to_string())
}

async fn response(shared: State<Shared>, id: UrlPath<String>, body: String) -> StatusCode {
    answer(shared, id, body, true)
}

async fn error(shared: State<Shared>, id: UrlPath<String>, body: String) -> StatusCode {
    answer(shared, id, body, false)
}

fn answer(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: String,
    ok: bool,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    if let Some(waiter) = shared.waiting.lock().unwrap().remove(&id) {
        let _ = waiter.send(if ok { Ok(value) } else { Err(value) });
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Shared>, body: String) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(body);
    StatusCode::ACCEPTED
}
