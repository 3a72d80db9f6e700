//! One machine's wiring: the pipeline on SQLite, the local runner (its steps sandboxed, the data
//! directory hidden from them), and the stores under the data directory — unless settings point
//! artifacts at S3 or images at a registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::app::pipeline::{DeployPorts, Pipeline};
use crate::artifacts::fs::FsStore;
use crate::artifacts::ArtifactStore;
use crate::links::Links;
use crate::runner::local::{Completion, LocalRunner};
use crate::state::sqlite::SqliteState;
use crate::wire::forges::Forges;
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
    let (mut runner, completions) = LocalRunner::new(agent, data_dir.join("runs"));
    // Steps never see the database, the artifacts and images, nor other runs.
    runner.hidden.push(data_dir.to_path_buf());
    runner.agent_args = agent_args(data_dir, links.as_ref().map(Links::base_url));
    let pipeline = Pipeline {
        state: SqliteState::open(&data_dir.join(DB_FILE))?,
        forges,
        runner,
        deploy: deploy_ports(data_dir, links.as_ref(), env).await?,
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
    // Only load the AWS configuration when something asks for AWS: resolving a region can wait
    // on the instance metadata service, which a laptop does not have.
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
    let records: Arc<dyn ArtifactStore> = match s3 {
        Some(s3) => Arc::new(s3),
        None => Arc::new(FsStore::new(data_dir.join("artifacts"), links.cloned())),
    };
    Ok(DeployPorts {
        images,
        records: Some(records),
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
