//! dispatch → runner → report, and the sweeper: from an accepted event to a final check.
//!
//! Every path ends in a final check state: a build that cannot start fails its check at once, a
//! report without a result fails it saying so, and the sweeper fails what never reported.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::repo_config::{self, InForce, Loaded};
use super::PipelineError;
use crate::artifacts::ArtifactStore;
use crate::config::Config;
use crate::forge::Forges;
use crate::forge::{sticky_marker, upsert_sticky_comment, Forge};
use crate::image::ImageStore;
use crate::model::event::RunId;
use crate::model::event::{CommitSha, EventKind, QueuedEvent, Repo};
use crate::model::forge::{CheckRun, CheckState};
use crate::model::job::BuildResult;
use crate::model::job::{BuildJob, PublishedArtifact};
use crate::model::run::Run;
use crate::model::status::CancelReason;
use crate::model::status::RunStatus;
use crate::plan::{self, Action, BuildTarget, ConfigState, Facts, BUILD_CHECK};
use crate::render;
use crate::runner::Runner;
use crate::state::{unix_secs, StateStore};

/// How long past its timeout a run may stay unfinished before the sweeper calls it lost.
pub const SWEEP_GRACE: Duration = Duration::from_secs(10 * 60);
/// Sweeps that may fail to post a lost run's final check before the run is closed without one.
pub const SWEEP_ATTEMPTS: u32 = 5;

/// What deploys reach besides the forge and the state: the image store (tags), the artifact
/// store (`current.json`), and AWS for the Lambda and ECS targets.
#[derive(Default)]
pub struct DeployPorts {
    pub images: Option<Box<dyn ImageStore>>,
    pub records: Option<Arc<dyn ArtifactStore>>,
    #[cfg(feature = "aws")]
    pub aws: Option<aws_config::SdkConfig>,
}

pub struct Pipeline<S, R> {
    pub state: S,
    pub forges: Forges,
    pub runner: R,
    /// Where the pages that show runs are (`slipway serve`), for checks' signed details links.
    pub public_url: Option<crate::links::Links>,
    /// Where deploys move tags, write records, and reach AWS targets.
    pub deploy: DeployPorts,
    /// Where finished builds and deploys are counted (CloudWatch metrics in AWS).
    pub telemetry: crate::metrics::emf::Telemetry,
}

/// How a build ended, as its runner tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The agent's result manifest; `None` when the build left none (it crashed, or was lost).
    pub result: Option<BuildResult>,
    /// The runner's own verdict (e.g. CodeBuild's status): authoritative, see `run::verdict`.
    pub runner_status: Option<RunStatus>,
    pub log_tail: Option<String>,
}

impl<S: StateStore, R: Runner> Pipeline<S, R> {
    pub(super) fn forge(
        &self,
        run_or_event: (crate::model::event::ForgeKind, Option<u64>),
    ) -> Result<Arc<dyn Forge>, PipelineError> {
        let (kind, installation) = run_or_event;
        self.forges
            .forge_for(kind, installation)
            .ok_or(PipelineError::NoCredentials(kind))
    }

    pub(super) fn details_url(&self, id: &RunId) -> Option<String> {
        let now = unix_secs(SystemTime::now()).max(0) as u64;
        self.public_url
            .as_ref()
            .map(|links| links.url(&format!("/runs/{id}"), now))
    }

