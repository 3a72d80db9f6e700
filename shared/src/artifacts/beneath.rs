//! Opening a file a build may have tampered with: only a regular file, only under the root, and
//! never through a symbolic link.
//!
//! Builds write into the artifact directory, so anything in it may be a link planted to `/`, the
//! database, or `/proc/self/environ`. Checking a path and then opening it races with a build
//! swapping a component; instead each directory is opened relative to the previous one with
//! `O_NOFOLLOW` (`openat`), and the file's type is checked on the opened descriptor (`fstat`).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

/// The regular file at `relative` under `root`. `relative` must be plain names (no `..`, no
/// root); no component — `root`'s last one included — may be a symbolic link, and the file must
/// have a single link (a hard link to the database would otherwise pass as a regular file).
/// Every refusal is `NotFound`, so callers cannot tell a refused file from a missing one.
pub fn open_regular(root: &Path, relative: &Path) -> io::Result<File> {
    let names = relative
        .components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(not_found()),
        })
        .collect::<io::Result<Vec<_>>>()?;
    let (file_name, dirs) = names.split_last().ok_or_else(not_found)?;
    let mut dir = open_at(libc::AT_FDCWD, root.as_os_str(), libc::O_DIRECTORY)?;
    for name in dirs {
        dir = open_at(dir.as_raw_fd(), name, libc::O_DIRECTORY)?;
    }
    // O_NONBLOCK: a FIFO planted in place of the file must not hang the open.
    let file = File::from(open_at(dir.as_raw_fd(), file_name, libc::O_NONBLOCK)?);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.nlink() != 1 {
        return Err(not_found());
    }
    Ok(file)
}

fn open_at(dir: RawFd, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = CString::new(name.as_bytes()).map_err(|_| not_found())?;
    let flags = flags | libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is a valid C string for the call; `dir` is AT_FDCWD or a descriptor the
    // caller holds open.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if fd < 0 {
        // ELOOP (a link met with O_NOFOLLOW), ENOTDIR, EACCES...: all just "not there".
        return Err(not_found());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn only_regular_single_link_files_under_the_root_open() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("slipway.db");
        std::fs::write(&secret, "db").unwrap();
        let root = tmp.path().join("artifacts");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/ok.txt"), "ok").unwrap();
        symlink("/", root.join("pwn")).unwrap();
        symlink(&secret, root.join("a/db")).unwrap();
        symlink(root.join("a"), root.join("dirlink")).unwrap();
        std::fs::hard_link(&secret, root.join("a/hard")).unwrap();
        let fifo = CString::new(root.join("a/fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let outside = tmp.path().join("root-link");
        symlink(&root, &outside).unwrap();

        let mut text = String::new();
        open_regular(&root, Path::new("a/b/ok.txt"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "ok");

        let refused = [
            (root.as_path(), "pwn/etc/passwd"),
            (root.as_path(), "pwn/proc/self/environ"),
            (root.as_path(), "a/db"),
            (root.as_path(), "dirlink/b/ok.txt"),
            (root.as_path(), "a/hard"),
            (root.as_path(), "a/fifo"),
            (root.as_path(), "a/b"),
            (root.as_path(), "a/../../slipway.db"),
            (root.as_path(), "/etc/passwd"),
            (root.as_path(), ""),
            (root.as_path(), "missing"),
            (outside.as_path(), "a/b/ok.txt"),
        ];
        for (root, key) in refused {
            let err = open_regular(root, Path::new(key)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{key}");
        }
    }
}
