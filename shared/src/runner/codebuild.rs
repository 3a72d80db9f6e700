//! AWS CodeBuild: one build per run, on a project whose source is connected to the forge.
//!
//! CodeBuild checks out the exact commit itself (`sourceVersion`) with the project's own source
//! credentials, so no forge token ever enters a build, fork or not. The buildspec is overridden to
//! run `slipway agent` with the job passed as `SLIPWAY_JOB`; the run id travels as
//! `SLIPWAY_RUN_ID`, which the report function reads back from the state-change event.
//!
//! The project's service role can only fetch the agent and write logs; whatever runs in the
//! build can reach its credentials. What the agent writes it writes with a session of the run
//! role scoped to this run ([`super::scope`]), assumed here and passed in the build's
//! environment. The agent is checked against `SLIPWAY_AGENT_SHA256` before it runs.

use async_trait::async_trait;
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType, SourceType};
use aws_sdk_codebuild::Client;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{scope, Runner, RunnerError};

use crate::forge::Forge;
use crate::model::event::{ForgeKind, Repo};
use crate::model::job::BuildJob;
use crate::model::run::Run;
use crate::model::status::RunStatus;

/// The build's variable holding the agent's expected SHA-256; the buildspec below reads it.
const AGENT_DIGEST_VARIABLE: &str = "SLIPWAY_AGENT_SHA256";
const AGENT_LOCATION_VARIABLE: &str = "SLIPWAY_AGENT_S3";

/// Installs the agent when `SLIPWAY_AGENT_S3` names it (else the image must carry `slipway`),
/// refusing one whose SHA-256 is not `SLIPWAY_AGENT_SHA256` (a failed install fails the build
/// before anything else runs), then runs the job in the checkout.
pub const BUILDSPEC: &str = r#"version: 0.2
phases:
  install:
    commands:
      - if [ -n "$SLIPWAY_AGENT_S3" ]; then aws s3 cp "$SLIPWAY_AGENT_S3" /tmp/slipway-agent && echo "${SLIPWAY_AGENT_SHA256:?no agent digest was given}  /tmp/slipway-agent" | sha256sum -c - && install -m 0755 /tmp/slipway-agent /usr/local/bin/slipway; fi
  build:
    commands:
      - slipway agent --job-env SLIPWAY_JOB --workdir "$CODEBUILD_SRC_DIR" --out "$CODEBUILD_SRC_DIR/.slipway-out" --echo-log
"#;

/// The CodeBuild source for a repository cloned from `clone_url` on `forge`: `GITHUB` and
/// `GITLAB` for the hosted services, `GITHUB_ENTERPRISE` and `GITLAB_SELF_MANAGED` for any other
/// host. `None` for the local forge (no CodeBuild source) or a URL that is not `https://`.
pub fn build_source(forge: ForgeKind, clone_url: &str) -> Option<(SourceType, String)> {
    let rest = clone_url.strip_prefix("https://")?;
    let host = rest.split(['/', ':']).next().filter(|h| !h.is_empty())?;
    let source_type = match (forge, host.to_ascii_lowercase().as_str()) {
        (ForgeKind::Github, "github.com") => SourceType::Github,
        (ForgeKind::Github, _) => SourceType::GithubEnterprise,
        (ForgeKind::Gitlab, "gitlab.com") => SourceType::Gitlab,
        (ForgeKind::Gitlab, _) => SourceType::GitlabSelfManaged,
        (ForgeKind::Local, _) => return None,
    };
    Some((source_type, clone_url.to_owned()))
}

pub struct CodeBuildRunner {
    client: Client,
    project: String,
    agent_sha256: Option<String>,
    /// `s3://<bucket>/agent/<digest>/slipway`, when the bucket is known.
    agent_location: Option<String>,
    run_role: Option<RunRole>,
    deploy_role: Option<DeployRole>,
}

/// The role the operator grants deploy steps (`DeployStepsRoleArn`): its session's keys are
/// the standard `AWS_*` variables of a deploy's steps, so `aws …` in them authenticates. A
/// build's steps never get it.
pub struct DeployRole {
    pub sts: aws_sdk_sts::Client,
    pub role_arn: String,
    pub region: String,
}

