//! What a build leaves behind: files matching `build.artifacts`, stored with their SHA-256 under
//! `artifacts/<forge>/<owner>/<repo>/<sha>/<run>/<path>`, and a `manifest.json` beside them.
//! Two stores: S3 in the cloud (or any S3 endpoint), a directory on one machine.

pub mod beneath;
pub mod fs;
#[cfg(feature = "aws-pages")]
pub mod s3;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::artifact::ArtifactPattern;
use crate::model::artifact::Manifest;
use crate::model::artifact::StoredFile;
use crate::model::error::ErrorKind;
use crate::model::event::CommitSha;
use crate::model::event::RunId;

/// What the store says about an object it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Store a file's bytes under `key`, streaming (memory bounded whatever the size).
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Stored, ArtifactError>;

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Stored, ArtifactError>;

    /// The object's bytes, or its last `max_bytes` when it is longer; None when absent.
    async fn read_tail(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, ArtifactError>;

    /// A link that downloads `key`, valid for `lifetime` (at most [`MAX_LINK_LIFETIME`]).
    async fn link(&self, key: &str, lifetime: Duration) -> Result<String, ArtifactError>;
}

/// The content type stored with an artifact, by its name.
pub fn content_type(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    let by_suffix = [
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".zip", "application/zip"),
        (".tar", "application/x-tar"),
        (".json", "application/json"),
        (".txt", "text/plain; charset=utf-8"),
        (".log", "text/plain; charset=utf-8"),
        (".md", "text/markdown; charset=utf-8"),
        (".html", "text/html; charset=utf-8"),
        (".wasm", "application/wasm"),
    ];
    by_suffix
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map_or("application/octet-stream", |(_, ct)| ct)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact pattern {0:?} matched no file")]
    NothingMatched(String),
    #[error("artifact pattern {0:?} is not a valid glob: {1}")]
    BadPattern(String, String),
    #[error("storing {path} failed: {reason}")]
    Store {
        path: String,
        reason: String,
        kind: ErrorKind,
    },
    #[error("not a valid artifact key: {0:?}")]
    BadKey(String),
    /// The store's service or disk failed. The text, not the error, is kept so that this
    /// error stays comparable (tests) and cloneable.
    #[error("{detail}")]
    Backend { kind: ErrorKind, detail: String },
}

impl ArtifactError {
    pub fn backend(kind: ErrorKind, error: impl std::fmt::Display) -> ArtifactError {
        ArtifactError::Backend {
            kind,
            detail: error.to_string(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ArtifactError::Store { kind, .. } | ArtifactError::Backend { kind, .. } => *kind,
            ArtifactError::NothingMatched(_)
            | ArtifactError::BadPattern(..)
            | ArtifactError::BadKey(_) => ErrorKind::Permanent,
        }
    }

    /// Storing the file at `path` failed with this error.
    fn storing(self, path: &str) -> ArtifactError {
        ArtifactError::Store {
            path: path.to_owned(),
            reason: self.to_string(),
            kind: self.kind(),
        }
    }
}

/// A disk error: a full disk or a missing file does not mend itself within a retry.
impl From<std::io::Error> for ArtifactError {
    fn from(error: std::io::Error) -> ArtifactError {
        ArtifactError::backend(ErrorKind::Permanent, error)
    }
}

/// The regular files under `workdir` matching the patterns, each once, in a stable order.
/// Symlinks are not followed out of the checkout: only regular files inside it are taken.
pub fn matching_files(
    workdir: &Path,
    patterns: &[ArtifactPattern],
) -> Result<Vec<(String, PathBuf)>, ArtifactError> {
    let root = workdir.canonicalize().map_err(|e| ArtifactError::Store {
        path: workdir.display().to_string(),
        reason: e.to_string(),
        kind: ErrorKind::Permanent,
    })?;
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in patterns {
        let full = format!(
            "{}/{}",
            glob::Pattern::escape(&root.to_string_lossy()),
            entry.pattern
        );
        let paths = glob::glob(&full)
            .map_err(|e| ArtifactError::BadPattern(entry.pattern.clone(), e.to_string()))?;
        let mut matched = 0;
        for path in paths.flatten() {
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            let inside = real.starts_with(&root);
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if !inside || !regular {
                continue;
            }
            matched += 1;
            let relative = real
                .strip_prefix(&root)
                .unwrap_or(&real)
                .to_string_lossy()
                .into_owned();
            if !found.iter().any(|(r, _)| *r == relative) {
                found.push((relative, real));
            }
        }
        if matched == 0 && !entry.optional {
            return Err(ArtifactError::NothingMatched(entry.pattern.clone()));
        }
    }
    found.sort();
    Ok(found)
}

/// Store every matching file and the manifest; returns the manifest.
pub async fn upload(
    store: &dyn ArtifactStore,
    prefix: &str,
    workdir: &Path,
    patterns: &[ArtifactPattern],
    run_id: &RunId,
    sha: &CommitSha,
    image: Option<&crate::model::image::PublishedImage>,
) -> Result<Manifest, ArtifactError> {
    let mut files = Vec::new();
    for (relative, path) in matching_files(workdir, patterns)? {
        let key = format!("{prefix}{relative}");
        let content_type = content_type(&relative);
        let stored = store
            .put_file(&key, &path, content_type)
            .await
            .map_err(|e| e.storing(&relative))?;
        files.push(StoredFile {
            path: relative,
            key,
            size: stored.size,
            sha256: stored.sha256,
            content_type: content_type.to_owned(),
        });
    }
    let manifest = Manifest {
        run_id: run_id.clone(),
        sha: sha.clone(),
        files,
        image: image.cloned(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ArtifactError::Store {
        path: "manifest.json".into(),
        reason: e.to_string(),
        kind: ErrorKind::Permanent,
    })?;
    store
        .put_bytes(&format!("{prefix}manifest.json"), json, "application/json")
        .await
        .map_err(|e| e.storing("manifest.json"))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests;
