//! Settings from the environment (§7 of the design), read once at start.

use std::collections::HashMap;

use crate::webhook::{Ingress, Secret, SecretError, SigningKey, WebhookSecrets};

/// Taken whole: a comma is part of the secret, not a separator.
pub const GITHUB_WEBHOOK_SECRET: &str = "SLIPWAY_GITHUB_WEBHOOK_SECRET";
/// The secret being rotated out, still accepted beside `SLIPWAY_GITHUB_WEBHOOK_SECRET`.
pub const GITHUB_WEBHOOK_SECRET_PREVIOUS: &str = "SLIPWAY_GITHUB_WEBHOOK_SECRET_PREVIOUS";
pub const GITLAB_WEBHOOK_TOKEN: &str = "SLIPWAY_GITLAB_WEBHOOK_TOKEN";
pub const GITLAB_SIGNING_TOKEN: &str = "SLIPWAY_GITLAB_SIGNING_TOKEN";
pub const MAX_BODY_BYTES: &str = "SLIPWAY_MAX_BODY_BYTES";
/// `slipway serve`'s edge (a duration such as `10s`): headers must arrive within this.
pub const HEADER_TIMEOUT: &str = "SLIPWAY_HEADER_TIMEOUT";
/// `slipway serve`'s edge (a duration): a body must arrive within this after its headers.
pub const BODY_TIMEOUT: &str = "SLIPWAY_BODY_TIMEOUT";
/// `slipway serve`'s edge: open connections at most, in total and from one IP address.
pub const MAX_CONNECTIONS: &str = "SLIPWAY_MAX_CONNECTIONS";
pub const MAX_CONNECTIONS_PER_PEER: &str = "SLIPWAY_MAX_CONNECTIONS_PER_PEER";
/// `slipway serve`'s edge: bodies read at once before their signature is checked, and the
/// memory they may hold together.
pub const MAX_PENDING_BODIES: &str = "SLIPWAY_MAX_PENDING_BODIES";
pub const BODY_MEMORY_BYTES: &str = "SLIPWAY_BODY_MEMORY_BYTES";
pub const GITHUB_TOKEN: &str = "SLIPWAY_GITHUB_TOKEN";
pub const GITHUB_APP_ID: &str = "SLIPWAY_GITHUB_APP_ID";
/// The App's private key: PEM text, or the path of a PEM file.
pub const GITHUB_PRIVATE_KEY: &str = "SLIPWAY_GITHUB_PRIVATE_KEY";
pub const GITHUB_API_URL: &str = "SLIPWAY_GITHUB_API_URL";
pub const GITLAB_TOKEN: &str = "SLIPWAY_GITLAB_TOKEN";
pub const GITLAB_URL: &str = "SLIPWAY_GITLAB_URL";
/// DynamoDB table holding Slipway's state (cloud).
pub const TABLE: &str = "SLIPWAY_TABLE";
/// CodeBuild project that runs builds (cloud).
pub const CODEBUILD_PROJECT: &str = "SLIPWAY_CODEBUILD_PROJECT";
/// Base URL of the pages that show runs, linked from checks.
pub const PUBLIC_URL: &str = "SLIPWAY_PUBLIC_URL";
/// The role each cloud build's credentials are a session of, scoped to the run (cloud).
pub const RUN_ROLE_ARN: &str = "SLIPWAY_RUN_ROLE_ARN";
/// The role deploys' steps run with in CodeBuild (template.yaml's `DeployStepsRoleArn`).
pub const DEPLOY_ROLE_ARN: &str = "SLIPWAY_DEPLOY_ROLE_ARN";
/// The SHA-256 (hex) the agent binary CodeBuild downloads must have (cloud).
pub const AGENT_SHA256: &str = "SLIPWAY_AGENT_SHA256";
/// The key that signs links to run pages and artifacts (at least 32 bytes). `slipway serve`
/// generates one in its data directory when unset.
pub const LINK_KEY: &str = "SLIPWAY_LINK_KEY";
/// SQS queue between the webhook and dispatch functions (cloud).
pub const QUEUE_URL: &str = "SLIPWAY_QUEUE_URL";

