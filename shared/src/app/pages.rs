//! The pages served from the stored records (the webhook function's URL in AWS): a run's page —
//! the run from the state store, its result and log from the artifact store, reloading while it
//! runs — and artifact downloads. Like `slipway serve`'s pages, each answers only a valid,
//! unexpired signed link (see [`crate::links`]) and otherwise says "not found", whether or not
//! the run exists.

use std::time::Duration;

use crate::artifacts::ArtifactStore;
use crate::links::LinkKey;
use crate::model::event::RunId;
use crate::model::job::{BuildResult, LOG_FILE, RESULT_FILE};
use crate::render;
use crate::state::StateStore;

/// Where artifacts are downloaded from, below the public URL (as under `slipway serve`).
pub const ARTIFACTS_UNDER: &str = crate::artifacts::fs::SERVED_UNDER;

/// How long the store's own link a download is sent on to lives: it is made for this one click;
/// the signed link that leads to it is what a comment carries.
pub const DOWNLOAD_LIFETIME: Duration = Duration::from_secs(300);

/// The most of a log a page shows: its end. Escaping can grow text six-fold, and a Lambda
/// answer may be 6 MB at most: a build must not be able to make its own page fail.
const LOG_BYTES: u64 = 512 << 10;
const LOG_LINES: usize = 5000;
/// The most of a result a page reads (the report reads no more either).
const RESULT_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAnswer {
    Html(String),
    /// A download: go here (a short-lived link of the store's own).
    Redirect(String),
    NotFound(&'static str),
}

/// Run ids are 16 hex digits: anything else is never looked up.
pub fn is_run_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /runs/{id}?expires=…&sig=…`.
pub async fn run_page<S: StateStore + ?Sized>(
    state: &S,
    store: &dyn ArtifactStore,
    key: &LinkKey,
    id: &str,
    query: Option<&str>,
    now: u64,
) -> PageAnswer {
    let nothing = PageAnswer::NotFound(render::NO_SUCH_RUN);
    if !is_run_id(id) || key.verify(&format!("/runs/{id}"), query, now).is_err() {
        return nothing;
    }
    let run = match state.get_run(&RunId(id.to_owned())).await {
        Ok(Some(run)) => run,
        Ok(None) => return nothing,
        Err(error) => {
            tracing::warn!(%error, run = id, "reading a run for its page failed");
            return nothing;
        }
    };
    let prefix = run.output_prefix();
    // While the build runs there is no result yet and the log grows: the page shows what is
    // stored now and reloads.
    let result: Option<BuildResult> = match store
        .read_tail(&format!("{prefix}{RESULT_FILE}"), RESULT_BYTES + 1)
        .await
    {
        Ok(Some(bytes)) if bytes.len() as u64 <= RESULT_BYTES => {
            serde_json::from_slice(&bytes).ok()
        }
        _ => None,
    };
    let log = match store
        .read_tail(&format!("{prefix}{LOG_FILE}"), LOG_BYTES)
        .await
    {
        Ok(Some(bytes)) => last_lines(&String::from_utf8_lossy(&bytes), LOG_LINES),
        _ => String::new(),
    };
    PageAnswer::Html(render::run_page(Some(&run), result.as_ref(), &log))
}

/// `GET /artifacts/{key}?expires=…&sig=…`: on to the stored file. Only build outputs are ever
/// served this way, whatever a link names.
pub async fn artifact(
    store: &dyn ArtifactStore,
    key: &LinkKey,
    object: &str,
    query: Option<&str>,
    now: u64,
) -> PageAnswer {
    let nothing = PageAnswer::NotFound(render::NO_SUCH_ARTIFACT);
    if !object.starts_with("artifacts/") || object.split('/').any(|part| part == "..") {
        return nothing;
    }
    if key
        .verify(&format!("{ARTIFACTS_UNDER}/{object}"), query, now)
        .is_err()
    {
        return nothing;
    }
    match store.link(object, DOWNLOAD_LIFETIME).await {
        Ok(url) => PageAnswer::Redirect(url),
        Err(error) => {
            tracing::warn!(%error, "linking an artifact for download failed");
            nothing
        }
    }
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests;
