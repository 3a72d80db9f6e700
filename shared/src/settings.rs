//! Settings from the environment (§7 of the design), read once at start.

use std::collections::HashMap;

use crate::webhook::{Ingress, Secret, SecretError, SigningKey, WebhookSecrets};

pub const GITHUB_WEBHOOK_SECRET: &str = "SLIPWAY_GITHUB_WEBHOOK_SECRET";
pub const GITLAB_WEBHOOK_TOKEN: &str = "SLIPWAY_GITLAB_WEBHOOK_TOKEN";
pub const GITLAB_SIGNING_TOKEN: &str = "SLIPWAY_GITLAB_SIGNING_TOKEN";
pub const MAX_BODY_BYTES: &str = "SLIPWAY_MAX_BODY_BYTES";
/// DynamoDB table holding Slipway's state (cloud).
pub const TABLE: &str = "SLIPWAY_TABLE";
/// SQS queue between the webhook and dispatch functions (cloud).
pub const QUEUE_URL: &str = "SLIPWAY_QUEUE_URL";

/// Settings that hold secrets; each may instead be given as `<NAME>_ARN` (Secrets Manager).
pub fn secret_env_names() -> [&'static str; 3] {
    [
        GITHUB_WEBHOOK_SECRET,
        GITLAB_WEBHOOK_TOKEN,
        GITLAB_SIGNING_TOKEN,
    ]
}

/// A snapshot of the environment, so that settings are testable and read exactly once.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars()
            .filter(|(k, _)| k.starts_with("SLIPWAY_"))
            .collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// A set, non-blank value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn require(&self, name: &'static str) -> Result<&str, SettingsError> {
        self.get(name).ok_or(SettingsError::Missing { name })
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}: {source}")]
    Secret {
        name: &'static str,
        source: SecretError,
    },
    #[error("{name} must be a positive whole number of bytes")]
    NotAByteCount { name: &'static str },
    #[error("{name} must be set")]
    Missing { name: &'static str },
}

/// The webhook edge's settings: secrets and the body limit.
pub fn ingress(env: &Env) -> Result<Ingress, SettingsError> {
    let secret = |name: &'static str| {
        env.get(name)
            .map(Secret::new)
            .transpose()
            .map_err(|source| SettingsError::Secret { name, source })
    };
    let github = Secret::list(env.get(GITHUB_WEBHOOK_SECRET).unwrap_or("")).map_err(|source| {
        SettingsError::Secret {
            name: GITHUB_WEBHOOK_SECRET,
            source,
        }
    })?;
    let gitlab_signing = env
        .get(GITLAB_SIGNING_TOKEN)
        .map(SigningKey::parse)
        .transpose()
        .map_err(|source| SettingsError::Secret {
            name: GITLAB_SIGNING_TOKEN,
            source,
        })?;
    let mut ingress = Ingress::new(WebhookSecrets {
        github,
        gitlab_token: secret(GITLAB_WEBHOOK_TOKEN)?,
        gitlab_signing,
    });
    if let Some(limit) = env.get(MAX_BODY_BYTES) {
        ingress.max_body_bytes =
            limit
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(SettingsError::NotAByteCount {
                    name: MAX_BODY_BYTES,
                })?;
    }
    Ok(ingress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::DEFAULT_MAX_BODY_BYTES;

    #[test]
    fn reads_every_secret_and_the_limit() {
        let env = Env::from_pairs([
            (GITHUB_WEBHOOK_SECRET, "old,new"),
            (GITLAB_WEBHOOK_TOKEN, "tok"),
            (GITLAB_SIGNING_TOKEN, "whsec_aGk="),
            (MAX_BODY_BYTES, "1024"),
        ]);
        let ingress = ingress(&env).unwrap();
        assert_eq!(ingress.secrets.github.len(), 2);
        assert!(ingress.secrets.gitlab_token.unwrap().matches(b"tok"));
        assert_eq!(ingress.secrets.gitlab_signing.unwrap().key(), b"hi");
        assert_eq!(ingress.max_body_bytes, 1024);
    }

    #[test]
    fn nothing_set_means_nothing_trusted_and_the_default_limit() {
        let ingress = ingress(&Env::default()).unwrap();
        assert!(ingress.secrets.github.is_empty());
        assert!(ingress.secrets.gitlab_token.is_none());
        assert_eq!(ingress.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn bad_values_name_the_setting_without_echoing_it() {
        let env = Env::from_pairs([(GITLAB_SIGNING_TOKEN, "not-whsec-secretvalue")]);
        let err = ingress(&env).unwrap_err().to_string();
        assert!(err.contains(GITLAB_SIGNING_TOKEN), "{err}");
        assert!(!err.contains("secretvalue"), "{err}");
        let env = Env::from_pairs([(MAX_BODY_BYTES, "lots")]);
        assert!(ingress(&env)
            .unwrap_err()
            .to_string()
            .contains(MAX_BODY_BYTES));
    }
}
