//! Artifacts: what `build.artifacts` asks for, what was stored, and where it goes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::{CommitSha, ForgeKind};
use crate::model::event::RunId;

/// Presigned links never outlive S3's own limit.
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// One `build.artifacts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPattern {
    pub pattern: String,
    /// A pattern matching nothing is an error unless it is optional.
    pub optional: bool,
}

/// One stored artifact, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Relative to the checkout.
    pub path: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: RunId,
    pub sha: CommitSha,
    pub files: Vec<StoredFile>,
    /// The image the build pushed, if it made one.
    #[serde(default)]
    pub image: Option<crate::model::image::PublishedImage>,
}

/// Where a pull request's builds store their outputs: the bucket's lifecycle rule expires
/// everything under it (`PullRequestArtifactDays` in template.yaml); branch builds, which
/// deploys ship, are kept.
pub const PULL_REQUEST_PREFIX: &str = "artifacts/pull-requests/";

/// `artifacts/<forge>/<owner>/<repo>/<sha>/<run>/`, under [`PULL_REQUEST_PREFIX`] instead for
/// a pull request's build.
pub fn prefix(
    forge: ForgeKind,
    repo_full_name: &str,
    sha: &CommitSha,
    run: &RunId,
    pull_request: bool,
) -> String {
    let root = if pull_request {
        PULL_REQUEST_PREFIX
    } else {
        "artifacts/"
    };
    format!("{root}{forge}/{repo_full_name}/{sha}/{run}/")
}
