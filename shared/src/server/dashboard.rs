//! The dashboard `slipway serve` shows its operator (issue #17): `/runs`, `/environments` and
//! `/metrics`, from the embedded state. Each answers only the operator: the token
//! (`SLIPWAY_DASHBOARD_TOKEN`) as a bearer token, or the session cookie the sign-in form sets
//! (HttpOnly, Secure, SameSite=Strict, signed with the link key, 12 hours). Run pages stay
//! reachable by their own signed links, as checks and comments carry them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use sha2::Digest as _;

use crate::links::{LinkKey, Links};
use crate::metrics::Window;
use crate::model::deploy::DeploymentRecord;
use crate::model::secret::Secret;
use crate::render::dashboard::{self as pages, EnvironmentView, RunFilter, RunRow};
use crate::state::sqlite::SqliteState;
use crate::state::{environment_key, unix_secs};

/// What a session cookie signs (never a page: nothing is served at it).
const SESSION_PATH: &str = "/dashboard-session";
const SESSION_COOKIE: &str = "slipway_session";
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most runs the list shows.
const RUNS_SHOWN: u32 = 200;
/// The sign-in form posts to this page; every other page may submit nothing.
const SIGN_IN_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct Dashboard {
    state: SqliteState,
    token: Secret,
    /// Signs the run pages' links.
    key: LinkKey,
    /// Signs sessions (see [`dashboard`]).
    session_key: LinkKey,
}

/// The dashboard's routes, answering the operator who presents `token`.
pub fn dashboard(state: SqliteState, token: Secret, key: LinkKey) -> Router {
    // Sessions are signed with a key of their own, made from the link key and the token:
    // changing the token ends every session, and no page link can stand for one.
    let mut context = b"dashboard-session\n".to_vec();
    context.extend_from_slice(&sha2::Sha256::digest(token.expose()));
    let session_key = key.derive(&context);
    let shared = Arc::new(Dashboard {
        state,
        token,
        key,
        session_key,
    });
    let operator_only = Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/runs", get(runs))
        .route("/environments", get(environments))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            require_operator,
        ));
    operator_only
        .route("/login", get(sign_in_form).post(sign_in))
        // Browsers ask for an icon; nothing to send is not an error.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(shared)
}

fn now() -> u64 {
    unix_secs(SystemTime::now()).max(0) as u64
}

/// The bearer token, or a session cookie this key signed that has not expired.
fn operator(dashboard: &Dashboard, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        return dashboard.token.matches(token.trim().as_bytes());
    }
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let session = cookies
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.replace('!', "&"));
    session.is_some_and(|value| {
        dashboard
            .session_key
            .verify(SESSION_PATH, Some(&value), now())
            .is_ok()
    })
}

/// Every list is the operator's: anyone else gets [`refused`].
async fn require_operator(
    State(dashboard): State<Arc<Dashboard>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if operator(&dashboard, request.headers()) {
        next.run(request).await
    } else if wants_a_page(request.headers()) {
        Redirect::to("/login").into_response()
    } else {
        refused()
    }
}

/// A browser (it accepts HTML) is sent to the sign-in form; a script gets a 401.
fn wants_a_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}

/// Not the operator, and not a browser: 401 with the bearer scheme (and the form, for people).
fn refused() -> Response {
    let mut response = sign_in_page(StatusCode::UNAUTHORIZED, false);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "reading the state for the dashboard failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the state could not be read\n",
    )
        .into_response()
}

async fn runs(State(dashboard): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
    let filter = RunFilter {
        status: query_value(query.as_deref(), "status"),
        branch: query_value(query.as_deref(), "branch"),
    };
    let runs = match dashboard.state.recent_runs(RUNS_SHOWN).await {
        Ok(runs) => runs,
        Err(error) => return internal(error),
    };
    let links = Links::new("", dashboard.key.clone());
    let now = now();
    let rows: Vec<RunRow> = runs
        .iter()
        .filter(|run| {
            filter
                .status
                .as_deref()
                .is_none_or(|s| format!("{:?}", run.status).eq_ignore_ascii_case(s))
        })
        .filter(|run| {
            filter.branch.as_deref().is_none_or(|b| {
                run.git_ref == b || run.git_ref.strip_prefix("refs/heads/") == Some(b)
            })
        })
        .map(|run| RunRow {
            run,
            link: links.url_for(
                &format!("/runs/{}", run.id.0),
                crate::links::DEFAULT_LIFETIME,
                now,
            ),
        })
        .collect();
    Html(pages::runs_page(&rows, &filter)).into_response()
}

async fn environments(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let grouped = match dashboard.state.deployments_by_environment().await {
        Ok(grouped) => grouped,
        Err(error) => return internal(error),
    };
    let locks: BTreeMap<String, String> = match dashboard.state.held_locks(now() as i64).await {
        Ok(locks) => locks.into_iter().collect(),
        Err(error) => return internal(error),
    };
    let links = Links::new("", dashboard.key.clone());
    let now = now();
    let views: Vec<EnvironmentView> = grouped
        .iter()
        .map(|((repo, environment), records)| {
            let first = &records[0];
            let lock = environment_key(first.forge, &first.repo.id, environment);
            let links = links.clone();
            EnvironmentView {
                repo,
                environment,
                history: records.iter().rev().collect(),
                lock_holder: locks.get(&lock).map(String::as_str),
                log_link: Box::new(move |d: &DeploymentRecord| {
                    d.run_id.as_ref().map(|id| {
                        links.url_for(&format!("/runs/{id}"), crate::links::DEFAULT_LIFETIME, now)
                    })
                }),
            }
        })
        .collect();
    Html(pages::environments_page(&views)).into_response()
}

async fn metrics(State(dashboard): State<Arc<Dashboard>>, RawQuery(query): RawQuery) -> Response {
    let days = match query_value(query.as_deref(), "days").as_deref() {
        Some("7") => 7,
        Some("90") => 90,
        _ => 30,
    };
    let rows = match dashboard.state.delivery(Window { end: now(), days }).await {
        Ok(rows) => rows,
        Err(error) => return internal(error),
    };
    Html(pages::metrics_page(days, &rows)).into_response()
}

/// The sign-in page, under the one policy that lets a form post (to this origin only).
fn sign_in_page(status: StatusCode, refused: bool) -> Response {
    let mut response = (status, Html(pages::sign_in_page(refused))).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SIGN_IN_POLICY),
    );
    response
}

async fn sign_in_form() -> Response {
    sign_in_page(StatusCode::OK, false)
}

async fn sign_in(State(dashboard): State<Arc<Dashboard>>, body: Bytes) -> Response {
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !dashboard.token.matches(token.as_bytes()) {
        return sign_in_page(StatusCode::UNAUTHORIZED, true);
    }
    let expires = now() + SESSION_LIFETIME.as_secs();
    // `&` is not welcome in a cookie value everywhere: `!` stands for it.
    let value = dashboard
        .session_key
        .sign(SESSION_PATH, expires)
        .replace('&', "!");
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/runs").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests;
