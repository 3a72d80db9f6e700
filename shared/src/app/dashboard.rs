//! The dashboard (issue #17): runs, environments and delivery metrics across every repository,
//! for the operator only (see [`access`]). One code for `slipway serve` and the webhook
//! function's URL: each hands over the request's parts and sends back the `http::Response`.

mod access;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::links::{LinkKey, Links, DEFAULT_LIFETIME};
use crate::metrics::{Dora, Window};
use crate::model::deploy::DeploymentRecord;
use crate::model::event::{CommitSha, ForgeKind, PrNumber, RepoId};
use crate::model::run::Run;
use crate::model::secret::Secret;
use crate::render::dashboard::{self as pages, EnvironmentView, RunFilter, RunRow};
use crate::state::{environment_key, Records, StateError};

/// The most runs the list shows.
const RUNS_SHOWN: u32 = 200;
/// The most deployments the environments and metrics pages read (newest first): years of a
/// busy team's deploys, and a bounded read.
pub const DEPLOYMENTS_READ: u32 = 5000;
/// The sign-in form posts to this page; every other page may submit nothing.
const SIGN_IN_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A dashboard request's parts, as any HTTP server hands them over.
pub struct PageRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub struct Dashboard<R: ?Sized> {
    records: Arc<R>,
    operator: access::Operator,
    /// Signs the links to run pages.
    key: LinkKey,
}

impl<R: Records + ?Sized> Dashboard<R> {
    /// The dashboard over `records`, for the operator who presents `token`; run links signed
    /// with `key`.
    pub fn new(records: Arc<R>, token: Secret, key: LinkKey) -> Self {
        Dashboard {
            records,
            operator: access::Operator::new(token, &key),
            key,
        }
    }