/// The S3 bucket for artifacts, results and environment records.
pub const BUCKET: &str = "SLIPWAY_BUCKET";
/// Another S3-compatible endpoint (tests: moto).
pub const S3_ENDPOINT: &str = "SLIPWAY_S3_ENDPOINT";
/// Where images go: `http(s)://host[:port]` of an OCI registry or ECR (a bare host means
/// https, or http on the loopback). Unset: the layout directory on one machine.
pub const REGISTRY: &str = "SLIPWAY_REGISTRY";
/// Basic auth for `SLIPWAY_REGISTRY` (not for ECR, which signs in with the AWS credentials).
pub const REGISTRY_USERNAME: &str = "SLIPWAY_REGISTRY_USERNAME";
pub const REGISTRY_PASSWORD: &str = "SLIPWAY_REGISTRY_PASSWORD";
/// `ecr` to sign in to `SLIPWAY_REGISTRY` with ECR tokens even when its host does not look like
/// ECR's (tests, VPC endpoints); ECR hosts are recognised without it.
pub const REGISTRY_AUTH: &str = "SLIPWAY_REGISTRY_AUTH";
/// `true` to create missing ECR repositories (scan on push) at the first push.
pub const ECR_CREATE_REPOSITORIES: &str = "SLIPWAY_ECR_CREATE_REPOSITORIES";
/// On one machine: days a finished build's directory (checkout, log) is kept; 0 keeps them all.
pub const RUN_RETENTION_DAYS: &str = "SLIPWAY_RUN_RETENTION_DAYS";
/// Kept when the setting is absent: a month of logs is what a person looks back at.
pub const DEFAULT_RUN_RETENTION_DAYS: u64 = 30;

/// The secrets the webhook edge reads: only what verifies a delivery. Each may instead be given
/// as `<NAME>_ARN` (Secrets Manager); the public-facing function holds no forge credential.
pub const WEBHOOK_SECRETS: [&str; 4] = [
    GITHUB_WEBHOOK_SECRET,
    GITHUB_WEBHOOK_SECRET_PREVIOUS,
    GITLAB_WEBHOOK_TOKEN,
    GITLAB_SIGNING_TOKEN,
];

/// The operator's token for the dashboard (`slipway serve`, the webhook function): a bearer
/// token, or typed into its sign-in form. Unset: no dashboard.
pub const DASHBOARD_TOKEN: &str = "SLIPWAY_DASHBOARD_TOKEN";

/// The secrets the webhook function's pages read besides: the link key, to check the signed links
/// checks and comments carry (it can make links, never reach a forge), and the dashboard's token.
pub const PAGES_SECRETS: [&str; 2] = [LINK_KEY, DASHBOARD_TOKEN];

/// The secrets the pipeline (dispatch, report, sweeper) reads: forge credentials, the registry's
/// password and the link key; never a webhook secret. Each may be given as `<NAME>_ARN`.
pub const PIPELINE_SECRETS: [&str; 5] = [
    REGISTRY_PASSWORD,
    LINK_KEY,
    GITHUB_TOKEN,
    GITHUB_PRIVATE_KEY,
    GITLAB_TOKEN,
];

