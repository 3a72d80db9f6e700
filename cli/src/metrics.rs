//! `slipway metrics`: the four DORA measures per repository and environment, from the deploys
//! recorded on this machine (docs/metrics.md says how each is computed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use slipway::metrics::{dora, Dora, Window};
use slipway::model::deploy::DeploymentRecord;
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
    let mut environments: BTreeMap<(String, String), Vec<DeploymentRecord>> = BTreeMap::new();
    for record in state.all_deployments().await? {
        let wanted = args
            .repo
            .as_deref()
            .is_none_or(|r| r == record.repo.full_name)
            && args.env.as_deref().is_none_or(|e| e == record.environment);
        if wanted {
            let key = (record.repo.full_name.clone(), record.environment.clone());
            environments.entry(key).or_default().push(record);
        }
    }
    let end = slipway::state::unix_secs(SystemTime::now()).max(0) as u64;
    let window = Window {
        end,
        days: args.days,
    };
    let mut rows = Vec::new();
    for ((repo, environment), records) in environments {
        // When each deployed change was first built: the start of its lead time.
        let mut started = BTreeMap::new();
        for r in &records {
            let first = state
                .first_build_at(r.forge, &r.repo.id, r.pr, &r.sha)
                .await?;
            started.insert(r.id.clone(), first);
        }
        let measures = dora(&records, |r| started.get(&r.id).copied().flatten(), window);
        rows.push((repo, environment, measures));
    }
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
