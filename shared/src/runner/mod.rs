//! Where builds run: a `Runner` starts and cancels them. CodeBuild in the cloud, a local child
//! process on one machine; both run `slipway agent` ([`agent`]).

pub mod agent;
#[cfg(feature = "aws")]
pub mod codebuild;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "local")]
pub mod procs;
pub mod sandbox;
pub mod scope;

use async_trait::async_trait;

use crate::forge::{Forge, ForgeError};
use crate::model::error::ErrorKind;
use crate::model::event::Repo;
use crate::model::job::BuildJob;
use crate::model::run::Run;

/// Starting or stopping a build failed; the text (ARNs, paths) is for the log.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The build service failed; `kind` says whether the same call may succeed later.
    #[error("{source}")]
    Backend {
        kind: ErrorKind,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Fetching the commit's source for a runner that runs it itself.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// Preparing or starting the local agent's process.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A setting or an answer the runner cannot work with (not a role ARN, no build id).
    #[error("{0}")]
    Invalid(String),
}

impl RunnerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunnerError::Backend { kind, .. } => *kind,
            RunnerError::Forge(e) => e.kind(),
            RunnerError::Io(_) | RunnerError::Json(_) | RunnerError::Invalid(_) => {
                ErrorKind::Permanent
            }
        }
    }
}

#[async_trait]
pub trait Runner: Send + Sync {
    /// Start the build; returns the runner's reference for it. `forge` gives access to the
    /// commit's source where the runner fetches it itself.
    async fn start(
        &self,
        job: &BuildJob,
        forge: &dyn Forge,
        repo: &Repo,
    ) -> Result<String, RunnerError>;

    /// Stop a build. Stopping one that already ended is not an error.
    async fn cancel(&self, run: &Run) -> Result<(), RunnerError>;

    /// Whether a build's steps are kept from the bot's secrets, its state and other builds, so
    /// a fork's code may run. Without that, fork pull requests are refused.
    fn sandboxed(&self) -> bool;
}
