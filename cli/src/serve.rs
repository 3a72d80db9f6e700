//! `slipway serve`: the webhook edge on one machine, on SQLite state and the durable local queue.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use slipway::app::WebhookApp;
use slipway::queue::local::LocalQueue;
use slipway::settings::{self, Env};
use slipway::state::sqlite::SqliteState;

pub async fn run(listen: SocketAddr, data_dir: &Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let ingress = settings::ingress(&Env::from_process())?;
    if ingress.secrets.github.is_empty() {
        tracing::warn!(
            "{} is not set: GitHub deliveries will be refused",
            settings::GITHUB_WEBHOOK_SECRET
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
    let app = Arc::new(WebhookApp {
        ingress,
        state: SqliteState::open(&db).map_err(anyhow::Error::from_boxed)?,
        queue: LocalQueue::open(&db).map_err(anyhow::Error::from_boxed)?,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, slipway::server::router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
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
