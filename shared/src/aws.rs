//! Shared AWS wiring: one SDK configuration per process, secrets from Secrets Manager.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::settings::{secret_env_names, Env};
use crate::BoxError;

/// The SDK configuration from the standard `AWS_*` variables (`AWS_ENDPOINT_URL` points every
/// client at a test service such as `moto_server`). Inside a cloud build the run's scoped
/// credentials, when dispatch passed them, replace the build role's.
pub async fn sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    match run_credentials(&Env::from_process()) {
        Some(credentials) => loader.credentials_provider(credentials).load().await,
        None => loader.load().await,
    }
}

/// The run's credentials (`SLIPWAY_RUN_AWS_*`, see `runner::scope`), when all three are set.
pub fn run_credentials(env: &Env) -> Option<aws_sdk_secretsmanager::config::Credentials> {
    use crate::runner::scope;
    let get = |name| env.get(name).filter(|v| !v.is_empty());
    Some(aws_sdk_secretsmanager::config::Credentials::new(
        get(scope::ACCESS_KEY_ID)?,
        get(scope::SECRET_ACCESS_KEY)?,
        Some(get(scope::SESSION_TOKEN)?.to_owned()),
        None,
        "slipway-run",
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::scope::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN};
    use aws_sdk_secretsmanager::config::ProvideCredentials as _;

    #[tokio::test]
    async fn the_run_credentials_are_used_only_when_complete() {
        let all = [
            (ACCESS_KEY_ID, "ASIARUN"),
            (SECRET_ACCESS_KEY, "secret"),
            (SESSION_TOKEN, "token"),
        ];
        let creds = run_credentials(&Env::from_pairs(all))
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "ASIARUN");
        assert_eq!(creds.session_token(), Some("token"));
        for missing in 0..all.len() {
            let some = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != missing)
                .map(|(_, pair)| *pair);
            assert!(run_credentials(&Env::from_pairs(some)).is_none());
        }
        assert!(run_credentials(&Env::from_pairs([(ACCESS_KEY_ID, "")])).is_none());
    }
}