/// A snapshot of the environment, so that settings are testable and read exactly once.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env::from_process_prefixed("SLIPWAY_")
    }

    /// The process's `AWS_*` variables (region, credentials, endpoint), for an SDK configuration
    /// made without aws-config.
    pub fn aws_from_process() -> Self {
        Env::from_process_prefixed("AWS_")
    }

    fn from_process_prefixed(prefix: &str) -> Self {
        Env(std::env::vars()
            .filter(|(k, _)| k.starts_with(prefix))
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
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The webhook edge's settings: secrets and the body limit.
pub fn ingress(env: &Env) -> Result<Ingress, SettingsError> {
    let secret = |name: &'static str| {
        env.get(name)
            .map(Secret::new)
            .transpose()
            .map_err(|source| SettingsError::Secret { name, source })
    };
    let github = github_secrets(&secret)?;
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

/// `slipway serve`'s edge limits; each unset one keeps its default. The body memory must hold at
/// least one body of `max_body_bytes` (`SLIPWAY_MAX_BODY_BYTES`), or no large delivery could pass.
#[cfg(feature = "local")]
pub fn edge_limits(
    env: &Env,
    max_body_bytes: usize,
) -> Result<crate::server::EdgeLimits, SettingsError> {
    let mut limits = crate::server::EdgeLimits::default();
    let duration = |name: &'static str, value: &mut std::time::Duration| {
        if let Some(text) = env.get(name) {
            *value = humantime::parse_duration(text.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| SettingsError::Invalid {
                    name,
                    reason: "must be a duration such as 10s or 500ms".into(),
                })?;
        }
        Ok(())
    };
    duration(HEADER_TIMEOUT, &mut limits.header_timeout)?;
    duration(BODY_TIMEOUT, &mut limits.body_timeout)?;
    let count = |name: &'static str, value: &mut usize| {
        if let Some(text) = env.get(name) {
            *value = text.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                SettingsError::Invalid {
                    name,
                    reason: "must be a positive whole number".into(),
                }
            })?;
        }
        Ok(())
    };
    count(MAX_CONNECTIONS, &mut limits.max_connections)?;
    count(
        MAX_CONNECTIONS_PER_PEER,
        &mut limits.max_connections_per_peer,
    )?;
    count(MAX_PENDING_BODIES, &mut limits.max_pending_bodies)?;
    if let Some(text) = env.get(BODY_MEMORY_BYTES) {
        limits.body_memory_bytes =
            text.trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(SettingsError::NotAByteCount {
                    name: BODY_MEMORY_BYTES,
                })?;
    }
    // The edge keeps an eighth of the budget for small bodies: the largest delivery must fit
    // in the other seven eighths.
    let needed = max_body_bytes + max_body_bytes.div_ceil(7);
    if limits.body_memory_bytes < needed {
        return Err(SettingsError::Invalid {
            name: BODY_MEMORY_BYTES,
            reason: format!(
                "must be at least 8/7 of {MAX_BODY_BYTES} ({needed} bytes), or no delivery that large could be received"
            ),
        });
    }
    Ok(limits)
}

