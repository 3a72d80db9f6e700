//! Deploys: requirements checked, the environment locked, the target updated, the
//! `env-<name>` tag moved to the digest, `current.json` written, and everything recorded — in
//! Slipway's state, on the forge (deployment, check) and in a sticky comment per environment.
//!
//! Environments with `steps` run them through the runner, like a build; the deploy completes
//! when that run reports. The other targets complete in place. Either way the lock is released
//! and the deployment ends succeeded or failed, with the reason.

mod records;
#[cfg(feature = "aws")]
pub mod targets;

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use super::pipeline::Pipeline;
use crate::app::PipelineError;
use crate::config::{Environment, Target};
use crate::deploy;
use crate::forge::Forge;
use crate::model::deploy::{
    DeployKind, DeployRef, DeployStatus, DeploymentRecord, Previous, LOCK_TTL,
};
use crate::model::event::RunId;
use crate::model::event::{CommitSha, PrNumber, Repo};
use crate::model::failure::Failure;
use crate::model::forge::NewDeployment;
use crate::model::image::PublishedImage;
use crate::model::job::BuildJob;
use crate::model::run::Run;
use crate::model::status::RunStatus;
use crate::policy::{self, DeployFacts, Requester};
use crate::render;
use crate::runner::Runner;
use crate::state::{environment_key, unix_secs, StateStore};

/// A deploy to start: what to ship where, asked by whom.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub environment: String,
    pub kind: DeployKind,
    pub sha: CommitSha,
    pub git_ref: String,
    pub image: Option<PublishedImage>,
    pub artifacts_manifest: Option<String>,
    pub actor: String,
    /// The pull request it was asked on (or that merged the commit).
    pub pr: Option<PrNumber>,
    /// What asked for it (delivery and environment): the same request redelivered finds its
    /// deployment instead of deploying twice.
    pub key: String,
}

/// How a deploy request came out.
#[derive(Debug)]
pub enum Started {
    /// Completed in place (succeeded or failed: see the record).
    Done(Box<DeploymentRecord>),
    /// Its steps run on the runner; the report completes it.
    Running(Box<DeploymentRecord>),
    /// Another deploy holds the environment.
    Locked(String),
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn deployment_id(repo: &Repo, request: &DeployRequest) -> String {
    let seed = format!("{}\n{}\n{}", repo.id.0, request.environment, request.key);
    hex::encode(&Sha256::digest(seed)[..8])
}

impl<S: StateStore, R: Runner> Pipeline<S, R> {
    /// Start a deploy whose requirements were checked. Never leaves the lock held on error.
    pub async fn deploy(
        &self,
        forge: &dyn Forge,
        repo: &Repo,
        installation_id: Option<u64>,
        environment: &Environment,
        request: DeployRequest,
    ) -> Result<Started, PipelineError> {
        let kind = forge.kind();
        let history = self
            .state
            .deployments(kind, &repo.id, &request.environment)
            .await?;
        let now = SystemTime::now();
        let id = deployment_id(repo, &request);
        if let Some(existing) = history.iter().find(|d| d.id == id) {
            // A redelivery of the request that started it.
            let existing = Box::new(existing.clone());
            return Ok(match existing.status {
                DeployStatus::InProgress => Started::Running(existing),
                _ => Started::Done(existing),
            });
        }
        let lock = environment_key(kind, &repo.id, &request.environment);
        if let Some(holder) = self.state.acquire_lock(&lock, &id, now, LOCK_TTL).await? {
            let busy = history.iter().rev().find(|d| d.id == holder);
            return Ok(Started::Locked(render::deploy_in_progress(busy)));
        }
        // Best effort: failing to tidy up old records must not keep this deploy's lock.
        if let Err(error) = self.fail_abandoned(forge, environment, &history, now).await {
            tracing::warn!(%error, "ending abandoned deployments failed");
        }
        let mut record = DeploymentRecord {
            id,
            forge: kind,
            repo: repo.clone(),
            installation_id,
            environment: request.environment,
            kind: request.kind,
            sha: request.sha,
            git_ref: request.git_ref,
            image: request.image,
            artifacts_manifest: request.artifacts_manifest,
            actor: request.actor,
            pr: request.pr,
            status: DeployStatus::InProgress,
            reason: None,
            previous: deploy::current(&history).map(|d| Previous {
                sha: d.sha.clone(),
                image: d.image.clone(),
                deployment_id: d.id.clone(),
            }),
            forge_deployment: None,
            run_id: None,
            url: environment.url.clone(),
            created_ms: unix_ms(now),
            finished_at: None,
            applied: false,
        };
        match self.begin(forge, environment, &mut record).await {
            Ok(true) => Ok(Started::Running(Box::new(record))),
            Ok(false) => {
                let applied = self.apply(environment, &record).await;
                record.applied = applied.is_ok() && environment.target.changes_what_runs();
                let done = self.complete(forge, environment, record, applied).await?;
                Ok(Started::Done(Box::new(done)))
            }
            Err(e) => {
                let failure = Failure::internal("Slipway could not start the deploy", e);
                let done = self
                    .complete(forge, environment, record, Err(failure))
                    .await?;
                Ok(Started::Done(Box::new(done)))
            }
        }
    }

