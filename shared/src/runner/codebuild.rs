//! AWS CodeBuild: one build per run, on a project whose source is connected to the forge.
//!
//! CodeBuild checks out the exact commit itself (`sourceVersion`) with the project's own source
//! credentials, so no forge token ever enters a build, fork or not. The buildspec is overridden to
//! run `slipway agent` with the job passed as `SLIPWAY_JOB`; the run id travels as
//! `SLIPWAY_RUN_ID`, which the report function reads back from the state-change event.

use async_trait::async_trait;
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType};
use aws_sdk_codebuild::Client;

use super::{BuildJob, Runner};
use crate::event::Repo;
use crate::forge::Forge;
use crate::run::{Run, RunStatus};
use crate::BoxError;

/// Installs the agent when `SLIPWAY_AGENT_S3` names it (else the image must carry `slipway`),
/// then runs the job in the checkout.
pub const BUILDSPEC: &str = r#"version: 0.2
phases:
  install:
    commands:
      - if [ -n "$SLIPWAY_AGENT_S3" ]; then aws s3 cp "$SLIPWAY_AGENT_S3" /usr/local/bin/slipway && chmod +x /usr/local/bin/slipway; fi
  build:
    commands:
      - slipway agent --job-env SLIPWAY_JOB --workdir "$CODEBUILD_SRC_DIR" --out "$CODEBUILD_SRC_DIR/.slipway-out"
"#;

pub struct CodeBuildRunner {
    client: Client,
    project: String,
}

impl CodeBuildRunner {
    pub fn new(client: Client, project: impl Into<String>) -> Self {
        CodeBuildRunner {
            client,
            project: project.into(),
        }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, project: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), project)
    }
}

fn plain(name: &str, value: String) -> Result<EnvironmentVariable, BoxError> {
    Ok(EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(EnvironmentVariableType::Plaintext)
        .build()?)
}

/// A CodeBuild `build-status` as a run status.
pub fn run_status(build_status: &str) -> Option<RunStatus> {
    Some(match build_status {
        "SUCCEEDED" => RunStatus::Succeeded,
        "FAILED" | "FAULT" => RunStatus::Failed,
        "STOPPED" => RunStatus::Cancelled,
        "TIMED_OUT" => RunStatus::TimedOut,
        "IN_PROGRESS" => RunStatus::Running,
        _ => return None,
    })
}

#[async_trait]
impl Runner for CodeBuildRunner {
    async fn start(
        &self,
        job: &BuildJob,
        _forge: &dyn Forge,
        _repo: &Repo,
    ) -> Result<String, BoxError> {
        // CodeBuild's own limit, with a minute for the checkout and the agent's own timeout.
        let minutes = (job.timeout_secs.div_ceil(60) + 1).clamp(5, 2160) as i32;
        let out = self
            .client
            .start_build()
            .project_name(&self.project)
            .source_version(job.sha.as_str())
            .buildspec_override(BUILDSPEC)
            .timeout_in_minutes_override(minutes)
            .idempotency_token(&job.run_id.0)
            .environment_variables_override(plain("SLIPWAY_RUN_ID", job.run_id.0.clone())?)
            .environment_variables_override(plain("SLIPWAY_JOB", serde_json::to_string(job)?)?)
            .send()
            .await?;
        let id = out
            .build_value()
            .and_then(|b| b.id())
            .ok_or("CodeBuild started a build without an id")?;
        Ok(id.to_owned())
    }

    async fn cancel(&self, run: &Run) -> Result<(), BoxError> {
        let Some(id) = &run.runner_ref else {
            return Ok(());
        };
        match self.client.stop_build().id(id).send().await {
            Ok(_) => Ok(()),
            // Stopping a build that already ended is refused; it is stopped either way.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_invalid_input_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Each build is its own CodeBuild container, and the project's role is not the bot's:
    /// the Lambdas' secrets and table are out of its reach.
    fn sandboxed(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_statuses_map_onto_run_statuses() {
        assert_eq!(run_status("SUCCEEDED"), Some(RunStatus::Succeeded));
        assert_eq!(run_status("FAILED"), Some(RunStatus::Failed));
        assert_eq!(run_status("FAULT"), Some(RunStatus::Failed));
        assert_eq!(run_status("STOPPED"), Some(RunStatus::Cancelled));
        assert_eq!(run_status("TIMED_OUT"), Some(RunStatus::TimedOut));
        assert_eq!(run_status("IN_PROGRESS"), Some(RunStatus::Running));
        assert_eq!(run_status("PENDING"), None);
    }
}