/// GitHub's current secret, then the previous one during a rotation; each value taken whole.
fn github_secrets(
    secret: &impl Fn(&'static str) -> Result<Option<Secret>, SettingsError>,
) -> Result<Vec<Secret>, SettingsError> {
    match (
        secret(GITHUB_WEBHOOK_SECRET)?,
        secret(GITHUB_WEBHOOK_SECRET_PREVIOUS)?,
    ) {
        (Some(current), previous) => Ok([Some(current), previous].into_iter().flatten().collect()),
        (None, None) => Ok(Vec::new()),
        // A previous secret alone means the rotation was half done: refuse to start rather
        // than trust only the secret being retired.
        (None, Some(_)) => Err(SettingsError::Missing {
            name: GITHUB_WEBHOOK_SECRET,
        }),
    }
}

/// How long finished build directories are kept; `None` keeps them forever.
pub fn run_retention(env: &Env) -> Result<Option<std::time::Duration>, SettingsError> {
    let days = match env.get(RUN_RETENTION_DAYS) {
        None => DEFAULT_RUN_RETENTION_DAYS,
        Some(value) => value.trim().parse().map_err(|_| SettingsError::Invalid {
            name: RUN_RETENTION_DAYS,
            reason: "must be a whole number of days (0 keeps every run)".into(),
        })?,
    };
    Ok((days > 0).then(|| std::time::Duration::from_secs(days * 24 * 60 * 60)))
}

/// The key that signs links, when `SLIPWAY_LINK_KEY` is set (as bytes, taken whole).
pub fn link_key(env: &Env) -> Result<Option<crate::links::LinkKey>, SettingsError> {
    env.get(LINK_KEY)
        .map(|value| crate::links::LinkKey::new(value.as_bytes()))
        .transpose()
        .map_err(|e| SettingsError::Invalid {
            name: LINK_KEY,
            reason: e.to_string(),
        })
}

/// The operator's dashboard token, when set: long enough not to be guessed.
pub fn dashboard_token(env: &Env) -> Result<Option<Secret>, SettingsError> {
    let Some(token) = env.get(DASHBOARD_TOKEN).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if token.len() < 16 {
        return Err(SettingsError::Invalid {
            name: DASHBOARD_TOKEN,
            reason: "it must be at least 16 characters".into(),
        });
    }
    Secret::new(token)
        .map(Some)
        .map_err(|source| SettingsError::Secret {
            name: DASHBOARD_TOKEN,
            source,
        })
}

/// Signed links under `SLIPWAY_PUBLIC_URL`, when it is set: with `SLIPWAY_LINK_KEY`, else with
/// `fallback` (`slipway serve`'s generated key). A public URL without any key is an error, since
/// an unsigned link would open nothing.
pub fn links(
    env: &Env,
    fallback: Option<crate::links::LinkKey>,
) -> Result<Option<crate::links::Links>, SettingsError> {
    // An empty setting (the template's default parameter) is no setting: no links.
    let Some(base) = env.get(PUBLIC_URL).filter(|url| !url.trim().is_empty()) else {
        return Ok(None);
    };
    let key = link_key(env)?
        .or(fallback)
        .ok_or(SettingsError::Missing { name: LINK_KEY })?;
    Ok(Some(crate::links::Links::new(base.trim(), key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::DEFAULT_MAX_BODY_BYTES;

    #[test]
    fn reads_every_secret_and_the_limit() {
        let env = Env::from_pairs([
            (GITHUB_WEBHOOK_SECRET, "new"),
            (GITHUB_WEBHOOK_SECRET_PREVIOUS, "old"),
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

    #[cfg(feature = "local")]
    #[test]
    fn edge_limits_default_and_are_read_and_checked() {
        use std::time::Duration;
        let limits = edge_limits(&Env::default(), DEFAULT_MAX_BODY_BYTES).unwrap();
        assert_eq!(limits, crate::server::EdgeLimits::default());
        let env = Env::from_pairs([
            (HEADER_TIMEOUT, "300ms"),
            (BODY_TIMEOUT, "2s"),
            (MAX_CONNECTIONS, "10"),
            (MAX_CONNECTIONS_PER_PEER, "3"),
            (MAX_PENDING_BODIES, "4"),
            (BODY_MEMORY_BYTES, "2048"),
        ]);
        let limits = edge_limits(&env, 1024).unwrap();
        assert_eq!(limits.header_timeout, Duration::from_millis(300));
        assert_eq!(limits.body_timeout, Duration::from_secs(2));
        assert_eq!(
            (
                limits.max_connections,
                limits.max_connections_per_peer,
                limits.max_pending_bodies,
                limits.body_memory_bytes
            ),
            (10, 3, 4, 2048)
        );
        for (name, value) in [
            (HEADER_TIMEOUT, "soon"),
            (BODY_TIMEOUT, "0s"),
            (MAX_CONNECTIONS_PER_PEER, "0"),
            (MAX_PENDING_BODIES, "-1"),
            (BODY_MEMORY_BYTES, "lots"),
        ] {
            let error = edge_limits(&Env::from_pairs([(name, value)]), 1024).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
        for small in ["1000", "1024", "1170"] {
            let small = Env::from_pairs([(BODY_MEMORY_BYTES, small)]);
            let error = edge_limits(&small, 1024).unwrap_err().to_string();
            assert!(error.contains(MAX_BODY_BYTES), "{error}");
        }
        let enough = Env::from_pairs([(BODY_MEMORY_BYTES, "1171")]);
        assert!(edge_limits(&enough, 1024).is_ok());
    }

    #[test]
    fn run_retention_is_days_with_a_default_and_zero_keeps_all() {
        // (setting, days kept: `Some(None)` keeps all, `None` is refused)
        let cases: &[(Option<&str>, Option<Option<u64>>)] = &[
            (None, Some(Some(30))),
            (Some("7"), Some(Some(7))),
            (Some(" 1 "), Some(Some(1))),
            (Some("0"), Some(None)),
            (Some("-1"), None),
            (Some("a week"), None),
        ];
        for (value, expected) in cases {
            let env = Env::from_pairs(value.map(|v| (RUN_RETENTION_DAYS, v)));
            let days = run_retention(&env)
                .ok()
                .map(|kept| kept.map(|d| d.as_secs() / 86_400));
            assert_eq!(days, *expected, "{value:?}");
        }
    }

    #[test]
    fn github_secrets_are_taken_whole_current_then_previous() {
        // (case, settings, the secrets accepted in order or `Err` when the settings are refused)
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            Result<&'a [&'a [u8]], ()>,
        );
        let cases: [Case; 5] = [
            (
                "comma is part of it",
                &[(GITHUB_WEBHOOK_SECRET, "Str0ngSecret,x")],
                Ok(&[b"Str0ngSecret,x"]),
            ),
            (
                "blanks kept",
                &[(GITHUB_WEBHOOK_SECRET, " s ")],
                Ok(&[b" s "]),
            ),
            (
                "rotation",
                &[
                    (GITHUB_WEBHOOK_SECRET, "new,1"),
                    (GITHUB_WEBHOOK_SECRET_PREVIOUS, "old,2"),
                ],
                Ok(&[b"new,1", b"old,2"]),
            ),
            ("none", &[], Ok(&[])),
            (
                "previous alone",
                &[(GITHUB_WEBHOOK_SECRET_PREVIOUS, "old")],
                Err(()),
            ),
        ];
        for (name, pairs, want) in cases {
            let got = ingress(&Env::from_pairs(pairs.iter().copied()));
            match want {
                Ok(want) => {
                    let got: Vec<&[u8]> = got
                        .as_ref()
                        .unwrap()
                        .secrets
                        .github
                        .iter()
                        .map(|s| s.expose())
                        .collect();
                    assert_eq!(got, want, "{name}");
                }
                Err(()) => assert!(
                    got.unwrap_err().to_string().contains(GITHUB_WEBHOOK_SECRET),
                    "{name}"
                ),
            }
        }
    }

    #[test]
    fn the_link_key_is_taken_whole_and_must_be_long() {
        assert!(link_key(&Env::default()).unwrap().is_none());
        let long = "k,".repeat(16);
        assert!(link_key(&Env::from_pairs([(LINK_KEY, long.as_str())]))
            .unwrap()
            .is_some());
        let err = link_key(&Env::from_pairs([(LINK_KEY, "short-secret")])).unwrap_err();
        assert!(err.to_string().contains(LINK_KEY), "{err}");
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }

    #[test]
    fn links_need_a_key_when_there_is_a_public_url() {
        let url = (PUBLIC_URL, "https://ci.example/");
        let key = (LINK_KEY, "0123456789abcdef0123456789abcdef");
        let fallback = || Some(crate::links::LinkKey::new([1; 32]).unwrap());
        assert!(links(&Env::default(), None).unwrap().is_none());
        let empty = Env::from_pairs([(PUBLIC_URL, " ")]);
        assert!(
            links(&empty, None).unwrap().is_none(),
            "an empty URL is no URL"
        );
        let err = links(&Env::from_pairs([url]), None).unwrap_err();
        assert_eq!(err, SettingsError::Missing { name: LINK_KEY });
        let signed = links(&Env::from_pairs([url, key]), None).unwrap().unwrap();
        let link = signed.url("/runs/x", 0);
        assert!(
            link.starts_with("https://ci.example/runs/x?expires="),
            "{link}"
        );
        // The setting wins over the fallback: links made with it verify with it.
        let both = links(&Env::from_pairs([url, key]), fallback())
            .unwrap()
            .unwrap();
        let query = both.url("/runs/x", 0).split_once('?').unwrap().1.to_owned();
        let from_setting = crate::links::LinkKey::new(key.1.as_bytes()).unwrap();
        assert_eq!(from_setting.verify("/runs/x", Some(&query), 1), Ok(()));
        assert!(links(&Env::from_pairs([url]), fallback())
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_edge_and_the_pipeline_read_disjoint_secrets() {
        assert!(WEBHOOK_SECRETS.contains(&GITHUB_WEBHOOK_SECRET_PREVIOUS));
        assert!(PIPELINE_SECRETS.contains(&LINK_KEY));
        assert!(WEBHOOK_SECRETS
            .iter()
            .all(|s| !PIPELINE_SECRETS.contains(s)));
        // The pages verify links; no forge credential or registry password is among theirs.
        assert_eq!(PAGES_SECRETS, [LINK_KEY, DASHBOARD_TOKEN]);
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