    /// Act on one queued event. Idempotent: the same delivery twice starts one build.
    pub async fn dispatch(&self, queued: &QueuedEvent) -> Result<(), PipelineError> {
        let event = &queued.event;
        let Some(repo) = &event.repo else {
            return Ok(());
        };
        let forge = self.forge((event.forge, event.installation_id))?;
        if let EventKind::Comment { .. } = event.kind {
            return self.handle_comment(queued, forge.as_ref(), repo).await;
        }
        if let EventKind::PullRequest { pr, action } = &event.kind {
            if !matches!(action, crate::model::event::PrAction::Closed { .. }) {
                // `/ok-to-test` trusts only heads that were there before its comment.
                let seen = queued.received_at;
                self.state
                    .record_head_seen(event.forge, &repo.id, pr.number, &pr.head_sha, seen)
                    .await?;
            }
        }
        let InForce {
            loaded,
            policy_changed,
        } = match plan::config_sha(event) {
            Some(sha) => repo_config::in_force(forge.as_ref(), repo, sha).await?,
            None => InForce {
                loaded: Loaded::Absent,
                policy_changed: false,
            },
        };
        let mut facts = Facts {
            unsandboxed: !self.runner.sandboxed(),
            ..Facts::default()
        };
        if let (true, EventKind::PullRequest { pr, .. }) =
            (plan::needs_author_permission(event), &event.kind)
        {
            facts.author_permission = Some(forge.permission(repo, &pr.author).await?);
            facts.trusted_sha = self
                .state
                .trusted_sha(event.forge, &repo.id, pr.number)
                .await?;
        }
        let config = loaded.state();
        for action in plan::plan(event, config, &facts) {
            match action {
                Action::Build(target) => {
                    let ConfigState::Valid(config) = config else {
                        continue;
                    };
                    self.start_build(queued, forge.as_ref(), repo, config, target, policy_changed)
                        .await?;
                }
                Action::CancelBuilds { pr, keep, reason } => {
                    for run in self.state.runs_for_pr(event.forge, &repo.id, pr).await? {
                        // A push supersedes builds, never a deploy under way.
                        let superseded = run.deployment.is_none()
                            && !run.status.is_finished()
                            && Some(&run.sha) != keep.as_ref();
                        if superseded {
                            self.cancel(forge.as_ref(), run, reason, keep.as_ref())
                                .await?;
                        }
                    }
                }
                Action::ReportConfigError { sha, error } => {
                    let check = self.check(
                        sha,
                        CheckState::Failure,
                        render::config_error_title(),
                        render::config_error_summary(&error),
                        None,
                    );
                    forge.set_check(repo, &check, None).await?;
                }
                Action::AwaitApproval { sha, .. } => {
                    let summary = render::awaiting_approval_summary(&sha);
                    let check = self.check(
                        sha,
                        CheckState::ActionRequired,
                        render::awaiting_approval_title(),
                        summary,
                        None,
                    );
                    forge.set_check(repo, &check, None).await?;
                }
                Action::RefuseUnsandboxedFork { sha } => {
                    let (title, summary) = (
                        render::unsandboxed_fork_title(),
                        render::unsandboxed_fork_summary(),
                    );
                    let check = self.check(sha, CheckState::Failure, title, summary, None);
                    forge.set_check(repo, &check, None).await?;
                }
            }
        }
        Ok(())
    }

    fn check(
        &self,
        sha: CommitSha,
        state: CheckState,
        title: String,
        summary: String,
        run: Option<&Run>,
    ) -> CheckRun {
        let now = SystemTime::now();
        CheckRun {
            name: BUILD_CHECK.into(),
            head_sha: sha,
            state,
            title,
            summary,
            details_url: run.and_then(|r| self.details_url(&r.id)),
            started_at: run.map(|r| SystemTime::UNIX_EPOCH + Duration::from_secs(r.created_at)),
            completed_at: state.is_final().then_some(now),
        }
    }