    /// Deployments still "in progress" past the lock's lifetime lost their holder (a function
    /// that died mid-deploy): the next deploy to the environment ends them as failed, so none
    /// stays pending on the forge.
    async fn fail_abandoned(
        &self,
        forge: &dyn Forge,
        environment: &Environment,
        history: &[DeploymentRecord],
        now: SystemTime,
    ) -> Result<(), PipelineError> {
        let abandoned = history.iter().filter(|d| {
            d.status == DeployStatus::InProgress
                && d.created_ms + (LOCK_TTL.as_millis() as u64) < unix_ms(now)
        });
        for record in abandoned {
            let reason = Failure::public("it never finished, and its lock expired");
            self.complete(forge, environment, record.clone(), Err(reason))
                .await?;
        }
        Ok(())
    }

    /// Record the deploy everywhere as in progress; start the steps' run if there are steps.
    /// True when a run was started.
    async fn begin(
        &self,
        forge: &dyn Forge,
        environment: &Environment,
        record: &mut DeploymentRecord,
    ) -> Result<bool, PipelineError> {
        self.state.save_deployment(record).await?;
        let new = NewDeployment {
            environment: record.environment.clone(),
            sha: record.sha.clone(),
            git_ref: record.git_ref.clone(),
            description: format!("{} by {}", record.sha.short(), record.actor),
            transient: false,
            production: record.environment == "production",
        };
        let id = forge.create_deployment(&record.repo, &new).await?;
        record.forge_deployment = Some(id.0);
        self.state.save_deployment(record).await?;
        self.publish(forge, environment, record).await?;
        let Target::Steps(steps) = &environment.target else {
            return Ok(false);
        };
        let run_id = RunId(record.id.clone());
        let run = Run {
            id: run_id.clone(),
            forge: record.forge,
            repo: record.repo.clone(),
            installation_id: record.installation_id,
            sha: record.sha.clone(),
            git_ref: record.git_ref.clone(),
            pr: record.pr,
            trigger: crate::model::status::Trigger::Command,
            check_name: crate::model::deploy::check_name(&record.environment),
            check_id: None,
            status: RunStatus::Running,
            cancel_reason: None,
            created_at: unix_secs(SystemTime::now()) as u64,
            finished_at: None,
            timeout_secs: crate::config::DEFAULT_TIMEOUT.as_secs(),
            runner_ref: None,
            artifacts: Vec::new(),
            image: None,
            deployment: Some(DeployRef {
                id: record.id.clone(),
                environment: record.environment.clone(),
            }),
            policy_changed: false,
            sweep_attempts: 0,
            artifact_count: 0,
            actor: Some(record.actor.clone()),
        };
        let mut env = environment.env.clone();
        env.insert("SLIPWAY_ENV".into(), record.environment.clone());
        if let Some(image) = &record.image {
            env.insert("SLIPWAY_IMAGE".into(), image.reference());
            env.insert("SLIPWAY_IMAGE_DIGEST".into(), image.digest.clone());
        }
        if let Some(manifest) = &record.artifacts_manifest {
            env.insert("SLIPWAY_ARTIFACTS_MANIFEST".into(), manifest.clone());
        }
        let job = BuildJob {
            run_id: run_id.clone(),
            sha: record.sha.clone(),
            git_ref: record.git_ref.clone(),
            pr: record.pr,
            steps: steps.clone(),
            env,
            timeout_secs: run.timeout_secs,
            artifacts: Vec::new(),
            // The result and log go here, for the report (CodeBuild keeps no files).
            artifact_prefix: run.output_prefix(),
            image: None,
            source_url: None,
            deploy: true,
        };
        self.state.insert_run(&run).await?;
        record.run_id = Some(run_id.0.clone());
        self.state.save_deployment(record).await?;
        let reference = self.runner.start(&job, forge, &record.repo).await?;
        let mut run = run;
        run.runner_ref = Some(reference);
        self.state.save_run(&run, run.status).await?;
        Ok(true)
    }