/// Where `scripts/publish-agent` puts an agent: under its own digest, so publishing a new one
/// never changes what a running or queued build downloads, and the stack's `AgentSha256`
/// switches every build at once.
pub fn agent_key(sha256: &str) -> String {
    format!("agent/{sha256}/slipway")
}

/// The role each build's credentials are a session of, and where its outputs live.
pub struct RunRole {
    pub sts: aws_sdk_sts::Client,
    pub role_arn: String,
    /// The artifacts bucket's name.
    pub bucket: String,
    /// The region of the ECR registry builds push to.
    pub region: String,
}

impl CodeBuildRunner {
    pub fn new(client: Client, project: impl Into<String>) -> Self {
        CodeBuildRunner {
            client,
            project: project.into(),
            agent_sha256: None,
            agent_location: None,
            run_role: None,
            deploy_role: None,
        }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, project: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), project)
    }

    /// The digest the buildspec checks the downloaded agent against, and the bucket it is
    /// downloaded from ([`agent_key`]); without a bucket the project's `SLIPWAY_AGENT_S3` stands.
    pub fn with_agent(mut self, digest: impl Into<String>, bucket: Option<&str>) -> Self {
        let digest = digest.into();
        self.agent_location = bucket.map(|bucket| format!("s3://{bucket}/{}", agent_key(&digest)));
        self.agent_sha256 = Some(digest);
        self
    }

    /// Give deploys' steps a session of `role` (see [`DeployRole`]).
    pub fn with_deploy_role(mut self, role: DeployRole) -> Self {
        self.deploy_role = Some(role);
        self
    }

    /// The job as the build receives it: a deploy's steps with the deploy role's session.
    /// The session is tagged with the repository and environment (`slipway:repository`,
    /// `slipway:environment`), so the role's own policy decides what each may reach
    /// (`aws:PrincipalTag` conditions): one role need not give every repository every power.
    async fn with_deploy_credentials(
        &self,
        job: &BuildJob,
        repo: &Repo,
    ) -> Result<BuildJob, RunnerError> {
        let mut job = job.clone();
        let (true, Some(role)) = (job.deploy, &self.deploy_role) else {
            return Ok(job);
        };
        let environment = job.env.get("SLIPWAY_ENV").cloned().unwrap_or_default();
        let tag = |key: &str, value: &str| {
            aws_sdk_sts::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| RunnerError::Invalid(e.to_string()))
        };
        let out = role
            .sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(scope::session_name(&job.run_id.0))
            .duration_seconds(scope::session_seconds(job.timeout_secs))
            .tags(tag("slipway:repository", &repo.full_name)?)
            .tags(tag("slipway:environment", &environment)?)
            .send()
            .await?;
        let creds = out.credentials().ok_or_else(|| {
            RunnerError::Invalid("STS returned no credentials for the deploy".into())
        })?;
        let variables = [
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", creds.session_token()),
            ("AWS_REGION", role.region.as_str()),
            ("AWS_DEFAULT_REGION", role.region.as_str()),
        ];
        for (name, value) in variables {
            job.env.insert(name.into(), value.into());
        }
        Ok(job)
    }

    /// Give every build a session of `role` scoped to its run. Without one, builds get no
    /// credentials of their own (and, with the shipped template, cannot store anything).
    pub fn with_run_role(mut self, role: RunRole) -> Self {
        self.run_role = Some(role);
        self
    }

    /// A session of the run role that may write only this job's outputs.
    async fn run_credentials(
        &self,
        role: &RunRole,
        job: &BuildJob,
    ) -> Result<[(&'static str, String); 3], RunnerError> {
        let (partition, account) =
            scope::role_partition_account(&role.role_arn).ok_or_else(|| {
                RunnerError::Invalid(format!("{} is not an IAM role ARN", role.role_arn))
            })?;
        let bucket_arn = format!("arn:{partition}:s3:::{}", role.bucket);
        let repositories_arn = format!("arn:{partition}:ecr:{}:{account}:repository/", role.region);
        let policy = scope::run_session_policy(&scope::RunScope {
            bucket_arn: &bucket_arn,
            prefix: &job.artifact_prefix,
            repositories_arn: &repositories_arn,
            repository: job.image.as_ref().map(|i| i.repository.as_str()),
        })
        .map_err(RunnerError::Invalid)?;
        let out = role
            .sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(scope::session_name(&job.run_id.0))
            .policy(policy.to_string())
            .duration_seconds(scope::session_seconds(job.timeout_secs))
            .send()
            .await?;
        let creds = out.credentials().ok_or_else(|| {
            RunnerError::Invalid("STS returned no credentials for the run".into())
        })?;
        Ok([
            (scope::ACCESS_KEY_ID, creds.access_key_id().to_owned()),
            (
                scope::SECRET_ACCESS_KEY,
                creds.secret_access_key().to_owned(),
            ),
            (scope::SESSION_TOKEN, creds.session_token().to_owned()),
        ])
    }
}