    pub(super) async fn start_build(
        &self,
        queued: &QueuedEvent,
        forge: &dyn Forge,
        repo: &Repo,
        config: &Config,
        target: BuildTarget,
        policy_changed: bool,
    ) -> Result<(), PipelineError> {
        let event = &queued.event;
        let id = RunId::derive(event.forge, &queued.delivery, &target.sha);
        let mut run = Run {
            id: id.clone(),
            forge: event.forge,
            repo: repo.clone(),
            installation_id: event.installation_id,
            sha: target.sha.clone(),
            git_ref: target.git_ref.clone(),
            pr: target.pr,
            trigger: target.trigger,
            check_name: BUILD_CHECK.into(),
            check_id: None,
            status: RunStatus::Queued,
            cancel_reason: None,
            created_at: unix_secs(SystemTime::now()) as u64,
            finished_at: None,
            timeout_secs: config.build.timeout.as_secs(),
            runner_ref: None,
            artifacts: Vec::new(),
            image: None,
            deployment: None,
            policy_changed,
            sweep_attempts: 0,
            artifact_count: 0,
            actor: event.sender.as_ref().and_then(|user| user.login.clone()),
        };
        if !self.state.insert_run(&run).await? {
            match self.state.get_run(&id).await? {
                // A redelivery of a message whose build got past queued: nothing to do.
                Some(existing) if existing.status != RunStatus::Queued => return Ok(()),
                Some(existing) => run = existing,
                None => return Err(PipelineError::RunVanished(id)),
            }
        }
        let queued_check = self.check(
            run.sha.clone(),
            CheckState::Queued,
            render::queued_title(),
            render::queued_summary(&run),
            Some(&run),
        );
        run.check_id = forge.set_check(repo, &queued_check, run.check_id).await?;
        if !self.state.save_run(&run, RunStatus::Queued).await? {
            return Ok(()); // a concurrent delivery or a cancel moved it on
        }

        let job = BuildJob {
            artifact_prefix: run.output_prefix(),
            run_id: id,
            sha: run.sha.clone(),
            git_ref: run.git_ref.clone(),
            pr: run.pr,
            steps: config.build.steps.clone(),
            env: config.build.env.clone(),
            timeout_secs: run.timeout_secs,
            artifacts: config.build.artifacts.clone(),
            image: config.build.image.clone(),
            source_url: Some(repo.web_url.clone()).filter(|u| u.starts_with("http")),
            deploy: false,
        };
        // The run is marked running and "Building" posted *before* the build starts: once it
        // has started only its report writes the check, so a slow or retried "Building" never
        // lands after the final one. A cancel (or sweep) that finished the run while "Building"
        // was on its way gets its check posted again, and no build starts.
        run.status = RunStatus::Running;
        if !self.state.save_run(&run, RunStatus::Queued).await? {
            return Ok(());
        }
        let check = self.check(
            run.sha.clone(),
            CheckState::InProgress,
            render::running_title(),
            render::queued_summary(&run),
            Some(&run),
        );
        run.check_id = forge.set_check(repo, &check, run.check_id).await?;
        if !self.state.save_run(&run, RunStatus::Running).await? {
            if let Some(ended) = self.state.get_run(&run.id).await? {
                self.repost_final(forge, &ended).await?;
            }
            return Ok(());
        }
        match self.runner.start(&job, forge, repo).await {
            Ok(reference) => {
                run.runner_ref = Some(reference);
                if !self.state.save_run(&run, RunStatus::Running).await? {
                    // It ended before its reference was saved: a fast build already reported
                    // (nothing to do), or a cancel or sweep that could not reach it yet.
                    let now = self.state.get_run(&run.id).await?;
                    let abandoned =
                        |r: &Run| matches!(r.status, RunStatus::Cancelled | RunStatus::Lost);
                    if now.as_ref().is_some_and(abandoned) {
                        self.runner.cancel(&run).await?;
                    }
                }
                Ok(())
            }
            Err(error) => {
                tracing::error!(run = %run.id, %error, "the build could not start");
                run.status = RunStatus::Failed;
                run.finished_at = Some(unix_secs(SystemTime::now()) as u64);
                if !self.state.save_run(&run, RunStatus::Running).await? {
                    return Ok(());
                }
                let check = self.check(
                    run.sha.clone(),
                    CheckState::Failure,
                    render::not_started_title(),
                    render::not_started_summary(&run.id),
                    Some(&run),
                );
                if let Err(error) = forge.set_check(repo, &check, run.check_id).await {
                    self.give_back(&run, RunStatus::Running).await;
                    return Err(error.into());
                }
                Ok(())
            }
        }
    }

    /// Post a finished run's final check again (it may have been overtaken by "Building").
    async fn repost_final(&self, forge: &dyn Forge, run: &Run) -> Result<(), PipelineError> {
        if !run.status.is_finished() {
            return Ok(());
        }
        let (title, summary) = match run.cancel_reason {
            Some(reason) if run.status == RunStatus::Cancelled => (
                render::cancelled_title(reason),
                render::cancelled_summary(reason, None),
            ),
            _ => (
                render::finished_title(run, None),
                render::finished_summary(run, None, None, self.details_url(&run.id).as_deref()),
            ),
        };
        let check = self.check(
            run.sha.clone(),
            run.status.check_state(),
            title,
            summary,
            Some(run),
        );
        forge.set_check(&run.repo, &check, run.check_id).await?;
        Ok(())
    }

    pub(super) async fn cancel(
        &self,
        forge: &dyn Forge,
        mut run: Run,
        reason: CancelReason,
        newer: Option<&CommitSha>,
    ) -> Result<(), PipelineError> {
        let from = run.status;
        run.status = RunStatus::Cancelled;
        run.cancel_reason = Some(reason);
        run.finished_at = Some(unix_secs(SystemTime::now()) as u64);
        if !self.state.save_run(&run, from).await? {
            return Ok(()); // it finished (or was cancelled) meanwhile: its check says so
        }
        if let Err(error) = self.runner.cancel(&run).await {
            tracing::warn!(run = %run.id, %error, "stopping the build failed; it is marked cancelled anyway");
        }
        if let Some(deployment) = run.deployment.clone() {
            // A deploy's cancellation ends the deploy: failed, lock released, comment updated.
            return self.finish_deploy_run(&run, &deployment).await;
        }
        let summary = render::cancelled_summary(reason, newer);
        let check = self.check(
            run.sha.clone(),
            CheckState::Cancelled,
            render::cancelled_title(reason),
            summary,
            Some(&run),
        );
        if let Err(error) = forge.set_check(&run.repo, &check, run.check_id).await {
            self.give_back(&run, from).await;
            return Err(error.into());
        }
        Ok(())
    }

