//! The local runner: each build is a `slipway agent` child process in its own directory under
//! the data directory (`<run>/src` the checkout, `<run>/out` the log and result). When it ends,
//! a [`Completion`] goes to whoever reports builds (the serve loop, or a test).
//!
//! The agent starts from an empty environment plus [`agent_env`]: it never holds the bot's
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

use super::sandbox::{self, Sandbox};
use super::{Runner, RunnerError};
use crate::forge::Forge;
use crate::model::event::Repo;
use crate::model::event::RunId;
use crate::model::job::BuildJob;
use crate::model::run::Run;
use crate::wire::settings::{self, Env};

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
    sandbox: Sandbox,
    completions: mpsc::UnboundedSender<Completion>,
    running: Arc<Mutex<HashMap<RunId, u32>>>,
}

impl LocalRunner {
    /// `agent` is the `slipway` binary; builds live under `workspace`. Probes for the sandbox
    /// (`SLIPWAY_SANDBOX=off` skips it).
    pub fn new(agent: PathBuf, workspace: PathBuf) -> (Self, mpsc::UnboundedReceiver<Completion>) {
        let (completions, receiver) = mpsc::unbounded_channel();
        let runner = LocalRunner {
            agent,
            agent_args: Vec::new(),
            hidden: vec![workspace.clone()],
            workspace,
            sandbox: sandbox::detect(&Env::from_process()),
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

/// Settings the agent itself reads to store what a build makes (an S3 bucket, a registry and
/// its credentials); webhook secrets and forge credentials are not among them.
const AGENT_SETTINGS: [&str; 7] = [
    settings::BUCKET,
    settings::S3_ENDPOINT,
    settings::REGISTRY,
    settings::REGISTRY_USERNAME,
    settings::REGISTRY_PASSWORD,
    settings::REGISTRY_AUTH,
    settings::ECR_CREATE_REPOSITORIES,
];

/// The agent's whole environment, chosen from `vars` (the bot's): what every program needs,
/// the output settings, TLS trust for reaching them, and the AWS SDK's variables only when a
/// bucket or registry needs them. The agent hands none of the settings to steps.
pub fn agent_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let wants_aws = vars
        .iter()
        .any(|(k, v)| (k == settings::BUCKET || k == settings::REGISTRY) && !v.trim().is_empty());
    let basics = [
        "PATH",
        "HOME",
        "LANG",
        "SOURCE_DATE_EPOCH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ];
    vars.into_iter()
        .filter(|(k, _)| {
            basics.contains(&k.as_str())
                || AGENT_SETTINGS.contains(&k.as_str())
                || (wants_aws && k.starts_with("AWS_"))
        })
        .collect()
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
        let (src, out) = (dir.join("src"), dir.join("out"));
        tokio::fs::create_dir_all(&out).await?;
        forge.download_source(repo, &job.sha, &src).await?;
        let job_file = dir.join("job.json");
        tokio::fs::write(&job_file, serde_json::to_vec_pretty(job)?).await?;
        let agent_log = std::fs::File::create(dir.join("agent.log"))?;
        let mut child = tokio::process::Command::new(&self.agent)
            .env_clear()
            .envs(agent_env(std::env::vars()))
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
        let pid = child
            .id()
            .ok_or_else(|| RunnerError::Invalid("the agent exited at once".into()))?;
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

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_agent_gets_basics_and_output_settings_never_the_bots_secrets() {
        let bot = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/bot"),
            ("LANG", "C.UTF-8"),
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", "s1"),
            ("SLIPWAY_GITLAB_WEBHOOK_TOKEN", "s2"),
            ("SLIPWAY_GITLAB_SIGNING_TOKEN", "s3"),
            ("SLIPWAY_GITHUB_TOKEN", "s4"),
            ("SLIPWAY_GITHUB_PRIVATE_KEY", "s5"),
            ("SLIPWAY_GITLAB_TOKEN", "s6"),
            ("SLIPWAY_REGISTRY_PASSWORD_ARN", "arn"),
            ("DATABASE_URL", "postgres://secret"),
            ("SSH_AUTH_SOCK", "/tmp/agent.sock"),
            ("USER", "bot"),
            ("TMPDIR", "/var/tmp"),
        ];
        // (what else the bot has, what the agent gets)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &["PATH", "HOME", "LANG"]),
            // AWS variables only when something the agent stores to needs them.
            (&[("AWS_SECRET_ACCESS_KEY", "k")], &["PATH", "HOME", "LANG"]),
            (
                &[("SLIPWAY_BUCKET", "b"), ("AWS_SECRET_ACCESS_KEY", "k")],
                &[
                    "PATH",
                    "HOME",
                    "LANG",
                    "SLIPWAY_BUCKET",
                    "AWS_SECRET_ACCESS_KEY",
                ],
            ),
            (
                &[
                    ("SLIPWAY_REGISTRY", "http://127.0.0.1:5000"),
                    ("SLIPWAY_REGISTRY_USERNAME", "u"),
                    ("SLIPWAY_REGISTRY_PASSWORD", "p"),
                    ("AWS_REGION", "eu-west-1"),
                ],
                &[
                    "PATH",
                    "HOME",
                    "LANG",
                    "SLIPWAY_REGISTRY",
                    "SLIPWAY_REGISTRY_USERNAME",
                    "SLIPWAY_REGISTRY_PASSWORD",
                    "AWS_REGION",
                ],
            ),
            (
                &[("SLIPWAY_BUCKET", " "), ("AWS_SECRET_ACCESS_KEY", "k")],
                &["PATH", "HOME", "LANG", "SLIPWAY_BUCKET"],
            ),
        ];
        for (extra, expected) in cases {
            let mut all = vars(&bot);
            all.extend(vars(extra));
            let got: Vec<String> = agent_env(all).into_iter().map(|(k, _)| k).collect();
            assert_eq!(&got, expected, "with {extra:?}");
        }
    }
}
