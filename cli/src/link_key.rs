//! The key that signs `slipway serve`'s links: `SLIPWAY_LINK_KEY`, else one generated once in
//! the data directory, which build steps cannot read (the build sandbox hides it).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use slipway::links::{LinkKey, MIN_KEY_BYTES};
use slipway::wire::settings::{self, Env};

/// Where the generated key lives.
pub fn file(data_dir: &Path) -> PathBuf {
    slipway::wire::local::link_key_file(data_dir)
}

/// The setting when given, else the key in `file`, made (32 random bytes, mode 0600) if missing.
pub fn load(env: &Env, file: &Path) -> anyhow::Result<LinkKey> {
    if let Some(key) = settings::link_key(env)? {
        return Ok(key);
    }
    if !file.exists() {
        create(file)?;
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    LinkKey::new(bytes).with_context(|| format!("{} is not a usable link key", file.display()))
}

/// Written aside, then hard-linked into place: a reader never sees a half-written key, and of
/// two processes starting at once the first link wins and both read its key.
fn create(file: &Path) -> anyhow::Result<()> {
    let mut key = [0u8; MIN_KEY_BYTES];
    getrandom::getrandom(&mut key)
        .map_err(|e| anyhow::anyhow!("no randomness for a link key: {e}"))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension(format!("{}.partial", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    out.write_all(&key)?;
    out.sync_all()?;
    let linked = std::fs::hard_link(&partial, file);
    std::fs::remove_file(&partial)?;
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(e).with_context(|| format!("cannot create {}", file.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn generated_once_private_and_reused_unless_the_setting_is_given() {
        let tmp = tempfile::tempdir().unwrap();
        let path = file(&tmp.path().join("data"));
        let first = load(&Env::default(), &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap().len(), MIN_KEY_BYTES);
        let signed = first.sign("/runs/x", 10);
        let again = load(&Env::default(), &path).unwrap();
        assert_eq!(again.verify("/runs/x", Some(&signed), 1), Ok(()));
        let set = "k".repeat(MIN_KEY_BYTES);
        let env = Env::from_pairs([(settings::LINK_KEY, set.as_str())]);
        let from_setting = load(&env, &path).unwrap();
        assert!(from_setting.verify("/runs/x", Some(&signed), 1).is_err());
        std::fs::write(&path, "short").unwrap();
        assert!(load(&Env::default(), &path).is_err());
    }
}