    /// A build ended: the final check and the sticky comment. A run already finished (cancelled,
    /// or reported before) is left as it is.
    pub async fn report(&self, id: &RunId, mut outcome: Outcome) -> Result<(), PipelineError> {
        let Some(mut run) = self.state.get_run(id).await? else {
            tracing::warn!(run = %id, "a report for an unknown run");
            return Ok(());
        };
        if run.status.is_finished() {
            return Ok(());
        }
        let from = run.status;
        let result = outcome.result.as_ref().map(|r| r.status);
        run.status = crate::model::status::verdict(outcome.runner_status, result);
        run.finished_at = Some(unix_secs(SystemTime::now()) as u64);
        if let Some(result) = outcome.result.as_mut() {
            let artifacts = std::mem::take(&mut result.artifacts);
            result.artifacts = artifacts
                .into_iter()
                .map(|artifact| self.relinked(&run, artifact))
                .collect();
        }
        let artifacts = outcome.result.as_ref().map_or(&[][..], |r| &r.artifacts);
        run.artifact_count = artifacts.len();
        run.artifacts = artifacts
            .iter()
            .take(crate::model::run::ARTIFACTS_ON_RUN)
            .cloned()
            .collect();
        run.image = outcome.result.as_ref().and_then(|r| r.image.clone());
        self.finish(run, from, &outcome).await
    }

