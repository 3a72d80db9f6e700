//! `slipway agent`: what runs inside a build (CodeBuild or the local runner).
//!
//! Runs the steps in order in the checkout, in a clean environment plus the job's variables,
//! appending every step's output to one log file; stops at the first failing step; honours the
//! timeout and a cancellation; writes `result.json` beside the log. Given a [`Confinement`],
//! each step runs in the bubblewrap sandbox ([`super::sandbox`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::artifacts::{self, ArtifactStore};

use crate::model::artifact::MAX_LINK_LIFETIME;
use crate::model::image::{ImageSpec, PublishedImage};
use crate::model::job::BuildJob;
use crate::model::job::BuildResult;
use crate::model::job::PublishedArtifact;
use crate::model::job::StepResult;
use crate::model::job::StepStatus;
use crate::model::job::LOG_FILE;
use crate::model::job::RESULT_FILE;
use crate::model::status::RunStatus;
use crate::runner::sandbox::{self, Confinement};

/// Where a build's outputs go.
#[derive(Default, Clone, Copy)]
pub struct Outputs<'a> {
    pub artifacts: Option<&'a dyn ArtifactStore>,
    #[cfg(feature = "image")]
    pub images: Option<&'a crate::image::ImageTarget>,
}

/// Variables every step sees, on top of the job's own.
fn base_env(job: &BuildJob) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let inherited = ["PATH", "HOME", "LANG", "TMPDIR", "USER"];
    for name in inherited {
        if let Ok(value) = std::env::var(name) {
            env.insert(name.to_owned(), value);
        }
    }
    env.entry("PATH".into())
        .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
    env.extend(job.env.clone());
    env.insert("CI".into(), "true".into());
    env.insert("SLIPWAY".into(), "true".into());
    env.insert("SLIPWAY_SHA".into(), job.sha.to_string());
    env.insert("SLIPWAY_REF".into(), job.git_ref.clone());
    env.insert("SLIPWAY_RUN_ID".into(), job.run_id.0.clone());
    if let Some(pr) = job.pr {
        env.insert("SLIPWAY_PR".into(), pr.to_string());
    }
    env
}

/// `sh -c <script>` in `workdir`, inside the sandbox when there is one.
fn step_command(
    script: &str,
    workdir: &Path,
    confinement: Option<&Confinement>,
) -> tokio::process::Command {
    let mut command = match confinement {
        Some(c) => {
            // The home directory holds credentials (~/.aws, ~/.ssh): steps get a private one.
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            let mut bwrap = tokio::process::Command::new(&c.bwrap);
            bwrap
                .args(sandbox::bwrap_args(workdir, &c.hidden, home.as_deref()))
                .arg("sh");
            bwrap
        }
        None => tokio::process::Command::new("sh"),
    };
    command.arg("-c").arg(script).current_dir(workdir);
    command
}

