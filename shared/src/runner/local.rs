//! The local runner: each build is a `slipway agent` child process in its own directory under
//! the data directory (`<run>/src` the checkout, `<run>/out` the log and result). When it ends,
//! a [`Completion`] goes to whoever reports builds (the serve loop, or a test).
//!
//! The agent starts from an empty environment plus [`LocalRunner::agent_env`]: it never holds the bot's
//! webhook secrets or forge credentials, so no step can read them from its parent. Its steps run
//! in the [`sandbox`](super::sandbox) when this machine has one, with the data directory hidden.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::agent::kill_group;

use super::procs;
use super::sandbox::Sandbox;
use super::{Runner, RunnerError};
use crate::forge::Forge;
use crate::model::event::Repo;
use crate::model::event::RunId;
use crate::model::job::BuildJob;
use crate::model::run::Run;

/// How long past its own timeout an agent may run before it is killed outright.
const OVERRUN_GRACE: Duration = Duration::from_secs(60);
/// How long a cancelled agent gets to stop its step and write its result.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// The file in a run's directory naming who runs it: the runner's and the agent's pid and start
/// time, so a later `serve` or `slipway run` can tell a build whose runner died from another's.
const OWNER_FILE: &str = "owner";

/// What a restart found of a build a runner started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// Its runner (another `serve` or `slipway run` on this data directory) is alive: not ours.
    Owned,
    /// Its runner died; this many of its processes were still running and are now killed.
    Reaped(usize),
}

/// A local build ended (however it ended); its output is in `out_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub run_id: RunId,
    pub out_dir: PathBuf,
}

pub struct LocalRunner {
    agent: PathBuf,
    /// Extra `slipway agent` arguments (where artifacts go).
    pub agent_args: Vec<String>,
    workspace: PathBuf,
    /// Directories steps must not see; the workspace (every run) always, and whoever builds
    /// the runner adds the data directory (the database, artifacts, images).
    pub hidden: Vec<PathBuf>,
    /// The agent's whole environment (the wiring chooses it; nothing is inherited).
    pub agent_env: Vec<(String, String)>,
    sandbox: Sandbox,
    completions: mpsc::UnboundedSender<Completion>,
    running: Arc<Mutex<HashMap<RunId, u32>>>,
}

impl LocalRunner {
    /// `agent` is the `slipway` binary; builds live under `workspace`; steps run in `sandbox`.
    pub fn new(
        agent: PathBuf,
        workspace: PathBuf,
        sandbox: Sandbox,
    ) -> (Self, mpsc::UnboundedReceiver<Completion>) {
        let (completions, receiver) = mpsc::unbounded_channel();
        let runner = LocalRunner {
            agent,
            agent_args: Vec::new(),
            hidden: vec![workspace.clone()],
            workspace,
            agent_env: Vec::new(),
            sandbox,
            completions,
            running: Arc::default(),
        };
        (runner, receiver)
    }

    /// The builds this runner started that are still going.
    pub fn running(&self) -> Vec<RunId> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.workspace.join(&id.0)
    }

    /// Where a build's agent writes its log and result.
    pub fn out_dir(&self, id: &RunId) -> PathBuf {
        self.run_dir(id).join("out")
    }

    /// Stop what is left of a build this runner did not start (its runner died: `kill -9`, a
    /// crash, a reboot), unless the runner that started it is still alive.
    pub fn reap(&self, id: &RunId) -> Leftover {
        let owner = std::fs::read_to_string(self.run_dir(id).join(OWNER_FILE)).unwrap_or_default();
        let Some([runner, runner_started, agent, agent_started]) = parse_owner(&owner) else {
            return Leftover::Reaped(0); // it never got as far as starting an agent
        };
        if self.owned_elsewhere(runner, runner_started) {
            return Leftover::Owned;
        }
        Leftover::Reaped(procs::kill_session(agent as i32, agent_started))
    }

    /// Whether the runner named `(pid, started)` is alive and is not this process.
    fn owned_elsewhere(&self, pid: u64, started: u64) -> bool {
        let me = std::process::id() as i32;
        let this = procs::stat(me).map(|s| s.started);
        let is_me = pid as i32 == me && this == Some(started);
        !is_me && procs::is_alive(pid as i32, started)
    }

    /// Remove the directories of builds that ended more than `keep` ago (by their last
    /// change); a running build's never. How many were removed.
    pub fn prune(&self, keep: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.workspace) else {
            return 0;
        };
        let running = self.running();
        let mut removed = 0;
        for entry in entries.flatten() {
            let id = RunId(entry.file_name().to_string_lossy().into_owned());
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|changed| changed.elapsed().is_ok_and(|age| age > keep));
            // Pruning never kills: a directory another live runner owns is left alone.
            let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE)).unwrap_or_default();
            let owned = parse_owner(&owner)
                .is_some_and(|[runner, started, ..]| self.owned_elsewhere(runner, started));
            if old && !running.contains(&id) && !owned {
                removed += usize::from(std::fs::remove_dir_all(entry.path()).is_ok());
            }
        }
        removed
    }

    /// How steps run here, for `serve` to say so at start.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The agent's arguments that confine its steps: the sandbox and the hidden directories,
    /// as bwrap needs them (absolute, symlinks resolved).
    fn sandbox_args(&self) -> std::io::Result<Vec<OsString>> {
        let Sandbox::Bwrap(bwrap) = &self.sandbox else {
            return Ok(Vec::new());
        };
        let mut args = vec![OsString::from("--sandbox"), bwrap.into()];
        for dir in &self.hidden {
            std::fs::create_dir_all(dir)?;
            args.push("--hide".into());
            args.push(dir.canonicalize()?.into());
        }
        Ok(args)
    }
}

