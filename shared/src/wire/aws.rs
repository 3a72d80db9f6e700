//! Shared AWS wiring: one SDK configuration per process, secrets from Secrets Manager.
//!
//! The webhook Lambda reads its configuration from the variables Lambda sets ([`edge_sdk_config`]);
//! everything else uses aws-config's provider chain ([`sdk_config`], feature `aws`).

use aws_types::SdkConfig;

use crate::wire::settings::{self, Env};
use crate::wire::StartupError;

/// The SDK configuration from the standard `AWS_*` variables (`AWS_ENDPOINT_URL` points every
/// client at a test service such as `moto_server`). Inside a cloud build the run's scoped
/// credentials, when dispatch passed them, replace the build role's.
#[cfg(feature = "aws")]
pub async fn sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    match run_credentials(&Env::from_process()) {
        Some(credentials) => loader.credentials_provider(credentials).load().await,
        None => loader.load().await,
    }
}

/// The run's credentials (`SLIPWAY_RUN_AWS_*`, see `runner::scope`), when all three are set.
#[cfg(feature = "aws")]
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

/// The webhook Lambda's SDK configuration, from what Lambda puts in every function's environment:
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN` (the execution role's credentials, valid for the environment's life), and
/// `AWS_ENDPOINT_URL` for a test service. No aws-config: its provider chain (profiles, SSO, web
/// identity through STS, IMDS) is not needed at the edge and would link the STS SDK into it.
pub fn edge_sdk_config(env: &Env) -> Result<SdkConfig, StartupError> {
    use aws_sdk_secretsmanager::config::{
        BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
    };
    let get = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let required = |name: &'static str| {
        get(name).ok_or_else(|| StartupError::Config(format!("{name} is not set")))
    };
    let region = get("AWS_REGION")
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .ok_or_else(|| StartupError::Config("AWS_REGION is not set".into()))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN").map(str::to_owned),
        None,
        "lambda-environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = get("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}

/// The webhook Lambda's cold start: [`edge_sdk_config`] and the settings, secrets resolved.
pub async fn edge_environment() -> Result<(SdkConfig, Env), StartupError> {
    let mut env = Env::from_process();
    // The SDK's variables, not Slipway's settings: `Env::from_process` keeps only `SLIPWAY_*`.
    let sdk = edge_sdk_config(&Env::aws_from_process())?;
    resolve_secret_arns(&sdk, &mut env, &settings::WEBHOOK_SECRETS).await?;
    resolve_secret_arns(&sdk, &mut env, &settings::PAGES_SECRETS).await?;
    Ok((sdk, env))
}

/// Every other Lambda's cold start: the SDK configuration and the settings, secrets resolved.
#[cfg(feature = "aws")]
pub async fn environment() -> Result<(SdkConfig, Env), StartupError> {
    let sdk = sdk_config().await;
    let mut env = Env::from_process();
    resolve_secret_arns(&sdk, &mut env, &settings::PIPELINE_SECRETS).await?;
    Ok((sdk, env))
}

/// Resolve each of `names` given as `<NAME>_ARN` from Secrets Manager into `env`, so the rest of
/// the configuration reads it like a plain variable. Runs once, at cold start; a function
/// resolves only the secrets it uses (its role may read no others).
pub async fn resolve_secret_arns(
    sdk: &SdkConfig,
    env: &mut Env,
    names: &[&'static str],
) -> Result<(), StartupError> {
    let mut client = None;
    for &name in names {
        let Some(arn) = env.get(&format!("{name}_ARN")).map(str::to_owned) else {
            continue;
        };
        let client = client.get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(sdk));
        let secret = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| {
                let (kind, source) = crate::aws_error::classified(e);
                StartupError::Secret { name, kind, source }
            })?;
        let value = secret.secret_string().ok_or_else(|| {
            StartupError::Config(format!("{name}_ARN: the secret has no string value"))
        })?;
        env.set(name, value);
    }
    Ok(())
}

#[cfg(all(test, feature = "aws"))]
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