/// Run the job in `workdir`, writing the log and the result into `out`; steps run confined when
/// `confinement` is given. `cancelled` resolves when the build should stop (the runner's cancel).
pub async fn run(
    job: &BuildJob,
    workdir: &Path,
    out: &Path,
    outputs: Outputs<'_>,
    confinement: Option<&Confinement>,
    cancelled: impl Future<Output = ()>,
) -> std::io::Result<BuildResult> {
    // bwrap mounts by path: the checkout's own, symlinks resolved.
    let step_dir = match confinement {
        Some(_) => workdir.canonicalize()?,
        None => workdir.to_path_buf(),
    };
    tokio::fs::create_dir_all(out).await?;
    let log_path = out.join(LOG_FILE);
    // Append mode for us and for every step, so each write lands at the current end.
    tokio::fs::File::create(&log_path).await?;
    let mut log = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&log_path)
        .await?;
    let env = base_env(job);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(job.timeout_secs);
    tokio::pin!(cancelled);

    let mut steps = Vec::new();
    let mut outcome = RunStatus::Succeeded;
    for (i, step) in job.steps.iter().enumerate() {
        if outcome != RunStatus::Succeeded {
            steps.push(StepResult {
                name: step.name.clone(),
                status: StepStatus::Skipped,
                exit_code: None,
                duration_ms: 0,
            });
            continue;
        }
        let header = format!(
            "==> [{}/{}] {}\n$ {}\n",
            i + 1,
            job.steps.len(),
            step.name,
            step.run
        );
        log.write_all(header.as_bytes()).await?;
        log.flush().await?;
        let step_started = Instant::now();
        let output = std::fs::OpenOptions::new().append(true).open(&log_path)?;
        let mut command = step_command(&step.run, &step_dir, confinement);
        command
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(output.try_clone()?))
            .stderr(Stdio::from(output))
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: between fork and exec only prctl, which is async-signal-safe.
        unsafe {
            // A step dies with the agent (killed itself when its runner died); what the step
            // started in turn is found by the agent's session after a restart.
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id();
        let (status, exit_code) = tokio::select! {
            exit = child.wait() => {
                let exit = exit?;
                let status = if exit.success() { StepStatus::Passed } else { StepStatus::Failed };
                (status, exit.code())
            }
            _ = tokio::time::sleep_until(deadline) => {
                kill_group(pid);
                let _ = child.wait().await;
                (StepStatus::TimedOut, None)
            }
            _ = &mut cancelled => {
                kill_group(pid);
                let _ = child.wait().await;
                (StepStatus::Cancelled, None)
            }
        };
        let duration_ms = step_started.elapsed().as_millis() as u64;
        let footer = match status {
            StepStatus::Passed => format!("<== passed in {:.1}s\n", duration_ms as f64 / 1000.0),
            StepStatus::Failed => format!(
                "<== failed with exit code {} after {:.1}s\n",
                exit_code.unwrap_or(-1),
                duration_ms as f64 / 1000.0
            ),
            StepStatus::TimedOut => format!(
                "<== stopped: the build's {}s timeout passed\n",
                job.timeout_secs
            ),
            StepStatus::Cancelled => "<== stopped: the build was cancelled\n".to_owned(),
            StepStatus::Skipped => String::new(),
        };
        log.write_all(footer.as_bytes()).await?;
        outcome = match status {
            StepStatus::Passed => RunStatus::Succeeded,
            StepStatus::Failed | StepStatus::Skipped => RunStatus::Failed,
            StepStatus::TimedOut => RunStatus::TimedOut,
            StepStatus::Cancelled => RunStatus::Cancelled,
        };
        steps.push(StepResult {
            name: step.name.clone(),
            status,
            exit_code,
            duration_ms,
        });
    }
    let mut image = None;
    if let (RunStatus::Succeeded, Some(spec)) = (outcome, &job.image) {
        let step_started = Instant::now();
        log.write_all(format!("==> image {}\n", spec.repository).as_bytes())
            .await?;
        let status = match build_image(job, spec, workdir, out, outputs).await {
            Ok((pushed, line)) => {
                log.write_all(line.as_bytes()).await?;
                image = Some(pushed);
                StepStatus::Passed
            }
            Err(reason) => {
                log.write_all(format!("<== failed: {reason}\n").as_bytes())
                    .await?;
                outcome = RunStatus::Failed;
                StepStatus::Failed
            }
        };
        steps.push(StepResult {
            name: "build image".into(),
            status,
            exit_code: None,
            duration_ms: step_started.elapsed().as_millis() as u64,
        });
    }
    let mut published = Vec::new();
    if outcome == RunStatus::Succeeded && !job.artifacts.is_empty() {
        let step_started = Instant::now();
        let stored = match outputs.artifacts {
            Some(store) => publish(job, workdir, store, image.as_ref()).await,
            None => Err("no artifact store is configured for this runner".to_owned()),
        };
        let status = match stored {
            Ok(files) => {
                let lines: String = files
                    .iter()
                    .map(|a| {
                        format!(
                            "    {} ({} bytes, sha256 {})\n",
                            a.file.path, a.file.size, a.file.sha256
                        )
                    })
                    .collect();
                log.write_all(
                    format!("==> artifacts\n{lines}<== stored {} file(s)\n", files.len())
                        .as_bytes(),
                )
                .await?;
                published = files;
                StepStatus::Passed
            }
            Err(reason) => {
                log.write_all(format!("==> artifacts\n<== failed: {reason}\n").as_bytes())
                    .await?;
                outcome = RunStatus::Failed;
                StepStatus::Failed
            }
        };
        steps.push(StepResult {
            name: "store artifacts".into(),
            status,
            exit_code: None,
            duration_ms: step_started.elapsed().as_millis() as u64,
        });
    }
    log.flush().await?;
    let result = BuildResult {
        run_id: job.run_id.clone(),
        status: outcome,
        steps,
        duration_ms: started.elapsed().as_millis() as u64,
        artifacts: published,
        image,
    };
    let json = serde_json::to_vec_pretty(&result).map_err(std::io::Error::other)?;
    tokio::fs::write(out.join(RESULT_FILE), &json).await?;
    // Beside the artifacts too, where a runner that keeps no files (CodeBuild) lets report find
    // them. Best effort: the runner's own status still ends the check if this fails.
    if let (Some(store), false) = (outputs.artifacts, job.artifact_prefix.is_empty()) {
        let prefix = &job.artifact_prefix;
        let log_key = format!("{prefix}{LOG_FILE}");
        if let Err(e) = store
            .put_file(&log_key, &log_path, "text/plain; charset=utf-8")
            .await
        {
            eprintln!("slipway agent: storing the log failed: {e}");
        }
        let result_key = format!("{prefix}{RESULT_FILE}");
        if let Err(e) = store.put_bytes(&result_key, json, "application/json").await {
            eprintln!("slipway agent: storing the result failed: {e}");
        }
    }
    Ok(result)
}