    /// The answer when `request.path` is one of the dashboard's, `None` for every other path.
    pub async fn answer(&self, request: &PageRequest<'_>, now: u64) -> Option<Response<String>> {
        let (method, query) = (request.method, request.query);
        let operator_page = matches!(request.path, "/" | "/runs" | "/environments" | "/metrics");
        match request.path {
            "/favicon.ico" => return Some(plain(StatusCode::NO_CONTENT, "")),
            "/login" if method == Method::GET => {
                return Some(sign_in_page(StatusCode::OK, false));
            }
            "/login" if method == Method::POST => return Some(self.sign_in(request.body, now)),
            "/login" => return Some(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n")),
            _ if !operator_page => return None,
            _ => {}
        }
        if !self.operator.admits(request.headers, now) {
            return Some(if access::wants_a_page(request.headers) {
                redirect("/login")
            } else {
                refused()
            });
        }
        if method != Method::GET {
            return Some(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"));
        }
        let page = match request.path {
            "/runs" => self.runs(query, now).await,
            "/environments" => self.environments(now).await,
            "/metrics" => self.metrics(query, now).await,
            _ => return Some(redirect("/runs")),
        };
        Some(page.unwrap_or_else(|error| {
            tracing::error!(%error, "reading the records for the dashboard failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the records could not be read\n",
            )
        }))
    }

    async fn runs(&self, query: Option<&str>, now: u64) -> Result<Response<String>, StateError> {
        let filter = RunFilter {
            status: query_value(query, "status"),
            branch: query_value(query, "branch"),
        };
        let runs = self.records.recent_runs(RUNS_SHOWN).await?;
        let links = Links::new("", self.key.clone());
        let rows: Vec<RunRow> = runs
            .iter()
            .filter(|run| filter.admits(run))
            .map(|run| RunRow {
                run,
                link: links.url_for(&format!("/runs/{}", run.id.0), DEFAULT_LIFETIME, now),
            })
            .collect();
        Ok(html(pages::runs_page(&rows, &filter)))
    }

    async fn environments(&self, now: u64) -> Result<Response<String>, StateError> {
        let grouped = by_environment(self.records.recent_deployments(DEPLOYMENTS_READ).await?);
        let mut holders = Vec::with_capacity(grouped.len());
        for ((_, environment), records) in &grouped {
            let first = &records[0];
            let lock = environment_key(first.forge, &first.repo.id, environment);
            holders.push(self.records.lock_holder(&lock, now as i64).await?);
        }
        let links = Links::new("", self.key.clone());
        let views: Vec<EnvironmentView> = grouped
            .iter()
            .zip(&holders)
            .map(|(((repo, environment), records), holder)| {
                let links = links.clone();
                EnvironmentView {
                    repo,
                    environment,
                    history: records.iter().rev().collect(),
                    lock_holder: holder.as_deref(),
                    log_link: Box::new(move |d: &DeploymentRecord| {
                        d.run_id
                            .as_ref()
                            .map(|id| links.url_for(&format!("/runs/{id}"), DEFAULT_LIFETIME, now))
                    }),
                }
            })
            .collect();
        Ok(html(pages::environments_page(&views)))
    }

    async fn metrics(&self, query: Option<&str>, now: u64) -> Result<Response<String>, StateError> {
        let days = match query_value(query, "days").as_deref() {
            Some("7") => 7,
            Some("90") => 90,
            _ => 30,
        };
        let window = Window { end: now, days };
        let rows = delivery(&*self.records, window, DEPLOYMENTS_READ).await?;
        Ok(html(pages::metrics_page(days, &rows)))
    }

    fn sign_in(&self, body: &[u8], now: u64) -> Response<String> {
        let typed = form_urlencoded::parse(body)
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        if !self.operator.is_token(typed.as_bytes()) {
            return sign_in_page(StatusCode::UNAUTHORIZED, true);
        }
        let mut response = redirect("/runs");
        if let Ok(cookie) = HeaderValue::from_str(&self.operator.session_cookie(now)) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

impl RunFilter {
    fn admits(&self, run: &Run) -> bool {
        let status = self
            .status
            .as_deref()
            .is_none_or(|s| run.status.as_str().eq_ignore_ascii_case(s));
        let branch = self
            .branch
            .as_deref()
            .is_none_or(|b| run.git_ref == b || run.git_ref.strip_prefix("refs/heads/") == Some(b));
        status && branch
    }
}

/// Deployments by (repository, environment), oldest first in each.
pub fn by_environment(
    newest_first: Vec<DeploymentRecord>,
) -> BTreeMap<(String, String), Vec<DeploymentRecord>> {
    let mut grouped = BTreeMap::<_, Vec<DeploymentRecord>>::new();
    for record in newest_first.into_iter().rev() {
        let key = (record.repo.full_name.clone(), record.environment.clone());
        grouped.entry(key).or_default().push(record);
    }
    grouped
}

/// The DORA measures of each (repository, environment) over `window`, from the newest `most`
/// deployments; each change's lead time starts at its first build (`slipway metrics`, the
/// metrics page).
pub async fn delivery<R: Records + ?Sized>(
    records: &R,
    window: Window,
    most: u32,
) -> Result<Vec<(String, String, Dora)>, StateError> {
    let grouped = by_environment(records.recent_deployments(most).await?);
    // Only the window's live deploys need their change's start, and one change is often
    // deployed to several environments: each is read once.
    let mut started = HashMap::<String, Option<u64>>::new();
    let mut rows = Vec::with_capacity(grouped.len());
    for ((repo, environment), deployments) in grouped {
        for d in deployments
            .iter()
            .filter(|d| crate::metrics::has_lead_time(d, window))
        {
            if let std::collections::hash_map::Entry::Vacant(slot) = started.entry(change_of(d)) {
                slot.insert(first_build_at(records, d.forge, &d.repo.id, d.pr, &d.sha).await?);
            }
        }
        let measures = crate::metrics::dora(
            &deployments,
            |d| started.get(&change_of(d)).copied().flatten(),
            window,
        );
        rows.push((repo, environment, measures));
    }
    Ok(rows)
}

/// Names the change a deployment shipped: its pull request, or its commit.
fn change_of(d: &DeploymentRecord) -> String {
    match d.pr {
        Some(pr) => format!("{}#{}#{pr}", d.forge, d.repo.id.0),
        None => format!("{}#{}@{}", d.forge, d.repo.id.0, d.sha.as_str()),
    }
}

/// When a change started, for its lead time: the first build (not a deploy) of its pull
/// request, or, for a commit deployed without one, of that commit.
pub async fn first_build_at<R: Records + ?Sized>(
    records: &R,
    forge: ForgeKind,
    repo: &RepoId,
    pr: Option<PrNumber>,
    sha: &CommitSha,
) -> Result<Option<u64>, StateError> {
    let runs = match pr {
        Some(pr) => records.runs_for_pr(forge, repo, pr).await?,
        None => records.runs_for_commit(forge, repo, sha).await?,
    };
    Ok(crate::metrics::first_build(&runs))
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn html(page: String) -> Response<String> {
    respond(StatusCode::OK, "text/html; charset=utf-8", page)
}

fn plain(status: StatusCode, text: &str) -> Response<String> {
    respond(status, "text/plain; charset=utf-8", text.to_owned())
}

fn redirect(to: &'static str) -> Response<String> {
    let mut response = plain(StatusCode::SEE_OTHER, "");
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}

/// The sign-in page, under the one policy that lets a form post (to this origin only).
fn sign_in_page(status: StatusCode, refused: bool) -> Response<String> {
    let mut response = respond(
        status,
        "text/html; charset=utf-8",
        pages::sign_in_page(refused),
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SIGN_IN_POLICY),
    );
    response
}

/// Not the operator, and not a browser: 401 with the bearer scheme (and the form, for people).
fn refused() -> Response<String> {
    let mut response = sign_in_page(StatusCode::UNAUTHORIZED, false);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests;
