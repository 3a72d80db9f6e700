//! Container images without a Docker daemon, as ko, jib and apko make them.
//!
//! A build assembles its image into an OCI image layout (`build`), from a base pulled from a
//! registry (or `scratch`) and one reproducible layer of the build's files (`layer`); then an
//! [`ImageStore`] takes it: a registry over the OCI distribution API (`registry`), ECR (`ecr`),
//! or a layout directory on one machine (`layout`). Stores also move tags without rebuilding,
//! which is how environments are deployed.

// The types and names are pure (the config uses them); the I/O needs the `image` feature.
#[cfg(feature = "image")]
pub mod build;
#[cfg(all(feature = "image", feature = "aws"))]
pub mod ecr;
#[cfg(feature = "image")]
pub mod layer;
#[cfg(feature = "image")]
pub mod layout;
pub mod name;
#[cfg(feature = "image")]
pub mod registry;

use std::collections::BTreeMap;

#[cfg(feature = "image")]
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use name::ImageName;

#[cfg(feature = "image")]
use crate::model::error::ErrorKind;
use crate::model::image::Platform;
#[cfg(feature = "image")]
use crate::model::image::PublishedImage;

/// Building, pulling or pushing an image failed; the text (hosts, digests) is for the log.
#[cfg(feature = "image")]
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The registry answered a call with a status that is not its success.
    #[error("{what} failed with {status}{detail}")]
    Registry {
        what: &'static str,
        status: u16,
        /// The registry's first error code and message, `: CODE message`, or nothing.
        detail: String,
    },
    /// The registry could not be reached, or stopped answering (after the retries).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// ECR's API failed; `kind` says whether the same call may succeed later.
    #[error("{source}")]
    Aws {
        kind: ErrorKind,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A blocking task (writing a layer) or an upload task panicked.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// An image, name or answer that is not what it should be (a missing platform, a digest
    /// that does not match, a bad repository name).
    #[error("{0}")]
    Invalid(String),
}

#[cfg(feature = "image")]
impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Registry { status: 429, .. } => {
                ErrorKind::RateLimited { retry_after: None }
            }
            ImageError::Registry { status, .. } if *status >= 500 => ErrorKind::Retryable,
            ImageError::Http(e) if e.is_timeout() || e.is_connect() || e.is_body() => {
                ErrorKind::Retryable
            }
            ImageError::Aws { kind, .. } => *kind,
            _ => ErrorKind::Permanent,
        }
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A content-addressed blob or manifest, as manifests and indexes refer to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI, or Docker schema 2: the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

impl Index {
    /// The manifest for `platform`, as the index lists it.
    pub fn pick(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == platform.os
                    && p.architecture == platform.architecture
                    && (platform.variant.is_none() || p.variant == platform.variant)
            })
        })
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, checked, so it is safe as a file name.
pub fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// What a push sent, so a second push of the same image can be seen to send no layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    pub blobs_uploaded: usize,
    pub blobs_present: usize,
    pub bytes_uploaded: u64,
}

/// Where images go: a registry, ECR, or a layout directory.
#[cfg(feature = "image")]
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Copy the image `manifest` from `source` to `repository`, tagged with each of `tags`.
    async fn push(
        &self,
        source: &layout::Layout,
        manifest: &Descriptor,
        repository: &str,
        tags: &[String],
    ) -> Result<(PublishedImage, PushStats), ImageError>;

    /// Point `tag` at the image `digest` already in `repository`, without rebuilding.
    async fn retag(&self, repository: &str, digest: &str, tag: &str) -> Result<(), ImageError>;

    /// The digest `tag` points at, if the tag exists.
    async fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, ImageError>;

    /// How the repository is named in references (`host/repo`, or the layout's path).
    fn repository_name(&self, repository: &str) -> String;

    /// What a push of `manifest` to `repository` with `tags` published.
    fn published(
        &self,
        repository: &str,
        manifest: &Descriptor,
        tags: &[String],
    ) -> PublishedImage {
        PublishedImage {
            repository: self.repository_name(repository),
            name: repository.to_owned(),
            digest: manifest.digest.clone(),
            tags: tags.to_vec(),
        }
    }
}

/// Where a build's image goes, and the registry it may pull its base from with the same
/// credentials.
#[cfg(feature = "image")]
pub struct ImageTarget {
    pub store: Box<dyn ImageStore>,
    pub base_registry: Option<registry::Registry>,
}

#[cfg(all(test, feature = "image"))]
mod tests;
