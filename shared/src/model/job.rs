//! The build job contract between dispatch and the agent: what to run (the job and its steps),
//! what came of it (the result, the artifacts it published), and the files it leaves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::artifact::ArtifactPattern;
use super::event::{CommitSha, PrNumber};
use super::image::{ImageSpec, PublishedImage};
use crate::model::artifact::StoredFile;
use crate::model::event::RunId;
use crate::model::status::RunStatus;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub name: String,
    pub run: String,
}

pub const LOG_FILE: &str = "log.txt";

pub const RESULT_FILE: &str = "result.json";

/// Everything the agent needs to know, from dispatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildJob {
    pub run_id: RunId,
    pub sha: CommitSha,
    pub git_ref: String,
    pub pr: Option<PrNumber>,
    pub steps: Vec<Step>,
    pub env: BTreeMap<String, String>,
    pub timeout_secs: u64,
    /// `build.artifacts`, stored after every step passed.
    #[serde(default)]
    pub artifacts: Vec<ArtifactPattern>,
    /// Where they go: `artifacts/<forge>/<owner>/<repo>/<sha>/<run>/`.
    #[serde(default)]
    pub artifact_prefix: String,
    /// `build.image`, assembled and pushed after the steps pass.
    #[serde(default)]
    pub image: Option<ImageSpec>,
    /// The repository's web URL, for the image's source label.
    #[serde(default)]
    pub source_url: Option<String>,
    /// A deploy's steps (from the default branch's `environments`), not a build: in CodeBuild
    /// they get the operator's deploy role, which a build never sees.
    #[serde(default)]
    pub deploy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    Failed,
    TimedOut,
    Cancelled,
    /// Not run: an earlier step failed.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    pub name: String,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// The result manifest: what `report` turns into the final check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildResult {
    pub run_id: RunId,
    pub status: RunStatus,
    pub steps: Vec<StepResult>,
    pub duration_ms: u64,
    /// What was stored, with download links.
    #[serde(default)]
    pub artifacts: Vec<PublishedArtifact>,
    /// The image pushed, by digest.
    #[serde(default)]
    pub image: Option<PublishedImage>,
}

/// A stored artifact and a link that downloads it (presigned links last 7 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedArtifact {
    #[serde(flatten)]
    pub file: StoredFile,
    pub link: Option<String>,
}
