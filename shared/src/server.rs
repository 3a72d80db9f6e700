//! `slipway serve`: the webhook endpoints over HTTP on one machine.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::app::WebhookApp;
use crate::intake::Intake;
use crate::model::event::ForgeKind;
use crate::render::{self, WebhookResponse};
use crate::webhook;

mod dashboard;
mod edge;
mod pages;
pub use dashboard::dashboard;
pub use edge::{serve, EdgeLimits};
use edge::{BodyGate, Peer};
pub use pages::{run_pages, with_security_headers, CONTENT_SECURITY_POLICY};

/// What the webhook routes share: the use case, and the gate bodies pass before they are read.
struct Edge<I> {
    app: Arc<WebhookApp<I>>,
    gate: BodyGate,
}

/// The routes: `POST /webhooks/github`, `POST /webhooks/gitlab`, `GET /healthz`.
pub fn router<I: Intake + 'static>(app: Arc<WebhookApp<I>>, limits: &EdgeLimits) -> Router {
    let edge = Arc::new(Edge {
        app,
        gate: BodyGate::new(limits),
    });
    Router::new()
        .route("/webhooks/github", post(github::<I>))
        .route("/webhooks/gitlab", post(gitlab::<I>))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { into_response(render::not_found()) })
        .with_state(edge)
}

async fn github<I: Intake + 'static>(
    State(edge): State<Arc<Edge<I>>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let peer = peer.map(|Extension(peer)| peer);
    receive(&edge, ForgeKind::Github, peer, headers, body).await
}

async fn gitlab<I: Intake + 'static>(
    State(edge): State<Arc<Edge<I>>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let peer = peer.map(|Extension(peer)| peer);
    receive(&edge, ForgeKind::Gitlab, peer, headers, body).await
}

/// Bodies up to this size are verified and parsed on the async worker that read them.
const VERIFY_INLINE_BYTES: usize = 64 * 1024;

/// Judge the headers first: a delivery that cannot be authentic, or declares too large a body,
/// is refused before a byte of its body is read. Then read the body through the gate.
async fn receive<I: Intake + 'static>(
    edge: &Edge<I>,
    forge: ForgeKind,
    peer: Option<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let app = &edge.app;
    if let Err(rejection) = webhook::precheck(&app.ingress, forge, &headers, SystemTime::now()) {
        tracing::warn!(%forge, status = rejection.status(), reason = %rejection, "webhook rejected before its body");
        return into_response(render::rejected(&rejection));
    }
    let declared = webhook::declared_length(&headers);
    let response = match edge
        .gate
        .read(body, declared, app.ingress.max_body_bytes, peer)
        .await
    {
        Ok(body) if body.bytes.len() <= VERIFY_INLINE_BYTES => {
            app.handle_webhook(forge, &headers, &body.bytes, SystemTime::now())
                .await
        }
        Ok(body) => {
            // Hashing and parsing megabytes would hold an async worker for milliseconds, and a
            // flood of large forged bodies would stall every connection: do it on the blocking
            // pool (how many run at once is bounded by the body memory budget).
            let now = SystemTime::now();
            let (app2, bytes) = (Arc::clone(app), body.bytes.clone());
            let verified = tokio::task::spawn_blocking(move || {
                webhook::verify_and_parse(&app2.ingress, forge, &headers, &bytes, now)
            })
            .await;
            match verified {
                Ok(verified) => app.handle_verified(forge, verified, now).await,
                Err(error) => {
                    tracing::error!(%forge, %error, "verifying a delivery failed");
                    render::rejected(&webhook::Rejection::Busy)
                }
            }
        }
        Err(rejection) => {
            tracing::warn!(%forge, status = rejection.status(), reason = %rejection, "webhook body refused");
            render::rejected(&rejection)
        }
    };
    into_response(response)
}

fn into_response(response: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(response.body)).into_response()
}
