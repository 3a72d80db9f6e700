//! One reproducible layer: the same files always give the same bytes, so the same digest.
//!
//! Entries are sorted, every parent directory is listed, owners are root, modes are normalised,
//! mtimes are one fixed time, and the gzip header carries neither a name nor a time. The layer is
//! streamed to disk while both digests are computed, so memory stays flat whatever its size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::model::image::ImageFile;

/// What a layer is made of: its path in the image (no leading `/`) and where the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { source: PathBuf, mode: u32 },
}

/// The layer as written: its blob digest (compressed) and diff id (uncompressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
}

/// The entries for `files`, taken from `workdir`. A directory is taken with everything under it.
/// Nothing may come from outside the checkout, and only regular files and directories are taken.
pub fn entries(workdir: &Path, files: &[ImageFile]) -> Result<BTreeMap<String, Entry>, String> {
    let root = workdir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", workdir.display()))?;
    let mut entries = BTreeMap::new();
    for file in files {
        let source = root.join(&file.from);
        let real = source
            .canonicalize()
            .map_err(|e| format!("image file {:?}: {e}", file.from))?;
        if !real.starts_with(&root) {
            return Err(format!(
                "image file {:?} is outside the checkout",
                file.from
            ));
        }
        let target = file.to.trim_matches('/').to_owned();
        add_parents(&mut entries, &target);
        add(&mut entries, &real, &target, file.mode)?;
    }
    Ok(entries)
}

fn add_parents(entries: &mut BTreeMap<String, Entry>, target: &str) {
    let mut parent = String::new();
    let parts: Vec<&str> = target.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if !parent.is_empty() {
            parent.push('/');
        }
        parent.push_str(part);
        entries
            .entry(parent.clone())
            .or_insert(Entry::Dir { mode: 0o755 });
    }
}

fn add(
    entries: &mut BTreeMap<String, Entry>,
    source: &Path,
    target: &str,
    mode: Option<u32>,
) -> Result<(), String> {
    let meta =
        std::fs::symlink_metadata(source).map_err(|e| format!("{}: {e}", source.display()))?;
    if meta.is_dir() {
        if !target.is_empty() {
            entries.insert(target.to_owned(), Entry::Dir { mode: 0o755 });
        }
        let mut children: Vec<_> = std::fs::read_dir(source)
            .map_err(|e| format!("{}: {e}", source.display()))?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let child_target = if target.is_empty() {
                name
            } else {
                format!("{target}/{name}")
            };
            add(entries, &child.path(), &child_target, mode)?;
        }
        Ok(())
    } else if meta.is_file() {
        let executable = meta.permissions().mode() & 0o111 != 0;
        let mode = mode.unwrap_or(if executable { 0o755 } else { 0o644 });
        entries.insert(
            target.to_owned(),
            Entry::File {
                source: source.to_owned(),
                mode,
            },
        );
        Ok(())
    } else {
        Err(format!(
            "image file {} is neither a regular file nor a directory",
            source.display()
        ))
    }
}

/// Write the layer for `entries` to `path` as gzipped tar, with every mtime `mtime`.
pub fn write(entries: &BTreeMap<String, Entry>, mtime: u64, path: &Path) -> io::Result<LayerBlob> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let compressed = Hashing::new(file);
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(compressed, flate2::Compression::new(6));
    let mut tar = tar::Builder::new(Hashing::new(gzip));
    for (name, entry) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        match entry {
            Entry::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                tar.append_data(&mut header, format!("{name}/"), io::empty())?;
            }
            Entry::File { source, mode } => {
                let mut input = File::open(source)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(input.metadata()?.len());
                tar.append_data(&mut header, name, &mut input)?;
            }
        }
    }
    let uncompressed = tar.into_inner()?;
    let diff_id = uncompressed.digest();
    let mut compressed = uncompressed.inner.finish()?;
    compressed.flush()?;
    let size = compressed.written;
    let digest = compressed.digest();
    compressed
        .inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(LayerBlob {
        digest,
        diff_id,
        size,
    })
}

/// A writer that hashes and counts what passes through it.
pub struct Hashing<W> {
    pub inner: W,
    hasher: Sha256,
    pub written: u64,
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
