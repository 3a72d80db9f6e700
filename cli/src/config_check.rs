//! `slipway config check [FILE]`: validate a `.slipway.yml` the way Slipway will read it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

pub fn run(file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = file.unwrap_or_else(|| PathBuf::from(slipway::config::CONFIG_PATH));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    match slipway::config::parse(&path.display().to_string(), &text) {
        Ok(config) => {
            println!(
                "{}: ok — {} build step(s), timeout {}, {} environment(s)",
                path.display(),
                config.build.steps.len(),
                humantime::format_duration(config.build.timeout),
                config.environments.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
