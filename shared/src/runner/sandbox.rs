//! The sandbox a local build's steps run in: bubblewrap (`bwrap`), when this machine can make
//! one. A step's code may come from anyone who opens a pull request, so it gets its checkout
//! (writable), the rest of the filesystem read-only with the data directory hidden, private
//! `/tmp`, `/proc` and `/dev`, and its own user, PID, IPC and UTS namespaces: it sees no other
//! process, and whatever it starts dies with it. The network is shared (builds fetch
//! dependencies).
//!
//! [`bwrap_args`] and [`choose`] are pure; [`detect`] probes the machine once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `off` runs steps without a sandbox (developers); fork pull requests are then refused.
pub const SETTING: &str = "SLIPWAY_SANDBOX";

/// What a step may reach: `workdir` (its checkout) writable; `hidden` directories (the data
/// directory: the database, other runs, artifacts) replaced by empty ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    pub bwrap: PathBuf,
    pub hidden: Vec<PathBuf>,
}

/// Why steps run without a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsandboxed {
    /// `SLIPWAY_SANDBOX=off`.
    Disabled,
    /// No `bwrap`, or it cannot create namespaces here (the reason as bwrap said it).
    Unavailable(String),
}

/// How this machine runs steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// In bubblewrap, this binary.
    Bwrap(PathBuf),
    Off(Unsandboxed),
}

impl Sandbox {
    pub fn is_on(&self) -> bool {
        matches!(self, Sandbox::Bwrap(_))
    }
}

/// Toolchains commonly installed in a home directory (rustup, pipx, ...): shown to steps read-only
/// when the home directory itself is hidden. Credentials there (`~/.aws`, `~/.ssh`,
/// `~/.cargo/credentials.toml`, `~/.docker`) stay hidden.
pub const HOME_TOOLCHAINS: [&str; 3] = [".cargo/bin", ".rustup", ".local/bin"];

/// The `bwrap` options (up to and including `--`) that confine a step to `workdir`. Paths must
/// be absolute and free of symlinks; the order matters, as bwrap mounts in argument order:
/// `/tmp` and the hidden directories are emptied first, then the user's `home` is replaced by a
/// private, writable, empty one (with its toolchains shown read-only), then the checkout is
/// bound back.
pub fn bwrap_args(workdir: &Path, hidden: &[PathBuf], home: Option<&Path>) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        // Killed when the agent is (timeout, cancel), and no terminal to push input into.
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    .map(OsString::from)
    .into();
    for dir in hidden {
        args.push("--tmpfs".into());
        args.push(dir.into());
    }
    if let Some(home) = home.filter(|h| h.is_absolute() && *h != Path::new("/")) {
        args.push("--tmpfs".into());
        args.push(home.into());
        for tool in HOME_TOOLCHAINS {
            let path = home.join(tool);
            args.extend(["--ro-bind-try".into(), path.clone().into(), path.into()]);
        }
    }
    args.push("--bind".into());
    args.push(workdir.into());
    args.push(workdir.into());
    args.push("--chdir".into());
    args.push(workdir.into());
    args.push("--".into());
    args
}

/// The choice from the setting and, unless the setting is `off`, the probe's answer. Any value
/// but `off` asks for the sandbox, so a typo never turns it off.
pub fn choose(setting: Option<&str>, probe: impl FnOnce() -> Result<PathBuf, String>) -> Sandbox {
    if setting.is_some_and(|v| v.trim().eq_ignore_ascii_case("off")) {
        return Sandbox::Off(Unsandboxed::Disabled);
    }
    match probe() {
        Ok(bwrap) => Sandbox::Bwrap(bwrap),
        Err(reason) => Sandbox::Off(Unsandboxed::Unavailable(reason)),
    }
}

/// Decide once, at start: find `bwrap` on `PATH` and run `true` in the sandbox a step would get.
/// `setting` is [`SETTING`]'s value.
pub fn detect(setting: Option<&str>) -> Sandbox {
    choose(setting, probe)
}

