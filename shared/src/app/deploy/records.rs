//! What a deploy leaves behind: the environment tag and `current.json` when it succeeded, and
//! its state on the forge — deployment status, check, and the comment sticky per environment.

use std::time::{Duration, SystemTime};

use super::super::pipeline::Pipeline;
use crate::app::PipelineError;
use crate::config::{Environment, Target};
use crate::forge::{sticky_marker, upsert_sticky_comment, Forge};
use crate::model::deploy::{DeployKind, DeployStatus, DeploymentRecord};
use crate::model::event::RunId;
use crate::model::failure::Failure;
use crate::model::forge::{CheckRun, CheckState, DeploymentId, DeploymentState, DeploymentStatus};
use crate::model::image::PublishedImage;
use crate::render;
use crate::runner::Runner;
use crate::state::StateStore;

impl<S: StateStore, R: Runner> Pipeline<S, R> {
    /// Point `env-<name>` at the digest and write `current.json`.
    pub(super) async fn record_current(&self, record: &DeploymentRecord) -> Result<(), Failure> {
        if let (Some(image), Some(images)) = (&record.image, &self.deploy.images) {
            images
                .retag(
                    &image.name,
                    &image.digest,
                    &crate::model::deploy::environment_tag(&record.environment),
                )
                .await
                .map_err(|e| {
                    let tag = crate::model::deploy::environment_tag(&record.environment);
                    Failure::internal(format!("moving the {tag} tag failed"), e)
                })?;
        }
        if let Some(records) = &self.deploy.records {
            let current = serde_json::json!({
                "environment": record.environment,
                "sha": record.sha,
                "image": record.image.as_ref().map(PublishedImage::reference),
                "digest": record.image.as_ref().map(|i| i.digest.clone()),
                "artifacts_manifest": record.artifacts_manifest,
                "actor": record.actor,
                "deployment": record.id,
                "deployed_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            });
            let key =
                crate::model::deploy::current_key(&record.repo, record.forge, &record.environment);
            let bytes = serde_json::to_vec_pretty(&current)
                .map_err(|e| Failure::internal("encoding current.json failed", e))?;
            records
                .put_bytes(&key, bytes, "application/json")
                .await
                .map_err(|e| {
                    Failure::internal("writing the environment's current.json failed", e)
                })?;
        }
        Ok(())
    }

    /// The deploy's state on the forge: deployment status, check, and the comment(s).
    pub(super) async fn publish(
        &self,
        forge: &dyn Forge,
        environment: &Environment,
        record: &DeploymentRecord,
    ) -> Result<(), PipelineError> {
        let tag_only = matches!(environment.target, Target::TagOnly);
        let body = render::deployment_comment(record, tag_only);
        let log_url = record
            .run_id
            .as_ref()
            .and_then(|id| self.details_url(&RunId(id.clone())));
        if let Some(id) = record.forge_deployment {
            let state = match record.status {
                DeployStatus::InProgress => DeploymentState::InProgress,
                DeployStatus::Succeeded => DeploymentState::Success,
                DeployStatus::Failed => DeploymentState::Failure,
            };
            let status = DeploymentStatus {
                state,
                environment_url: record.url.clone(),
                log_url: log_url.clone(),
                description: render::deploy_check_title(record),
            };
            forge
                .set_deployment_status(&record.repo, DeploymentId(id), &status)
                .await?;
        }
        let state = match record.status {
            DeployStatus::InProgress => CheckState::InProgress,
            DeployStatus::Succeeded => CheckState::Success,
            DeployStatus::Failed => CheckState::Failure,
        };
        let check = CheckRun {
            name: crate::model::deploy::check_name(&record.environment),
            head_sha: record.sha.clone(),
            state,
            title: render::deploy_check_title(record),
            summary: body.clone(),
            details_url: log_url.or_else(|| record.url.clone()),
            started_at: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(record.created_ms)),
            completed_at: state.is_final().then(SystemTime::now),
        };
        forge.set_check(&record.repo, &check, None).await?;
        if record.status == DeployStatus::InProgress {
            return Ok(());
        }
        let pulls = match (record.pr, record.kind) {
            (Some(pr), _) => vec![pr],
            (None, DeployKind::Auto) => forge.pulls_for_commit(&record.repo, &record.sha).await?,
            (None, _) => Vec::new(),
        };
        let marker = sticky_marker(&format!("deploy-{}", record.environment));
        for pr in pulls {
            let cut_note = render::comment_cut_note(None);
            upsert_sticky_comment(forge, &record.repo, pr, &marker, &body, &cut_note).await?;
        }
        Ok(())
    }
}
