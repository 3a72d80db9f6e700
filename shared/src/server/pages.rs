//! What `slipway serve` shows people: run pages and artifacts, each only through a signed link
//! (see [`crate::links`]), and security headers on every answer.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::artifacts::fs::{FsStore, SERVED_UNDER};
use crate::links::LinkKey;
use crate::render;
use crate::state::{unix_secs, StateStore};

pub use crate::render::CONTENT_SECURITY_POLICY;

/// Every answer's security headers ([`render::PAGE_HEADERS`]).
pub fn with_security_headers(router: Router) -> Router {
    router.layer(axum::middleware::map_response(
        |mut response: Response| async move {
            render::add_page_headers(response.headers_mut());
            response
        },
    ))
}

/// `GET /runs/{id}`: a readable page of a local build, from `<runs_dir>/<id>`,
/// and `GET /artifacts/{key}`: the directory artifact store's files, as downloads.
/// Both answer 404 without a valid, unexpired link signed with `key`, as for a missing run.
pub fn run_pages<S: StateStore + 'static>(
    state: Arc<S>,
    runs_dir: std::path::PathBuf,
    artifacts_dir: std::path::PathBuf,
    key: LinkKey,
) -> Router {
    let store = Arc::new(FsStore::new(artifacts_dir, None));
    Router::new()
        .route("/runs/{id}", get(run_page::<S>))
        .with_state((state, Arc::new(runs_dir), key.clone()))
        .merge(
            Router::new()
                .route(&format!("{SERVED_UNDER}/{{*key}}"), get(artifact))
                .with_state((store, key)),
        )
}

fn now() -> u64 {
    unix_secs(SystemTime::now()).max(0) as u64
}

fn not_found(what: &'static str) -> Response {
    (StatusCode::NOT_FOUND, what).into_response()
}

async fn artifact(
    State((store, key)): State<(Arc<FsStore>, LinkKey)>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let nothing = || not_found(render::NO_SUCH_ARTIFACT);
    if key
        .verify(&format!("{SERVED_UNDER}/{name}"), query.as_deref(), now())
        .is_err()
    {
        return nothing();
    }
    let opened = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || store.open_served(&name)).await
    };
    let Ok(Ok(file)) = opened else {
        return nothing();
    };
    // Streamed in chunks: a large artifact is never read whole into memory. Always a download:
    // a build's HTML must never run as a page of this origin.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let disposition = attachment(&name);
    (
        [
            (http::header::CONTENT_TYPE, "application/octet-stream"),
            (http::header::CONTENT_DISPOSITION, disposition.as_str()),
        ],
        body,
    )
        .into_response()
}

/// `attachment; filename="<last part of the key>"`, the name cut down to characters that need no
/// quoting in any browser (a key is a build's choice of file name).
fn attachment(key: &str) -> String {
    let base = key.rsplit('/').next().unwrap_or_default();
    let safe: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '+' => c,
            _ => '_',
        })
        .collect();
    let name = match safe.trim_start_matches('.') {
        "" => "artifact",
        _ => safe.as_str(),
    };
    format!("attachment; filename=\"{name}\"")
}

async fn run_page<S: StateStore>(
    State((state, runs_dir, key)): State<(Arc<S>, Arc<std::path::PathBuf>, LinkKey)>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let nothing = || not_found(render::NO_SUCH_RUN);
    // Anything but a run id never reaches the file system.
    if !crate::app::pages::is_run_id(&id) {
        return nothing();
    }
    if key
        .verify(&format!("/runs/{id}"), query.as_deref(), now())
        .is_err()
    {
        return nothing();
    }
    let run = state
        .get_run(&crate::model::event::RunId(id.clone()))
        .await
        .ok()
        .flatten();
    let out = runs_dir.join(&id).join("out");
    if run.is_none() && !out.exists() {
        return nothing();
    }
    let (result, _) = crate::runner::local::read_output(&out);
    let log = crate::runner::agent::log_tail(&out.join(crate::model::job::LOG_FILE), 5000, 4 << 20)
        .unwrap_or_default();
    axum::response::Html(render::run_page(run.as_ref(), result.as_ref(), &log)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_the_last_part_made_safe() {
        let cases = [
            ("a/b/report.html", "report.html"),
            ("x/name with \"quotes\";.txt", "name_with__quotes__.txt"),
            ("x/é\r\nSet-Cookie:a", "___Set-Cookie_a"),
            ("x/..", "artifact"),
            ("x/", "artifact"),
            ("x/.env", ".env"),
        ];
        for (key, want) in cases {
            assert_eq!(
                attachment(key),
                format!("attachment; filename=\"{want}\""),
                "{key}"
            );
        }
    }
}