async fn publish(
    job: &BuildJob,
    workdir: &Path,
    store: &dyn ArtifactStore,
    image: Option<&PublishedImage>,
) -> Result<Vec<PublishedArtifact>, String> {
    let manifest = artifacts::upload(
        store,
        &job.artifact_prefix,
        workdir,
        &job.artifacts,
        &job.run_id,
        &job.sha,
        image,
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut published = Vec::new();
    for file in manifest.files {
        let link = store.link(&file.key, MAX_LINK_LIFETIME).await.ok();
        published.push(PublishedArtifact { file, link });
    }
    Ok(published)
}

/// Assemble the image in a layout under `out` and push it with its tags; returns it and a
/// log line.
#[cfg(feature = "image")]
async fn build_image(
    job: &BuildJob,
    spec: &ImageSpec,
    workdir: &Path,
    out: &Path,
    outputs: Outputs<'_>,
) -> Result<(PublishedImage, String), String> {
    let target = outputs
        .images
        .ok_or("no image store is configured for this runner")?;
    let layout =
        crate::image::layout::Layout::create(out.join("oci")).map_err(|e| e.to_string())?;
    let provenance = crate::image::build::Provenance {
        revision: job.sha.to_string(),
        source: job.source_url.clone(),
        time: source_date(job, workdir).await,
    };
    let manifest = crate::image::build::build(
        spec,
        workdir,
        &provenance,
        &layout,
        target.base_registry.as_ref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut tags = vec![format!("sha-{}", job.sha)];
    if let Some(pr) = job.pr {
        tags.push(format!("pr-{pr}"));
    }
    let (image, stats) = target
        .store
        .push(&layout, &manifest, &spec.repository, &tags)
        .await
        .map_err(|e| e.to_string())?;
    let line = format!(
        "    {}\n    tags {}\n<== pushed {} blob(s), {} bytes ({} already there)\n",
        image.reference(),
        tags.join(", "),
        stats.blobs_uploaded,
        stats.bytes_uploaded,
        stats.blobs_present
    );
    Ok((image, line))
}

#[cfg(not(feature = "image"))]
async fn build_image(
    _: &BuildJob,
    _: &ImageSpec,
    _: &Path,
    _: &Path,
    _: Outputs<'_>,
) -> Result<(PublishedImage, String), String> {
    Err("this slipway was built without image support".into())
}

/// The time an image says it was made: `SOURCE_DATE_EPOCH` if the build sets it, else the
/// commit's time, so rebuilding a commit gives the same image.
#[cfg(feature = "image")]
async fn source_date(job: &BuildJob, workdir: &Path) -> u64 {
    let from_env = job
        .env
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    if let Some(secs) = from_env.and_then(|v| v.trim().parse().ok()) {
        return secs;
    }
    let commit = tokio::process::Command::new("git")
        .arg("-C")
        .arg(workdir)
        .args(["show", "-s", "--format=%ct"])
        .arg(job.sha.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await;
    commit
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Stop a step and everything it started: each step leads its own process group.
pub fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; a stale group id fails with ESRCH, harmlessly.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}

/// The last `lines` lines of a log, read from its end so a huge log costs little.
pub fn log_tail(path: &Path, lines: usize, max_bytes: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    Some(all[from..].join("\n"))
}

mod echo;
pub use echo::copy_log_while;

#[cfg(test)]
mod tests;
