//! Shared AWS wiring: one SDK configuration per process, secrets from Secrets Manager.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::settings::{secret_env_names, Env};
use crate::BoxError;

/// The SDK configuration from the standard `AWS_*` variables (`AWS_ENDPOINT_URL` points every
/// client at a test service such as `moto_server`).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Every Lambda's cold start: the SDK configuration and the settings, secrets resolved. Read once.
pub async fn environment() -> Result<(SdkConfig, Env), BoxError> {
    let sdk = sdk_config().await;
    let mut env = Env::from_process();
    resolve_secret_arns(&sdk, &mut env).await?;
    Ok((sdk, env))
}

/// Resolve each secret setting given as `<NAME>_ARN` from Secrets Manager into `env`, so the rest
/// of the configuration reads it like a plain variable. Runs once, at cold start.
pub async fn resolve_secret_arns(sdk: &SdkConfig, env: &mut Env) -> Result<(), BoxError> {
    let mut client = None;
    for name in secret_env_names() {
        let Some(arn) = env.get(&format!("{name}_ARN")).map(str::to_owned) else {
            continue;
        };
        let client = client.get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(sdk));
        let secret = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| format!("reading {name}_ARN from Secrets Manager: {e}"))?;
        let value = secret
            .secret_string()
            .ok_or_else(|| format!("{name}_ARN: the secret has no string value"))?;
        env.set(name, value);
    }
    Ok(())
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`). Every Lambda calls this first.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .without_time() // CloudWatch stamps every line
        .init();
}
