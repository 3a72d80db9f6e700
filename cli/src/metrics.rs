//! `slipway metrics`: the four DORA measures per repository and environment, from the deploys
//! recorded on this machine (docs/metrics.md says how each is computed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use slipway::metrics::{Dora, Window};
use slipway::state::sqlite::SqliteState;

#[derive(Args)]
pub struct MetricsArgs {
    /// Where the embedded state lives.
    #[arg(long, default_value = ".slipway")]
    data_dir: PathBuf,
    /// Only this repository (`owner/name`).
    #[arg(long)]
    repo: Option<String>,
    /// Only this environment.
    #[arg(long)]
    env: Option<String>,
    /// The window: this many days up to now.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    days: u64,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let state = SqliteState::open(&args.data_dir.join("slipway.db"))?;
    let end = slipway::state::unix_secs(SystemTime::now()).max(0) as u64;
    let window = Window {
        end,
        days: args.days,
    };
    // Every deployment recorded here: the window may be years.
    let mut rows = slipway::app::dashboard::delivery(&state, window, u32::MAX).await?;
    rows.retain(|(repo, environment, _)| {
        args.repo.as_deref().is_none_or(|r| r == repo)
            && args.env.as_deref().is_none_or(|e| e == environment)
    });
    if args.json {
        let doc = rows
            .iter()
            .map(|(repo, environment, dora)| json_row(repo, environment, dora))
            .collect::<Result<Vec<_>, _>>()?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", slipway::render::metrics_report(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// One environment's measures as JSON, named by its repository and environment.
fn json_row(
    repo: &str,
    environment: &str,
    dora: &Dora,
) -> Result<serde_json::Value, serde_json::Error> {
    let mut row = serde_json::to_value(dora)?;
    row["repo"] = repo.into();
    row["environment"] = environment.into();
    Ok(row)
}
