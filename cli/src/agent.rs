//! `slipway agent`: run a build job's steps (what the local runner and CodeBuild execute).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use slipway::run::RunStatus;
use slipway::runner::agent::{self, BuildJob};

#[derive(Args)]
pub struct AgentArgs {
    /// The job (JSON), as written by dispatch.
    #[arg(long, conflicts_with = "job_env")]
    job: Option<PathBuf>,
    /// Read the job (JSON) from this environment variable instead (CodeBuild).
    #[arg(long, default_value = "SLIPWAY_JOB")]
    job_env: String,
    /// The checkout to build in.
    #[arg(long, default_value = ".")]
    workdir: PathBuf,
    /// Where the log and result.json go.
    #[arg(long, default_value = "slipway-out")]
    out: PathBuf,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let json = match &args.job {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => std::env::var(&args.job_env)
            .with_context(|| format!("neither --job nor {} is set", args.job_env))?
            .into_bytes(),
    };
    let job: BuildJob = serde_json::from_slice(&json).context("the job is not valid")?;
    // SIGTERM (the runner's cancel) stops the current step and still writes the result.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let cancelled = async move {
        terminate.recv().await;
    };
    let result = agent::run(&job, &args.workdir, &args.out, cancelled).await?;
    eprintln!(
        "slipway agent: {:?} in {:.1}s",
        result.status,
        result.duration_ms as f64 / 1000.0
    );
    Ok(if result.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