    /// An artifact as a comment may show it. With a public URL the link is Slipway's own,
    /// signed for the file's key (served by the pages, good for [`crate::links::DEFAULT_LIFETIME`]):
    /// the one in the build's result is the build's word, and in AWS a presigned link dies with
    /// the build's hour-long session. A key outside the run's own outputs gets no link.
    fn relinked(&self, run: &Run, mut artifact: PublishedArtifact) -> PublishedArtifact {
        if let Some(links) = &self.public_url {
            // Only keys a URL path carries as they are (and markdown as plain text) are linked.
            let plain = artifact.file.key.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'+')
            });
            let own = plain
                && artifact.file.key.starts_with(&run.output_prefix())
                && !artifact.file.key.split('/').any(|part| part == "..");
            artifact.link = own.then(|| {
                let path = format!(
                    "{}/{}",
                    crate::app::pages::ARTIFACTS_UNDER,
                    artifact.file.key
                );
                let now = unix_secs(SystemTime::now()).max(0) as u64;
                links.url_for(&path, crate::links::DEFAULT_LIFETIME, now)
            });
        }
        artifact
    }

    /// When a pull request's change started, for its lead time: its first build (Unix seconds).
    pub(super) async fn first_build_of(
        &self,
        forge: crate::model::event::ForgeKind,
        repo: &crate::model::event::RepoId,
        pr: crate::model::event::PrNumber,
    ) -> Result<Option<u64>, crate::state::StateError> {
        let runs = self.state.runs_for_pr(forge, repo, pr).await?;
        Ok(crate::metrics::first_build(&runs))
    }

    /// Claim the run's end (compare-and-set from `from`, the status it was read in), then tell
    /// the forge. Of two finishers (a report and the sweeper, a redelivered report) exactly one
    /// claims it; the other stops before posting anything. If telling the forge fails, the claim
    /// is given back, so the retry (a redelivered report, the next sweep) can finish it: a run is
    /// finished for good only once its final check is out.
    async fn finish(
        &self,
        run: Run,
        from: RunStatus,
        outcome: &Outcome,
    ) -> Result<(), PipelineError> {
        if !self.state.save_run(&run, from).await? {
            return Ok(());
        }
        let published = match run.deployment.clone() {
            Some(deployment) => self.finish_deploy_run(&run, &deployment).await,
            None => self.finish_build(run.clone(), outcome).await,
        };
        if let Err(error) = published {
            // A deploy's records say how far it got, and its retry goes on from them.
            if run.deployment.is_none() {
                self.give_back(&run, from).await;
            }
            return Err(error);
        }
        if run.deployment.is_none() {
            // Counted once: only the writer that claimed the run's end gets here.
            self.telemetry
                .record(&crate::metrics::emf::Delivered::Build {
                    repo: &run.repo.full_name,
                    succeeded: run.status == RunStatus::Succeeded,
                    duration_secs: run
                        .finished_at
                        .unwrap_or(run.created_at)
                        .saturating_sub(run.created_at),
                });
        }
        // A green build of a push: the environments that auto-deploy its branch get it.
        if run.status == RunStatus::Succeeded
            && run.trigger == crate::model::status::Trigger::Push
            && run.deployment.is_none()
        {
            let forge = self.forge((run.forge, run.installation_id))?;
            self.auto_deploy(forge.as_ref(), &run).await?;
        }
        Ok(())
    }

    /// Undo this writer's own claim on a run whose final check the forge refused, so that the
    /// retry (a redelivered report, the next sweep) finishes it rather than finding it finished.
    async fn give_back(&self, run: &Run, from: RunStatus) {
        let mut unclaimed = run.clone();
        unclaimed.status = from;
        unclaimed.finished_at = None;
        unclaimed.cancel_reason = None;
        if let Err(error) = self.state.save_run(&unclaimed, run.status).await {
            tracing::error!(run = %run.id, %error, "giving back a run whose final check failed failed");
        }
    }

    async fn finish_build(&self, mut run: Run, outcome: &Outcome) -> Result<(), PipelineError> {
        let forge = self.forge((run.forge, run.installation_id))?;
        let details = self.details_url(&run.id);
        let title = render::finished_title(&run, outcome.result.as_ref());
        let summary = render::finished_summary(
            &run,
            outcome.result.as_ref(),
            outcome.log_tail.as_deref(),
            details.as_deref(),
        );
        let check = self.check(
            run.sha.clone(),
            run.status.check_state(),
            title,
            summary,
            Some(&run),
        );
        run.check_id = forge.set_check(&run.repo, &check, run.check_id).await?;
        if let Some(pr) = run.pr {
            let body = render::build_comment(&run, outcome.result.as_ref(), details.as_deref());
            let comment = upsert_sticky_comment(
                forge.as_ref(),
                &run.repo,
                pr,
                &sticky_marker("build"),
                &body,
                &render::comment_cut_note(details.as_deref()),
            )
            .await;
            // The check is out and is what gates the merge; a comment that failed is not a
            // reason to reopen the run (the next build's comment replaces it).
            if let Err(error) = comment {
                tracing::warn!(run = %run.id, %error, "updating the sticky comment failed");
            }
        }
        let status = run.status;
        self.state.save_run(&run, status).await?;
        Ok(())
    }

    /// Fail every run left unfinished past its timeout plus [`SWEEP_GRACE`]. Returns how many.
    /// Each run alone: one whose forge refuses (an uninstalled App, a deleted repository) is
    /// logged and counted, and closed here without a check after [`SWEEP_ATTEMPTS`] sweeps; it
    /// never stops the others from being finished.
    pub async fn sweep(&self, now: SystemTime) -> Result<usize, PipelineError> {
        let now = unix_secs(now) as u64;
        let mut swept = 0;
        for run in self.state.unfinished_runs().await? {
            if now < run.created_at + run.timeout_secs + SWEEP_GRACE.as_secs() {
                continue;
            }
            match self.sweep_one(run.clone(), now).await {
                Ok(()) => swept += 1,
                Err(error) => self.sweep_failed(run, now, &error).await,
            }
        }
        Ok(swept)
    }

    async fn sweep_one(&self, mut run: Run, now: u64) -> Result<(), PipelineError> {
        if let Err(error) = self.runner.cancel(&run).await {
            tracing::warn!(run = %run.id, %error, "stopping a lost build failed");
        }
        let from = run.status;
        run.status = RunStatus::Lost;
        run.finished_at = Some(now);
        let outcome = Outcome {
            result: None,
            runner_status: Some(RunStatus::Lost),
            log_tail: None,
        };
        self.finish(run, from, &outcome).await
    }

    async fn sweep_failed(&self, mut run: Run, now: u64, error: &PipelineError) {
        // The run as the sweep read it: if finishing got as far as claiming it, this write
        // finds it moved and changes nothing.
        let from = run.status;
        run.sweep_attempts += 1;
        if run.sweep_attempts >= SWEEP_ATTEMPTS {
            tracing::error!(run = %run.id, repo = %run.repo.full_name, %error, attempts = run.sweep_attempts,
                "abandoning a lost run: its forge refused every final check");
            run.status = RunStatus::Lost;
            run.finished_at = Some(now);
        } else {
            tracing::warn!(run = %run.id, repo = %run.repo.full_name, %error, attempts = run.sweep_attempts,
                "finishing a lost run failed; the next sweep tries again");
        }
        if let Err(error) = self.state.save_run(&run, from).await {
            tracing::error!(run = %run.id, %error, "recording a failed sweep failed");
        }
    }
}
