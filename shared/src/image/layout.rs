//! An OCI image layout directory: `oci-layout`, `index.json` and `blobs/sha256/…`.
//!
//! Builds assemble images here; on one machine it is also where images are kept (the embedded
//! default), readable by `skopeo`, `crane` and `podman` as `oci:<dir>:<tag>`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{digest_hex, Descriptor, ImageStore, Index, Manifest, PushStats, OCI_INDEX};

use crate::image::ImageError;
use crate::model::image::PublishedImage;

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Open the layout at `root`, creating an empty one if there is none.
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Layout> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !root.join("index.json").exists() {
            write_atomically(&root.join("index.json"), &index_bytes(&[])?)?;
        }
        Ok(Layout { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> io::Result<PathBuf> {
        let hex = digest_hex(digest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad digest {digest:?}"),
            )
        })?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    pub fn read_blob(&self, digest: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.blob_path(digest)?)
    }

    /// Store bytes as a blob; returns its descriptor.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> io::Result<Descriptor> {
        let descriptor = Descriptor::of(media_type, bytes);
        let path = self.blob_path(&descriptor.digest)?;
        if !path.exists() {
            write_atomically(&path, bytes)?;
        }
        Ok(descriptor)
    }

    /// Move a file whose digest is known into the blobs (a temp file in the same layout).
    pub fn adopt_blob(&self, file: &Path, digest: &str) -> io::Result<()> {
        std::fs::rename(file, self.blob_path(digest)?)
    }

    /// A temp file beside the blobs, for a blob being written.
    pub fn temp_path(&self) -> PathBuf {
        self.root
            .join("blobs")
            .join(format!(".tmp-{:016x}", fastrand::u64(..)))
    }

    /// The manifests `index.json` lists.
    pub fn index(&self) -> io::Result<Index> {
        let bytes = std::fs::read(self.root.join("index.json"))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// The manifest `tag` names.
    pub fn find(&self, tag: &str) -> io::Result<Option<Descriptor>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).is_some_and(|t| t == tag)))
    }

    pub fn manifest(&self, descriptor: &Descriptor) -> io::Result<Manifest> {
        serde_json::from_slice(&self.read_blob(&descriptor.digest)?).map_err(io::Error::other)
    }

    /// Point `tag` at `manifest` (moving it if it named another), under a lock so concurrent
    /// builds sharing a layout never lose each other's tags.
    pub fn tag(&self, manifest: &Descriptor, tag: &str) -> io::Result<()> {
        let lock = File::create(self.root.join(".index.lock"))?;
        lock.lock()?;
        let mut manifests = self.index()?.manifests;
        manifests.retain(|d| d.annotations.get(REF_NAME).is_none_or(|t| t != tag));
        let mut entry = manifest.clone();
        entry.platform = None;
        entry.annotations = BTreeMap::from([(REF_NAME.to_owned(), tag.to_owned())]);
        manifests.push(entry);
        manifests.sort_by(|a, b| {
            a.annotations
                .get(REF_NAME)
                .cmp(&b.annotations.get(REF_NAME))
        });
        write_atomically(&self.root.join("index.json"), &index_bytes(&manifests)?)
    }

    /// Every blob an image needs: its config and layers, then the manifest itself.
    pub fn blobs_of(&self, manifest: &Descriptor) -> io::Result<Vec<Descriptor>> {
        let parsed = self.manifest(manifest)?;
        let mut blobs = vec![parsed.config];
        blobs.extend(parsed.layers);
        Ok(blobs)
    }
}

fn index_bytes(manifests: &[Descriptor]) -> io::Result<Vec<u8>> {
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: manifests.to_vec(),
    };
    serde_json::to_vec(&index).map_err(io::Error::other)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = path.with_extension(format!("tmp-{:016x}", fastrand::u64(..)));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

/// Images kept on one machine: one layout per repository under a directory.
pub struct LayoutStore {
    root: PathBuf,
}

impl LayoutStore {
    pub fn new(root: impl Into<PathBuf>) -> LayoutStore {
        LayoutStore { root: root.into() }
    }

    pub fn layout(&self, repository: &str) -> io::Result<Layout> {
        if !super::name::valid_repository(repository) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad repository name {repository:?}"),
            ));
        }
        Layout::create(self.root.join(repository))
    }
}

#[async_trait]
impl ImageStore for LayoutStore {
    async fn push(
        &self,
        source: &Layout,
        manifest: &Descriptor,
        repository: &str,
        tags: &[String],
    ) -> Result<(PublishedImage, PushStats), ImageError> {
        let target = self.layout(repository)?;
        let mut stats = PushStats::default();
        let mut blobs = source.blobs_of(manifest)?;
        blobs.push(manifest.clone());
        for blob in blobs {
            if target.has_blob(&blob.digest) {
                stats.blobs_present += 1;
                continue;
            }
            let temp = target.temp_path();
            std::fs::copy(source.blob_path(&blob.digest)?, &temp)?;
            target.adopt_blob(&temp, &blob.digest)?;
            stats.blobs_uploaded += 1;
            stats.bytes_uploaded += blob.size;
        }
        for tag in tags {
            target.tag(manifest, tag)?;
        }
        Ok((self.published(repository, manifest, tags), stats))
    }

    async fn retag(&self, repository: &str, digest: &str, tag: &str) -> Result<(), ImageError> {
        let layout = self.layout(repository)?;
        let found = layout
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.digest == digest)
            .ok_or_else(|| ImageError::Invalid(format!("{repository} has no image {digest}")))?;
        Ok(layout.tag(&found, tag)?)
    }

    async fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, ImageError> {
        Ok(self.layout(repository)?.find(tag)?.map(|d| d.digest))
    }

    fn repository_name(&self, repository: &str) -> String {
        format!("oci:{}", self.root.join(repository).display())
    }
}
