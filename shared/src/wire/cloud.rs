//! The cloud functions' pipeline: DynamoDB state, CodeBuild builds, S3 and ECR, from the
//! environment.

use crate::app::pipeline::{DeployPorts, Pipeline};
use crate::runner::codebuild::{CodeBuildRunner, DeployRole, RunRole};
use crate::state::dynamodb::DynamoState;
use crate::wire::settings::{self, Env};
use crate::wire::StartupError;

/// The pipeline on DynamoDB and CodeBuild, as the environment configures it.
pub fn pipeline(
    sdk: &aws_config::SdkConfig,
    env: &Env,
) -> Result<Pipeline<DynamoState, CodeBuildRunner>, StartupError> {
    Ok(Pipeline {
        state: DynamoState::from_sdk(sdk, env.require(settings::TABLE)?),
        forges: crate::wire::forges::forges(env)?,
        runner: runner(sdk, env)?,
        public_url: settings::links(env, None)?,
        deploy: DeployPorts {
            images: crate::wire::images::store(env, None, Some(sdk))?,
            records: crate::wire::artifacts::s3_store(sdk, env)
                .map(|s| std::sync::Arc::new(s) as _),
            aws: Some(sdk.clone()),
        },
        telemetry: crate::metrics::emf::Telemetry::EmbeddedMetricFormat,
    })
}

/// CodeBuild, with the agent's digest and the run role when the environment names them.
fn runner(sdk: &aws_config::SdkConfig, env: &Env) -> Result<CodeBuildRunner, StartupError> {
    let mut runner = CodeBuildRunner::from_sdk(sdk, env.require(settings::CODEBUILD_PROJECT)?);
    if let Some(digest) = env.get(settings::AGENT_SHA256).filter(|d| !d.is_empty()) {
        runner = runner.with_agent(digest, env.get(settings::BUCKET));
    }
    let region = || {
        sdk.region()
            .map(|r| r.to_string())
            .ok_or_else(|| StartupError::Config("no AWS region is configured".into()))
    };
    if let Some(role_arn) = env.get(settings::RUN_ROLE_ARN).filter(|r| !r.is_empty()) {
        runner = runner.with_run_role(RunRole {
            sts: aws_sdk_sts::Client::new(sdk),
            role_arn: role_arn.to_owned(),
            bucket: env.require(settings::BUCKET)?.to_owned(),
            region: region()?,
        });
    }
    if let Some(role_arn) = env.get(settings::DEPLOY_ROLE_ARN).filter(|r| !r.is_empty()) {
        runner = runner.with_deploy_role(DeployRole {
            sts: aws_sdk_sts::Client::new(sdk),
            role_arn: role_arn.to_owned(),
            region: region()?,
        });
    }
    Ok(runner)
}
