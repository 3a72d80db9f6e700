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

use crate::forge::Forge;
use crate::model::event::Repo;
use crate::model::job::BuildJob;
use crate::model::run::Run;
use crate::BoxError;

#[async_trait]
pub trait Runner: Send + Sync {
    /// Start the build; returns the runner's reference for it. `forge` gives access to the
    /// commit's source where the runner fetches it itself.
    async fn start(
        &self,
        job: &BuildJob,
        forge: &dyn Forge,
        repo: &Repo,
    ) -> Result<String, BoxError>;

    /// Stop a build. Stopping one that already ended is not an error.
    async fn cancel(&self, run: &Run) -> Result<(), BoxError>;

    /// Whether a build's steps are kept from the bot's secrets, its state and other builds, so
    /// a fork's code may run. Without that, fork pull requests are refused.
    fn sandboxed(&self) -> bool;
}
