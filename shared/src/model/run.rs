//! A build run: what was built, where it stands, and how the forge's check refers to it.

use serde::{Deserialize, Serialize};

use super::artifact;
use super::deploy::DeployRef;
use super::event::{CommitSha, ForgeKind, PrNumber, Repo, RunId};
use super::forge::CheckId;
use super::image::PublishedImage;
use super::job::PublishedArtifact;
use super::status::{CancelReason, RunStatus, Trigger};

/// Artifacts a run keeps itself; a build with more is still whole in its manifest.
pub const ARTIFACTS_ON_RUN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub forge: ForgeKind,
    pub repo: Repo,
    pub installation_id: Option<u64>,
    pub sha: CommitSha,
    pub git_ref: String,
    pub pr: Option<PrNumber>,
    pub trigger: Trigger,
    pub check_name: String,
    /// The forge's id for the check (GitHub check runs), to update the same one.
    pub check_id: Option<CheckId>,
    pub status: RunStatus,
    pub cancel_reason: Option<CancelReason>,
    /// Unix seconds.
    pub created_at: u64,
    pub finished_at: Option<u64>,
    pub timeout_secs: u64,
    /// The runner's own reference (CodeBuild build id, local process id).
    pub runner_ref: Option<String>,
    /// What the build stored, as its result reported it: the first [`ARTIFACTS_ON_RUN`]; the
    /// build's `manifest.json` lists them all. (A run is one DynamoDB item, at most 400 KB.)
    #[serde(default)]
    pub artifacts: Vec<PublishedArtifact>,
    /// How many artifacts the build stored in all.
    #[serde(default)]
    pub artifact_count: usize,
    /// The image the build pushed, by digest: what deploys of this commit ship.
    #[serde(default)]
    pub image: Option<PublishedImage>,
    /// Who caused it, as the forge names them: who pushed, opened the pull request or wrote the
    /// command (the event's sender); who deployed, for a deploy's steps. For people to read only:
    /// never a permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Set on runs that execute a deploy's steps rather than a build.
    #[serde(default)]
    pub deployment: Option<DeployRef>,
    /// The commit's `.slipway.yml` asks for rules (environments, commands) other than the
    /// default branch's: they take effect once merged, and the pull request is told so.
    #[serde(default)]
    pub policy_changed: bool,
    /// How many sweeps failed to finish this lost run (its forge kept refusing the final check).
    #[serde(default)]
    pub sweep_attempts: u32,
}

impl Run {
    /// Where the agent stores this run's result and log (and a build's artifacts): beside the
    /// artifacts for builds, under the deployment for deploy steps.
    pub fn output_prefix(&self) -> String {
        match &self.deployment {
            None => artifact::prefix(
                self.forge,
                &self.repo.full_name,
                &self.sha,
                &self.id,
                self.pr.is_some(),
            ),
            Some(d) => format!(
                "deployments/{}/{}/{}/{}/",
                self.forge, self.repo.full_name, d.environment, d.id
            ),
        }
    }
}

/// A running build of `octo/app` at `aaaa…`, for unit tests.
#[cfg(test)]
pub(crate) fn sample(id: &str) -> Run {
    Run {
        id: RunId(id.into()),
        forge: ForgeKind::Github,
        repo: Repo {
            id: crate::model::event::RepoId("1".into()),
            full_name: "octo/app".into(),
            web_url: String::new(),
            clone_url: String::new(),
        },
        installation_id: None,
        sha: CommitSha::parse(&"a".repeat(40)).unwrap(),
        git_ref: "main".into(),
        pr: None,
        trigger: Trigger::Push,
        check_name: "slipway/build".into(),
        check_id: None,
        status: RunStatus::Running,
        cancel_reason: None,
        created_at: 0,
        finished_at: None,
        timeout_secs: 60,
        runner_ref: None,
        artifacts: Vec::new(),
        image: None,
        deployment: None,
        policy_changed: false,
        sweep_attempts: 0,
        actor: None,
        artifact_count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_deploys_keep_their_output_apart() {
        let mut run = sample("r1");
        assert_eq!(
            run.output_prefix(),
            format!("artifacts/github/octo/app/{}/r1/", "a".repeat(40))
        );
        run.pr = Some(PrNumber(7));
        assert_eq!(
            run.output_prefix(),
            format!(
                "artifacts/pull-requests/github/octo/app/{}/r1/",
                "a".repeat(40)
            ),
            "a pull request's outputs live where the bucket expires them"
        );
        run.deployment = Some(crate::model::deploy::DeployRef {
            id: "d1".into(),
            environment: "production".into(),
        });
        assert_eq!(
            run.output_prefix(),
            "deployments/github/octo/app/production/d1/"
        );
    }
}
