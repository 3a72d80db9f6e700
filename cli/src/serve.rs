//! `slipway serve`: the webhook edge on one machine, on SQLite state and the durable local queue.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use anyhow::Context as _;
use slipway::app::dashboard::Dashboard;
use slipway::app::{local, WebhookApp};
use slipway::intake::sqlite::GroupCommit;
use slipway::links::{LinkKey, Links};
use slipway::queue::local::LocalQueue;
use slipway::runner::sandbox::Sandbox;
use slipway::state::sqlite::SqliteState;
use slipway::wire::settings::{self, Env};

pub async fn run(listen: SocketAddr, data_dir: &Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let env = Env::from_process();
    let ingress = settings::ingress(&env)?;
    let limits = settings::edge_limits(&env, ingress.max_body_bytes)?;
    if ingress.secrets.github.is_empty() {
        tracing::warn!(
            "{} is not set: GitHub deliveries will be refused",
            settings::GITHUB_WEBHOOK_SECRET
        );
    }
    if env
        .get(settings::GITHUB_WEBHOOK_SECRET)
        .is_some_and(|v| v.contains(','))
    {
        // Earlier versions split this setting on commas; say so rather than refuse silently.
        tracing::warn!(
            "{} contains a comma: it is one secret now; rotate with {}",
            settings::GITHUB_WEBHOOK_SECRET,
            settings::GITHUB_WEBHOOK_SECRET_PREVIOUS
        );
    }
    if ingress.secrets.gitlab_token.is_none() && ingress.secrets.gitlab_signing.is_none() {
        tracing::warn!(
            "neither {} nor {} is set: GitLab deliveries will be refused",
            settings::GITLAB_WEBHOOK_TOKEN,
            settings::GITLAB_SIGNING_TOKEN
        );
    }
    let db = data_dir.join("slipway.db");
    let queue = LocalQueue::open(&db)?;
    let app = Arc::new(WebhookApp {
        ingress,
        intake: GroupCommit::open(&db)?,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!("listening on http://{address}");
    let key = crate::link_key::load(&env, &crate::link_key::file(data_dir))?;
    start_pipeline(&env, data_dir, address, queue, &key).await?;
    let mut pages = slipway::server::run_pages(
        Arc::new(SqliteState::open(&db)?),
        data_dir.join("runs"),
        data_dir.join("artifacts"),
        key.clone(),
    );
    match settings::dashboard_token(&env)? {
        Some(token) => {
            tracing::info!("the dashboard is at http://{address}/runs (SLIPWAY_DASHBOARD_TOKEN)");
            let dashboard = Dashboard::new(Arc::new(SqliteState::open(&db)?), token, key);
            pages = pages.merge(slipway::server::dashboard(Arc::new(dashboard)));
        }
        None => tracing::info!(
            "no dashboard: set {} to a token of 16 characters or more to have one",
            settings::DASHBOARD_TOKEN
        ),
    }
    let routes =
        slipway::server::with_security_headers(slipway::server::router(app, &limits).merge(pages));
    slipway::server::serve(listener, routes, &limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(ExitCode::SUCCESS)
}

/// The build pipeline behind the webhooks: queue worker, local runner, reporter, sweeper.
async fn start_pipeline(
    env: &Env,
    data_dir: &Path,
    address: SocketAddr,
    queue: LocalQueue,
    key: &LinkKey,
) -> anyhow::Result<()> {
    let forges = slipway::wire::forges::forges(env)?;
    if forges.github.is_none() && forges.gitlab.is_none() {
        tracing::warn!(
            "no forge credentials ({}, {} or {}): events are queued but nothing is built",
            settings::GITHUB_APP_ID,
            settings::GITHUB_TOKEN,
            settings::GITLAB_TOKEN
        );
    }
    let agent = std::env::current_exe().context("cannot find the slipway binary for the agent")?;
    let public_url = env
        .get(settings::PUBLIC_URL)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http://{address}"));
    let links = Links::new(&public_url, key.clone());
    let (pipeline, completions) =
        slipway::wire::local::pipeline(data_dir, agent, forges, Some(links), env).await?;
    if let Sandbox::Off(why) = pipeline.runner.sandbox() {
        tracing::warn!("{}", slipway::render::unsandboxed_warning(why));
    }
    let keep = settings::run_retention(env)?;
    local::recover(&pipeline, keep).await;
    let pipeline = Arc::new(pipeline);
    if let Some(keep) = keep {
        let pruner = Arc::clone(&pipeline);
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                // Directory walks and `/proc` reads: off the async workers.
                let pruner = Arc::clone(&pruner);
                let _ = tokio::task::spawn_blocking(move || pruner.runner.prune(keep)).await;
            }
        });
    }
    let worker = Arc::clone(&pipeline);
    tokio::spawn(async move {
        // The worker only ends by panicking (where panics unwind); the event it was on comes
        // back after its visibility timeout and is parked after too many tries.
        loop {
            let (worker, queue) = (Arc::clone(&worker), queue.clone());
            let running = tokio::spawn(async move { local::work_queue(&worker, &queue).await });
            if let Err(error) = running.await {
                tracing::error!(%error, "the queue worker stopped; starting it again");
            }
        }
    });
    let reporter = Arc::clone(&pipeline);
    tokio::spawn(async move { local::report_completions(&reporter, completions).await });
    tokio::spawn(async move { local::sweep_every(&pipeline, Duration::from_secs(60)).await });
    Ok(())
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}
