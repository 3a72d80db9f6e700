//! Amazon ECR: layers and manifests go over the OCI API with a token from GetAuthorizationToken
//! (cached until an hour before its 12 hours run out); tags move with BatchGetImage + PutImage,
//! which copies the manifest inside ECR without a byte of layer traffic.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;

use super::layout::Layout;
use super::registry::Registry;
use super::{Descriptor, ImageError, ImageStore, PushStats, DOCKER_MANIFEST, OCI_MANIFEST};
use crate::model::image::PublishedImage;

/// Refresh the token this long before ECR says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(3600);

pub struct Ecr {
    client: aws_sdk_ecr::Client,
    /// The registry's OCI endpoint, `https://<account>.dkr.ecr.<region>.amazonaws.com`.
    url: String,
    create_repositories: bool,
    cached: Mutex<Option<(Registry, SystemTime)>>,
}

impl Ecr {
    pub fn new(client: aws_sdk_ecr::Client, url: &str, create_repositories: bool) -> Ecr {
        Ecr {
            client,
            url: url.trim_end_matches('/').to_owned(),
            create_repositories,
            cached: Mutex::new(None),
        }
    }

    /// `<account>.dkr.ecr.<region>.amazonaws.com` (and the `.cn` partitions).
    pub fn is_ecr_host(url: &str) -> bool {
        let host = url
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        host.contains(".dkr.ecr.")
            && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
    }

    /// An OCI client signed in with a current ECR token.
    pub async fn registry(&self) -> Result<Registry, ImageError> {
        if let Some((registry, until)) = self.cached.lock().unwrap().as_ref() {
            if SystemTime::now() < *until {
                return Ok(registry.clone());
            }
        }
        let answer = self.client.get_authorization_token().send().await?;
        let data = answer
            .authorization_data()
            .first()
            .ok_or_else(|| ImageError::Invalid("ECR returned no authorization data".into()))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| ImageError::Invalid("ECR returned no authorization token".into()))?;
        let bad_token = |e: &dyn std::fmt::Display| ImageError::Invalid(e.to_string());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|e| bad_token(&e))?;
        let decoded = String::from_utf8(decoded).map_err(|e| bad_token(&e))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| ImageError::Invalid("ECR's token is not user:password".into()))?;
        let expires = data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(12 * 3600));
        let until = expires
            .checked_sub(TOKEN_MARGIN)
            .unwrap_or_else(SystemTime::now);
        let registry = Registry::new(&self.url, Some((user.to_owned(), password.to_owned())))?;
        *self.cached.lock().unwrap() = Some((registry.clone(), until));
        Ok(registry)
    }

    async fn ensure_repository(&self, repository: &str) -> Result<(), ImageError> {
        let found = self
            .client
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await;
        match found {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                let created = self
                    .client
                    .create_repository()
                    .repository_name(repository)
                    .image_tag_mutability(ImageTagMutability::Mutable)
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder()
                            .scan_on_push(true)
                            .build(),
                    )
                    .send()
                    .await;
                match created {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_already_exists_exception()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The manifest ECR holds for an image id, with its media type.
    async fn manifest(
        &self,
        repository: &str,
        id: ImageIdentifier,
    ) -> Result<Option<(String, String)>, ImageError> {
        let answer = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .image_ids(id)
            .accepted_media_types(OCI_MANIFEST)
            .accepted_media_types(DOCKER_MANIFEST)
            .send()
            .await?;
        Ok(answer.images().first().and_then(|image| {
            let manifest = image.image_manifest()?.to_owned();
            let media_type = image
                .image_manifest_media_type()
                .unwrap_or(OCI_MANIFEST)
                .to_owned();
            Some((manifest, media_type))
        }))
    }
}

#[async_trait]
impl ImageStore for Ecr {
    async fn push(
        &self,
        source: &Layout,
        manifest: &Descriptor,
        repository: &str,
        tags: &[String],
    ) -> Result<(PublishedImage, PushStats), ImageError> {
        if self.create_repositories {
            self.ensure_repository(repository).await?;
        }
        self.registry()
            .await?
            .push(source, manifest, repository, tags)
            .await
    }

    async fn retag(&self, repository: &str, digest: &str, tag: &str) -> Result<(), ImageError> {
        let id = ImageIdentifier::builder().image_digest(digest).build();
        let (manifest, media_type) = self
            .manifest(repository, id)
            .await?
            .ok_or_else(|| ImageError::Invalid(format!("{repository} has no image {digest}")))?;
        let put = self
            .client
            .put_image()
            .repository_name(repository)
            .image_manifest(manifest)
            .image_manifest_media_type(media_type)
            .image_digest(digest)
            .image_tag(tag)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            // The tag already points at this image: nothing to move.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, ImageError> {
        let id = ImageIdentifier::builder().image_tag(tag).build();
        let answer = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await?;
        Ok(answer
            .images()
            .first()
            .and_then(|i| i.image_id())
            .and_then(|id| id.image_digest())
            .map(str::to_owned))
    }

    fn repository_name(&self, repository: &str) -> String {
        let host = self
            .url
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        format!("{host}/{repository}")
    }
}

impl<E> From<SdkError<E, HttpResponse>> for ImageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> ImageError {
        let (kind, source) = crate::aws_error::classified(error);
        ImageError::Aws { kind, source }
    }
}
