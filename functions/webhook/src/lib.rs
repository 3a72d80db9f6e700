//! The webhook Lambda's adapter: an API Gateway HTTP API or Function URL request in, the shared
//! handler's answer out; the pages checks and comments link to (`GET /runs/{id}`,
//! `GET /artifacts/{key}`), each behind a signed link; and the operator's dashboard (`/runs`,
//! `/environments`, `/metrics`, `/login`), behind the dashboard token.

use std::time::SystemTime;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use slipway::app::dashboard::{Dashboard, PageRequest};
use slipway::app::pages::{self, PageAnswer};
use slipway::app::WebhookApp;
use slipway::artifacts::ArtifactStore;
use slipway::intake::Intake;
use slipway::links::LinkKey;
use slipway::model::event::ForgeKind;
use slipway::render::{self, WebhookResponse};
use slipway::state::{Records, StateStore};

/// What the pages read: runs from the state store, results, logs and artifacts from the
/// artifact store, and the key that signed the links; the dashboard, when the stack gives its
/// token.
pub struct Pages {
    pub state: Box<dyn StateStore>,
    pub store: Box<dyn ArtifactStore>,
    pub key: LinkKey,
    pub dashboard: Option<Dashboard<dyn Records>>,
}

/// Route by path suffix, so a stage prefix (`/prod/webhooks/github`) works as well.
pub async fn handle<I: Intake>(
    app: &WebhookApp<I>,
    pages: Option<&Pages>,
    request: Request,
) -> Response<Body> {
    let path = request.uri().path();
    if let Some(dashboard) = pages.and_then(|p| p.dashboard.as_ref()) {
        if let Some(answer) = dashboard_page(dashboard, &request).await {
            return answer;
        }
    }
    if request.method() == Method::GET {
        if let Some(answer) = page(pages, path, request.uri().query()).await {
            return answer;
        }
    }
    let forge = if path.ends_with("/webhooks/github") {
        ForgeKind::Github
    } else if path.ends_with("/webhooks/gitlab") {
        ForgeKind::Gitlab
    } else if path.ends_with("/healthz") {
        return respond(200, b"ok\n".to_vec(), "text/plain");
    } else {
        return json(render::not_found());
    };
    if request.method() != Method::POST {
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

/// A page, when `path` names one (after any stage prefix); `None` for every other path.
async fn page(pages: Option<&Pages>, path: &str, query: Option<&str>) -> Option<Response<Body>> {
    let now = slipway::state::unix_secs(SystemTime::now()).max(0) as u64;
    // Whichever marker comes first (after any stage prefix): an artifact's own key may hold
    // `/runs/` further on.
    let run = path.find("/runs/");
    let artifact = path.find(&format!("{}/", pages::ARTIFACTS_UNDER));
    let answer = match (run, artifact) {
        (Some(at), other) if other.is_none_or(|a| at < a) => {
            let id = &path[at + "/runs/".len()..];
            match pages {
                Some(p) => pages::run_page(&*p.state, &*p.store, &p.key, id, query, now).await,
                None => PageAnswer::NotFound(render::NO_SUCH_RUN),
            }
        }
        (_, Some(at)) => {
            let object = &path[at + pages::ARTIFACTS_UNDER.len() + 1..];
            match pages {
                Some(p) => pages::artifact(&*p.store, &p.key, object, query, now).await,
                None => PageAnswer::NotFound(render::NO_SUCH_ARTIFACT),
            }
        }
        _ => return None,
    };
    let response = Response::builder();
    let response = match answer {
        PageAnswer::Html(html) => response
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(Body::from(html)),
        PageAnswer::Redirect(url) => response
            .status(302)
            .header("location", url)
            .body(Body::Empty),
        PageAnswer::NotFound(what) => response
            .status(404)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Body::from(what)),
    };
    // A header the store's link cannot carry would be a bug of the store: said, never a panic.
    let response = response.unwrap_or_else(|_| respond(500, b"no link\n".to_vec(), "text/plain"));
    Some(with_page_headers(response))
}

fn with_page_headers<B>(mut response: Response<B>) -> Response<B> {
    render::add_page_headers(response.headers_mut());
    response
}

/// A dashboard page, when `request` asks for one. Its paths are the function URL's own (no
/// stage prefix): the dashboard is for the operator's browser, not for forges.
async fn dashboard_page(
    dashboard: &Dashboard<dyn Records>,
    request: &Request,
) -> Option<Response<Body>> {
    let now = slipway::state::unix_secs(SystemTime::now()).max(0) as u64;
    let asked = PageRequest {
        method: request.method(),
        path: request.uri().path(),
        query: request.uri().query(),
        headers: request.headers(),
        body: request.body().as_ref(),
    };
    let response = dashboard.answer(&asked, now).await?;
    Some(with_page_headers(response.map(Body::from)))
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
