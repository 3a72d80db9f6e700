//! One machine's wiring: the pipeline on SQLite, the local runner (its steps sandboxed, the data
//! directory hidden from them), and the stores under the data directory — unless settings point
//! artifacts at S3 or images at a registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::app::pipeline::{DeployPorts, Pipeline};
use crate::artifacts::fs::FsStore;
use crate::artifacts::ArtifactStore;
use crate::forge::Forges;
use crate::links::Links;
use crate::runner::local::{Completion, LocalRunner};
use crate::runner::sandbox;
use crate::state::sqlite::SqliteState;
use crate::wire::settings::{self, Env};
use crate::wire::StartupError;

/// The database file in the data directory: state, the local queue, the local forge.
pub const DB_FILE: &str = "slipway.db";

/// Where `slipway serve` keeps the key that signs its links, when `SLIPWAY_LINK_KEY` is unset.
pub fn link_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("link.key")
}

/// The pipeline of one machine: `agent` is the `slipway` binary the runner starts for builds;
/// `links` signs the run pages and artifact links it posts (none for `slipway run`).
pub async fn pipeline(
    data_dir: &Path,
    agent: PathBuf,
    forges: Forges,
    links: Option<Links>,
    env: &Env,
) -> Result<
    (
        Pipeline<SqliteState, LocalRunner>,
        UnboundedReceiver<Completion>,
    ),
    StartupError,
> {
    // Probe for the sandbox once, at start (`SLIPWAY_SANDBOX=off` skips it).
    let sandbox = sandbox::detect(env.get(sandbox::SETTING));
    let (mut runner, completions) = LocalRunner::new(agent, data_dir.join("runs"), sandbox);
    runner.agent_env = agent_env(std::env::vars());
    // Steps never see the database, the artifacts and images, nor other runs.
    runner.hidden.push(data_dir.to_path_buf());
    runner.agent_args = agent_args(data_dir, links.as_ref().map(Links::base_url));
    let pipeline = Pipeline {
        state: SqliteState::open(&data_dir.join(DB_FILE))?,
        forges,
        runner,
        deploy: deploy_ports(data_dir, links.as_ref(), env).await?,
        telemetry: Default::default(),
        public_url: links,
    };
    Ok((pipeline, completions))
}

/// What deploys reach on one machine: the image layouts (or `SLIPWAY_REGISTRY`), the artifact
/// directory (or `SLIPWAY_BUCKET`) for `current.json`, and AWS for Lambda and ECS targets.
pub async fn deploy_ports(
    data_dir: &Path,
    links: Option<&Links>,
    env: &Env,
) -> Result<DeployPorts, StartupError> {
    #[cfg(feature = "aws")]
    let (images, s3, sdk) = {
        // Only load the AWS configuration when something asks for AWS: resolving a region can
        // wait on the instance metadata service, which a laptop does not have.
        let wants_aws = env.get(settings::BUCKET).is_some()
            || env.get(settings::REGISTRY).is_some()
            || std::env::vars().any(|(k, _)| k.starts_with("AWS_"));
        let sdk = match wants_aws {
            true => Some(crate::wire::aws::sdk_config().await),
            false => None,
        };
        let images = crate::wire::images::store(env, Some(&data_dir.join("images")), sdk.as_ref())?;
        let s3 = sdk
            .as_ref()
            .and_then(|sdk| crate::wire::artifacts::s3_store(sdk, env));
        (images, s3, sdk)
    };
    // Built without AWS (the CLI's default): layouts or a plain registry, artifacts on disk.
    #[cfg(not(feature = "aws"))]
    let (images, s3) = {
        if env.get(settings::BUCKET).is_some() {
            return Err(StartupError::Config(format!(
                "{} is set, but this slipway was built without AWS support (cargo feature `aws`)",
                settings::BUCKET
            )));
        }
        let images = crate::wire::images::store(env, Some(&data_dir.join("images")))?;
        (images, None::<FsStore>)
    };
    let records: Arc<dyn ArtifactStore> = match s3 {
        Some(s3) => Arc::new(s3),
        None => Arc::new(FsStore::new(data_dir.join("artifacts"), links.cloned())),
    };
    Ok(DeployPorts {
        images,
        records: Some(records),
        #[cfg(feature = "aws")]
        aws: sdk,
    })
}

