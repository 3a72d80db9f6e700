//! `slipway agent`: run a build job's steps (what the local runner and CodeBuild execute).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use slipway::artifacts::fs::FsStore;
use slipway::artifacts::ArtifactStore;
use slipway::links::Links;
use slipway::model::job::BuildJob;
use slipway::model::status::RunStatus;
use slipway::runner::agent;
use slipway::runner::sandbox::Confinement;
use slipway::wire::settings::{self, Env};

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
    /// Store artifacts in this directory when SLIPWAY_BUCKET is not set.
    #[arg(long)]
    artifacts_dir: Option<PathBuf>,
    /// The server that serves `--artifacts-dir` under `/artifacts` (e.g. http://127.0.0.1:3000),
    /// for signed links to artifacts.
    #[arg(long)]
    public_url: Option<String>,
    /// The key signing those links, when SLIPWAY_LINK_KEY is not set.
    #[arg(long)]
    link_key_file: Option<PathBuf>,
    /// Keep images in OCI layouts under this directory when SLIPWAY_REGISTRY is not set.
    #[arg(long)]
    images_dir: Option<PathBuf>,
    /// Run each step in bubblewrap, this `bwrap` binary (the local runner passes it).
    #[arg(long)]
    sandbox: Option<PathBuf>,
    /// A directory steps must not see (repeatable; with --sandbox).
    #[arg(long, requires = "sandbox")]
    hide: Vec<PathBuf>,
    /// Also copy the build log to standard output as it grows (in CodeBuild: the build's own
    /// log in CloudWatch, readable while the build runs).
    #[arg(long)]
    echo_log: bool,
}

/// The artifact store: S3 when configured (`SLIPWAY_BUCKET`, with `SLIPWAY_S3_ENDPOINT` for any
/// S3-compatible endpoint), else the directory given, else none.
async fn artifact_store(
    args: &AgentArgs,
    env: &Env,
) -> anyhow::Result<Option<Box<dyn ArtifactStore>>> {
    if env.get(settings::BUCKET).is_some() {
        #[cfg(feature = "aws")]
        {
            let sdk = slipway::wire::aws::sdk_config().await;
            return Ok(slipway::wire::artifacts::s3_store(&sdk, env).map(|s| Box::new(s) as _));
        }
        #[cfg(not(feature = "aws"))]
        anyhow::bail!(
            "{} is set, but this slipway was built without AWS support (cargo feature `aws`)",
            settings::BUCKET
        );
    }
    let Some(dir) = args.artifacts_dir.clone() else {
        return Ok(None);
    };
    Ok(Some(Box::new(FsStore::new(dir, links(args, env)?))))
}

/// Signed links under `--public-url`, read before any step runs. No key is an error rather than
/// unsigned links, which the server would answer with 404.
fn links(args: &AgentArgs, env: &Env) -> anyhow::Result<Option<Links>> {
    let Some(url) = &args.public_url else {
        return Ok(None);
    };
    let key = match (settings::link_key(env)?, &args.link_key_file) {
        (Some(key), _) => key,
        (None, Some(file)) => crate::link_key::load(env, file)?,
        (None, None) => anyhow::bail!(
            "--public-url needs {} or --link-key-file",
            settings::LINK_KEY
        ),
    };
    Ok(Some(Links::new(url, key)))
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
    let env = Env::from_process();
    let store = artifact_store(&args, &env).await?;
    let images = match &job.image {
        Some(_) => {
            // A store that cannot be reached fails the image step, with the steps' log kept.
            match slipway::wire::images::from_settings(&env, args.images_dir.as_deref()).await {
                Ok(target) => target,
                Err(e) => {
                    eprintln!("slipway agent: the image store is unavailable: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let outputs = agent::Outputs {
        artifacts: store.as_deref(),
        images: images.as_ref(),
    };
    let confinement = args.sandbox.clone().map(|bwrap| Confinement {
        bwrap,
        hidden: args.hide.clone(),
    });
    let build = agent::run(
        &job,
        &args.workdir,
        &args.out,
        outputs,
        confinement.as_ref(),
        cancelled,
    );
    let result = if args.echo_log {
        let log = args.out.join(slipway::model::job::LOG_FILE);
        agent::copy_log_while(&log, tokio::io::stdout(), build).await?
    } else {
        build.await?
    };
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