fn write_owner(dir: &Path, agent: u32) -> std::io::Result<()> {
    let started = |pid: u32| procs::stat(pid as i32).map_or(0, |s| s.started);
    let runner = std::process::id();
    let line = format!("{runner} {} {agent} {}\n", started(runner), started(agent));
    std::fs::write(dir.join(OWNER_FILE), line)
}

fn parse_owner(text: &str) -> Option<[u64; 4]> {
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    numbers.try_into().ok()
}

fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill only sends a signal; a process that already ended yields ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

#[async_trait]
impl Runner for LocalRunner {
    async fn start(
        &self,
        job: &BuildJob,
        forge: &dyn Forge,
        repo: &Repo,
    ) -> Result<String, RunnerError> {
        let dir = self.run_dir(&job.run_id);
        if dir.exists() {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        let (src, out) = (dir.join("src"), self.out_dir(&job.run_id));
        tokio::fs::create_dir_all(&out).await?;
        forge.download_source(repo, &job.sha, &src).await?;
        let job_file = dir.join("job.json");
        tokio::fs::write(&job_file, serde_json::to_vec_pretty(job)?).await?;
        let agent_log = std::fs::File::create(dir.join("agent.log"))?;
        let mut command = tokio::process::Command::new(&self.agent);
        command
            .env_clear()
            .envs(self.agent_env.iter().cloned())
            .arg("agent")
            .arg("--job")
            .arg(&job_file)
            .arg("--workdir")
            .arg(&src)
            .arg("--out")
            .arg(&out)
            .args(&self.agent_args)
            .args(self.sandbox_args()?)
            .stdin(Stdio::null())
            .stdout(Stdio::from(agent_log.try_clone()?))
            .stderr(Stdio::from(agent_log));
        // SAFETY: between fork and exec only async-signal-safe calls: setsid and prctl.
        unsafe {
            command.pre_exec(|| {
                // Its own session: everything the build starts can be found and killed by it,
                // after a restart too. And it dies with the runner rather than run on unowned.
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| RunnerError::Invalid("the agent exited at once".into()))?;
        if let Err(error) = write_owner(&dir, pid) {
            // Unowned, it could not be found after a restart: stop it rather than run blind.
            kill_group(Some(pid));
            return Err(error.into());
        }
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.run_id.clone(), pid);

        let limit = Duration::from_secs(job.timeout_secs) + OVERRUN_GRACE;
        let (running, completions) = (Arc::clone(&self.running), self.completions.clone());
        let completion = Completion {
            run_id: job.run_id.clone(),
            out_dir: out,
        };
        tokio::spawn(async move {
            if tokio::time::timeout(limit, child.wait()).await.is_err() {
                tracing::warn!(run = %completion.run_id, "the agent overran its timeout; killing it");
                kill_group(Some(pid));
                let _ = child.wait().await;
            }
            // Sent before it leaves `running`, so a caller that sees nothing running has
            // every completion waiting in its channel.
            let id = completion.run_id.clone();
            let _ = completions.send(completion);
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
        Ok(format!("local:{pid}"))
    }

    async fn cancel(&self, run: &Run) -> Result<(), RunnerError> {
        let pid = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&run.id)
            .copied();
        let Some(pid) = pid else {
            return Ok(()); // already ended
        };
        signal(pid, libc::SIGTERM);
        let running = Arc::clone(&self.running);
        let id = run.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CANCEL_GRACE).await;
            let still = running.lock().unwrap_or_else(|p| p.into_inner()).get(&id) == Some(&pid);
            if still {
                kill_group(Some(pid));
            }
        });
        Ok(())
    }

    fn sandboxed(&self) -> bool {
        self.sandbox.is_on()
    }
}

/// The run directory's output, for reporting: the result, and the log's tail.
pub fn read_output(out_dir: &Path) -> (Option<crate::model::job::BuildResult>, Option<String>) {
    let result = std::fs::read(out_dir.join(crate::model::job::RESULT_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let tail = super::agent::log_tail(&out_dir.join(crate::model::job::LOG_FILE), 40, 64 * 1024);
    (result, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(dir: &Path, by: Duration) {
        let when = std::time::SystemTime::now() - by;
        std::fs::File::open(dir)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn old_build_directories_go_unless_a_live_runner_owns_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (runner, _completions) = LocalRunner::new(
            "/nonexistent/slipway".into(),
            tmp.path().to_path_buf(),
            Sandbox::Off(crate::runner::sandbox::Unsandboxed::Disabled),
        );
        let week = Duration::from_secs(7 * 86_400);
        let [old, fresh, owned] = ["old", "fresh", "owned"].map(|id| {
            let dir = runner.run_dir(&RunId(id.into()));
            std::fs::create_dir_all(dir.join("out")).unwrap();
            dir
        });
        // Owned by a live process that is not this one: init, as it is now.
        let init = procs::stat(1).unwrap();
        std::fs::write(
            owned.join(OWNER_FILE),
            format!("1 {} 1 {}\n", init.started, init.started),
        )
        .unwrap();
        age(&old, week * 2);
        age(&owned, week * 2);
        age(&fresh, Duration::from_secs(60));

        assert_eq!(runner.prune(week), 1);
        assert!(!old.exists());
        assert!(fresh.exists() && owned.exists());
        assert_eq!(runner.reap(&RunId("owned".into())), Leftover::Owned);
        assert_eq!(runner.reap(&RunId("fresh".into())), Leftover::Reaped(0));
    }

    #[test]
    fn owner_files_hold_four_numbers() {
        assert_eq!(parse_owner("1 2 3 4\n"), Some([1, 2, 3, 4]));
        for bad in ["", "1 2 3", "1 2 3 4 5", "1 2 x 4"] {
            assert_eq!(parse_owner(bad), None, "{bad:?}");
        }
    }
}
