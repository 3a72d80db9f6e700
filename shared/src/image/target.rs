//! Which image store the settings choose: ECR, another registry, or a layout directory.

use std::path::Path;

use super::layout::LayoutStore;
use super::registry::Registry;
use super::ImageTarget;
use crate::settings::{self, Env};
use crate::BoxError;

/// The store for this process's settings; `layouts` is the one-machine default. None when
/// neither a registry nor a directory is given.
pub async fn from_settings(
    env: &Env,
    layouts: Option<&Path>,
) -> Result<Option<ImageTarget>, BoxError> {
    let Some(url) = env.get(settings::REGISTRY) else {
        return Ok(layouts.map(|dir| ImageTarget {
            store: Box::new(LayoutStore::new(dir)),
            base_registry: None,
        }));
    };
    let url = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else {
        super::name::registry_url(url)
    };
    let wants_ecr = env.get(settings::REGISTRY_AUTH) == Some("ecr");
    #[cfg(feature = "aws")]
    if wants_ecr || super::ecr::Ecr::is_ecr_host(&url) {
        let create = env.get(settings::ECR_CREATE_REPOSITORIES) == Some("true");
        let client = aws_sdk_ecr::Client::new(&crate::aws::sdk_config().await);
        let ecr = super::ecr::Ecr::new(client, &url, create);
        let base_registry = Some(ecr.registry().await?);
        return Ok(Some(ImageTarget {
            store: Box::new(ecr),
            base_registry,
        }));
    }
    #[cfg(not(feature = "aws"))]
    if wants_ecr {
        return Err(
            "this slipway was built without AWS support, so it cannot sign in to ECR".into(),
        );
    }
    let basic = match (
        env.get(settings::REGISTRY_USERNAME),
        env.get(settings::REGISTRY_PASSWORD),
    ) {
        (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
        _ => None,
    };
    let registry = Registry::new(&url, basic)?;
    Ok(Some(ImageTarget {
        store: Box::new(registry.clone()),
        base_registry: Some(registry),
    }))
}
