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

use super::sandbox::Sandbox;
use super::Runner;
use crate::forge::Forge;
use crate::model::event::Repo;
use crate::model::event::RunId;
use crate::model::job::BuildJob;
use crate::model::run::Run;
use crate::BoxError;

/// How long past its own timeout an agent may run before it is killed outright.
const OVERRUN_GRACE: Duration = Duration::from_secs(60);
/// How long a cancelled agent gets to stop its step and write its result.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

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
    ) -> Result<String, BoxError> {
        let dir = self.run_dir(&job.run_id);
        if dir.exists() {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        let (src, out) = (dir.join("src"), dir.join("out"));
        tokio::fs::create_dir_all(&out).await?;
        forge.download_source(repo, &job.sha, &src).await?;
        let job_file = dir.join("job.json");
        tokio::fs::write(&job_file, serde_json::to_vec_pretty(job)?).await?;
        let agent_log = std::fs::File::create(dir.join("agent.log"))?;
        let mut child = tokio::process::Command::new(&self.agent)
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
            .stderr(Stdio::from(agent_log))
            .process_group(0)
            .spawn()?;
        let pid = child.id().ok_or("the agent exited at once")?;
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

    async fn cancel(&self, run: &Run) -> Result<(), BoxError> {
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