fn plain(name: &str, value: String) -> Result<EnvironmentVariable, RunnerError> {
    EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(EnvironmentVariableType::Plaintext)
        .build()
        .map_err(|e| RunnerError::Invalid(e.to_string()))
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
        forge: &dyn Forge,
        repo: &Repo,
    ) -> Result<String, RunnerError> {
        // CodeBuild's own limit, with a minute for the checkout and the agent's own timeout.
        let minutes = (job.timeout_secs.div_ceil(60) + 1).clamp(5, 2160) as i32;
        let sent = self.with_deploy_credentials(job, repo).await?;
        let mut variables = vec![
            ("SLIPWAY_RUN_ID", job.run_id.0.clone()),
            ("SLIPWAY_JOB", serde_json::to_string(&sent)?),
        ];
        if let Some(digest) = &self.agent_sha256 {
            variables.push((AGENT_DIGEST_VARIABLE, digest.clone()));
        }
        if let Some(location) = &self.agent_location {
            variables.push((AGENT_LOCATION_VARIABLE, location.clone()));
        }
        if let Some(role) = &self.run_role {
            variables.extend(self.run_credentials(role, job).await?);
        }
        let mut request = self
            .client
            .start_build()
            .project_name(&self.project)
            .source_version(job.sha.as_str())
            .buildspec_override(BUILDSPEC)
            .timeout_in_minutes_override(minutes)
            .idempotency_token(&job.run_id.0);
        // The project names one repository; each build names its own, so every repository the
        // App or token can see builds (CodeBuild's source credential for the host covers it).
        if let Some((source_type, location)) = build_source(forge.kind(), &repo.clone_url) {
            request = request
                .source_type_override(source_type)
                .source_location_override(location);
        }
        for (name, value) in variables {
            request = request.environment_variables_override(plain(name, value)?);
        }
        let out = request.send().await?;
        let id = out.build_value().and_then(|b| b.id()).ok_or_else(|| {
            RunnerError::Invalid("CodeBuild started a build without an id".into())
        })?;
        Ok(id.to_owned())
    }

    async fn cancel(&self, run: &Run) -> Result<(), RunnerError> {
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

impl<E> From<SdkError<E, HttpResponse>> for RunnerError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> RunnerError {
        let (kind, source) = crate::aws_error::classified(error);
        RunnerError::Backend { kind, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repository_builds_from_its_own_source() {
        use ForgeKind::{Github, Gitlab, Local};
        let cases = [
            (
                Github,
                "https://github.com/octo/hello.git",
                Some(SourceType::Github),
            ),
            (
                Github,
                "https://GitHub.com/octo/hello.git",
                Some(SourceType::Github),
            ),
            (
                Github,
                "https://ghe.example.com/octo/hello.git",
                Some(SourceType::GithubEnterprise),
            ),
            (
                Gitlab,
                "https://gitlab.com/group/sub/app.git",
                Some(SourceType::Gitlab),
            ),
            (
                Gitlab,
                "https://git.example.org:8443/g/app.git",
                Some(SourceType::GitlabSelfManaged),
            ),
            (Github, "git@github.com:octo/hello.git", None),
            (Github, "http://github.com/octo/hello.git", None),
            (Github, "https:///nohost", None),
            (Local, "https://github.com/octo/hello.git", None),
        ];
        for (forge, url, expected) in cases {
            let got = build_source(forge, url);
            assert_eq!(
                got.as_ref().map(|(t, _)| t.clone()),
                expected,
                "{forge} {url}"
            );
            if let Some((_, location)) = got {
                assert_eq!(location, url);
            }
        }
    }

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