    /// The in-place targets: Lambda, ECS, or nothing beyond the tag.
    async fn apply(
        &self,
        environment: &Environment,
        record: &DeploymentRecord,
    ) -> Result<(), Failure> {
        #[cfg(feature = "aws")]
        let image = record.image.as_ref().map(PublishedImage::reference);
        #[cfg(not(feature = "aws"))]
        let _ = record; // only the AWS targets run the image
        match &environment.target {
            Target::TagOnly | Target::Steps(_) => Ok(()),
            #[cfg(feature = "aws")]
            Target::Lambda { function, alias } => {
                let (sdk, image) = self.aws_and_image(image.as_deref(), "lambda")?;
                let client = aws_sdk_lambda::Client::new(sdk);
                targets::lambda(&client, function, alias, image)
                    .await
                    .map(drop)
            }
            #[cfg(feature = "aws")]
            Target::Ecs {
                cluster,
                service,
                container,
                wait,
            } => {
                let (sdk, image) = self.aws_and_image(image.as_deref(), "ecs")?;
                let client = aws_sdk_ecs::Client::new(sdk);
                targets::ecs(&client, cluster, service, container, image, *wait)
                    .await
                    .map(drop)
            }
            #[cfg(not(feature = "aws"))]
            Target::Lambda { .. } | Target::Ecs { .. } => Err(Failure::public(
                "this Slipway was built without AWS support",
            )),
        }
    }

    #[cfg(feature = "aws")]
    fn aws_and_image<'a>(
        &'a self,
        image: Option<&'a str>,
        target: &str,
    ) -> Result<(&'a aws_config::SdkConfig, &'a str), Failure> {
        let image = image.ok_or_else(|| {
            Failure::public(format!(
                "the build pushed no image, so the {target} target has nothing to run"
            ))
        })?;
        let sdk = self.deploy.aws.as_ref().ok_or_else(|| {
            Failure::public(format!(
                "the {target} target needs AWS, which is not configured here"
            ))
        })?;
        Ok((sdk, image))
    }

    /// A green build of a push: deploy it to each environment the default branch's
    /// configuration auto-deploys that branch to (never what the pushed commit says).
    pub(super) async fn auto_deploy(
        &self,
        forge: &dyn Forge,
        build: &Run,
    ) -> Result<(), PipelineError> {
        let (repo, sha, branch) = (&build.repo, &build.sha, build.git_ref.as_str());
        let Some(config) = super::repo_config::policy(forge, repo).await? else {
            return Ok(());
        };
        let targets = deploy::auto_deploy_targets(&config.environments, branch);
        if targets.is_empty() {
            return Ok(());
        }
        let actor = forge.bot_login().await?;
        for name in targets {
            let environment = &config.environments[name];
            let facts = DeployFacts {
                requester: Requester::Push {
                    branch: branch.to_owned(),
                },
                kind: DeployKind::Auto,
                build: Some(build.status),
                approvals: 0,
                changes_requested: 0,
            };
            if let Err(refusal) = policy::authorize_deploy(environment, &facts) {
                tracing::warn!(environment = name, ?refusal, "auto-deploy refused");
                continue;
            }
            let request = DeployRequest {
                environment: name.to_owned(),
                kind: DeployKind::Auto,
                sha: sha.clone(),
                git_ref: branch.to_owned(),
                image: build.image.clone(),
                artifacts_manifest: self.manifest_key(build),
                actor: actor.clone(),
                pr: None,
                key: format!("auto:{sha}"),
            };
            match self
                .deploy(forge, repo, build.installation_id, environment, request)
                .await?
            {
                Started::Locked(holder) => {
                    tracing::warn!(environment = name, %holder, "auto-deploy skipped: another deploy holds the environment");
                }
                Started::Done(_) | Started::Running(_) => {}
            }
        }
        Ok(())
    }

