//! The local server: `GET /` serves the form, `GET /callback` takes GitHub's code once, turns it
//! into the App's credentials and stores them, and hands the outcome to the command, which then
//! stops the server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use slipway::webhook::Secret;
use tokio::sync::oneshot;

use super::github::Github;
use super::page;
use super::plan::{self, App, Callback};
use super::report;
use super::store::Destination;

pub struct Flow {
    pub addr: SocketAddr,
    pub form_page: String,
    pub state: Secret,
    pub github: Github,
    pub destination: Destination,
    /// The GitHub API URL when it is not github.com's, for the next steps.
    pub custom_api_url: Option<String>,
}

/// What the command reports: the App and the next steps, or why not.
pub type Outcome = Result<Created, String>;

pub struct Created {
    pub app: App,
    pub steps: Vec<String>,
}

struct Shared {
    flow: Flow,
    /// Taken by the first callback with the right state: GitHub's code works once, and one
    /// App's credentials are stored at most once.
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

/// Serve until a callback has been handled; its outcome.
pub async fn serve(listener: tokio::net::TcpListener, flow: Flow) -> anyhow::Result<Outcome> {
    let (sender, receiver) = oneshot::channel();
    let shared = Arc::new(Shared {
        flow,
        done: Mutex::new(Some(sender)),
    });
    let app = Router::new()
        .route("/", get(form))
        .route("/callback", get(callback))
        .with_state(shared);
    let stop = Arc::new(tokio::sync::Notify::new());
    let server = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
        }
    });
    let outcome = receiver.await;
    // `notify_one` keeps the wake-up if the server is not waiting yet. The page in flight is
    // still sent; a browser's idle connection must not keep the command running.
    stop.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    outcome.map_err(|_| anyhow::anyhow!("the local server stopped before GitHub called back"))
}

async fn form(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = misdirected(&shared.flow, &headers) {
        return refused;
    }
    html(StatusCode::OK, shared.flow.form_page.clone())
}

async fn callback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let flow = &shared.flow;
    if let Some(refused) = misdirected(flow, &headers) {
        return refused;
    }
    let get = |name: &str| query.get(name).map(String::as_str);
    let code = match plan::callback(&flow.state, get("state"), get("code")) {
        Callback::Exchange(code) => code,
        Callback::Refuse(why) => {
            eprintln!("slipway: refused a callback: {why}");
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let Some(done) = shared.done.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return (
            StatusCode::CONFLICT,
            "This run of `slipway setup github` has handled GitHub's callback already: see its \
             terminal.",
        )
            .into_response();
    };
    let (status, outcome) = match finish(flow, code).await {
        Ok(created) => (StatusCode::OK, Ok(created)),
        Err((status, message)) => (status, Err(message)),
    };
    let body = match &outcome {
        Ok(created) => page::created(&created.app.slug, created.app.id, &created.steps),
        Err(message) => page::failed(message),
    };
    let _ = done.send(outcome);
    html(status, body)
}

/// Exchange the code and store what it brings: a failed exchange is GitHub's (502), a failed
/// store ours (500).
async fn finish(flow: &Flow, code: &str) -> Result<Created, (StatusCode, String)> {
    let conversion = flow
        .github
        .convert(code)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("{e:#}")))?;
    let app = conversion.app.clone();
    let stored = flow.destination.store(&conversion).await.map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "GitHub created the App {} (id {}), but its credentials were not all stored: \
                 {e:#}. On the App's settings page you can generate a new private key and set a \
                 new webhook secret, and store them by hand (infra/README.md).",
                app.slug, app.id
            ),
        )
    })?;
    let steps = report::next_steps(
        &app,
        &stored,
        flow.custom_api_url.as_deref(),
        conversion.webhook_secret.is_some(),
    );
    Ok(Created { app, steps })
}

fn misdirected(flow: &Flow, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    (!plan::host_allowed(host, flow.addr)).then(|| {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!("This page answers only as http://{}/", flow.addr),
        )
            .into_response()
    })
}

/// The pages hold the state and name where secrets go: not cached, not framed, no referrer, and
/// nothing loaded from elsewhere.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}
