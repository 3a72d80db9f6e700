//! Deployments: what a deploy records, the names it uses, and why one may be refused.

use serde::{Deserialize, Serialize};

use super::event::{CommitSha, ForgeKind, PrNumber, Repo};
use super::forge::Permission;
use super::image::PublishedImage;
use crate::model::status::RunStatus;

/// The check a deploy to `environment` reports on.
pub fn check_name(environment: &str) -> String {
    format!("slipway/deploy/{environment}")
}

/// The tag that says what an environment runs.
pub fn environment_tag(environment: &str) -> String {
    format!("env-{environment}")
}

/// Where the record of what an environment runs is kept in the artifact store.
pub fn current_key(repo: &Repo, forge: ForgeKind, environment: &str) -> String {
    format!(
        "environments/{forge}/{}/{environment}/current.json",
        repo.full_name
    )
}

/// How long a deploy may hold its environment's lock before anyone may take it.
pub const LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// `/deploy <env>` on a pull request.
    Deploy,
    /// `/rollback <env> [sha]`.
    Rollback,
    /// A green build of the environment's `auto_deploy` branch.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// One deploy to one environment, from request to result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    pub forge: ForgeKind,
    pub repo: Repo,
    pub installation_id: Option<u64>,
    pub environment: String,
    pub kind: DeployKind,
    pub sha: CommitSha,
    pub git_ref: String,
    /// The image shipped, by digest; None for builds that push no image.
    pub image: Option<PublishedImage>,
    /// The build's `manifest.json` key in the artifact store.
    pub artifacts_manifest: Option<String>,
    pub actor: String,
    pub pr: Option<PrNumber>,
    pub status: DeployStatus,
    pub reason: Option<String>,
    /// What ran there before: the environment's last successful deployment.
    pub previous: Option<Previous>,
    /// The forge's own deployment record.
    pub forge_deployment: Option<u64>,
    /// The run that executes `steps`, when the environment has any.
    pub run_id: Option<String>,
    pub url: Option<String>,
    /// Unix milliseconds: orders an environment's deployments.
    pub created_ms: u64,
    /// Unix seconds.
    pub finished_at: Option<u64>,
    /// The target runs this version now (the Lambda alias or ECS service moved, the deploy steps
    /// passed), even if a later step (the tag, `current.json`) failed: rollback starts from it.
    #[serde(default)]
    pub applied: bool,
}

impl DeploymentRecord {
    /// What the environment runs: a successful deployment, or one applied whose bookkeeping
    /// failed afterwards.
    pub fn is_live(&self) -> bool {
        self.status == DeployStatus::Succeeded || self.applied
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    pub sha: CommitSha,
    pub image: Option<PublishedImage>,
    pub deployment_id: String,
}

/// Which deploy a run executes (runs of an environment's `steps`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRef {
    pub id: String,
    pub environment: String,
}

/// Why a deploy may not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownEnvironment,
    Permission {
        needed: Permission,
        have: Permission,
    },
    Fork,
    NotBuilt,
    BuildNotGreen(RunStatus),
    NotApproved,
    ChangesRequested,
    NothingToRollBackTo,
    Locked {
        holder: String,
    },
    /// An automatic deploy of a branch the default branch's configuration does not name.
    NotAutoDeployed,
}