/// Where a local build's outputs go: artifacts and image layouts under the data directory
/// (unless `SLIPWAY_BUCKET` / `SLIPWAY_REGISTRY` point elsewhere), linked from `public_url` with
/// links signed by the data directory's key (or `SLIPWAY_LINK_KEY`, which the agent inherits).
pub fn agent_args(data_dir: &Path, public_url: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "--artifacts-dir".into(),
        data_dir.join("artifacts").display().to_string(),
        "--images-dir".into(),
        data_dir.join("images").display().to_string(),
    ];
    if let Some(url) = public_url {
        args.push("--public-url".into());
        args.push(url.to_owned());
        args.push("--link-key-file".into());
        args.push(link_key_file(data_dir).display().to_string());
    }
    args
}

/// Settings the agent itself reads to store what a build makes (an S3 bucket, a registry and
/// its credentials); webhook secrets and forge credentials are not among them.
const AGENT_SETTINGS: [&str; 7] = [
    settings::BUCKET,
    settings::S3_ENDPOINT,
    settings::REGISTRY,
    settings::REGISTRY_USERNAME,
    settings::REGISTRY_PASSWORD,
    settings::REGISTRY_AUTH,
    settings::ECR_CREATE_REPOSITORIES,
];

/// The agent's whole environment, chosen from `vars` (the bot's): what every program needs,
/// the output settings, TLS trust for reaching them, and the AWS SDK's variables only when a
/// bucket or registry needs them. The agent hands none of the settings to steps.
fn agent_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let wants_aws = vars
        .iter()
        .any(|(k, v)| (k == settings::BUCKET || k == settings::REGISTRY) && !v.trim().is_empty());
    let basics = [
        "PATH",
        "HOME",
        "LANG",
        "SOURCE_DATE_EPOCH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ];
    vars.into_iter()
        .filter(|(k, _)| {
            basics.contains(&k.as_str())
                || AGENT_SETTINGS.contains(&k.as_str())
                || (wants_aws && k.starts_with("AWS_"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_agent_gets_basics_and_output_settings_never_the_bots_secrets() {
        let bot = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/bot"),
            ("LANG", "C.UTF-8"),
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", "s1"),
            ("SLIPWAY_GITLAB_WEBHOOK_TOKEN", "s2"),
            ("SLIPWAY_GITLAB_SIGNING_TOKEN", "s3"),
            ("SLIPWAY_GITHUB_TOKEN", "s4"),
            ("SLIPWAY_GITHUB_PRIVATE_KEY", "s5"),
            ("SLIPWAY_GITLAB_TOKEN", "s6"),
            ("SLIPWAY_REGISTRY_PASSWORD_ARN", "arn"),
            ("DATABASE_URL", "postgres://secret"),
            ("SSH_AUTH_SOCK", "/tmp/agent.sock"),
            ("USER", "bot"),
            ("TMPDIR", "/var/tmp"),
        ];
        // (what else the bot has, what the agent gets)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &["PATH", "HOME", "LANG"]),
            // AWS variables only when something the agent stores to needs them.
            (&[("AWS_SECRET_ACCESS_KEY", "k")], &["PATH", "HOME", "LANG"]),
            (
                &[("SLIPWAY_BUCKET", "b"), ("AWS_SECRET_ACCESS_KEY", "k")],
                &[
                    "PATH",
                    "HOME",
                    "LANG",
                    "SLIPWAY_BUCKET",
                    "AWS_SECRET_ACCESS_KEY",
                ],
            ),
            (
                &[
                    ("SLIPWAY_REGISTRY", "http://127.0.0.1:5000"),
                    ("SLIPWAY_REGISTRY_USERNAME", "u"),
                    ("SLIPWAY_REGISTRY_PASSWORD", "p"),
                    ("AWS_REGION", "eu-west-1"),
                ],
                &[
                    "PATH",
                    "HOME",
                    "LANG",
                    "SLIPWAY_REGISTRY",
                    "SLIPWAY_REGISTRY_USERNAME",
                    "SLIPWAY_REGISTRY_PASSWORD",
                    "AWS_REGION",
                ],
            ),
            (
                &[("SLIPWAY_BUCKET", " "), ("AWS_SECRET_ACCESS_KEY", "k")],
                &["PATH", "HOME", "LANG", "SLIPWAY_BUCKET"],
            ),
        ];
        for (extra, expected) in cases {
            let mut all = vars(&bot);
            all.extend(vars(extra));
            let got: Vec<String> = agent_env(all).into_iter().map(|(k, _)| k).collect();
            assert_eq!(&got, expected, "with {extra:?}");
        }
    }
}
