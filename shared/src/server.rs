//! `slipway serve`: the webhook endpoints over HTTP on one machine.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::app::WebhookApp;
use crate::model::event::ForgeKind;
use crate::queue::Queue;
use crate::render::{self, WebhookResponse};
use crate::state::StateStore;
use crate::webhook::Rejection;

mod pages;
pub use pages::{run_pages, with_security_headers, CONTENT_SECURITY_POLICY};

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

/// Read the body, refusing it as soon as it is known to be over the limit: by `Content-Length`
/// before reading anything, else while streaming (`http_body_util::Limited` stops at the first
/// frame past the limit).
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Rejection> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Rejection::TooLarge { limit }),
        Err(e) => Err(Rejection::Malformed(format!(
            "reading the body failed: {e}"
        ))),
    }
}

fn into_response(response: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(response.body)).into_response()
}
