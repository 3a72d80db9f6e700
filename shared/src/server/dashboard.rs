//! The dashboard under `slipway serve`: [`crate::app::dashboard`] behind axum. Each of its
//! paths is handed to the shared code with the request's parts, and its answer sent back.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::app::dashboard::{Dashboard, PageRequest};
use crate::state::sqlite::SqliteState;
use crate::state::unix_secs;

type Shared = Arc<Dashboard<SqliteState>>;

/// The dashboard's routes: `/`, `/runs`, `/environments`, `/metrics`, `/login`, `/favicon.ico`.
pub fn dashboard(dashboard: Shared) -> Router {
    let mut router = Router::new();
    for path in [
        "/",
        "/runs",
        "/environments",
        "/metrics",
        "/login",
        "/favicon.ico",
    ] {
        router = router.route(path, any(answer));
    }
    router.with_state(dashboard)
}

async fn answer(
    State(dashboard): State<Shared>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = PageRequest {
        method: &method,
        path: uri.path(),
        query: query.as_deref(),
        headers: &headers,
        body: &body,
    };
    let now = unix_secs(SystemTime::now()).max(0) as u64;
    match dashboard.answer(&request, now).await {
        Some(response) => response.map(Body::from),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
