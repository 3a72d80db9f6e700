//! Unpacking a forge's source archive (`.tar.gz` with one top-level directory) safely.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::ForgeError;

/// A downloaded archive on its way to disk: streamed into a temporary file (never whole in
/// memory), then unpacked off the async executor.
pub(super) struct ArchiveSink {
    file: tokio::fs::File,
    path: tempfile::TempPath,
}

impl ArchiveSink {
    pub async fn create(dest: &Path) -> Result<Self, ForgeError> {
        let io = |e: std::io::Error| ForgeError::Io(format!("saving the source archive: {e}"));
        let dir = dest
            .parent()
            .filter(|p| p.is_dir())
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let (file, path) = temp.into_parts();
        Ok(ArchiveSink {
            file: tokio::fs::File::from_std(file),
            path,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ForgeError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| ForgeError::Io(format!("saving the source archive: {e}")))
    }

    pub async fn unpack_into(mut self, dest: &Path) -> Result<(), ForgeError> {
        self.file
            .flush()
            .await
            .map_err(|e| ForgeError::Io(format!("saving the source archive: {e}")))?;
        drop(self.file);
        let (path, dest) = (self.path, dest.to_path_buf());
        tokio::task::spawn_blocking(move || unpack_tar_gz(&path, &dest))
            .await
            .map_err(|e| ForgeError::Io(format!("unpacking the source archive: {e}")))?
    }
}

/// Unpack `archive` into `dest`, dropping the archive's top-level directory. Entries that would
/// land outside `dest` (absolute paths, `..`, or a path through a symlink the archive made) are
/// refused: the archive comes from the network.
pub(super) fn unpack_tar_gz(archive: &Path, dest: &Path) -> Result<(), ForgeError> {
    let io = |e: std::io::Error| ForgeError::Io(format!("unpacking the source archive: {e}"));
    std::fs::create_dir_all(dest).map_err(io)?;
    let reader = BufReader::new(File::open(archive).map_err(io)?);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(false);
    let mut symlinks: HashSet<PathBuf> = HashSet::new();
    for entry in tar.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue; // GitHub's archives carry the commit id in a global header
        }
        let path = entry.path().map_err(io)?.into_owned();
        let Some(relative) = inside_top_dir(&path)? else {
            continue;
        };
        if relative.ancestors().any(|a| symlinks.contains(a)) {
            return Err(unsafe_entry(&path));
        }
        if kind.is_symlink() {
            symlinks.insert(relative.clone());
        }
        let target = dest.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        entry.unpack(&target).map_err(io)?;
    }
    Ok(())
}

/// The path below the archive's top directory; `None` for the top directory itself.
fn inside_top_dir(path: &Path) -> Result<Option<PathBuf>, ForgeError> {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(_)) => {}
        _ => return Err(unsafe_entry(path)),
    }
    let mut rest = PathBuf::new();
    for component in components {
        match component {
            Component::Normal(part) => rest.push(part),
            Component::CurDir => {}
            _ => return Err(unsafe_entry(path)),
        }
    }
    Ok((!rest.as_os_str().is_empty()).then_some(rest))
}

fn unsafe_entry(path: &Path) -> ForgeError {
    ForgeError::Io(format!(
        "the source archive has an unsafe entry {:?}; nothing past it was unpacked",
        path
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.tar.gz` with the given (path, contents) regular files; `->` in a path makes a symlink.
    pub(crate) fn tar_gz(entries: &[(&str, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            if let Some((link, target)) = path.split_once("->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, link, target).unwrap();
            } else {
                header.set_size(contents.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                // append_data checks the path; write the name unchecked to build hostile archives.
                let name = header.as_old_mut().name.as_mut();
                name[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, contents.as_bytes()).unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn unpack(entries: &[(&str, &str)]) -> (tempfile::TempDir, Result<(), ForgeError>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("src.tar.gz");
        std::fs::write(&archive, tar_gz(entries)).unwrap();
        let result = unpack_tar_gz(&archive, &dir.path().join("out"));
        (dir, result)
    }

    #[test]
    fn strips_the_top_directory() {
        let (dir, result) = unpack(&[
            ("repo-abc123/README.md", "hello"),
            ("repo-abc123/src/main.rs", "fn main() {}"),
        ]);
        result.unwrap();
        let out = dir.path().join("out");
        assert_eq!(
            std::fs::read_to_string(out.join("README.md")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("src/main.rs")).unwrap(),
            "fn main() {}"
        );
    }

    #[test]
    fn refuses_parent_and_absolute_paths() {
        let (dir, result) = unpack(&[("repo/../../escape.txt", "x")]);
        assert!(result.is_err());
        assert!(!dir.path().join("escape.txt").exists());
        let (_dir, result) = unpack(&[("/etc/passwd", "x")]);
        assert!(result.is_err());
    }

    #[test]
    fn refuses_writing_through_a_symlink_it_made() {
        let outside = tempfile::tempdir().unwrap();
        let link = format!("repo/link->{}", outside.path().display());
        let (_dir, result) = unpack(&[(&link, ""), ("repo/link/pwned.txt", "x")]);
        assert!(result.is_err());
        assert!(!outside.path().join("pwned.txt").exists());
    }
}
