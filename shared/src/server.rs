//! `slipway serve`: the webhook endpoints over HTTP on one machine.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;

use crate::app::WebhookApp;
use crate::event::ForgeKind;
use crate::queue::Queue;
use crate::render::{self, WebhookResponse};
use crate::state::StateStore;
use crate::webhook::Rejection;

/// The routes: `POST /webhooks/github`, `POST /webhooks/gitlab`, `GET /healthz`.
pub fn router<S, Q>(app: Arc<WebhookApp<S, Q>>) -> Router
where
    S: StateStore + 'static,
    Q: Queue + 'static,
{
    Router::new()
        .route("/webhooks/github", post(github::<S, Q>))
        .route("/webhooks/gitlab", post(gitlab::<S, Q>))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { into_response(render::not_found()) })
        .with_state(app)
}

async fn github<S: StateStore, Q: Queue>(
    State(app): State<Arc<WebhookApp<S, Q>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&app, ForgeKind::Github, headers, body).await
}

async fn gitlab<S: StateStore, Q: Queue>(
    State(app): State<Arc<WebhookApp<S, Q>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&app, ForgeKind::Gitlab, headers, body).await
}

async fn receive<S: StateStore, Q: Queue>(
    app: &WebhookApp<S, Q>,
    forge: ForgeKind,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = app.ingress.max_body_bytes;
    let response = match read_limited(&headers, body, limit).await {
        Ok(bytes) => {
            app.handle_webhook(forge, &headers, &bytes, SystemTime::now())
                .await
        }
        Err(rejection) => render::rejected(&rejection),
    };
    into_response(response)
}

/// Read the body into one buffer sized up front, refusing it as soon as it is known to be over
/// the limit: by `Content-Length` before reading anything, else while streaming.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Rejection> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Rejection::Malformed(format!("reading the body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Rejection::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// `GET /runs/{id}`: a readable page of a local build, from `<runs_dir>/<id>`.
/// and `GET /artifacts/{key}`: the directory artifact store's files.
pub fn run_pages<S: StateStore + 'static>(
    state: Arc<S>,
    runs_dir: std::path::PathBuf,
    artifacts_dir: std::path::PathBuf,
) -> Router {
    let store = Arc::new(crate::artifacts::fs::FsStore::new(artifacts_dir, None));
    Router::new()
        .route("/runs/{id}", get(run_page::<S>))
        .with_state((state, Arc::new(runs_dir)))
        .merge(
            Router::new()
                .route("/artifacts/{*key}", get(artifact))
                .with_state(store),
        )
}

async fn artifact(
    State(store): State<Arc<crate::artifacts::fs::FsStore>>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> Response {
    let Some(path) = store.path_of(&key) else {
        return (StatusCode::NOT_FOUND, "no such artifact\n").into_response();
    };
    match tokio::fs::File::open(&path).await {
        Ok(file) => {
            let content_type = crate::artifacts::content_type(&key);
            // Streamed in chunks: a large artifact is never read whole into memory.
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
            ([(http::header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no such artifact\n").into_response(),
    }
}

async fn run_page<S: StateStore>(
    State((state, runs_dir)): State<(Arc<S>, Arc<std::path::PathBuf>)>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    // Run ids are 16 hex digits: anything else never reaches the file system.
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::NOT_FOUND, "no such run\n").into_response();
    }
    let run = state
        .get_run(&crate::run::RunId(id.clone()))
        .await
        .ok()
        .flatten();
    let out = runs_dir.join(&id).join("out");
    if run.is_none() && !out.exists() {
        return (StatusCode::NOT_FOUND, "no such run\n").into_response();
    }
    let (result, _) = crate::runner::local::read_output(&out);
    let log =
        crate::runner::agent::log_tail(&out.join(crate::runner::agent::LOG_FILE), 5000, 4 << 20)
            .unwrap_or_default();
    axum::response::Html(render::run_page(run.as_ref(), result.as_ref(), &log)).into_response()
}

fn into_response(response: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(response.body)).into_response()
}
