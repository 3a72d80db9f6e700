//! The webhook Lambda's adapter: an API Gateway HTTP API or Function URL request in, the shared
//! handler's answer out.

use std::time::SystemTime;

use lambda_http::{Body, Request, Response};
use slipway::app::WebhookApp;
use slipway::intake::Intake;
use slipway::model::event::ForgeKind;
use slipway::render::{self, WebhookResponse};

/// Route by path suffix, so a stage prefix (`/prod/webhooks/github`) works as well.
pub async fn handle<I: Intake>(app: &WebhookApp<I>, request: Request) -> Response<Body> {
    let path = request.uri().path();
    let forge = if path.ends_with("/webhooks/github") {
        ForgeKind::Github
    } else if path.ends_with("/webhooks/gitlab") {
        ForgeKind::Gitlab
    } else if path.ends_with("/healthz") {
        return respond(200, b"ok\n".to_vec(), "text/plain");
    } else {
        return json(render::not_found());
    };
    if request.method() != lambda_http::http::Method::POST {
        return respond(405, b"use POST\n".to_vec(), "text/plain");
    }
    let answer = app
        .handle_webhook(
            forge,
            request.headers(),
            request.body().as_ref(),
            SystemTime::now(),
        )
        .await;
    json(answer)
}

fn json(answer: WebhookResponse) -> Response<Body> {
    respond(answer.status, answer.body_bytes(), "application/json")
}

fn respond(status: u16, body: Vec<u8>, content_type: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("a status code and a static header are always valid")
}