    /// The build's `manifest.json` key, when it stored one.
    pub(super) fn manifest_key(&self, run: &Run) -> Option<String> {
        (!run.artifacts.is_empty()).then(|| format!("{}manifest.json", run.output_prefix()))
    }

    /// A deploy's steps run ended: complete the deploy with its result.
    pub(super) async fn finish_deploy_run(
        &self,
        run: &Run,
        deployment: &DeployRef,
    ) -> Result<(), PipelineError> {
        let forge = self.forge((run.forge, run.installation_id))?;
        let history = self
            .state
            .deployments(run.forge, &run.repo.id, &deployment.environment)
            .await?;
        let Some(record) = history.into_iter().find(|d| d.id == deployment.id) else {
            tracing::warn!(deployment = %deployment.id, "a deploy run for an unknown deployment");
            return Ok(());
        };
        if record.status != DeployStatus::InProgress {
            return Ok(());
        }
        // The default branch's configuration says how the environment is reached.
        let policy = super::repo_config::policy(forge.as_ref(), &run.repo).await?;
        let environment = policy
            .and_then(|c| c.environments.get(&deployment.environment).cloned())
            .unwrap_or_else(|| Environment {
                auto_deploy: None,
                url: record.url.clone(),
                allow: crate::model::forge::Permission::Admin,
                require: Vec::new(),
                target: Target::Steps(Vec::new()),
                env: Default::default(),
            });
        let result = match run.status {
            RunStatus::Succeeded => Ok(()),
            RunStatus::TimedOut => Err(Failure::public("the deploy steps timed out")),
            RunStatus::Cancelled => Err(Failure::public("the deploy was cancelled")),
            RunStatus::Lost => Err(Failure::public("the deploy steps never reported back")),
            _ => Err(Failure::public("a deploy step failed; see the log")),
        };
        let mut record = record;
        record.applied = result.is_ok();
        self.complete(forge.as_ref(), &environment, record, result)
            .await
            .map(drop)
    }

    /// End a deploy: on success move the tag and write `current.json`; record the result; tell
    /// the forge and the pull request; release the lock, whatever happened before.
    async fn complete(
        &self,
        forge: &dyn Forge,
        environment: &Environment,
        mut record: DeploymentRecord,
        mut result: Result<(), Failure>,
    ) -> Result<DeploymentRecord, PipelineError> {
        if result.is_ok() {
            result = self.record_current(&record).await;
        }
        record.status = match &result {
            Ok(()) => DeployStatus::Succeeded,
            Err(_) => DeployStatus::Failed,
        };
        // What may be posted; AWS's and Slipway's own error text goes to the log only.
        record.reason = result.err().map(|f| {
            let reason = f.into_public(&record.id);
            match record.applied {
                true => render::applied_but(&reason),
                false => reason,
            }
        });
        record.finished_at = Some(unix_secs(SystemTime::now()) as u64);
        let saved = self.state.save_deployment(&record).await;
        let published = self.publish(forge, environment, &record).await;
        let lock = environment_key(record.forge, &record.repo.id, &record.environment);
        let released = self.state.release_lock(&lock, &record.id).await;
        saved?;
        published?;
        released?;
        self.count_deploy(&record).await;
        Ok(record)
    }

    /// The deploy for the delivery metrics, with its lead time when it shipped a pull request:
    /// from that pull request's first build (docs/metrics.md).
    async fn count_deploy(&self, record: &DeploymentRecord) {
        if self.telemetry == crate::metrics::emf::Telemetry::Off {
            return;
        }
        let rollback = record.kind == DeployKind::Rollback;
        let lead_time_secs = match (record.pr, record.is_live() && !rollback) {
            // A metric is not worth failing a deploy over: no lead time if it cannot be read.
            (Some(pr), true) => {
                match self.first_build_of(record.forge, &record.repo.id, pr).await {
                    Ok(first) => first
                        .zip(record.finished_at)
                        .map(|(start, end)| end.saturating_sub(start)),
                    Err(_) => None,
                }
            }
            _ => None,
        };
        self.telemetry
            .record(&crate::metrics::emf::Delivered::Deploy {
                repo: &record.repo.full_name,
                environment: &record.environment,
                rollback,
                went_live: record.is_live(),
                lead_time_secs,
            });
    }
}
