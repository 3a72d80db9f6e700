//! Which image store the settings choose: ECR, another registry, or a layout directory.

use std::path::Path;

use crate::image::layout::LayoutStore;
use crate::image::registry::Registry;
use crate::image::{ImageStore, ImageTarget};
use crate::wire::settings::{self, Env};
use crate::wire::StartupError;

enum Chosen {
    Layouts(LayoutStore),
    Registry(Registry),
    #[cfg(feature = "aws")]
    Ecr(crate::image::ecr::Ecr),
}

/// `sdk` is needed only for ECR; without it an ECR registry is an error.
fn choose(
    env: &Env,
    layouts: Option<&Path>,
    #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
) -> Result<Option<Chosen>, StartupError> {
    let Some(url) = env.get(settings::REGISTRY) else {
        return Ok(layouts.map(|dir| Chosen::Layouts(LayoutStore::new(dir))));
    };
    let url = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else {
        crate::image::name::registry_url(url)
    };
    let wants_ecr = env.get(settings::REGISTRY_AUTH) == Some("ecr");
    #[cfg(feature = "aws")]
    if wants_ecr || crate::image::ecr::Ecr::is_ecr_host(&url) {
        let sdk =
            sdk.ok_or_else(|| StartupError::Config("ECR needs the AWS configuration".into()))?;
        let create = env.get(settings::ECR_CREATE_REPOSITORIES) == Some("true");
        let client = aws_sdk_ecr::Client::new(sdk);
        return Ok(Some(Chosen::Ecr(crate::image::ecr::Ecr::new(
            client, &url, create,
        ))));
    }
    #[cfg(not(feature = "aws"))]
    if wants_ecr {
        return Err(StartupError::Config(
            "this slipway was built without AWS support, so it cannot sign in to ECR".into(),
        ));
    }
    let basic = match (
        env.get(settings::REGISTRY_USERNAME),
        env.get(settings::REGISTRY_PASSWORD),
    ) {
        (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
        _ => None,
    };
    Ok(Some(Chosen::Registry(Registry::new(&url, basic)?)))
}

/// The store deploys retag in (no sign-in until it is used).
pub fn store(
    env: &Env,
    layouts: Option<&Path>,
    #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
) -> Result<Option<Box<dyn ImageStore>>, StartupError> {
    #[cfg(feature = "aws")]
    let chosen = choose(env, layouts, sdk)?;
    #[cfg(not(feature = "aws"))]
    let chosen = choose(env, layouts)?;
    Ok(chosen.map(|c| -> Box<dyn ImageStore> {
        match c {
            Chosen::Layouts(l) => Box::new(l),
            Chosen::Registry(r) => Box::new(r),
            #[cfg(feature = "aws")]
            Chosen::Ecr(e) => Box::new(e),
        }
    }))
}

/// The store a build pushes to, signed in, with the registry its base image may come from.
pub async fn from_settings(
    env: &Env,
    layouts: Option<&Path>,
) -> Result<Option<ImageTarget>, StartupError> {
    #[cfg(feature = "aws")]
    let chosen = {
        let sdk = match env.get(settings::REGISTRY) {
            Some(_) => Some(crate::wire::aws::sdk_config().await),
            None => None,
        };
        choose(env, layouts, sdk.as_ref())?
    };
    #[cfg(not(feature = "aws"))]
    let chosen = choose(env, layouts)?;
    Ok(match chosen {
        None => None,
        Some(Chosen::Layouts(l)) => Some(ImageTarget {
            store: Box::new(l),
            base_registry: None,
        }),
        Some(Chosen::Registry(r)) => Some(ImageTarget {
            store: Box::new(r.clone()),
            base_registry: Some(r),
        }),
        #[cfg(feature = "aws")]
        Some(Chosen::Ecr(e)) => {
            let base_registry = Some(e.registry().await?);
            Some(ImageTarget {
                store: Box::new(e),
                base_registry,
            })
        }
    })
}
