//! Artifacts in a directory on this machine (`slipway serve` serves them under `/artifacts/`).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ArtifactError, ArtifactStore, Stored};
use crate::links::Links;

/// Where `slipway serve` serves the directory, below its public URL.
pub const SERVED_UNDER: &str = "/artifacts";

pub struct FsStore {
    root: PathBuf,
    /// The server that serves the directory under [`SERVED_UNDER`], signing its links (they are
    /// capabilities: the server answers nothing without one); `file://` links otherwise.
    links: Option<Links>,
}

impl FsStore {
    pub fn new(root: PathBuf, links: Option<Links>) -> Self {
        FsStore { root, links }
    }

    /// The stored file behind `key`, to send to a reader: a regular file under the root reached
    /// without following any symbolic link a build may have planted.
    pub fn open_served(&self, key: &str) -> std::io::Result<std::fs::File> {
        super::beneath::open_regular(&self.root, Path::new(key))
    }

    /// The file behind a key; keys with `..` or absolute parts name nothing.
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        let relative = Path::new(key);
        let plain = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        plain.then(|| self.root.join(relative))
    }

    async fn target(&self, key: &str) -> Result<PathBuf, ArtifactError> {
        let path = self
            .path_of(key)
            .ok_or_else(|| ArtifactError::BadKey(key.to_owned()))?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        Ok(path)
    }
}

#[async_trait]
impl ArtifactStore for FsStore {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        let target = self.target(key).await?;
        let partial = target.with_extension("partial");
        let mut from = tokio::fs::File::open(path).await?;
        let mut to = tokio::fs::File::create(&partial).await?;
        let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 20]);
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            to.write_all(&buf[..n]).await?;
            size += n as u64;
        }
        to.flush().await?;
        tokio::fs::rename(&partial, &target).await?;
        Ok(Stored {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        let target = self.target(key).await?;
        let stored = Stored {
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        tokio::fs::write(&target, bytes).await?;
        Ok(stored)
    }

    async fn read_tail(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, ArtifactError> {
        use tokio::io::AsyncSeekExt;
        let path = self
            .path_of(key)
            .ok_or_else(|| ArtifactError::BadKey(key.to_owned()))?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata().await?.len();
        file.seek(std::io::SeekFrom::Start(len.saturating_sub(max_bytes)))
            .await?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).await?;
        Ok(Some(bytes))
    }

    async fn link(&self, key: &str, lifetime: Duration) -> Result<String, ArtifactError> {
        let path = self
            .path_of(key)
            .ok_or_else(|| ArtifactError::BadKey(key.to_owned()))?;
        let now = crate::state::unix_secs(std::time::SystemTime::now()).max(0) as u64;
        Ok(match &self.links {
            Some(links) => links.url_for(&format!("{SERVED_UNDER}/{key}"), lifetime, now),
            None => format!("file://{}", path.display()),
        })
    }
}
