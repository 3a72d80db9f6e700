//! A registry as an image store: push a layout's image (blobs in parallel, each only if
//! missing), retag by manifest `GET` + `PUT`, resolve a tag.

use async_trait::async_trait;

use super::Registry;
use crate::image::layout::Layout;
use crate::image::ImageError;
use crate::image::{Descriptor, ImageStore, PushStats};
use crate::model::image::PublishedImage;

/// Blobs uploaded at once.
const PARALLEL_BLOBS: usize = 4;

#[async_trait]
impl ImageStore for Registry {
    async fn push(
        &self,
        source: &Layout,
        manifest: &Descriptor,
        repository: &str,
        tags: &[String],
    ) -> Result<(PublishedImage, PushStats), ImageError> {
        let blobs = source.blobs_of(manifest)?;
        let mut stats = PushStats::default();
        let mut pending = blobs.into_iter();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < PARALLEL_BLOBS {
                let Some(blob) = pending.next() else { break };
                let registry = self.clone();
                let repository = repository.to_owned();
                let path = source.blob_path(&blob.digest)?;
                running.spawn(async move {
                    if registry.has_blob(&repository, &blob.digest).await? {
                        return Ok::<_, ImageError>(None);
                    }
                    registry.upload_blob(&repository, &blob, &path).await?;
                    Ok(Some(blob.size))
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            match done?? {
                Some(bytes) => {
                    stats.blobs_uploaded += 1;
                    stats.bytes_uploaded += bytes;
                }
                None => stats.blobs_present += 1,
            }
        }
        let bytes = source.read_blob(&manifest.digest)?;
        for tag in tags {
            self.put_manifest(repository, tag, &manifest.media_type, &bytes)
                .await?;
        }
        if tags.is_empty() {
            self.put_manifest(repository, &manifest.digest, &manifest.media_type, &bytes)
                .await?;
        }
        Ok((self.published(repository, manifest, tags), stats))
    }

    async fn retag(&self, repository: &str, digest: &str, tag: &str) -> Result<(), ImageError> {
        let (media_type, bytes) = self
            .get_manifest(repository, digest, true)
            .await?
            .ok_or_else(|| ImageError::Invalid(format!("{repository} has no image {digest}")))?;
        self.put_manifest(repository, tag, &media_type, &bytes)
            .await
    }

    async fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, ImageError> {
        Ok(self
            .get_manifest(repository, tag, false)
            .await?
            .map(|(_, bytes)| crate::image::sha256_digest(&bytes)))
    }

    fn repository_name(&self, repository: &str) -> String {
        format!("{}/{repository}", self.inner.host)
    }
}
