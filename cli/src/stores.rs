//! Where one machine keeps what builds and deploys make: artifacts, image layouts, and the
//! records deploys write — unless settings point them at S3 or a registry.

use std::path::Path;
use std::sync::Arc;

use slipway::app::pipeline::DeployPorts;
use slipway::artifacts::fs::FsStore;
use slipway::artifacts::s3::S3Store;
use slipway::artifacts::ArtifactStore;
use slipway::settings::{self, Env};

/// What deploys reach on one machine: the image layouts (or `SLIPWAY_REGISTRY`), the artifact
/// directory (or `SLIPWAY_BUCKET`) for `current.json`, and AWS for Lambda and ECS targets.
pub async fn deploy_ports(
    data_dir: &Path,
    links: Option<&slipway::links::Links>,
) -> anyhow::Result<DeployPorts> {
    let env = Env::from_process();
    // Only load the AWS configuration when something asks for AWS: resolving a region can wait
    // on the instance metadata service, which a laptop does not have.
    let wants_aws = env.get(settings::BUCKET).is_some()
        || env.get(settings::REGISTRY).is_some()
        || std::env::vars().any(|(k, _)| k.starts_with("AWS_"));
    let sdk = match wants_aws {
        true => Some(slipway::aws::sdk_config().await),
        false => None,
    };
    let images = slipway::image::target::store(&env, Some(&data_dir.join("images")), sdk.as_ref())
        .map_err(anyhow::Error::from_boxed)?;
    let s3 = sdk
        .as_ref()
        .and_then(|sdk| S3Store::from_settings(sdk, &env));
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
        args.push(crate::link_key::file(data_dir).display().to_string());
    }
    args
}
