//! A build run: what was built, where it stands, and how the forge's check refers to it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{CommitSha, DeliveryId, ForgeKind, PrNumber, Repo};
use crate::forge::{CheckId, CheckState};
use crate::plan::{CancelReason, Trigger};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId(pub String);

impl RunId {
    /// The same delivery asking to build the same commit always names the same run, so a
    /// redelivered queue message finds its run instead of starting a second build.
    pub fn derive(forge: ForgeKind, delivery: &DeliveryId, sha: &CommitSha) -> RunId {
        let digest = Sha256::digest(format!("{forge}\n{}\n{sha}", delivery.0));
        RunId(hex::encode(&digest[..8]))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The runner never reported back; the sweeper gave up on it.
    Lost,
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    pub fn check_state(self) -> CheckState {
        match self {
            RunStatus::Queued => CheckState::Queued,
            RunStatus::Running => CheckState::InProgress,
            RunStatus::Succeeded => CheckState::Success,
            RunStatus::Failed | RunStatus::Lost => CheckState::Failure,
            RunStatus::Cancelled => CheckState::Cancelled,
            RunStatus::TimedOut => CheckState::TimedOut,
        }
    }
}

/// How a build ended, from the runner's own status and the agent's `result.json`. The runner's
/// verdict is authoritative: the result only adds detail (which failure) and can turn a pass
/// into a failure, never a failure into a pass, because anything the build ran may have written
/// `result.json`. No finished verdict from either side cannot mean the build passed.
pub fn verdict(runner: Option<RunStatus>, result: Option<RunStatus>) -> RunStatus {
    let runner = runner.filter(|s| s.is_finished());
    let result = result.filter(|s| s.is_finished());
    match (runner, result) {
        // The runner says it failed: the result may say how, never that it passed.
        (Some(ran), Some(said)) if ran != RunStatus::Succeeded => {
            if said == RunStatus::Succeeded {
                ran
            } else {
                said
            }
        }
        (Some(ran), None) if ran != RunStatus::Succeeded => ran,
        // The runner passed it (or, locally, has no verdict of its own): the result decides.
        (_, Some(said)) => said,
        // No manifest means we cannot say the build passed.
        (_, None) => RunStatus::Failed,
    }
}

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
    /// What the build stored, as its result reported it.
    #[serde(default)]
    pub artifacts: Vec<crate::runner::agent::PublishedArtifact>,
    /// The image the build pushed, by digest: what deploys of this commit ship.
    #[serde(default)]
    pub image: Option<crate::image::PublishedImage>,
    /// Set on runs that execute a deploy's steps rather than a build.
    #[serde(default)]
    pub deployment: Option<crate::deploy::DeployRef>,
    /// The commit's `.slipway.yml` asks for rules (environments, commands) other than the
    /// default branch's: they take effect once merged, and the pull request is told so.
    #[serde(default)]
    pub policy_changed: bool,
}

impl Run {
    /// Where the agent stores this run's result and log (and a build's artifacts): beside the
    /// artifacts for builds, under the deployment for deploy steps.
    pub fn output_prefix(&self) -> String {
        match &self.deployment {
            None => crate::artifacts::prefix(self.forge, &self.repo.full_name, &self.sha, &self.id),
            Some(d) => format!(
                "deployments/{}/{}/{}/{}/",
                self.forge, self.repo.full_name, d.environment, d.id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_verdict_wins_and_the_result_only_adds_detail() {
        use RunStatus::*;
        let table = [
            // (runner, result, verdict)
            (Some(Succeeded), Some(Succeeded), Succeeded),
            (Some(Succeeded), Some(Failed), Failed),
            (Some(Succeeded), Some(TimedOut), TimedOut),
            (Some(Succeeded), None, Failed),
            (Some(Failed), Some(Succeeded), Failed),
            (Some(Failed), Some(TimedOut), TimedOut),
            (Some(Failed), None, Failed),
            (Some(TimedOut), Some(Succeeded), TimedOut),
            (Some(Cancelled), Some(Succeeded), Cancelled),
            (Some(Lost), None, Lost),
            (Some(Lost), Some(Succeeded), Lost),
            // The local runner reports no status of its own.
            (None, Some(Succeeded), Succeeded),
            (None, Some(Failed), Failed),
            (None, None, Failed),
            // Unfinished statuses are no verdict.
            (Some(Running), Some(Succeeded), Succeeded),
            (Some(Running), None, Failed),
            (Some(Failed), Some(Running), Failed),
            (Some(Succeeded), Some(Queued), Failed),
        ];
        for (runner, result, expected) in table {
            assert_eq!(
                verdict(runner, result),
                expected,
                "runner {runner:?}, result {result:?}"
            );
        }
    }

    #[test]
    fn run_ids_are_stable_per_delivery_and_commit() {
        let sha = CommitSha::parse(&"a".repeat(40)).unwrap();
        let other = CommitSha::parse(&"b".repeat(40)).unwrap();
        let d1 = DeliveryId("d1".into());
        let d2 = DeliveryId("d2".into());
        let id = RunId::derive(ForgeKind::Github, &d1, &sha);
        assert_eq!(id, RunId::derive(ForgeKind::Github, &d1, &sha));
        assert_eq!(id.0.len(), 16);
        assert_ne!(id, RunId::derive(ForgeKind::Github, &d2, &sha));
        assert_ne!(id, RunId::derive(ForgeKind::Github, &d1, &other));
        assert_ne!(id, RunId::derive(ForgeKind::Gitlab, &d1, &sha));
    }

    #[test]
    fn only_queued_and_running_are_unfinished() {
        use RunStatus::*;
        for status in [Queued, Running] {
            assert!(!status.is_finished());
        }
        for status in [Succeeded, Failed, Cancelled, TimedOut, Lost] {
            assert!(status.is_finished());
            assert!(status.check_state().is_final());
        }
    }

    #[test]
    fn builds_and_deploys_keep_their_output_apart() {
        let sha = CommitSha::parse(&"a".repeat(40)).unwrap();
        let mut run = Run {
            id: RunId("r1".into()),
            forge: ForgeKind::Github,
            repo: Repo {
                id: crate::event::RepoId("1".into()),
                full_name: "octo/app".into(),
                web_url: String::new(),
                clone_url: String::new(),
            },
            installation_id: None,
            sha,
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
        };
        assert_eq!(
            run.output_prefix(),
            format!("artifacts/github/octo/app/{}/r1/", "a".repeat(40))
        );
        run.deployment = Some(crate::deploy::DeployRef {
            id: "d1".into(),
            environment: "production".into(),
        });
        assert_eq!(
            run.output_prefix(),
            "deployments/github/octo/app/production/d1/"
        );
    }
}
