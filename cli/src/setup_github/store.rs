//! Where the App's private key and webhook secret go: the two Secrets Manager secrets the stack
//! made (feature `aws`), or an env file and a key file for `slipway serve`. Each destination is
//! checked before the browser opens, so that a typo fails before GitHub makes the App.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::plan::Conversion;
use super::report::{self, Stored};

pub enum Destination {
    EnvFile {
        env_file: PathBuf,
        key_file: PathBuf,
        /// Written too when it is not github.com's, so `serve` talks to the same GitHub.
        api_url: Option<String>,
    },
    #[cfg(feature = "aws")]
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        private_key_arn: String,
        webhook_secret_arn: String,
    },
}

impl Destination {
    /// `path` for the settings, `path.pem` for the key; neither may exist yet, since either may
    /// hold another App's credentials.
    pub fn env_file(path: &Path, api_url: Option<&str>) -> anyhow::Result<Self> {
        let env_file =
            std::path::absolute(path).with_context(|| format!("--env-file {}", path.display()))?;
        let mut key_file = env_file.clone().into_os_string();
        key_file.push(".pem");
        let key_file = PathBuf::from(key_file);
        for file in [&env_file, &key_file] {
            anyhow::ensure!(
                !file.exists(),
                "{} exists already: choose another --env-file, or move it away (it may hold \
                 another App's credentials)",
                file.display()
            );
        }
        let dir = env_file.parent().unwrap_or(Path::new("/"));
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
        Ok(Destination::EnvFile {
            env_file,
            key_file,
            api_url: api_url.map(str::to_owned),
        })
    }

    /// The two secrets must exist (the stack made them) and be two.
    #[cfg(feature = "aws")]
    pub async fn secrets_manager(
        private_key_arn: &str,
        webhook_secret_arn: &str,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            private_key_arn != webhook_secret_arn,
            "--private-key-arn and --webhook-secret-arn name the same secret"
        );
        let sdk = slipway::wire::aws::sdk_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        for (flag, arn) in [
            ("--private-key-arn", private_key_arn),
            ("--webhook-secret-arn", webhook_secret_arn),
        ] {
            client
                .describe_secret()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{flag} {arn}: {}", aws_message(e)))?;
        }
        Ok(Destination::SecretsManager {
            client,
            private_key_arn: private_key_arn.to_owned(),
            webhook_secret_arn: webhook_secret_arn.to_owned(),
        })
    }

    /// In words, for the page.
    pub fn describe(&self) -> String {
        match self {
            Destination::EnvFile {
                env_file, key_file, ..
            } => format!("{} and {}", env_file.display(), key_file.display()),
            #[cfg(feature = "aws")]
            Destination::SecretsManager { .. } => "the stack's Secrets Manager secrets".into(),
        }
    }

    pub async fn store(&self, conversion: &Conversion) -> anyhow::Result<Stored> {
        match self {
            Destination::EnvFile {
                env_file,
                key_file,
                api_url,
            } => {
                write_private(key_file, conversion.pem.expose())?;
                let text = report::env_file(
                    &conversion.app,
                    conversion.webhook_secret.as_ref(),
                    key_file,
                    api_url.as_deref(),
                );
                write_private(env_file, text.as_bytes()).map_err(|e| {
                    anyhow::anyhow!(
                        "{e:#} (the private key is in {} all the same)",
                        key_file.display()
                    )
                })?;
                Ok(Stored::EnvFile {
                    env_file: env_file.clone(),
                    key_file: key_file.clone(),
                })
            }
            #[cfg(feature = "aws")]
            Destination::SecretsManager {
                client,
                private_key_arn,
                webhook_secret_arn,
            } => {
                put(
                    client,
                    private_key_arn,
                    "private key",
                    conversion.pem.expose(),
                )
                .await?;
                if let Some(secret) = &conversion.webhook_secret {
                    put(
                        client,
                        webhook_secret_arn,
                        "webhook secret",
                        secret.expose(),
                    )
                    .await?;
                }
                Ok(Stored::SecretsManager {
                    private_key_arn: private_key_arn.clone(),
                    webhook_secret_arn: webhook_secret_arn.clone(),
                })
            }
        }
    }
}

/// Created with mode 0600 from the start (never readable by others, even for a moment), and
/// never over an existing file.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(feature = "aws")]
async fn put(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    what: &str,
    value: &[u8],
) -> anyhow::Result<()> {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(String::from_utf8_lossy(value))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot store the App's {what} in {arn}: {}", aws_message(e))
        })?;
    Ok(())
}

/// The service's own code and message when it answered (the SDK's full display dumps the raw
/// response), else the chain of causes (no connection, no credentials).
#[cfg(feature = "aws")]
fn aws_message<E>(error: aws_sdk_secretsmanager::error::SdkError<E>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("{:#}", anyhow::Error::new(error)),
    }
}