fn probe() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let bwrap = std::env::split_paths(&path)
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| candidate.is_file())
        .ok_or("bwrap (the Debian package bubblewrap) is not installed")?;
    let dir = std::env::temp_dir()
        .canonicalize()
        .map_err(|e| format!("no temporary directory: {e}"))?;
    let out = Command::new(&bwrap)
        .args(bwrap_args(&dir, &[], None))
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{} cannot run: {e}", bwrap.display()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} failed: {}", bwrap.display(), said.trim()));
    }
    Ok(bwrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn steps_get_their_own_namespaces_a_read_only_root_and_private_tmp_proc_dev() {
        let args = bwrap_args(Path::new("/data/runs/r1/src"), &[], None);
        let args = strings(&args);
        for flag in [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
        ] {
            assert!(args.contains(&flag), "{flag} missing from {args:?}");
        }
        let joined = args.join(" ");
        assert!(joined.contains("--ro-bind / /"), "{joined}");
        assert!(
            joined.contains("--dev /dev --proc /proc --tmpfs /tmp"),
            "{joined}"
        );
        assert!(!args.contains(&"--unshare-net"), "builds keep the network");
        assert!(!args.contains(&"--bind-try") && !args.contains(&"--dev-bind"));
    }

    #[test]
    fn hidden_directories_are_emptied_before_the_checkout_is_bound_back_writable() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[],
                "--tmpfs /tmp --bind /d/runs/r1/src /d/runs/r1/src --chdir /d/runs/r1/src --",
            ),
            (
                &["/d"],
                "--tmpfs /tmp --tmpfs /d --bind /d/runs/r1/src /d/runs/r1/src --chdir /d/runs/r1/src --",
            ),
            (
                &["/d", "/elsewhere/cache"],
                "--tmpfs /tmp --tmpfs /d --tmpfs /elsewhere/cache --bind /d/runs/r1/src \
                 /d/runs/r1/src --chdir /d/runs/r1/src --",
            ),
        ];
        for (hidden, tail) in cases {
            let hidden: Vec<PathBuf> = hidden.iter().map(PathBuf::from).collect();
            let args = bwrap_args(Path::new("/d/runs/r1/src"), &hidden, None);
            let joined = strings(&args).join(" ");
            assert!(joined.ends_with(tail), "hidden {hidden:?}: {joined}");
            // The root is read-only before anything is made writable, and only the checkout is.
            let binds: Vec<_> = args.iter().filter(|a| *a == "--bind").collect();
            assert_eq!(binds.len(), 1, "{joined}");
            assert!(joined.find("--ro-bind").unwrap() < joined.find("--bind /d").unwrap());
        }
    }

    #[test]
    fn the_home_directory_is_private_and_writable_with_its_toolchains_read_only() {
        let args = bwrap_args(
            Path::new("/d/runs/r1/src"),
            &[],
            Some(Path::new("/home/bot")),
        );
        let joined = strings(&args).join(" ");
        assert!(
            joined.contains(
                "--tmpfs /home/bot --ro-bind-try /home/bot/.cargo/bin /home/bot/.cargo/bin \
                 --ro-bind-try /home/bot/.rustup /home/bot/.rustup --ro-bind-try \
                 /home/bot/.local/bin /home/bot/.local/bin --bind /d/runs/r1/src"
            ),
            "{joined}"
        );
        for root in [Some(Path::new("/")), Some(Path::new("relative")), None] {
            let joined = strings(&bwrap_args(Path::new("/d/src"), &[], root)).join(" ");
            assert!(!joined.contains("--ro-bind-try"), "{root:?}: {joined}");
        }
    }

    #[test]
    fn only_off_turns_the_sandbox_off_and_a_failed_probe_says_why() {
        let works = || Ok(PathBuf::from("/usr/bin/bwrap"));
        let fails = || Err("bwrap: No permissions to create new namespace".to_owned());
        let bwrap = Sandbox::Bwrap("/usr/bin/bwrap".into());
        let cases = [
            (None, true, bwrap.clone()),
            (Some(""), true, bwrap.clone()),
            (Some("on"), true, bwrap.clone()),
            (Some("of"), true, bwrap.clone()),
            (Some("off"), true, Sandbox::Off(Unsandboxed::Disabled)),
            (Some(" OFF "), true, Sandbox::Off(Unsandboxed::Disabled)),
            (Some("off"), false, Sandbox::Off(Unsandboxed::Disabled)),
            (
                None,
                false,
                Sandbox::Off(Unsandboxed::Unavailable(
                    "bwrap: No permissions to create new namespace".into(),
                )),
            ),
        ];
        for (setting, probe_works, expected) in cases {
            let got = if probe_works {
                choose(setting, works)
            } else {
                choose(setting, fails)
            };
            assert_eq!(
                got, expected,
                "setting {setting:?}, probe works: {probe_works}"
            );
            assert_eq!(got.is_on(), matches!(expected, Sandbox::Bwrap(_)));
        }
    }
}
